import { DateTimeScalar, toDate } from '../src';

describe('DateTime', () => {
  it('serialises Dates and PostgreSQL timestamptz text as RFC 3339 UTC', () => {
    expect(DateTimeScalar.serialize(new Date('2026-11-21T20:35:12.123Z'))).toBe(
      '2026-11-21T20:35:12.123Z',
    );
    expect(DateTimeScalar.serialize('2026-11-21 20:35:12.123+00')).toBe('2026-11-21T20:35:12.123Z');
    expect(DateTimeScalar.serialize('2026-11-21 21:35:12+01')).toBe('2026-11-21T20:35:12.000Z');
    expect(() => toDate('yesterday')).toThrow(/not a timestamp/);
  });

  it('parses only RFC 3339 input', () => {
    expect(DateTimeScalar.parseValue('2026-12-31T23:59:59Z')).toEqual(
      new Date('2026-12-31T23:59:59Z'),
    );
    expect(() => DateTimeScalar.parseValue('31/12/2026')).toThrow(/RFC 3339/);
  });
});
