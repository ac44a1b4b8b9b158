/**
 * GraphQL types of the channels subgraph. Enum names and values are the contract's
 * (CONTRACT.md "Enums"); the internal procedure API (for billing) is @inaccessible.
 */
import { Directive, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { MoneyType } from '@coinslot/kernel';

export enum ChannelKind {
  CARRIER_BILLING = 'CARRIER_BILLING',
  PREMIUM_SMS = 'PREMIUM_SMS',
  CARD = 'CARD',
  WALLET = 'WALLET',
}
registerEnumType(ChannelKind, { name: 'ChannelKind' });

export enum ChannelProtocol {
  CAMARA = 'CAMARA',
  PARLAYX = 'PARLAYX',
  ONEAPI = 'ONEAPI',
  SMPP = 'SMPP',
  CARD = 'CARD',
  WALLET = 'WALLET',
}
registerEnumType(ChannelProtocol, { name: 'ChannelProtocol' });

export enum ProcedureEnum {
  CHARGE = 'CHARGE',
  RESERVE = 'RESERVE',
  CAPTURE = 'CAPTURE',
  RELEASE = 'RELEASE',
  REFUND = 'REFUND',
  BALANCE = 'BALANCE',
  STATUS = 'STATUS',
  CONSENT = 'CONSENT',
}
registerEnumType(ProcedureEnum, { name: 'Procedure' });

export enum InteractionPatternEnum {
  REQUEST_READ = 'REQUEST_READ',
  REQUEST_DOWNLOAD = 'REQUEST_DOWNLOAD',
  REQUEST_WAIT_RECEIVE = 'REQUEST_WAIT_RECEIVE',
}
registerEnumType(InteractionPatternEnum, { name: 'InteractionPattern' });

export enum InteractionDirection {
  OUTBOUND = 'OUTBOUND',
  INBOUND = 'INBOUND',
}
registerEnumType(InteractionDirection, { name: 'InteractionDirection' });

export enum ConsentMethod {
  NONE = 'NONE',
  OTP = 'OTP',
  REDIRECT = 'REDIRECT',
}
registerEnumType(ConsentMethod, {
  name: 'ConsentMethod',
  description: 'How the payer consents before a procedure goes on.',
});

export enum RefundSupport {
  NONE = 'NONE',
  FULL = 'FULL',
  PARTIAL = 'PARTIAL',
}
registerEnumType(RefundSupport, { name: 'RefundSupport' });

export enum ChannelExecutor {
  CHANNELS = 'CHANNELS',
  BILLING = 'BILLING',
}
registerEnumType(ChannelExecutor, {
  name: 'ChannelExecutor',
  description:
    'Who runs the procedures: channels (a carrier or PSP protocol) or billing (the coin wallet, on the accounts ledger).',
});

export enum ProcedureOutcomeKind {
  SUCCEEDED = 'SUCCEEDED',
  PENDING = 'PENDING',
  DECLINED = 'DECLINED',
  UNKNOWN = 'UNKNOWN',
}
registerEnumType(ProcedureOutcomeKind, {
  name: 'ProcedureOutcomeKind',
  description:
    'What a provider answered. UNKNOWN (timeout, lost answer) is never a failure: it is resolved by status queries or the settlement file.',
});

export enum ChannelAccountStatus {
  ACTIVE = 'ACTIVE',
  DISABLED = 'DISABLED',
}
registerEnumType(ChannelAccountStatus, { name: 'ChannelAccountStatus' });

export enum ProcedureCompletion {
  POLL = 'POLL',
  CALLBACK = 'CALLBACK',
  REPORT = 'REPORT',
}
registerEnumType(ProcedureCompletion, { name: 'ProcedureCompletion' });

export enum ProcedureActionKind {
  OTP = 'OTP',
  REDIRECT = 'REDIRECT',
}
registerEnumType(ProcedureActionKind, { name: 'ProcedureActionKind' });

// ----------------------------------------------------------------------------- registry

@ObjectType('ChannelCapabilities', {
  description: "Static data of the channel's adapter (the registry).",
})
export class ChannelCapabilities {
  @Field(() => [ProcedureEnum]) procedures!: ProcedureEnum[];
  @Field(() => [InteractionPatternEnum]) interactionPatterns!: InteractionPatternEnum[];
  @Field(() => [ConsentMethod]) consent!: ConsentMethod[];
  @Field(() => [String], { description: 'ISO 4217 codes the channel charges in; ["*"] for any.' })
  currencies!: string[];
  @Field(() => RefundSupport) refunds!: RefundSupport;
  @Field(() => ChannelExecutor) executedBy!: ChannelExecutor;
}

@Directive('@key(fields: "id")')
@ObjectType('Channel', {
  description: 'One way to take money: a carrier, PSP or the coin wallet, as data.',
})
export class Channel {
  @Field(() => ID) id!: string;
  @Field(() => String) code!: string;
  @Field(() => String) name!: string;
  @Field(() => ChannelKind) kind!: ChannelKind;
  @Field(() => ChannelProtocol) protocol!: ChannelProtocol;
  @Field(() => [String], { description: 'ISO 3166-1 alpha-2 countries served.' })
  countries!: string[];
  @Field(() => [String], {
    description: 'MCC-MNC operators served; empty: every operator of its countries.',
  })
  operators!: string[];
  @Field(() => [String], { description: 'Currencies accepted; empty: any the adapter supports.' })
  currencies!: string[];
  @Field(() => ChannelCapabilities) capabilities!: ChannelCapabilities;
  @Field(() => Boolean) enabled!: boolean;
  /** Registry key of the adapter (admin detail). */
  @Field(() => String, { description: 'The adapter that speaks its protocol (registry key).' })
  adapter!: string;
}

@ObjectType('ChannelInteraction', {
  description: 'One request or response exchanged with a channel, redacted.',
})
export class ChannelInteraction {
  @Field(() => InteractionDirection) direction!: InteractionDirection;
  @Field(() => ChannelProtocol) protocol!: ChannelProtocol;
  @Field(() => String) operation!: string;
  @Field(() => ProcedureOutcomeKind, { nullable: true }) outcome!: ProcedureOutcomeKind | null;
  @Field(() => Int) durationMs!: number;
  @Field(() => DateTimeResolver) at!: Date;
  @Field(() => String, {
    nullable: true,
    description: 'HTTP status, SOAP fault or SMPP command status.',
  })
  status!: string | null;
  @Field(() => String, {
    nullable: true,
    description: 'Our procedure reference (the payment serial number, or serial:suffix).',
  })
  reference!: string | null;
  @Field(() => ID, { nullable: true }) channelId!: string | null;
}

@ObjectType('ChannelAccount', {
  description: "A merchant's account on a channel. Credentials are never returned.",
})
export class ChannelAccount {
  @Field(() => ID) id!: string;
  @Field(() => ID) merchantId!: string;
  @Field(() => Channel) channel!: Channel;
  @Field(() => ChannelAccountStatus) status!: ChannelAccountStatus;
  @Field(() => Int, { description: 'Routing order: lower goes first.' }) priority!: number;
  @Field(() => [String], { description: 'Names of the stored credentials (never their values).' })
  credentialNames!: string[];
  @Field(() => String, { description: 'Id of the key the credentials are encrypted with.' })
  credentialsKeyId!: string;
  @Field(() => DateTimeResolver) createdAt!: Date;
  @Field(() => DateTimeResolver) updatedAt!: Date;
}

@ObjectType('SettlementMismatch', {
  description: 'A difference between a settlement file and our runs, for review.',
})
export class SettlementMismatch {
  @Field(() => ID) id!: string;
  @Field(() => ID) channelId!: string;
  @Field(() => String, { nullable: true }) fileName!: string | null;
  @Field(() => String, {
    description:
      'amount_mismatch, missing_on_our_side, missing_on_their_side, duplicate_row, unsettled, outcome_conflict.',
  })
  kind!: string;
  @Field(() => String, { nullable: true }) reason!: string | null;
  @Field(() => String, { nullable: true }) reference!: string | null;
  @Field(() => String, { nullable: true }) operatorTxnId!: string | null;
  @Field(() => MoneyType, { nullable: true }) ourAmount!: MoneyType | null;
  @Field(() => String, { nullable: true }) ourOutcome!: string | null;
  @Field(() => MoneyType, { nullable: true }) theirAmount!: MoneyType | null;
  @Field(() => String, { nullable: true }) theirStatus!: string | null;
  @Field(() => String) status!: string;
  @Field(() => DateTimeResolver) createdAt!: Date;
}

@ObjectType('SettlementFileResult')
export class SettlementFileResult {
  @Field(() => String) name!: string;
  @Field(() => String) sha256!: string;
  @Field(() => Boolean, {
    description: 'True when this exact file had been processed before (nothing done again).',
  })
  alreadyProcessed!: boolean;
  @Field(() => Int) rows!: number;
  @Field(() => Int) matched!: number;
  @Field(() => Int) mismatches!: number;
  @Field(() => Int, { description: 'Unknown or pending runs the file settled.' }) resolved!: number;
}

@ObjectType('SettlementRunResult')
export class SettlementRunResult {
  @Field(() => ID) channelId!: string;
  @Field(() => String) date!: string;
  @Field(() => [SettlementFileResult]) files!: SettlementFileResult[];
}

@ObjectType('RotateCredentialsKeyResult')
export class RotateCredentialsKeyResult {
  @Field(() => String) keyId!: string;
  @Field(() => Int, { description: 'Accounts re-encrypted with the current key.' })
  reencrypted!: number;
}

@InputType('CreateChannelInput')
export class CreateChannelInput {
  @Field(() => String) code!: string;
  @Field(() => String) name!: string;
  @Field(() => ChannelKind) kind!: ChannelKind;
  @Field(() => ChannelProtocol) protocol!: ChannelProtocol;
  @Field(() => String, { description: 'Registry key of the adapter, e.g. "camara".' })
  adapter!: string;
  @Field(() => [String]) countries!: string[];
  @Field(() => [String], { nullable: true }) operators?: string[] | null;
  @Field(() => [String], { nullable: true }) currencies?: string[] | null;
  @Field(() => String, {
    nullable: true,
    description: 'JSON object: baseUrl, timeoutMs and adapter settings (no secrets).',
  })
  settings?: string | null;
  @Field(() => Boolean, { nullable: true }) enabled?: boolean | null;
}

@InputType('UpdateChannelInput')
export class UpdateChannelInput {
  @Field(() => ID) id!: string;
  @Field(() => String, { nullable: true }) name?: string | null;
  @Field(() => Boolean, { nullable: true }) enabled?: boolean | null;
  @Field(() => [String], { nullable: true }) countries?: string[] | null;
  @Field(() => [String], { nullable: true }) operators?: string[] | null;
  @Field(() => [String], { nullable: true }) currencies?: string[] | null;
  @Field(() => String, { nullable: true, description: 'JSON object replacing the settings.' })
  settings?: string | null;
}

@InputType('CredentialEntryInput')
export class CredentialEntryInput {
  @Field(() => String) key!: string;
  @Field(() => String) value!: string;
}

@InputType('ProvisionChannelAccountInput')
export class ProvisionChannelAccountInput {
  @Field(() => ID) merchantId!: string;
  @Field(() => ID) channelId!: string;
  @Field(() => String, {
    nullable: true,
    description: 'Credentials as one JSON object of strings.',
  })
  credentials?: string | null;
  @Field(() => [CredentialEntryInput], {
    nullable: true,
    description: 'Credentials as key/value pairs.',
  })
  credentialEntries?: CredentialEntryInput[] | null;
  @Field(() => Int, { nullable: true }) priority?: number | null;
  @Field(() => String, {
    nullable: true,
    description: 'JSON object of per-account settings (no secrets).',
  })
  settings?: string | null;
}

@InputType('RotateChannelAccountCredentialsInput')
export class RotateChannelAccountCredentialsInput {
  @Field(() => ID) accountId!: string;
  @Field(() => String, { nullable: true }) credentials?: string | null;
  @Field(() => [CredentialEntryInput], { nullable: true }) credentialEntries?:
    CredentialEntryInput[] | null;
}

// ---------------------------------------------------------------- internal procedure API

@Directive('@inaccessible')
@InputType('RunProcedureInput', {
  description:
    "Internal (billing). reference is the caller's idempotency key, stable across retries: `<serialNumber>` or `<serialNumber>:<suffix>` (the interaction log is found by the serial prefix).",
})
export class RunProcedureInput {
  @Field(() => String) reference!: string;
  @Field(() => ProcedureEnum) procedure!: ProcedureEnum;
  @Field(() => ID) merchantId!: string;
  @Field(() => ChannelKind, { nullable: true }) channelKind?: ChannelKind | null;
  @Field(() => ID, { nullable: true }) channelId?: string | null;
  @Field(() => String, { nullable: true }) country?: string | null;
  @Field(() => String, { nullable: true }) msisdn?: string | null;
  @Field(() => String, { nullable: true }) cardToken?: string | null;
  @Field(() => String, {
    description: 'Integer minor units as a decimal string ("0" where no amount applies).',
  })
  amountMinor!: string;
  @Field(() => String) currency!: string;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => String, { nullable: true }) returnUrl?: string | null;
  @Field(() => String, {
    nullable: true,
    description: 'CONSENT: the one-time password the player typed.',
  })
  otp?: string | null;
  @Field(() => String, {
    nullable: true,
    description:
      'REFUND, CAPTURE, RELEASE, STATUS, CONSENT: the reference of the run it applies to.',
  })
  chargeReference?: string | null;
  @Field(() => String, { nullable: true }) chargeProviderRef?: string | null;
  @Field(() => Boolean, { nullable: true, description: 'REFUND: the whole remaining amount.' })
  full?: boolean | null;
}

