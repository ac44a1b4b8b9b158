import { AppError, ErrorCode } from '@coinslot/kernel';

/** A country's carrier-billing rules (catalog's CountryRules), in the country's currency. */
export interface CountryRules {
  currency: string;
  maxPerTransaction: bigint | null;
  maxPerDay: bigint | null;
  maxPerMonth: bigint | null;
  consentRequired: boolean;
  chargingHourFrom: number | null;
  chargingHourTo: number | null;
}

/** Kinds of payment the country rules apply to: money taken on the phone bill. */
export const CARRIER_KINDS: ReadonlySet<string> = new Set(['CARRIER_BILLING', 'PREMIUM_SMS']);

/** Stable `reason` extensions of a refused payment (the client can branch on them). */
export type RefusalReason =
  | 'TRANSACTION_LIMIT'
  | 'DAILY_LIMIT'
  | 'MONTHLY_LIMIT'
  | 'OUTSIDE_CHARGING_HOURS'
  | 'CONSENT_UNAVAILABLE'
  | 'PRICE_NOT_PURCHASABLE'
  | 'COUNTRY_MISMATCH'
  | 'PLAYER_NOT_FOUND'
  | 'MSISDN_REQUIRED'
  | 'PLAN_PRICE'
  // subscribe
  | 'PLAN_NOT_OFFERED'
  | 'NOT_RECURRING'
  | 'ALREADY_SUBSCRIBED';

export function refused(
  code: typeof ErrorCode.BAD_USER_INPUT | typeof ErrorCode.CONFLICT,
  reason: RefusalReason,
  message: string,
  details: Record<string, unknown> = {},
): AppError {
  return new AppError(code, message, { reason, ...details });
}

/** The hour (0–23) on the wall clock of `timezone` at `now`. */
export function localHour(timezone: string, now: Date = new Date()): number {
  const text = new Intl.DateTimeFormat('en-GB', {
    timeZone: timezone,
    hour: '2-digit',
    hourCycle: 'h23',
  }).format(now);
  return Number(text) % 24;
}

/** [from, to) in local hours; `to` may be 24 (midnight); from > to wraps past midnight. */
export function withinChargingHours(from: number | null, to: number | null, hour: number): boolean {
  if (from == null || to == null) return true;
  return from < to ? hour >= from && hour < to : hour >= from || hour < to;
}

/** Checks that need no history: the single-charge cap and the charging hours. */
export function checkChargeRules(
  rules: CountryRules,
  payment: { amount: bigint; currency: string; country: string },
  timezone: string,
  now: Date = new Date(),
): void {
  if (
    rules.maxPerTransaction != null &&
    payment.currency === rules.currency &&
    payment.amount > rules.maxPerTransaction
  ) {
    throw refused(
      ErrorCode.BAD_USER_INPUT,
      'TRANSACTION_LIMIT',
      `${payment.country} caps one carrier charge at ${rules.maxPerTransaction} ${rules.currency} minor units; pick a smaller price.`,
      { limitMinor: rules.maxPerTransaction.toString(), currency: rules.currency },
    );
  }
  const hour = localHour(timezone, now);
  if (!withinChargingHours(rules.chargingHourFrom, rules.chargingHourTo, hour)) {
    throw refused(
      ErrorCode.CONFLICT,
      'OUTSIDE_CHARGING_HOURS',
      `Carrier charges in ${payment.country} are allowed from ${rules.chargingHourFrom}:00 to ${rules.chargingHourTo}:00 in the player's time zone (${timezone}); it is ${hour}:00 there. Try again then, or use another payment method.`,
      { from: rules.chargingHourFrom, to: rules.chargingHourTo, timezone, localHour: hour },
    );
  }
}

/** Checks the player's day and month totals (already charged or in flight, this one included). */
export function checkCaps(
  rules: CountryRules,
  payment: { amount: bigint; currency: string; country: string },
  spent: { day: bigint; month: bigint },
  timezone: string,
): void {
  if (payment.currency !== rules.currency) return;
  if (rules.maxPerDay != null && spent.day + payment.amount > rules.maxPerDay) {
    throw refused(
      ErrorCode.CONFLICT,
      'DAILY_LIMIT',
      `This charge would take the player past ${payment.country}'s daily carrier-billing limit of ${rules.maxPerDay} ${rules.currency} minor units (local day in ${timezone}); try again tomorrow or use another payment method.`,
      {
        limitMinor: rules.maxPerDay.toString(),
        spentMinor: spent.day.toString(),
        currency: rules.currency,
      },
    );
  }
  if (rules.maxPerMonth != null && spent.month + payment.amount > rules.maxPerMonth) {
    throw refused(
      ErrorCode.CONFLICT,
      'MONTHLY_LIMIT',
      `This charge would take the player past ${payment.country}'s monthly carrier-billing limit of ${rules.maxPerMonth} ${rules.currency} minor units; use another payment method.`,
      {
        limitMinor: rules.maxPerMonth.toString(),
        spentMinor: spent.month.toString(),
        currency: rules.currency,
      },
    );
  }
}
