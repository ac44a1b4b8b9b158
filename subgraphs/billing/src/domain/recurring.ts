/**
 * When a plan subscription is charged: pure functions of an instant, the player's time zone and
 * the country's allowed charging hours (catalog's CountryRules, local hours [from, to)).
 *
 * - A period's renewal is due when the period ends; it is charged at the first instant at or
 *   after that which lies inside the allowed hours (the end itself when allowed, else the start
 *   of the next allowed hour on the local clock). Never outside the hours.
 * - A failed renewal is retried 1, 2 and 4 days after the failure (each moved into the hours
 *   the same way); the fourth failure ends the subscription.
 * - A renewal the country's caps would refuse today is deferred to the next local day (or the
 *   first day of the next local month for the monthly cap), at PREFERRED_LOCAL_HOUR when the
 *   hours allow it, else at the first allowed hour of that day.
 */
import { withinChargingHours } from './rules';

export type PlanIntervalValue = 'DAY' | 'WEEK' | 'MONTH';

export interface ChargingHours {
  from: number | null;
  to: number | null;
}

/** Local hour at which a deferred charge is made when the country allows it. */
export const PREFERRED_LOCAL_HOUR = 10;
/** Delays of the retries of a failed renewal, in days after the failure. */
export const RETRY_DELAY_DAYS: readonly number[] = [1, 2, 4];
/** Failed renewals retried; one more failure cancels the subscription. */
export const MAX_RENEWAL_RETRIES = RETRY_DELAY_DAYS.length;

const MINUTE = 60_000;
const QUARTER = 15 * MINUTE;
export const DAY_MS = 86_400_000;

interface LocalParts {
  year: number;
  month: number; // 1–12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall clock of `timeZone` at `at`. */
export function localParts(at: Date, timeZone: string): LocalParts {
  const out: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(at)) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return {
    year: out.year!,
    month: out.month!,
    day: out.day!,
    hour: out.hour! % 24,
    minute: out.minute!,
    second: out.second!,
  };
}

/** How far the wall clock of `timeZone` is ahead of UTC at `at`, in milliseconds. */
function offsetMs(at: Date, timeZone: string): number {
  const p = localParts(at, timeZone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(at.getTime() / 1000) * 1000;
}

/**
 * The instant the wall clock of `timeZone` shows year-month-day hour:00 (month 1–12; day and
 * month may overflow, Date.UTC normalises them). Inside a daylight-saving gap or overlap: an
 * instant next to it (callers move the result into the charging hours anyway).
 */
export function zonedInstant(
  year: number,
  month: number,
  day: number,
  hour: number,
  timeZone: string,
): Date {
  const wall = Date.UTC(year, month - 1, day, hour);
  const first = wall - offsetMs(new Date(wall), timeZone);
  const second = wall - offsetMs(new Date(first), timeZone);
  return new Date(Math.min(first, second));
}

const hoursSet = (h: ChargingHours) => h.from != null && h.to != null;

/** Whether a charge at `at` is inside the allowed hours (no hours: always). */
export function isAllowedAt(at: Date, timeZone: string, hours: ChargingHours): boolean {
  return withinChargingHours(hours.from, hours.to, localParts(at, timeZone).hour);
}

/**
 * The first instant at or after `at` inside the allowed hours: `at` itself when allowed, else
 * the start of the next allowed local hour. Quarter hours of UTC are scanned because every
 * zone's offset is a multiple of 15 minutes, so each local hour starts on one of them.
 */
export function firstAllowedAt(at: Date, timeZone: string, hours: ChargingHours): Date {
  if (!hoursSet(hours) || isAllowedAt(at, timeZone, hours)) return at;
  let t = Math.ceil(at.getTime() / QUARTER) * QUARTER;
  for (let i = 0; i < 4 * 24 * 3; i += 1, t += QUARTER) {
    const p = localParts(new Date(t), timeZone);
    if (p.minute === 0 && withinChargingHours(hours.from, hours.to, p.hour)) return new Date(t);
  }
  throw new RangeError(`no allowed charging hour in ${timeZone} for ${JSON.stringify(hours)}`);
}

/** The local hour a deferred charge is made at: the preferred one when allowed, else the first allowed one. */
export function preferredHour(hours: ChargingHours): number {
  if (!hoursSet(hours) || withinChargingHours(hours.from, hours.to, PREFERRED_LOCAL_HOUR)) {
    return PREFERRED_LOCAL_HOUR;
  }
  return hours.from!;
}

/** Deferral past the daily cap: the next local day, at the preferred hour (inside the hours). */
export function nextLocalDayAt(now: Date, timeZone: string, hours: ChargingHours): Date {
  const p = localParts(now, timeZone);
  const at = zonedInstant(p.year, p.month, p.day + 1, preferredHour(hours), timeZone);
  return firstAllowedAt(at, timeZone, hours);
}

/** Deferral past the monthly cap: the first day of the next local month, at the preferred hour. */
export function nextLocalMonthAt(now: Date, timeZone: string, hours: ChargingHours): Date {
  const p = localParts(now, timeZone);
  const at = zonedInstant(p.year, p.month + 1, 1, preferredHour(hours), timeZone);
  return firstAllowedAt(at, timeZone, hours);
}

/** When the retry after the `failures`-th failed renewal (1-based) is charged; null: no more retries. */
export function retryAt(
  failedAt: Date,
  failures: number,
  timeZone: string,
  hours: ChargingHours,
): Date | null {
  const days = RETRY_DELAY_DAYS[failures - 1];
  if (days === undefined) return null;
  return firstAllowedAt(new Date(failedAt.getTime() + days * DAY_MS), timeZone, hours);
}

const daysInMonth = (year: number, month: number) =>
  new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * Whole days of one period starting at `start`: DAY and WEEK are fixed; MONTH counts the
 * calendar days to the same day of the month `count` months later on the player's local
 * calendar (the 31st becomes the last day of a shorter month).
 */
export function periodDays(
  start: Date,
  interval: PlanIntervalValue,
  count: number,
  timeZone: string,
): number {
  switch (interval) {
    case 'DAY':
      return count;
    case 'WEEK':
      return 7 * count;
    case 'MONTH': {
      const p = localParts(start, timeZone);
      const monthIndex = p.month - 1 + count;
      const year = p.year + Math.floor(monthIndex / 12);
      const month = (monthIndex % 12) + 1;
      const day = Math.min(p.day, daysInMonth(year, month));
      return Math.round(
        (Date.UTC(year, month - 1, day) - Date.UTC(p.year, p.month - 1, p.day)) / DAY_MS,
      );
    }
  }
}
