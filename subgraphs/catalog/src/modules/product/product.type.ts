import { Directive, Field, ID, InputType, ObjectType } from 'type-graphql';
import { ProductKind } from '../../enums';
import { Localized, LocalizedStringInput } from '../../localized';

@Directive('@key(fields: "id")')
@ObjectType('Product', {
  description: 'Something a merchant sells; what exactly is bought is one of its variants.',
})
export class Product extends Localized {
  @Field(() => ID) id!: string;
  @Field(() => String, { description: 'Unique per merchant.' }) sku!: string;
  @Field(() => ProductKind) kind!: ProductKind;
  @Field(() => Boolean) active!: boolean;
  merchantId!: string;
  serviceId!: string | null;

  protected fallbackName(): string {
    return this.sku;
  }
}

@InputType('CreateProductInput')
export class CreateProductInput {
  @Field(() => ID) merchantId!: string;
  @Field(() => String) sku!: string;
  @Field(() => ProductKind) kind!: ProductKind;
  @Field(() => [LocalizedStringInput]) names!: LocalizedStringInput[];
  @Field(() => ID, {
    nullable: true,
    description: 'Required for SERVICE_ACCESS: the service the variants grant.',
  })
  serviceId?: string | null;
}
