import { GraphQLScalarType, Kind } from 'graphql';
import { badInput } from './errors';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * Reads a timestamp as it comes back from the database: a Date, or the text PostgreSQL sends
 * for timestamptz in raw queries ("2026-11-21 20:35:12.123+00"), which the ORM leaves as a string.
 */
export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value);
  if (typeof value === 'string') {
    let s = value.trim().replace(' ', 'T');
    if (/[+-]\d{2}$/.test(s)) s += ':00';
    const d = new Date(s);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new TypeError(`not a timestamp: ${String(value)}`);
}

/** RFC 3339 date-time on the wire; accepts Dates and PostgreSQL timestamp text when serialising. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An RFC 3339 date-time string in UTC, e.g. 2026-11-21T20:35:12.123Z.',
  serialize: (value) => toDate(value).toISOString(),
  parseValue(value) {
    if (typeof value !== 'string' || !RFC3339.test(value))
      throw badInput('Expected an RFC 3339 date-time, e.g. "2026-12-31T23:59:59Z".');
    return new Date(value);
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING || !RFC3339.test(ast.value))
      throw badInput('Expected an RFC 3339 date-time, e.g. "2026-12-31T23:59:59Z".');
    return new Date(ast.value);
  },
});
