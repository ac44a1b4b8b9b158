import { Directive, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar as DateTimeResolver, MoneyType } from '@coinslot/kernel';

export enum AdminRoleEnum {
  OPERATOR = 'operator',
  OWNER = 'owner',
}
registerEnumType(AdminRoleEnum, { name: 'AdminRole' });

@Directive('@key(fields: "id")')
@ObjectType('Merchant')
export class Merchant {
  @Field(() => ID) id!: string;
  @Field(() => String) slug!: string;
  @Field(() => String) name!: string;
  @Field(() => String, {
    nullable: true,
    description: "The merchant's in-game currency (exponent 0).",
  })
  virtualCurrency!: string | null;
  @Field(() => DateTimeResolver) createdAt!: Date;
}

@ObjectType('Portal')
@Directive('@key(fields: "id")')
export class Portal {
  @Field(() => ID) id!: string;
  @Field(() => String) name!: string;
  @Field(() => ID) merchantId!: string;
  @Field(() => DateTimeResolver) createdAt!: Date;
}

@ObjectType('Wallet')
export class Wallet {
  @Field(() => ID) id!: string;
  @Field(() => String) currency!: string;
  @Field(() => MoneyType, {
    description: 'What the player can spend: posted credits minus debits and holds.',
  })
  balance!: MoneyType;
  playerId!: string;
  merchantId!: string;
}

@ObjectType('Player')
@Directive('@key(fields: "id")')
export class Player {
  @Field(() => ID) id!: string;
  @Field(() => String) externalRef!: string;
  @Field(() => String, { description: 'ISO 3166-1 alpha-2.' }) country!: string;
  @Field(() => String, { nullable: true }) locale!: string | null;
  @Field(() => String, { nullable: true }) timezone!: string | null;
  @Field(() => String, { nullable: true }) msisdn!: string | null;
  @Field(() => String, { nullable: true }) email!: string | null;
  @Field(() => DateTimeResolver) createdAt!: Date;
  merchantId!: string;
  referrerId!: string | null;
}

@ObjectType('AdminUser')
@Directive('@key(fields: "id")')
export class AdminUser {
  @Field(() => ID) id!: string;
  @Field(() => String) email!: string;
  @Field(() => String) name!: string;
  @Field(() => AdminRoleEnum) role!: AdminRoleEnum;
}

@ObjectType('RegisterPlayerPayload')
export class RegisterPlayerPayload {
  @Field(() => Player) player!: Player;
  @Field(() => Boolean, { description: 'False when the externalRef was already registered.' })
  created!: boolean;
}

@ObjectType('PlayerToken')
export class PlayerToken {
  @Field(() => String) token!: string;
  @Field(() => DateTimeResolver) expiresAt!: Date;
}

@ObjectType('IssuedApiKey', {
  description: 'The clear key is shown once; only its hash is stored.',
})
export class IssuedApiKey {
  @Field(() => ID) id!: string;
  @Field(() => String) apiKey!: string;
  @Field(() => String) prefix!: string;
}

@ObjectType('CreatePortalPayload')
export class CreatePortalPayload {
  @Field(() => Portal) portal!: Portal;
  @Field(() => IssuedApiKey) key!: IssuedApiKey;
}

@ObjectType('CreateAdminUserPayload')
export class CreateAdminUserPayload {
  @Field(() => AdminUser) adminUser!: AdminUser;
  @Field(() => IssuedApiKey) key!: IssuedApiKey;
}

@ObjectType('ReferralEdge')
export class ReferralEdge {
  @Field(() => Player) player!: Player;
  @Field(() => Int, { description: '1 for a direct referral, 2 for a referral of a referral, …' })
  depth!: number;
}

@ObjectType('LedgerAccount')
export class LedgerAccount {
  @Field(() => ID) id!: string;
  @Field(() => String) kind!: string;
  @Field(() => String) currency!: string;
  @Field(() => ID, { nullable: true }) merchantId!: string | null;
  @Field(() => ID, { nullable: true }) playerId!: string | null;
  @Field(() => MoneyType) debitsPosted!: MoneyType;
  @Field(() => MoneyType) creditsPosted!: MoneyType;
  @Field(() => MoneyType) debitsPending!: MoneyType;
  @Field(() => MoneyType) creditsPending!: MoneyType;
}

