import fc from 'fast-check';
import { type AppError } from '@coinslot/kernel';
import { checkChar, derivedUuid, isSerial, mintSerial } from '../src/domain/serial';
import {
  checkCaps,
  checkChargeRules,
  localHour,
  withinChargingHours,
  type CountryRules,
} from '../src/domain/rules';
import { cashDeskUrl, signCashDeskToken, verifyCashDeskToken } from '../src/domain/cash-desk';
import { open, seal, signatureHeader } from '../src/crypto';
import { createHmac } from 'node:crypto';

describe('serial numbers', () => {
  it('are CS + 16 base32 characters, valid, time-ordered and unique', () => {
    const a = mintSerial(1_700_000_000_000);
    const b = mintSerial(1_700_000_000_001);
    expect(a).toMatch(/^CS[0-9A-HJKMNP-TV-Z]{16}$/);
    expect(isSerial(a)).toBe(true);
    expect(a.slice(2, 12) < b.slice(2, 12)).toBe(true);
    expect(new Set(Array.from({ length: 5000 }, () => mintSerial())).size).toBe(5000);
  });

  it('the check character catches every single-character change and every adjacent transposition but 0↔Z', () => {
    const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.nat(14), fc.nat(31), (t, pos, sym) => {
        const serial = mintSerial(t);
        const body = serial.slice(2, -1);
        const changed = body.slice(0, pos) + alphabet[sym] + body.slice(pos + 1);
        if (changed !== body) expect(isSerial(`CS${changed}${serial.slice(-1)}`)).toBe(false);
        const pair = body[pos]! + body[pos + 1]!;
        const swapped = body.slice(0, pos) + body[pos + 1] + body[pos] + body.slice(pos + 2);
        if (swapped !== body && pair !== '0Z' && pair !== 'Z0')
          expect(isSerial(`CS${swapped}${serial.slice(-1)}`)).toBe(false);
      }),
      { numRuns: 2000 },
    );
    expect(checkChar('0Z5')).toBe(checkChar('Z05')); // Luhn mod N's one blind spot, documented
  });

  it('derived ids are stable UUIDs, distinct per name', () => {
    expect(derivedUuid('revenue', 'p1')).toBe(derivedUuid('revenue', 'p1'));
    expect(derivedUuid('revenue', 'p1')).not.toBe(derivedUuid('coins', 'p1'));
    expect(derivedUuid('revenue', 'p1')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});

describe('country rules', () => {
  const rules: CountryRules = {
    currency: 'EUR',
    maxPerTransaction: 5000n,
    maxPerDay: 10000n,
    maxPerMonth: 30000n,
    consentRequired: true,
    chargingHourFrom: 8,
    chargingHourTo: 22,
  };
  const at = (iso: string) => new Date(iso);

  it('charging hours are [from, to) on the local clock, wrapping midnight', () => {
    expect(withinChargingHours(8, 22, 8)).toBe(true);
    expect(withinChargingHours(8, 22, 21)).toBe(true);
    expect(withinChargingHours(8, 22, 22)).toBe(false);
    expect(withinChargingHours(22, 6, 23)).toBe(true);
    expect(withinChargingHours(22, 6, 5)).toBe(true);
    expect(withinChargingHours(22, 6, 12)).toBe(false);
    expect(withinChargingHours(null, null, 3)).toBe(true);
    expect(localHour('Europe/Paris', at('2026-01-15T06:30:00Z'))).toBe(7);
    expect(localHour('America/New_York', at('2026-07-15T13:00:00Z'))).toBe(9);
  });

  it('refuses before charging with stable reasons', () => {
    const fr = { amount: 199n, currency: 'EUR', country: 'FR' };
    expect(() =>
      checkChargeRules(rules, fr, 'Europe/Paris', at('2026-01-15T12:00:00Z')),
    ).not.toThrow();
    const reason = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        return [(err as AppError).code, (err as AppError).extensions.reason];
      }
      return null;
    };
    expect(
      reason(() => checkChargeRules(rules, fr, 'Europe/Paris', at('2026-01-15T05:00:00Z'))),
    ).toEqual(['CONFLICT', 'OUTSIDE_CHARGING_HOURS']);
    expect(
      reason(() =>
        checkChargeRules(
          rules,
          { ...fr, amount: 5001n },
          'Europe/Paris',
          at('2026-01-15T12:00:00Z'),
        ),
      ),
    ).toEqual(['BAD_USER_INPUT', 'TRANSACTION_LIMIT']);
    expect(
      reason(() => checkCaps(rules, fr, { day: 9802n, month: 9802n }, 'Europe/Paris')),
    ).toEqual(['CONFLICT', 'DAILY_LIMIT']);
    expect(
      reason(() => checkCaps(rules, fr, { day: 9801n, month: 9801n }, 'Europe/Paris')),
    ).toBeNull();
    expect(reason(() => checkCaps(rules, fr, { day: 0n, month: 29900n }, 'Europe/Paris'))).toEqual([
      'CONFLICT',
      'MONTHLY_LIMIT',
    ]);
  });
});

describe('cash-desk tokens', () => {
  const key = new TextEncoder().encode('a-player-token-secret-of-32-characters!');
  it('sign and verify; forged, expired or foreign tokens are refused', () => {
    const now = Date.now();
    const token = signCashDeskToken(key, { id: 'p1', merchantId: 'm1', playerId: 'pl1' }, 900, now);
    expect(verifyCashDeskToken(key, token, now + 1000)).toMatchObject({
      sub: 'p1',
      mid: 'm1',
      pid: 'pl1',
      typ: 'cash-desk',
    });
    expect(verifyCashDeskToken(key, token, now + 901_000)).toBeNull();
    expect(
      verifyCashDeskToken(
        new TextEncoder().encode('another-secret-another-secret-1234'),
        token,
        now,
      ),
    ).toBeNull();
    const [h, p, s] = token.split('.');
    const tampered = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'p2' }),
    ).toString('base64url');
    expect(verifyCashDeskToken(key, `${h}.${tampered}.${s}`, now)).toBeNull();
    expect(cashDeskUrl('http://localhost:4000/', 'p1', token)).toBe(
      `http://localhost:4000/cash-desk/p1?t=${token}`,
    );
  });
});

describe('webhook crypto', () => {
  it('seals secrets bound to their row, and signs bodies as documented', () => {
    const key = Buffer.alloc(32, 3);
    const sealed = seal(key, 'whsec_x', 'endpoint-1');
    expect(open(key, sealed, 'endpoint-1')).toBe('whsec_x');
    expect(() => open(key, sealed, 'endpoint-2')).toThrow();
    const body = '{"id":"1"}';
    const header = signatureHeader('whsec_x', body, 1_700_000_000);
    expect(header).toBe(
      `t=1700000000,v1=${createHmac('sha256', 'whsec_x').update(`1700000000.${body}`).digest('hex')}`,
    );
  });
});
