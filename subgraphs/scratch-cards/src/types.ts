import { Directive, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { MoneyInput, MoneyType } from '@coinslot/kernel';

export enum ScratchCardKind {
  PHYSICAL = 'PHYSICAL',
  VIRTUAL = 'VIRTUAL',
}
registerEnumType(ScratchCardKind, {
  name: 'ScratchCardKind',
  valuesConfig: {
    PHYSICAL: { description: 'Printed cards: the codes leave the system once, in a CSV export.' },
    VIRTUAL: { description: 'Sold online: each card is issued to a player on payment.' },
  },
});

export enum ScratchCardBatchStatus {
  GENERATING = 'GENERATING',
  PENDING_APPROVAL = 'PENDING_APPROVAL',
  APPROVED = 'APPROVED',
  VOIDED = 'VOIDED',
}
registerEnumType(ScratchCardBatchStatus, { name: 'ScratchCardBatchStatus' });

export enum ScratchCardStatus {
  INACTIVE = 'INACTIVE',
  ACTIVE = 'ACTIVE',
  REDEEMED = 'REDEEMED',
  VOIDED = 'VOIDED',
  EXPIRED = 'EXPIRED',
}
registerEnumType(ScratchCardStatus, { name: 'ScratchCardStatus' });

// Entities owned by other subgraphs: only their key here (ARCHITECTURE.md §3).

@Directive('@key(fields: "id")')
@ObjectType('Service')
export class ServiceRef {
  @Field(() => ID) id!: string;
}

@Directive('@key(fields: "id")')
@ObjectType('Entitlement')
export class EntitlementRef {
  @Field(() => ID) id!: string;
}

@Directive('@key(fields: "id")')
@ObjectType('Player')
export class PlayerRef {
  @Field(() => ID) id!: string;
}

@ObjectType('ScratchCardFormat', {
  description: "How a merchant's cards look: serial pattern and activation-code shape.",
})
export class ScratchCardFormat {
  @Field(() => ID, { nullable: true, description: 'Null for the built-in default format.' }) id!:
    string | null;
  @Field(() => ID) merchantId!: string;
  @Field(() => String, {
    description:
      'Serial numbers read PREFIX-BBBBBB-NNNN…C (batch number, running number, Luhn digit).',
  })
  serialPrefix!: string;
  @Field(() => Int) runningWidth!: number;
  @Field(() => String) alphabet!: string;
  @Field(() => Int, { description: 'Characters of a code, its check character included.' })
  codeLength!: number;
  @Field(() => Int, { description: 'Characters per printed group; 0 for none.' })
  groupSize!: number;
  @Field(() => Int, { description: 'Random bits per code (the check character carries none).' })
  entropyBits!: number;
}

@ObjectType('ScratchCardStatusCount')
export class ScratchCardStatusCount {
  @Field(() => ScratchCardStatus) status!: ScratchCardStatus;
  @Field(() => Int) count!: number;
}

@Directive('@key(fields: "id")')
@ObjectType('ScratchCardBatch', {
  description: 'Cards generated together, approved together and of one value.',
})
export class ScratchCardBatch {
  @Field(() => ID) id!: string;
  @Field(() => Int, { description: 'System-wide batch number, part of every serial number.' })
  number!: number;
  @Field(() => ID) merchantId!: string;
  @Field(() => ScratchCardKind) kind!: ScratchCardKind;
  @Field(() => ScratchCardBatchStatus) status!: ScratchCardBatchStatus;
  @Field(() => Int) count!: number;
  @Field(() => Int, { description: 'Cards generated so far (progress while GENERATING).' })
  generatedCount!: number;
  @Field(() => MoneyType, { nullable: true, description: 'Coins credited to the wallet per card.' })
  walletCredit!: MoneyType | null;
  @Field(() => ServiceRef, { nullable: true, description: 'The service a card grants access to.' })
  service!: ServiceRef | null;
  @Field(() => Int, { nullable: true }) accessDays!: number | null;
  @Field(() => DateTimeResolver, { nullable: true }) expiresAt!: Date | null;
  @Field(() => String, { description: 'Serial number of the first card.' })
  firstSerialNumber!: string;
  @Field(() => String, { description: 'Serial number of the last card.' })
  lastSerialNumber!: string;
  @Field(() => ID) createdBy!: string;
  @Field(() => DateTimeResolver) createdAt!: Date;
  @Field(() => ID, { nullable: true }) approvedBy!: string | null;
  @Field(() => DateTimeResolver, { nullable: true }) approvedAt!: Date | null;
  @Field(() => DateTimeResolver, { nullable: true }) voidedAt!: Date | null;
  @Field(() => DateTimeResolver, {
    nullable: true,
    description: 'When the printing CSV was downloaded (the clear codes are erased then).',
  })
  exportedAt!: Date | null;
  // Resolved by field resolvers.
  cardCounts?: ScratchCardStatusCount[];
}

@Directive('@key(fields: "id")')
@ObjectType('ScratchCard', { description: 'One card. Its activation code is never readable here.' })
export class ScratchCard {
  @Field(() => ID) id!: string;
  @Field(() => String) serialNumber!: string;
  @Field(() => ScratchCardStatus) status!: ScratchCardStatus;
  @Field(() => PlayerRef, { nullable: true }) redeemedBy!: PlayerRef | null;
  @Field(() => DateTimeResolver, { nullable: true }) redeemedAt!: Date | null;
  @Field(() => DateTimeResolver, {
    nullable: true,
    description: 'When the value reached the player (wallet or entitlement).',
  })
  deliveredAt!: Date | null;
  @Field(() => ID, { nullable: true, description: 'Virtual cards: the payment that bought it.' })
  soldToPaymentId!: string | null;
  @Field(() => DateTimeResolver, { nullable: true }) soldAt!: Date | null;
  batchId!: string;
  merchantId!: string;
}

@InputType('CreateScratchCardBatchInput', {
  description: 'Exactly one of walletCredit or serviceId + accessDays.',
})
export class CreateScratchCardBatchInput {
  @Field(() => Int) count!: number;
  @Field(() => ScratchCardKind) kind!: ScratchCardKind;
  @Field(() => MoneyInput, {
    nullable: true,
    description: "Coins per card, in the merchant's virtual currency.",
  })
  walletCredit?: MoneyInput | null;
  @Field(() => ID, { nullable: true }) serviceId?: string | null;
  @Field(() => Int, { nullable: true }) accessDays?: number | null;
  @Field(() => DateTimeResolver, { nullable: true }) expiresAt?: Date | null;
  @Field(() => ID, {
    nullable: true,
    description:
      'The merchant. Optional with walletCredit when exactly one merchant has that virtual currency; required with serviceId.',
  })
  merchantId?: string | null;
}

@InputType('SetScratchCardFormatInput')
export class SetScratchCardFormatInput {
  @Field(() => ID) merchantId!: string;
  @Field(() => String) serialPrefix!: string;
  @Field(() => Int, { nullable: true }) runningWidth?: number | null;
  @Field(() => String, {
    nullable: true,
    description: 'Default: 23456789ABCDEFGHJKMNPQRSTUVWXYZ (no 0/O/1/I/L).',
  })
  alphabet?: string | null;
  @Field(() => Int, { nullable: true }) codeLength?: number | null;
  @Field(() => Int, { nullable: true }) groupSize?: number | null;
}

@InputType('ActivateScratchCardInput')
export class ActivateScratchCardInput {
  @Field(() => ID) playerId!: string;
  @Field(() => String, { description: 'As printed; spaces and dashes are ignored, case too.' })
  activationCode!: string;
}

@ObjectType('ScratchCardBatchPayload')
export class ScratchCardBatchPayload {
  @Field(() => ScratchCardBatch) batch!: ScratchCardBatch;
}

@ObjectType('ScratchCardPayload')
export class ScratchCardPayload {
  @Field(() => ScratchCard) card!: ScratchCard;
}

@ObjectType('ScratchCardExport', {
  description: 'A short-lived, single-use download of the printing CSV.',
})
export class ScratchCardExport {
  @Field(() => String) url!: string;
  @Field(() => DateTimeResolver) expiresAt!: Date;
  @Field(() => Int, { description: 'Cards in the file (voided cards are left out).' })
  count!: number;
}

@ObjectType('ActivateScratchCardPayload')
export class ActivateScratchCardPayload {
  @Field(() => ScratchCard) card!: ScratchCard;
  @Field(() => MoneyType, { nullable: true, description: "Coins credited to the player's wallet." })
  walletCredit!: MoneyType | null;
  @Field(() => EntitlementRef, {
    nullable: true,
    description:
      'The access granted; null while its delivery is still being retried (it will arrive).',
  })
  entitlement!: EntitlementRef | null;
  @Field(() => Boolean, {
    description: 'False when the value is queued for delivery rather than already delivered.',
  })
  delivered!: boolean;
}

@Directive('@inaccessible')
@InputType('IssueVirtualCardInput')
export class IssueVirtualCardInput {
  @Field(() => ID) paymentId!: string;
  @Field(() => ID) merchantId!: string;
  @Field(() => ID) playerId!: string;
  @Field(() => ID) batchId!: string;
}

@Directive('@inaccessible')
@ObjectType('IssuedVirtualCard', {
  description: 'Internal (billing): a virtual card sold with a payment.',
})
export class IssuedVirtualCard {
  @Field(() => String) serialNumber!: string;
  @Field(() => String, { description: 'The clear code, as printed (grouped).' })
  activationCode!: string;
  @Field(() => ID) cardId!: string;
  @Field(() => DateTimeResolver, { nullable: true }) expiresAt!: Date | null;
}
