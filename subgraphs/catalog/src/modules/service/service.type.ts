import { Directive, Field, ID, InputType, ObjectType } from 'type-graphql';
import { Localized, LocalizedStringInput } from '../../localized';

@Directive('@key(fields: "id")')
@ObjectType('Service', { description: 'An online service players get time-limited access to.' })
export class Service extends Localized {
  @Field(() => ID) id!: string;
  @Field(() => String) code!: string;
  @Field(() => Boolean) active!: boolean;
  merchantId!: string;

  protected fallbackName(): string {
    return this.code;
  }
}

@InputType('CreateServiceInput')
export class CreateServiceInput {
  @Field(() => ID) merchantId!: string;
  @Field(() => String) code!: string;
  @Field(() => [LocalizedStringInput]) names!: LocalizedStringInput[];
}