@ObjectType('LedgerCurrencyTotal', {
  description: 'Sum of all balances of one currency: always zero.',
})
export class LedgerCurrencyTotal {
  @Field(() => String) currency!: string;
  @Field(() => String) postedNet!: string;
  @Field(() => String) pendingNet!: string;
}

@ObjectType('Transfer')
export class Transfer {
  @Field(() => ID) id!: string;
  @Field(() => ID) debitAccountId!: string;
  @Field(() => ID) creditAccountId!: string;
  @Field(() => MoneyType) amount!: MoneyType;
  @Field(() => String) state!: string;
  @Field(() => String) kind!: string;
  @Field(() => String, { nullable: true }) reference!: string | null;
  @Field(() => DateTimeResolver) createdAt!: Date;
}

@Directive('@inaccessible')
@ObjectType('InternalPlayer', {
  description: 'Internal (services): what billing needs to know about a player to charge it.',
})
export class InternalPlayer {
  @Field(() => ID) id!: string;
  @Field(() => ID) merchantId!: string;
  @Field(() => String) externalRef!: string;
  @Field(() => String) country!: string;
  @Field(() => String, { nullable: true }) msisdn!: string | null;
  @Field(() => String, { nullable: true }) timezone!: string | null;
  @Field(() => String, { nullable: true }) locale!: string | null;
}

@Directive('@inaccessible')
@ObjectType('Credential', { description: 'Internal: who an API key belongs to (gateway only).' })
export class Credential {
  @Field(() => String) kind!: string;
  @Field(() => ID, { nullable: true }) merchantId!: string | null;
  @Field(() => ID, { nullable: true }) portalId!: string | null;
  @Field(() => ID, { nullable: true }) adminId!: string | null;
  @Field(() => String, { nullable: true }) role!: string | null;
}

@InputType('RegisterPlayerInput')
export class RegisterPlayerInput {
  @Field(() => String) externalRef!: string;
  @Field(() => String) country!: string;
  @Field(() => String, { nullable: true }) msisdn?: string | null;
  @Field(() => String, { nullable: true }) email?: string | null;
  @Field(() => String, { nullable: true }) locale?: string | null;
  @Field(() => String, { nullable: true }) timezone?: string | null;
  @Field(() => ID, { nullable: true }) referrerId?: string | null;
}

@InputType('CreateMerchantInput')
export class CreateMerchantInput {
  @Field(() => String) slug!: string;
  @Field(() => String) name!: string;
  @Field(() => String, { nullable: true }) virtualCurrency?: string | null;
}

@InputType('CreatePortalInput')
export class CreatePortalInput {
  @Field(() => ID) merchantId!: string;
  @Field(() => String) name!: string;
}

@InputType('CreateAdminUserInput')
export class CreateAdminUserInput {
  @Field(() => String) email!: string;
  @Field(() => String) name!: string;
  @Field(() => AdminRoleEnum) role!: AdminRoleEnum;
}

@Directive('@inaccessible')
@InputType('LedgerTransferInput')
export class LedgerTransferInput {
  @Field(() => ID) id!: string;
  @Field(() => ID) debitAccountId!: string;
  @Field(() => ID) creditAccountId!: string;
  @Field(() => String) amountMinor!: string;
  @Field(() => String) currency!: string;
  @Field(() => String) kind!: string;
  @Field(() => String, { nullable: true }) reference?: string | null;
  @Field(() => Boolean, { nullable: true }) pending?: boolean | null;
}

@Directive('@inaccessible')
@InputType('LedgerAccountInput')
export class LedgerAccountInput {
  @Field(() => String) kind!: string;
  @Field(() => String) currency!: string;
  @Field(() => ID, { nullable: true }) merchantId?: string | null;
  @Field(() => ID, { nullable: true }) playerId?: string | null;
}
