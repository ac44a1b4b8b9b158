import { Directive, Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { PlanInterval } from '../../enums';
import { Localized, LocalizedStringInput } from '../../localized';

@Directive('@key(fields: "id")')
@ObjectType('Plan', {
  description: 'A subscription to a service, renewed every intervalCount × interval.',
})
export class Plan extends Localized {
  @Field(() => ID) id!: string;
  @Field(() => String) code!: string;
  @Field(() => PlanInterval) interval!: PlanInterval;
  @Field(() => Int) intervalCount!: number;
  @Field(() => Boolean) active!: boolean;
  merchantId!: string;
  serviceId!: string;
  /** The country the plan was listed for (plans(country)); Plan.price defaults to it. */
  country!: string | null;

  protected fallbackName(): string {
    return this.code;
  }
}

@InputType('CreatePlanInput')
export class CreatePlanInput {
  @Field(() => ID) serviceId!: string;
  @Field(() => String, { description: 'Unique per service.' }) code!: string;
  @Field(() => [LocalizedStringInput]) names!: LocalizedStringInput[];
  @Field(() => PlanInterval) interval!: PlanInterval;
  @Field(() => Int, { defaultValue: 1 }) intervalCount!: number;
}
