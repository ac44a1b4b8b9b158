import { BigIntType, Entity, PrimaryKey, Property, type Opt } from '@mikro-orm/postgresql';

@Entity({ tableName: 'merchant' })
export class MerchantEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'text' }) slug!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text', nullable: true }) virtualCurrency!: string | null;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
}

@Entity({ tableName: 'portal' })
export class PortalEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'uuid' }) merchantId!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text', nullable: true }) webhookUrl!: string | null;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
}

@Entity({ tableName: 'admin_user' })
export class AdminUserEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'text' }) email!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) role!: 'operator' | 'owner';
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
}

@Entity({ tableName: 'api_key' })
export class ApiKeyEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'text' }) keyHash!: string;
  @Property({ type: 'text' }) prefix!: string;
  @Property({ type: 'text' }) kind!: 'portal' | 'admin';
  @Property({ type: 'uuid', nullable: true }) portalId!: string | null;
  @Property({ type: 'uuid', nullable: true }) adminUserId!: string | null;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
  @Property({ type: 'datetime', nullable: true }) revokedAt!: Date | null;
}

@Entity({ tableName: 'player' })
export class PlayerEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'uuid' }) merchantId!: string;
  @Property({ type: 'text' }) externalRef!: string;
  @Property({ type: 'text' }) country!: string;
  @Property({ type: 'text', nullable: true }) locale!: string | null;
  @Property({ type: 'text', nullable: true }) timezone!: string | null;
  @Property({ type: 'text', nullable: true }) msisdn!: string | null;
  @Property({ type: 'text', nullable: true }) email!: string | null;
  @Property({ type: 'uuid', nullable: true }) referrerId!: string | null;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
}

@Entity({ tableName: 'ledger_account' })
export class LedgerAccountEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'uuid', nullable: true }) merchantId!: string | null;
  @Property({ type: 'uuid', nullable: true }) playerId!: string | null;
  @Property({ type: 'text' }) kind!: string;
  @Property({ type: 'text' }) currency!: string;
  @Property({ type: 'boolean' }) allowNegative!: boolean;
  @Property({ type: new BigIntType('bigint') }) debitsPosted!: bigint;
  @Property({ type: new BigIntType('bigint') }) creditsPosted!: bigint;
  @Property({ type: new BigIntType('bigint') }) debitsPending!: bigint;
  @Property({ type: new BigIntType('bigint') }) creditsPending!: bigint;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
}

@Entity({ tableName: 'transfer' })
export class TransferEntity {
  @PrimaryKey({ type: 'uuid' }) id!: string;
  @Property({ type: 'uuid' }) debitAccountId!: string;
  @Property({ type: 'uuid' }) creditAccountId!: string;
  @Property({ type: new BigIntType('bigint') }) amount!: bigint;
  @Property({ type: 'text' }) currency!: string;
  @Property({ type: 'text' }) state!: 'pending' | 'posted' | 'voided';
  @Property({ type: 'text' }) kind!: string;
  @Property({ type: 'text', nullable: true }) reference!: string | null;
  @Property({ type: 'datetime', defaultRaw: 'now()' }) createdAt!: Opt<Date>;
  @Property({ type: 'datetime', nullable: true }) finalizedAt!: Date | null;
}

export const entities = [
  MerchantEntity,
  PortalEntity,
  AdminUserEntity,
  ApiKeyEntity,
  PlayerEntity,
  LedgerAccountEntity,
  TransferEntity,
];
