import { Directive, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { MoneyType, PageInfo } from '@coinslot/kernel';

// ------------------------------------------------------------------------------------ enums

export enum PaymentStatusEnum {
  REQUIRES_ACTION = 'REQUIRES_ACTION',
  PROCESSING = 'PROCESSING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
  CANCELED = 'CANCELED',
}
registerEnumType(PaymentStatusEnum, {
  name: 'PaymentStatus',
  description:
    'REQUIRES_ACTION → PROCESSING → SUCCEEDED | FAILED | CANCELED; a final status never changes.',
});

export enum NextActionKind {
  OTP = 'OTP',
  REDIRECT = 'REDIRECT',
}
registerEnumType(NextActionKind, { name: 'NextActionKind' });

export enum RefundStatusEnum {
  PROCESSING = 'PROCESSING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
}
registerEnumType(RefundStatusEnum, { name: 'RefundStatus' });

export enum SubscriptionStatusEnum {
  PENDING = 'PENDING',
  ACTIVE = 'ACTIVE',
  PAST_DUE = 'PAST_DUE',
  CANCELED = 'CANCELED',
}
registerEnumType(SubscriptionStatusEnum, { name: 'SubscriptionStatus' });

// ------------------------------------------------------- entities of other subgraphs (stubs)

@Directive('@key(fields: "id")')
@ObjectType('Player')
export class PlayerRef {
  @Field(() => ID) id!: string;
}

@Directive('@key(fields: "id")')
@ObjectType('Price')
export class PriceRef {
  @Field(() => ID) id!: string;
}

@Directive('@key(fields: "id")')
@ObjectType('Channel')
export class ChannelRef {
  @Field(() => ID) id!: string;
}

@Directive('@key(fields: "id")')
@ObjectType('Service')
export class ServiceRef {
  @Field(() => ID) id!: string;
}

@Directive('@key(fields: "id")')
@ObjectType('Plan')
export class PlanRef {
  @Field(() => ID) id!: string;
}

// ------------------------------------------------------------------------------- payments

@ObjectType('NextAction', { description: 'What the player must do before the payment can go on.' })
export class NextAction {
  @Field(() => NextActionKind) kind!: NextActionKind;
  @Field(() => String, { nullable: true, description: 'REDIRECT: the page to send the player to.' })
  url!: string | null;
  @Field(() => Int, { nullable: true, description: 'OTP: attempts left before the payment fails.' })
  attemptsLeft!: number | null;
}

@Directive('@key(fields: "id")')
@ObjectType('Payment', { description: 'One charge of a price to a player, through one channel.' })
export class Payment {
  @Field(() => ID) id!: string;
  @Field(() => String, {
    description: "Billing's own reference, given to the carrier or PSP (support quotes it).",
  })
  serialNumber!: string;
  @Field(() => String, { description: "The portal's order reference." }) orderRef!: string;
  @Field(() => PaymentStatusEnum) status!: PaymentStatusEnum;
  @Field(() => String, {
    nullable: true,
    description:
      'Why it failed: INSUFFICIENT_FUNDS, DENIED, LIMIT_EXCEEDED, INVALID_OTP, CONSENT_EXPIRED, CHANNEL_UNAVAILABLE or CANCELED_BY_USER.',
  })
  failureCode!: string | null;
  @Field(() => MoneyType) amount!: MoneyType;
  @Field(() => MoneyType, {
    description: 'Refunded or being refunded; a refund that fails gives its amount back.',
  })
  refundedAmount!: MoneyType;
  @Field(() => NextAction, { nullable: true }) nextAction!: NextAction | null;
  @Field(() => DateTimeResolver) createdAt!: Date;
  @Field(() => DateTimeResolver) updatedAt!: Date;
  merchantId!: string;
  playerId!: string;
  priceId!: string;
  channelId!: string | null;
}

@ObjectType('PaymentEdge')
export class PaymentEdge {
  @Field(() => String) cursor!: string;
  @Field(() => Payment) node!: Payment;
}

@ObjectType('PaymentConnection')
export class PaymentConnection {
  @Field(() => [PaymentEdge]) edges!: PaymentEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}

@Directive('@key(fields: "id")')
@ObjectType('Refund', {
  description: 'Money given back for a payment; several partial refunds are allowed.',
})
export class Refund {
  @Field(() => ID) id!: string;
  @Field(() => RefundStatusEnum) status!: RefundStatusEnum;
  @Field(() => MoneyType) amount!: MoneyType;
  @Field(() => String, { nullable: true }) reason!: string | null;
  @Field(() => String, { nullable: true }) failureCode!: string | null;
  @Field(() => DateTimeResolver) createdAt!: Date;
  @Field(() => DateTimeResolver) updatedAt!: Date;
  paymentId!: string;
  merchantId!: string;
  playerId!: string;
}

@ObjectType('CreatePaymentPayload')
export class CreatePaymentPayload {
  @Field(() => Payment) payment!: Payment;
}

@ObjectType('ConfirmPaymentPayload')
export class ConfirmPaymentPayload {
  @Field(() => Payment) payment!: Payment;
}

@ObjectType('RefundPaymentPayload')
export class RefundPaymentPayload {
  @Field(() => Refund) refund!: Refund;
  @Field(() => Payment) payment!: Payment;
}

@InputType('CreatePaymentInput')
export class CreatePaymentInput {
  @Field(() => String, {
    description: 'Same key and parameters: the first result again, never a second charge.',
  })
  idempotencyKey!: string;
  @Field(() => ID) playerId!: string;
  @Field(() => ID) priceId!: string;
  @Field(() => String) orderRef!: string;
  @Field(() => ID, {
    nullable: true,
    description: "Without it, routing picks a channel of the price's kind.",
  })
  channelId?: string | null;
  @Field(() => String, { nullable: true, description: "E.164; defaults to the player's." })
  msisdn?: string | null;
  @Field(() => String, {
    nullable: true,
    description: 'CARD: a PSP token; without it the player is sent to the cash desk.',
  })
  cardToken?: string | null;
  @Field(() => String, {
    nullable: true,
    description: 'Where the player returns after a redirect.',
  })
  returnUrl?: string | null;
}

@InputType('ConfirmPaymentInput')
export class ConfirmPaymentInput {
  @Field(() => ID) paymentId!: string;
  @Field(() => String) otp!: string;
}

@InputType('RefundPaymentInput')
export class RefundPaymentInput {
  @Field(() => String) idempotencyKey!: string;
  @Field(() => ID) paymentId!: string;
  @Field(() => String, {
    nullable: true,
    description: 'Integer minor units; without it, the whole remaining amount.',
  })
  amountMinor?: string | null;
  @Field(() => String, { nullable: true }) reason?: string | null;
}

// ------------------------------------------------------------------- access and recurring

@Directive('@key(fields: "id")')
@ObjectType('Entitlement', {
  description: "A player's time-limited access to one of the merchant's services.",
})
export class Entitlement {
  @Field(() => ID) id!: string;
  @Field(() => ServiceRef) service!: ServiceRef;
  @Field(() => DateTimeResolver) validUntil!: Date;
  @Field(() => Boolean, { description: 'Whether access is granted right now.' }) active!: boolean;
  merchantId!: string;
  playerId!: string;
}

@Directive('@key(fields: "id")')
/** A player's recurring plan subscription (not the GraphQL root Subscription type). */
@ObjectType('PlanSubscription', {
  description:
    'A recurring subscription of a player to a plan: PENDING until its first payment succeeds, then ACTIVE (PAST_DUE while a failed renewal is retried) until CANCELED.',
})
export class PlanSubscription {
  @Field(() => ID) id!: string;
  @Field(() => SubscriptionStatusEnum) status!: SubscriptionStatusEnum;
  @Field(() => DateTimeResolver, {
    nullable: true,
    description:
      "When the next period will be charged (inside the country's charging hours in the player's time zone); null when nothing more will be charged.",
  })
  nextChargeAt!: Date | null;
  @Field(() => DateTimeResolver, {
    nullable: true,
    description: 'Start of the period paid last (null before the first payment succeeded).',
  })
  currentPeriodStart!: Date | null;
  @Field(() => DateTimeResolver, {
    nullable: true,
    description: "End of the period paid last: the plan's service is accessible until then.",
  })
  currentPeriodEnd!: Date | null;
  @Field(() => Boolean, {
    description: 'Canceled at the end of the current period: stays ACTIVE until currentPeriodEnd.',
  })
  cancelAtPeriodEnd!: boolean;
  @Field(() => DateTimeResolver, { nullable: true }) canceledAt!: Date | null;
  @Field(() => Int, { description: 'Failed renewals of the period being charged (PAST_DUE).' })
  failedAttempts!: number;
  @Field(() => DateTimeResolver) createdAt!: Date;
  @Field(() => PlanRef) plan!: PlanRef;
  @Field(() => PlayerRef) player!: PlayerRef;
  @Field(() => PriceRef, { description: 'The price each period is charged at.' }) price!: PriceRef;
  merchantId!: string;
}

@InputType('SubscribeInput')
export class SubscribeInput {
  @Field(() => String, {
    description: 'Same key and parameters: the first result again, never a second subscription.',
  })
  idempotencyKey!: string;
  @Field(() => ID) playerId!: string;
  @Field(() => ID) planId!: string;
  @Field(() => ID, {
    nullable: true,
    description:
      "The channel to charge every period through; without it, the plan's price in the player's country for carrier billing (then premium SMS, then the wallet) and routing's channel.",
  })
  channelId?: string | null;
  @Field(() => String, { nullable: true, description: "E.164; defaults to the player's." })
  msisdn?: string | null;
}

@ObjectType('SubscribePayload')
export class SubscribePayload {
  @Field(() => PlanSubscription) subscription!: PlanSubscription;
  @Field(() => Payment, { description: "The first period's payment." }) payment!: Payment;
}

@InputType('CancelSubscriptionInput')
export class CancelSubscriptionInput {
  @Field(() => ID) subscriptionId!: string;
  @Field(() => Boolean, {
    nullable: true,
    description:
      'true: no more renewals, ACTIVE until currentPeriodEnd, then CANCELED; false or absent: CANCELED now (access already paid for is kept).',
  })
  atPeriodEnd?: boolean | null;
}

@ObjectType('CancelSubscriptionPayload')
export class CancelSubscriptionPayload {
  @Field(() => PlanSubscription) subscription!: PlanSubscription;
}

// ------------------------------------------------------------------------------- webhooks

@ObjectType('WebhookEndpoint', {
  description: "Where a merchant's game server receives signed events.",
})
export class WebhookEndpoint {
  @Field(() => ID) id!: string;
  @Field(() => ID) merchantId!: string;
  @Field(() => String) url!: string;
  @Field(() => String, {
    description: 'The first characters of the signing secret, to tell secrets apart.',
  })
  secretPrefix!: string;
  @Field(() => DateTimeResolver) createdAt!: Date;
  @Field(() => DateTimeResolver) updatedAt!: Date;
}

@ObjectType('SetWebhookEndpointPayload')
export class SetWebhookEndpointPayload {
  @Field(() => WebhookEndpoint) endpoint!: WebhookEndpoint;
  @Field(() => String, {
    description:
      'The signing secret, shown once. Verify `Coinslot-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.',
  })
  secret!: string;
}

@ObjectType('WebhookDelivery', {
  description: 'One event sent (or to be sent) to a merchant, with its attempts.',
})
export class WebhookDelivery {
  @Field(() => ID) id!: string;
  @Field(() => ID) merchantId!: string;
  @Field(() => String) eventType!: string;
  @Field(() => ID, { nullable: true }) paymentId!: string | null;
  @Field(() => String, { description: 'PENDING, SUCCEEDED, FAILED or SKIPPED (no endpoint).' })
  status!: string;
  @Field(() => Int) attempts!: number;
  @Field(() => DateTimeResolver, { nullable: true }) nextAttemptAt!: Date | null;
  @Field(() => Int, { nullable: true }) lastResponseCode!: number | null;
  @Field(() => String, { nullable: true }) lastError!: string | null;
  @Field(() => String, { description: 'The JSON body sent.' }) payload!: string;
  @Field(() => DateTimeResolver) createdAt!: Date;
  @Field(() => DateTimeResolver, { nullable: true }) deliveredAt!: Date | null;
}

// ------------------------------------------------------------------------------- internal

@Directive('@inaccessible')
@InputType('GrantEntitlementInput', {
  description: 'Internal: access granted by another service (a scratch card, a plan).',
})
export class GrantEntitlementInput {
  @Field(() => String, {
    description: 'Repeating it grants nothing more and returns the entitlement.',
  })
  idempotencyKey!: string;
  @Field(() => ID) merchantId!: string;
  @Field(() => ID) playerId!: string;
  @Field(() => ID) serviceId!: string;
  @Field(() => Int) days!: number;
}

@Directive('@inaccessible')
@InputType('ProcedureOutcomeInput', {
  description: "Internal (channels' hand-off): a procedure run's outcome changed.",
})
export class ProcedureOutcomeInput {
  @Field(() => ID) runId!: string;
  @Field(() => String) reference!: string;
  @Field(() => Int) version!: number;
  @Field(() => String) procedure!: string;
  @Field(() => ID) channelId!: string;
  @Field(() => String, { description: 'SUCCEEDED | PENDING | DECLINED | UNKNOWN' }) kind!: string;
  @Field(() => Boolean) final!: boolean;
  @Field(() => String, { nullable: true }) completion?: string | null;
  @Field(() => String, { nullable: true }) declineCode?: string | null;
  @Field(() => String, { nullable: true }) providerRef?: string | null;
  @Field(() => String, { nullable: true }) actionKind?: string | null;
  @Field(() => String, { nullable: true }) actionUrl?: string | null;
  @Field(() => Int, { nullable: true }) attemptsLeft?: number | null;
  @Field(() => String) amountMinor!: string;
  @Field(() => String) currency!: string;
  @Field(() => DateTimeResolver) occurredAt!: Date;
}
