import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { assertCountry, recordAudit, requireAdmin, type RequestContext } from '@coinslot/kernel';
import { SCHEMA } from '../../database';
import { Country, UpsertCountryInput, UpsertCountryRulesInput } from './country.type';
import { countries, countryLoader, toCountry } from './country.service';

@Resolver(() => Country)
export class CountryResolver {
  @Query(() => [Country], {
    description: 'Every country the catalog sells in, with its locale data and rules.',
  })
  async countries(@Ctx() ctx: RequestContext): Promise<Country[]> {
    return (await countries.list(ctx.em)).map(toCountry);
  }

  @Query(() => Country, {
    nullable: true,
    description: 'A country by ISO 3166-1 alpha-2 code; null when the catalog does not sell there.',
  })
  async country(
    @Arg('code', () => String) code: string,
    @Ctx() ctx: RequestContext,
  ): Promise<Country | null> {
    const row = await countryLoader(ctx).load(assertCountry(code, 'code'));
    return row && toCountry(row);
  }

  @Mutation(() => Country, { description: "Admin: creates or updates a country's locale data." })
  async upsertCountry(
    @Arg('input', () => UpsertCountryInput) input: UpsertCountryInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Country> {
    requireAdmin(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const row = await countries.upsert(em, input);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'country.upsert',
        targetType: 'Country',
        targetId: row.code,
        outcome: 'succeeded',
        details: {
          defaultCurrency: row.default_currency,
          defaultLocale: row.default_locale,
          timezones: row.timezones,
        },
      });
      return toCountry(row);
    });
  }

  @Mutation(() => Country, { description: "Admin: sets a country's carrier-billing rules." })
  async upsertCountryRules(
    @Arg('input', () => UpsertCountryRulesInput) input: UpsertCountryRulesInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Country> {
    requireAdmin(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const row = await countries.upsertRules(em, input);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'country.rules.upsert',
        targetType: 'Country',
        targetId: row.code,
        outcome: 'succeeded',
        details: {
          currency: row.rule_currency,
          maxPerTransaction: row.max_per_transaction,
          maxPerDay: row.max_per_day,
          maxPerMonth: row.max_per_month,
          consentRequired: row.consent_required,
          chargingHours: [row.charging_hour_from, row.charging_hour_to],
        },
      });
      return toCountry(row);
    });
  }
}
