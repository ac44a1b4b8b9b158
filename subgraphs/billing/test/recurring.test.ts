import fc from 'fast-check';
import {
  MAX_RENEWAL_RETRIES,
  firstAllowedAt,
  isAllowedAt,
  localParts,
  nextLocalDayAt,
  nextLocalMonthAt,
  periodDays,
  retryAt,
  zonedInstant,
} from '../src/domain/recurring';

const FR = { from: 8, to: 22 };
const at = (iso: string) => new Date(iso);

describe('recurring: when a subscription is charged', () => {
  it('a due time inside the allowed hours is kept as it is', () => {
    const due = at('2026-05-10T12:34:56.000Z'); // 14:34 in Paris
    expect(firstAllowedAt(due, 'Europe/Paris', FR)).toEqual(due);
    expect(firstAllowedAt(due, 'Europe/Paris', { from: null, to: null })).toEqual(due);
  });

  it('outside the hours: the start of the next allowed local hour, same day or next', () => {
    // 05:10 in Paris (CEST) → 08:00 the same day.
    expect(firstAllowedAt(at('2026-05-10T03:10:00Z'), 'Europe/Paris', FR)).toEqual(
      at('2026-05-10T06:00:00Z'),
    );
    // 23:30 in Paris → 08:00 the next day.
    expect(firstAllowedAt(at('2026-05-10T21:30:00Z'), 'Europe/Paris', FR)).toEqual(
      at('2026-05-11T06:00:00Z'),
    );
    // A window wrapping midnight (22:00–06:00): 12:00 → 22:00.
    expect(firstAllowedAt(at('2026-05-10T10:00:00Z'), 'Europe/Paris', { from: 22, to: 6 })).toEqual(
      at('2026-05-10T20:00:00Z'),
    );
    // Half-hour zones: 08:00 in Kolkata is 02:30 UTC.
    expect(firstAllowedAt(at('2026-05-10T00:00:00Z'), 'Asia/Kolkata', FR)).toEqual(
      at('2026-05-10T02:30:00Z'),
    );
  });

  it('across daylight-saving changes the local hour is what counts', () => {
    // Paris springs forward on 2026-03-29: 08:00 that morning is CEST (06:00 UTC).
    expect(firstAllowedAt(at('2026-03-29T00:30:00Z'), 'Europe/Paris', FR)).toEqual(
      at('2026-03-29T06:00:00Z'),
    );
    // …and falls back on 2026-10-25: 08:00 is CET (07:00 UTC).
    expect(firstAllowedAt(at('2026-10-25T01:30:00Z'), 'Europe/Paris', FR)).toEqual(
      at('2026-10-25T07:00:00Z'),
    );
    expect(zonedInstant(2026, 3, 29, 10, 'Europe/Paris')).toEqual(at('2026-03-29T08:00:00Z'));
  });

  it('never outside the hours, never before the due time, never more than a day late', () => {
    const zones = [
      'Europe/Paris',
      'America/New_York',
      'Asia/Kolkata',
      'Pacific/Honolulu',
      'Asia/Kathmandu',
    ];
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2025-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }),
        fc.constantFrom(...zones),
        fc.integer({ min: 0, max: 23 }),
        fc.integer({ min: 1, max: 24 }),
        (due, zone, from, to) => {
          const hours = { from, to };
          const t = firstAllowedAt(due, zone, hours);
          expect(t.getTime()).toBeGreaterThanOrEqual(due.getTime());
          expect(t.getTime() - due.getTime()).toBeLessThanOrEqual(25 * 3_600_000);
          expect(isAllowedAt(t, zone, hours)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('deferrals past the caps: the next local day (or month) at 10:00 when allowed', () => {
    // 22:30 in Paris on May 10 → May 11, 10:00 CEST.
    expect(nextLocalDayAt(at('2026-05-10T20:30:00Z'), 'Europe/Paris', FR)).toEqual(
      at('2026-05-11T08:00:00Z'),
    );
    // Hours that exclude 10:00: the first allowed hour of the day.
    expect(
      nextLocalDayAt(at('2026-05-10T20:30:00Z'), 'Europe/Paris', { from: 12, to: 20 }),
    ).toEqual(at('2026-05-11T10:00:00Z'));
    // Monthly cap: the first of the next local month (Jan 31 in Paris → Feb 1, 10:00 CET).
    expect(nextLocalMonthAt(at('2026-01-31T12:00:00Z'), 'Europe/Paris', FR)).toEqual(
      at('2026-02-01T09:00:00Z'),
    );
    // December rolls into January.
    expect(nextLocalMonthAt(at('2026-12-15T12:00:00Z'), 'America/New_York', FR)).toEqual(
      at('2027-01-01T15:00:00Z'),
    );
  });

  it('failed renewals are retried after 1, 2 and 4 days, then no more', () => {
    const failed = at('2026-05-10T12:00:00Z');
    const day = 86_400_000;
    expect(retryAt(failed, 1, 'Europe/Paris', FR)).toEqual(new Date(failed.getTime() + day));
    expect(retryAt(failed, 2, 'Europe/Paris', FR)).toEqual(new Date(failed.getTime() + 2 * day));
    expect(retryAt(failed, 3, 'Europe/Paris', FR)).toEqual(new Date(failed.getTime() + 4 * day));
    expect(retryAt(failed, MAX_RENEWAL_RETRIES + 1, 'Europe/Paris', FR)).toBeNull();
    // A failure late in the evening is retried inside the hours the next morning.
    const late = at('2026-05-10T19:59:00Z'); // 21:59 in Paris
    const retry = retryAt(late, 1, 'Europe/Paris', { from: 8, to: 21 })!;
    expect(retry).toEqual(at('2026-05-12T06:00:00Z'));
  });

  it('a period lasts the plan interval on the local calendar', () => {
    const utc = 'UTC';
    expect(periodDays(at('2026-05-10T12:00:00Z'), 'DAY', 3, utc)).toBe(3);
    expect(periodDays(at('2026-05-10T12:00:00Z'), 'WEEK', 2, utc)).toBe(14);
    expect(periodDays(at('2026-01-15T12:00:00Z'), 'MONTH', 1, utc)).toBe(31);
    // The 31st renews on the last day of a shorter month.
    expect(periodDays(at('2026-01-31T12:00:00Z'), 'MONTH', 1, utc)).toBe(28);
    expect(periodDays(at('2028-01-31T12:00:00Z'), 'MONTH', 1, utc)).toBe(29);
    expect(periodDays(at('2026-11-30T12:00:00Z'), 'MONTH', 3, utc)).toBe(90);
    // Late on Jan 31 UTC is already February 1 in Paris: a February-long month.
    expect(localParts(at('2026-01-31T23:30:00Z'), 'Europe/Paris').day).toBe(1);
    expect(periodDays(at('2026-01-31T23:30:00Z'), 'MONTH', 1, 'Europe/Paris')).toBe(28);
  });
});
