import { Directive, Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { MoneyInput, MoneyType, PageInfo } from '@coinslot/kernel';
import { Localized, LocalizedStringInput } from '../../localized';

@Directive('@key(fields: "id")')
@ObjectType('ProductVariant', {
  description: 'One purchasable form of a product (a pack size, a colour, a duration).',
})
export class ProductVariant extends Localized {
  @Field(() => ID) id!: string;
  @Field(() => String, { description: 'Unique per product.' }) sku!: string;
  @Field(() => MoneyType, {
    nullable: true,
    description:
      "Coin packs: what the player's wallet is credited, in the merchant's virtual currency.",
  })
  walletCredit!: MoneyType | null;
  @Field(() => Int, {
    nullable: true,
    description: 'Service access: how many days of access the purchase grants.',
  })
  accessDays!: number | null;
  @Field(() => Boolean) active!: boolean;
  merchantId!: string;
  productId!: string;

  protected fallbackName(): string {
    return this.sku;
  }
}

@ObjectType('ProductVariantEdge')
export class ProductVariantEdge {
  @Field(() => String) cursor!: string;
  @Field(() => ProductVariant) node!: ProductVariant;
}

@ObjectType('ProductVariantConnection')
export class ProductVariantConnection {
  @Field(() => [ProductVariantEdge]) edges!: ProductVariantEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}

@InputType('VariantInput')
export class VariantInput {
  @Field(() => String) sku!: string;
  @Field(() => [LocalizedStringInput], {
    nullable: true,
    description: 'Without names, the variant is named by its sku.',
  })
  names?: LocalizedStringInput[] | null;
  @Field(() => MoneyInput, {
    nullable: true,
    description: "Required for coin packs, in the merchant's virtual currency.",
  })
  walletCredit?: MoneyInput | null;
  @Field(() => Int, { nullable: true, description: 'Required for service access products.' })
  accessDays?: number | null;
}

@InputType('CreateVariantInput')
export class CreateVariantInput extends VariantInput {
  @Field(() => ID) productId!: string;
}

@InputType('CreateVariantsInput')
export class CreateVariantsInput {
  @Field(() => ID) productId!: string;
  @Field(() => [VariantInput]) variants!: VariantInput[];
}
