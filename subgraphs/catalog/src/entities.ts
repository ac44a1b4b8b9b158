import {
  ArrayType,
  BigIntType,
  Entity,
  JsonType,
  PrimaryKey,
  Property,
  type Opt,
} from '@mikro-orm/postgresql';

/** Locale tag (BCP 47, canonical) → text, e.g. { en: 'Gold sword', fr: 'Épée d’or' }. */
export type LocalizedNames = Record<string, string>;

export const PRODUCT_KINDS = ['COIN_PACK', 'ITEM', 'SERVICE_ACCESS'] as const;
export type ProductKindValue = (typeof PRODUCT_KINDS)[number];
export const CHANNEL_KINDS = ['CARRIER_BILLING', 'PREMIUM_SMS', 'CARD', 'WALLET'] as const;
export type ChannelKindValue = (typeof CHANNEL_KINDS)[number];
export const PLAN_INTERVALS = ['DAY', 'WEEK', 'MONTH'] as const;
export type PlanIntervalValue = (typeof PLAN_INTERVALS)[number];

@Entity({ tableName: 'country' })
export class CountryEntity {
  @PrimaryKey({ type: 'text' }) code!: string;
  @Property({ type: JsonType }) names!: LocalizedNames;
  @Property({ type: 'text' }) defaultCurrency!: string;
  @Property({ type: 'text' }) defaultLocale!: string;
  @Property({ type: new ArrayType() }) timezones!: string[];
  @Property({ type: 'text' }) addressFormat!: string;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) updatedAt!: Opt<Date>;
}

@Entity({ tableName: 'country_rule' })
export class CountryRuleEntity {
  @PrimaryKey({ type: 'text' }) country!: string;
  @Property({ type: 'text' }) currency!: string;
  @Property({ type: new BigIntType('bigint'), nullable: true }) maxPerTransaction!: bigint | null;
  @Property({ type: new BigIntType('bigint'), nullable: true }) maxPerDay!: bigint | null;
  @Property({ type: new BigIntType('bigint'), nullable: true }) maxPerMonth!: bigint | null;
  @Property({ type: 'boolean' }) consentRequired!: boolean;
  @Property({ type: 'smallint', nullable: true }) chargingHourFrom!: number | null;
  @Property({ type: 'smallint', nullable: true }) chargingHourTo!: number | null;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) updatedAt!: Opt<Date>;
}

@Entity({ tableName: 'service' })
export class ServiceEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'uuid' }) merchantId!: string;
  @Property({ type: 'text' }) code!: string;
  @Property({ type: JsonType }) names!: LocalizedNames;
  @Property({ type: 'boolean' }) active!: boolean;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
}

@Entity({ tableName: 'product' })
export class ProductEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'uuid' }) merchantId!: string;
  @Property({ type: 'text' }) sku!: string;
  @Property({ type: 'text' }) kind!: ProductKindValue;
  @Property({ type: JsonType }) names!: LocalizedNames;
  @Property({ type: 'uuid', nullable: true }) serviceId!: string | null;
  @Property({ type: 'boolean' }) active!: boolean;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
}

@Entity({ tableName: 'variant' })
export class VariantEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'uuid' }) merchantId!: string;
  @Property({ type: 'uuid' }) productId!: string;
  @Property({ type: 'text' }) sku!: string;
  @Property({ type: JsonType }) names!: LocalizedNames;
  @Property({ type: new BigIntType('bigint'), nullable: true }) walletCredit!: bigint | null;
  @Property({ type: 'text', nullable: true }) walletCurrency!: string | null;
  @Property({ type: 'integer', nullable: true }) accessDays!: number | null;
  @Property({ type: 'boolean' }) active!: boolean;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
}

@Entity({ tableName: 'plan' })
export class PlanEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'uuid' }) merchantId!: string;
  @Property({ type: 'uuid' }) serviceId!: string;
  @Property({ type: 'text' }) code!: string;
  @Property({ type: JsonType }) names!: LocalizedNames;
  @Property({ type: 'text' }) interval!: PlanIntervalValue;
  @Property({ type: 'integer' }) intervalCount!: number;
  @Property({ type: 'boolean' }) active!: boolean;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
}

@Entity({ tableName: 'price' })
export class PriceEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'uuid' }) merchantId!: string;
  @Property({ type: 'uuid', nullable: true }) variantId!: string | null;
  @Property({ type: 'uuid', nullable: true }) planId!: string | null;
  @Property({ type: 'text' }) country!: string;
  @Property({ type: 'text' }) channelKind!: ChannelKindValue;
  @Property({ type: 'text' }) currency!: string;
  @Property({ type: new BigIntType('bigint') }) amount!: bigint;
  @Property({ type: 'boolean' }) active!: boolean;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
}

export const entities = [
  CountryEntity,
  CountryRuleEntity,
  ServiceEntity,
  ProductEntity,
  VariantEntity,
  PlanEntity,
  PriceEntity,
];
