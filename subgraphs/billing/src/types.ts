import { Directive, Field, ID, ObjectType } from 'type-graphql';

// Billing owns these entities; their fields and mutations arrive with the billing issue.

@Directive('@key(fields: "id")')
@ObjectType('Payment')
export class Payment {
  @Field(() => ID) id!: string;
}

@Directive('@key(fields: "id")')
@ObjectType('Refund')
export class Refund {
  @Field(() => ID) id!: string;
}

@Directive('@key(fields: "id")')
/** A player's recurring plan subscription (not the GraphQL root Subscription type). */
@ObjectType('PlanSubscription')
export class PlanSubscription {
  @Field(() => ID) id!: string;
}

@Directive('@key(fields: "id")')
@ObjectType('Entitlement')
export class Entitlement {
  @Field(() => ID) id!: string;
}
