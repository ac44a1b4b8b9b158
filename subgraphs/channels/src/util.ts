/** Raw rows carry timestamps as PostgreSQL text ("2026-01-31 12:00:00.123456+00"): make Dates. */
export function pgDate(value: Date | string): Date {
  if (value instanceof Date) return value;
  const d = new Date(value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'));
  if (Number.isNaN(d.getTime())) throw new RangeError(`not a timestamp: ${value}`);
  return d;
}
