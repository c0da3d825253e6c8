/**
 * What the analytics queries are asked: business-date ranges (store-local days, YYYY-MM-DD), a
 * store, a page. Each query checks its own parameters, so a caller other than the HTTP routes gets
 * the same clear refusal.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** The longest range a report covers at once. */
export const MAX_RANGE_DAYS = 400;

export const BusinessDate = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}$',
  description: 'A store-local business day, YYYY-MM-DD.',
});
export const StoreId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: 'A store id.' });

export const DateRange = Type.Object(
  {
    from: { ...BusinessDate, description: 'First business day, YYYY-MM-DD.' },
    to: { ...BusinessDate, description: 'Last business day (included), YYYY-MM-DD.' },
  },
  { additionalProperties: false },
);
export type DateRange = Static<typeof DateRange>;

/** Parameters a query refuses: the message says what is wrong (a 400 over HTTP). */
export class AnalyticsParamError extends Error {
  override readonly name = 'AnalyticsParamError';
}

const dayNumber = (date: string) =>
  Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) / 86_400_000;

/** Whether a YYYY-MM-DD string names a real day (not 2026-02-30). */
export function isRealDate(date: string): boolean {
  const day = new Date(dayNumber(date) * 86_400_000);
  return !Number.isNaN(day.getTime()) && day.toISOString().slice(0, 10) === date;
}

/** Days from one date to another (positive when `to` is later). */
export const daysFrom = (from: string, to: string) => dayNumber(to) - dayNumber(from);

/** The date `days` after a date. */
export const addDays = (date: string, days: number) =>
  new Date((dayNumber(date) + days) * 86_400_000).toISOString().slice(0, 10);

/** Checks `params` against `schema` and, for a range, its days; returns them typed. */
export function checked<T extends TSchema>(schema: T, params: unknown): Static<T> {
  if (!Value.Check(schema, params)) {
    const error = Value.Errors(schema, params).First();
    throw new AnalyticsParamError(`${error?.path || 'parameters'}: ${error?.message ?? 'invalid'}`);
  }
  const range = params as Partial<DateRange>;
  for (const key of ['from', 'to'] as const) {
    const date = range[key];
    if (date !== undefined && !isRealDate(date)) throw new AnalyticsParamError(`${key}: ${date} is not a date`);
  }
  if (range.from !== undefined && range.to !== undefined) {
    if (range.to < range.from) throw new AnalyticsParamError(`to (${range.to}) is before from (${range.from})`);
    const days = daysFrom(range.from, range.to) + 1;
    if (days > MAX_RANGE_DAYS) {
      throw new AnalyticsParamError(`the range covers ${days} days; at most ${MAX_RANGE_DAYS} at once`);
    }
  }
  return params as Static<T>;
}

/** A share rounded to 3 decimals (0 when there is nothing to share). */
export const share = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 1000) / 1000 : 0);

/** PostgreSQL's bigint and numeric arrive as strings: exact, and the same from PGlite and a server. */
export const num = (value: unknown) => (value === null || value === undefined ? 0 : Number(value));

/** A timestamp from either driver, as ISO 8601. */
export const isoTime = (value: Date | string | null | undefined): string | null =>
  value === null || value === undefined ? null : new Date(value).toISOString();
