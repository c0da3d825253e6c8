/**
 * Dates and times on screen: always in the store's time zone (from GET /api/me, whatever zone the
 * tablet is set to) and in the UI's language, one format each across every page.
 * zh-TW: 2026/01/10 14:05; English: 10 Jan 2026, 14:05.
 */
import { storeTimeZone } from './store-zone';

type Loc = string | null | undefined;

const cache = new Map<string, Intl.DateTimeFormat>();

function formatter(loc: Loc, timeZone: string, parts: 'date' | 'dateTime' | 'dayTime' | 'full'): Intl.DateTimeFormat {
  const en = loc === 'en';
  const key = `${en ? 'en' : 'zh'}|${timeZone}|${parts}`;
  let f = cache.get(key);
  if (!f) {
    const date: Intl.DateTimeFormatOptions = en
      ? { year: 'numeric', month: 'short', day: 'numeric' }
      : { year: 'numeric', month: '2-digit', day: '2-digit' };
    const time: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    const options: Intl.DateTimeFormatOptions =
      parts === 'date'
        ? date
        : parts === 'dateTime'
          ? { ...date, ...time }
          : parts === 'full'
            ? { ...date, ...time, second: '2-digit' }
            : en
              ? { month: 'short', day: 'numeric', ...time }
              : { month: '2-digit', day: '2-digit', ...time };
    f = new Intl.DateTimeFormat(en ? 'en-GB' : 'zh-TW', { ...options, timeZone });
    cache.set(key, f);
  }
  return f;
}

function parse(iso: string): Date | null {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Date and time of an ISO timestamp in the store's zone: 2025/03/04 14:05 or 4 Mar 2025, 14:05. */
export function formatDateTime(iso: string | null | undefined, loc: Loc): string {
  if (!iso) return '—';
  const d = parse(iso);
  return d ? formatter(loc, storeTimeZone(), 'dateTime').format(d) : iso;
}

/** As formatDateTime, with seconds (a sale's detail). */
export function formatFullDateTime(iso: string, loc: Loc): string {
  const d = parse(iso);
  return d ? formatter(loc, storeTimeZone(), 'full').format(d) : iso;
}

/** Day and time without the year (a list of today's and recent sales): 03/04 14:05 or 4 Mar, 14:05. */
export function formatDayTime(iso: string, loc: Loc): string {
  const d = parse(iso);
  return d ? formatter(loc, storeTimeZone(), 'dayTime').format(d) : iso;
}

/**
 * A date only: an ISO timestamp in the store's zone, or a calendar day (YYYY-MM-DD, already the
 * store's) as that same day.
 */
export function formatDate(value: string | null | undefined, loc: Loc): string {
  if (!value) return '—';
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const day = parse(`${value}T12:00:00Z`);
    return day ? formatter(loc, 'UTC', 'date').format(day) : value;
  }
  const d = parse(value);
  return d ? formatter(loc, storeTimeZone(), 'date').format(d) : value;
}

/** Today's date in the store's zone, YYYY-MM-DD. */
export function todayInStore(now = new Date()): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: storeTimeZone(),
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now);
}
