import { Directive, Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { MoneyInput, MoneyType } from '@coinslot/kernel';
import { ChannelKind, PlanInterval, ProductKind } from '../../enums';

@Directive('@key(fields: "id")')
@ObjectType('Price', {
  description: 'A price point of a variant or a plan: one country, channel kind and currency.',
})
export class Price {
  @Field(() => ID) id!: string;
  @Field(() => ChannelKind) channelKind!: ChannelKind;
  @Field(() => MoneyType) amount!: MoneyType;
  @Field(() => String, { description: 'ISO 3166-1 alpha-2.' }) country!: string;
  @Field(() => Boolean) active!: boolean;
  merchantId!: string;
  variantId!: string | null;
  planId!: string | null;
}

@Directive('@inaccessible')
@ObjectType('InternalPrice', {
  description: 'Internal: what billing needs to charge and deliver a price.',
})
export class InternalPrice {
  @Field(() => ID) id!: string;
  @Field(() => ID) merchantId!: string;
  @Field(() => String) country!: string;
  @Field(() => ChannelKind) channelKind!: ChannelKind;
  @Field(() => String) currency!: string;
  @Field(() => MoneyType) amount!: MoneyType;
  @Field(() => Boolean, {
    description: 'The price, its variant and product (or its plan) are all active.',
  })
  purchasable!: boolean;
  @Field(() => ID, { nullable: true }) variantId!: string | null;
  @Field(() => String, { nullable: true }) variantSku!: string | null;
  @Field(() => ID, { nullable: true }) productId!: string | null;
  @Field(() => ProductKind, { nullable: true }) productKind!: ProductKind | null;
  @Field(() => MoneyType, { nullable: true }) walletCredit!: MoneyType | null;
  @Field(() => Int, { nullable: true }) accessDays!: number | null;
  @Field(() => ID, { nullable: true, description: "The product's or the plan's service." })
  serviceId!: string | null;
  @Field(() => ID, { nullable: true }) planId!: string | null;
  @Field(() => PlanInterval, { nullable: true }) planInterval!: PlanInterval | null;
  @Field(() => Int, { nullable: true }) planIntervalCount!: number | null;
  @Field(() => ID, {
    nullable: true,
    description: 'The virtual scratch-card batch a purchase of the variant issues a card from.',
  })
  scratchCardBatchId!: string | null;
}

@InputType('CreatePriceInput', { description: 'Exactly one of variantId or planId.' })
export class CreatePriceInput {
  @Field(() => ID, { nullable: true }) variantId?: string | null;
  @Field(() => ID, { nullable: true }) planId?: string | null;
  @Field(() => String, { description: 'ISO 3166-1 alpha-2; the country must be in the catalog.' })
  country!: string;
  @Field(() => ChannelKind) channelKind!: ChannelKind;
  @Field(() => MoneyInput, {
    description:
      "WALLET prices are in the merchant's virtual currency; carrier billing and premium SMS in the country's.",
  })
  amount!: MoneyInput;
}
