/** Store-local calendar helpers. Pure: the instant is always passed in. */
import { DomainError } from './errors.js';

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Per time zone, the last store-local day worked out and the instants it spans [from, to). */
const lastDays = new Map<string, { date: string; from: number; to: number }>();

/** The store-local date (YYYY-MM-DD) of an instant: a sale at 00:30 in Taipei belongs to that day. */
export function businessDate(at: Date, timeZone: string): string {
  // Asked several times for every sale (and every replayed one), nearly always of the same day:
  // the day's span is worked out once, instead of formatting each instant.
  const t = at.getTime();
  const last = lastDays.get(timeZone);
  if (last && t >= last.from && t < last.to) return last.date;
  const formatter = formatterFor(timeZone);
  const date = formatter.format(at);
  const from = localDayStart(date, timeZone);
  const to = localDayStart(daysAfter(date, 1), timeZone);
  // Kept only when the span checks out (a zone whose midnight is skipped is simply not cached).
  if (from <= t && t < to && formatter.format(from) === date && formatter.format(to - 1) === date) {
    lastDays.set(timeZone, { date, from, to });
  }
  return date;
}

/** The date `days` days before a YYYY-MM-DD date. */
export function daysBefore(date: string, days: number): string {
  const t = Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10)));
  return new Date(t - days * 86_400_000).toISOString().slice(0, 10);
}

/** The date `months` calendar months before a YYYY-MM-DD date (clamped to the month's last day). */
export function monthsBefore(date: string, months: number): string {
  const year = Number(date.slice(0, 4));
  const month = Number(date.slice(5, 7)) - 1 - months;
  const day = Number(date.slice(8, 10));
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(Date.UTC(year, month, Math.min(day, lastDay))).toISOString().slice(0, 10);
}

/** Whole days from `from` to `to` (YYYY-MM-DD), negative when `to` is earlier. */
export function daysBetween(from: string, to: string): number {
  const t = (d: string) => Date.UTC(Number(d.slice(0, 4)), Number(d.slice(5, 7)) - 1, Number(d.slice(8, 10)));
  return Math.round((t(to) - t(from)) / 86_400_000);
}

/** Whether a YYYY-MM-DD string names a day that exists (2026-02-30 does not). */
export function isCalendarDate(date: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return false;
  const t = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(t.getTime()) && t.toISOString().slice(0, 10) === date;
}

/**
 * Refuses a typed date that is not on the calendar (2026-02-31), naming the field: every date a
 * person types goes through here (or isCalendarDate with its own error, as segment checks do).
 */
export function assertCalendarDate(date: string, field: string): void {
  if (!isCalendarDate(date)) {
    throw new DomainError(
      'invalid_date',
      `${field}: ${date} is not a date on the calendar`,
      { field, value: date },
      400,
    );
  }
}

/** The date `days` days after a YYYY-MM-DD date. */
export function daysAfter(date: string, days: number): string {
  return daysBefore(date, -days);
}

const wallClocks = new Map<string, Intl.DateTimeFormat>();

/** The local wall-clock time of an instant in a zone, written as if it were UTC (ms). */
function wallClock(instant: number, timeZone: string): number {
  let formatter = wallClocks.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    wallClocks.set(timeZone, formatter);
  }
  const part: Record<string, number> = {};
  for (const { type, value } of formatter.formatToParts(new Date(instant))) part[type] = Number(value);
  return Date.UTC(part.year!, part.month! - 1, part.day!, part.hour!, part.minute!, part.second!);
}

/** The store-local date and time of an instant, `YYYY-MM-DD HH:MM:SS` (what a receipt prints). */
export function localDateTime(instant: number, timeZone: string): string {
  return new Date(wallClock(instant, timeZone)).toISOString().slice(0, 19).replace('T', ' ');
}

/** The instant (ms) a store-local date begins: 2026-07-01 in Asia/Taipei begins 2026-06-30T16:00Z. */
export function localDayStart(date: string, timeZone: string): number {
  const midnight = Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10)));
  const guess = midnight - (wallClock(midnight, timeZone) - midnight);
  // Once more at the guess, in case the zone's offset changes between the two instants.
  return midnight - (wallClock(guess, timeZone) - guess);
}

/**
 * Days from 1970-01-01 to a YYYY-MM-DD date (proleptic Gregorian calendar), so real dates compare
 * as their day numbers do. Worked out from the digits: this runs for every logged sale.
 */
export function dayNumber(date: string): number {
  const year = digits(date, 0, 4);
  const month = digits(date, 5, 2);
  const day = digits(date, 8, 2);
  if (date.length !== 10 || year < 0 || month < 0 || day < 0) {
    return Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) / 86_400_000;
  }
  // Years counted from March, so the leap day ends a year (the "days from civil" method).
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The number written by `length` decimal digits at `at`; -1 if any is not a digit. */
function digits(text: string, at: number, length: number): number {
  let value = 0;
  for (let i = at; i < at + length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** The YYYY-MM-DD date of a day number (the inverse of dayNumber). */
export function dateOfDay(day: number): string {
  const shifted = day + 719_468;
  const era = Math.floor(shifted / 146_097);
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const dayOfMonth = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return `${String(year).padStart(4, '0')}-${month < 10 ? '0' : ''}${month}-${dayOfMonth < 10 ? '0' : ''}${dayOfMonth}`;
}
