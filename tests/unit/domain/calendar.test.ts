/**
 * The store calendar behind tier windows and points expiry: months back (clamped to shorter months),
 * whole days between dates, and the business day at midnight in Asia/Taipei (UTC+8, no DST).
 */
import { describe, expect, it } from 'vitest';
import { businessDate, daysAfter, daysBetween, monthsBefore } from '../../../hub/src/domain/time.ts';

describe('monthsBefore', () => {
  it('keeps the day of the month when it exists', () => {
    expect(monthsBefore('2026-11-22', 12)).toBe('2025-11-22');
    expect(monthsBefore('2026-11-22', 24)).toBe('2024-11-22');
    expect(monthsBefore('2026-11-22', 13)).toBe('2025-10-22');
    expect(monthsBefore('2026-03-15', 0)).toBe('2026-03-15');
  });

  it('clamps the 31st to the end of a shorter month', () => {
    // February 2026 has 28 days
    expect(monthsBefore('2026-03-31', 1)).toBe('2026-02-28');
    // April has 30
    expect(monthsBefore('2026-05-31', 1)).toBe('2026-04-30');
    // Jan 31 -> two months back is November, 30 days
    expect(monthsBefore('2026-01-31', 2)).toBe('2025-11-30');
    expect(monthsBefore('2026-03-30', 1)).toBe('2026-02-28');
  });

  it('knows leap years', () => {
    // 2028 is a leap year: February has 29 days
    expect(monthsBefore('2028-03-31', 1)).toBe('2028-02-29');
    expect(monthsBefore('2028-03-29', 1)).toBe('2028-02-29');
    // from a leap day back a year: 2027-02 has 28 days
    expect(monthsBefore('2028-02-29', 12)).toBe('2027-02-28');
    // four years back lands on a leap day again
    expect(monthsBefore('2028-02-29', 48)).toBe('2024-02-29');
  });

  it('goes from January back into the previous December and further', () => {
    expect(monthsBefore('2026-01-15', 1)).toBe('2025-12-15');
    expect(monthsBefore('2026-01-31', 1)).toBe('2025-12-31');
    // 14 months before Feb 2026 is Dec 2024
    expect(monthsBefore('2026-02-10', 14)).toBe('2024-12-10');
    expect(monthsBefore('2026-12-31', 36)).toBe('2023-12-31');
  });
});

describe('daysBetween', () => {
  it('counts whole days, negative backwards', () => {
    expect(daysBetween('2026-11-22', '2026-11-22')).toBe(0);
    expect(daysBetween('2026-11-22', '2026-11-23')).toBe(1);
    expect(daysBetween('2026-11-23', '2026-11-22')).toBe(-1);
    expect(daysBetween('2026-03-01', '2026-03-31')).toBe(30);
  });

  it('crosses month ends, year ends and leap days', () => {
    expect(daysBetween('2025-12-31', '2026-01-01')).toBe(1);
    // Feb 28 -> Mar 1: 1 day in 2026, 2 days in 2028 (Feb 29)
    expect(daysBetween('2026-02-28', '2026-03-01')).toBe(1);
    expect(daysBetween('2028-02-28', '2028-03-01')).toBe(2);
    expect(daysBetween('2026-01-01', '2027-01-01')).toBe(365);
    expect(daysBetween('2028-01-01', '2029-01-01')).toBe(366);
  });

  it('is undone by daysAfter', () => {
    // 06-24 + 14 = 07-08 (June has 30 days: 6 to the end of June, 8 into July)
    expect(daysAfter('2026-06-24', 14)).toBe('2026-07-08');
    expect(daysBetween('2026-06-24', daysAfter('2026-06-24', 14))).toBe(14);
    expect(daysAfter('2028-02-28', 1)).toBe('2028-02-29');
  });
});

describe('businessDate at midnight in Asia/Taipei', () => {
  const TZ = 'Asia/Taipei';

  it('turns at 16:00:00 UTC, not a second earlier', () => {
    // 15:59:59Z = 23:59:59 in Taipei; 16:00:00Z = 00:00:00 the next day
    expect(businessDate(new Date('2026-03-31T15:59:59Z'), TZ)).toBe('2026-03-31');
    expect(businessDate(new Date('2026-03-31T16:00:00Z'), TZ)).toBe('2026-04-01');
  });

  it('turns a year and a leap day at local midnight', () => {
    expect(businessDate(new Date('2027-12-31T15:59:59Z'), TZ)).toBe('2027-12-31');
    expect(businessDate(new Date('2027-12-31T16:00:00Z'), TZ)).toBe('2028-01-01');
    expect(businessDate(new Date('2028-02-28T16:00:00Z'), TZ)).toBe('2028-02-29');
    expect(businessDate(new Date('2028-02-29T16:00:00Z'), TZ)).toBe('2028-03-01');
  });

  it('gives the store day the tier window and the expiry cutoff start from', () => {
    // The nightly review at 00:00 on 2028-01-10 in Taipei (2028-01-09T16:00Z): the points
    // expiry cutoff 24 months back is 2026-01-10, while at 23:59:59 the day before it is 2026-01-09.
    const midnight = businessDate(new Date('2028-01-09T16:00:00Z'), TZ);
    const before = businessDate(new Date('2028-01-09T15:59:59Z'), TZ);
    expect(monthsBefore(midnight, 24)).toBe('2026-01-10');
    expect(monthsBefore(before, 24)).toBe('2026-01-09');
    // a sale at 00:30 on 2026-04-01 in Taipei (still 03-31 in UTC) opens a window from 2026-03-01
    expect(monthsBefore(businessDate(new Date('2026-03-31T16:30:00Z'), TZ), 1)).toBe('2026-03-01');
  });
});
