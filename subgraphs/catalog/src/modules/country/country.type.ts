import { Directive, Field, InputType, Int, ObjectType } from 'type-graphql';
import { MoneyInput, MoneyType } from '@coinslot/kernel';
import { Localized, LocalizedStringInput } from '../../localized';

@ObjectType('CountryRules', {
  description: "Carrier-billing rules of a country, in the country's currency.",
})
export class CountryRules {
  @Field(() => String) currency!: string;
  @Field(() => MoneyType, {
    nullable: true,
    description: 'Most one carrier-billing charge may be.',
  })
  maxPerTransaction!: MoneyType | null;
  @Field(() => MoneyType, {
    nullable: true,
    description: 'Most a subscriber may be charged per local day.',
  })
  maxPerDay!: MoneyType | null;
  @Field(() => MoneyType, {
    nullable: true,
    description: 'Most a subscriber may be charged per calendar month.',
  })
  maxPerMonth!: MoneyType | null;
  @Field(() => Boolean, {
    description: "Whether a charge needs the subscriber's explicit consent (OTP).",
  })
  consentRequired!: boolean;
  @Field(() => Int, {
    nullable: true,
    description: 'Local hour (0–23) from which charging is allowed; null: any time.',
  })
  chargingHourFrom!: number | null;
  @Field(() => Int, {
    nullable: true,
    description:
      'Local hour (1–24) until which charging is allowed (exclusive); wraps midnight when below chargingHourFrom.',
  })
  chargingHourTo!: number | null;
}

@Directive('@key(fields: "code")')
@ObjectType('Country')
export class Country extends Localized {
  @Field(() => String, { description: 'ISO 3166-1 alpha-2.' }) code!: string;
  @Field(() => String, { description: 'ISO 4217.' }) defaultCurrency!: string;
  @Field(() => String, { description: 'BCP 47.' }) defaultLocale!: string;
  @Field(() => [String], { description: 'IANA time zones, the most populous first.' })
  timezones!: string[];
  @Field(() => String, {
    description:
      'Postal address layout: %N name, %O organisation, %A street, %C city, %S region, %Z postcode, %n new line.',
  })
  addressFormat!: string;
  @Field(() => CountryRules, { nullable: true }) rules!: CountryRules | null;

  protected fallbackName(): string {
    return this.code;
  }
}

@InputType('UpsertCountryInput')
export class UpsertCountryInput {
  @Field(() => String) code!: string;
  @Field(() => [LocalizedStringInput]) names!: LocalizedStringInput[];
  @Field(() => String) defaultCurrency!: string;
  @Field(() => String) defaultLocale!: string;
  @Field(() => [String]) timezones!: string[];
  @Field(() => String) addressFormat!: string;
}

@InputType('UpsertCountryRulesInput')
export class UpsertCountryRulesInput {
  @Field(() => String) country!: string;
  @Field(() => MoneyInput, { nullable: true }) maxPerTransaction?: MoneyInput | null;
  @Field(() => MoneyInput, { nullable: true }) maxPerDay?: MoneyInput | null;
  @Field(() => MoneyInput, { nullable: true }) maxPerMonth?: MoneyInput | null;
  @Field(() => Boolean) consentRequired!: boolean;
  @Field(() => Int, { nullable: true }) chargingHourFrom?: number | null;
  @Field(() => Int, { nullable: true }) chargingHourTo?: number | null;
}