@Directive('@inaccessible')
@ObjectType('ProcedureOutcome')
export class ProcedureOutcome {
  @Field(() => ProcedureOutcomeKind) kind!: ProcedureOutcomeKind;
  @Field(() => Boolean, { description: 'SUCCEEDED or DECLINED: it will not change any more.' })
  final!: boolean;
  @Field(() => ProcedureCompletion, { nullable: true }) completion!: ProcedureCompletion | null;
  @Field(() => String, { nullable: true, description: "The contract's failureCode values." })
  declineCode!: string | null;
  @Field(() => String, { nullable: true }) providerRef!: string | null;
  @Field(() => ProcedureActionKind, { nullable: true }) actionKind!: ProcedureActionKind | null;
  @Field(() => String, { nullable: true }) actionUrl!: string | null;
  @Field(() => Int, { nullable: true }) attemptsLeft!: number | null;
  @Field(() => MoneyType, { nullable: true, description: 'BALANCE: the prepaid balance.' })
  balance!: MoneyType | null;
}

@Directive('@inaccessible')
@ObjectType('ProcedureRun')
export class ProcedureRun {
  @Field(() => ID) id!: string;
  @Field(() => String) reference!: string;
  @Field(() => ProcedureEnum) procedure!: ProcedureEnum;
  @Field(() => ID) channelId!: string;
  @Field(() => String) channelCode!: string;
  @Field(() => ChannelKind) channelKind!: ChannelKind;
  @Field(() => MoneyType) amount!: MoneyType;
  @Field(() => ProcedureOutcome) outcome!: ProcedureOutcome;
  @Field(() => Int, { description: 'Grows with every stored outcome change (hand-offs carry it).' })
  version!: number;
  @Field(() => DateTimeResolver) createdAt!: Date;
  @Field(() => DateTimeResolver) updatedAt!: Date;
}

@Directive('@inaccessible')
@InputType('RouteChannelsInput')
export class RouteChannelsInput {
  @Field(() => ID) merchantId!: string;
  @Field(() => ChannelKind) channelKind!: ChannelKind;
  @Field(() => String) country!: string;
  @Field(() => String) currency!: string;
  @Field(() => String, { nullable: true }) msisdn?: string | null;
  @Field(() => ID, { nullable: true }) channelId?: string | null;
  @Field(() => ProcedureEnum, { nullable: true }) procedure?: ProcedureEnum | null;
}
