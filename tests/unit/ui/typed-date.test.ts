/**
 * Dates as staff type them into a date field: the forms Taiwanese staff write (slashes, dashes,
 * dots, 年月日, full-width digits, the Republic of China year) become the store's YYYY-MM-DD, and a
 * day that does not exist is never turned into one that does.
 */
import { describe, expect, it } from 'vitest';
import { typedDate } from '$lib/typed-date';

describe('a typed date', () => {
  it.each([
    ['2026/03/14', '2026-03-14'],
    ['2026-3-4', '2026-03-04'],
    ['2026.03.14', '2026-03-14'],
    ['20260314', '2026-03-14'],
    ['2026年3月14日', '2026-03-14'],
    ['２０２６／０３／１４'.replaceAll('／', '/'), '2026-03-14'],
    ['115/03/14', '2026-03-14'],
    ['民國74年3月14日', '1985-03-14'],
    ['  2024/02/29 ', '2024-02-29'],
  ])('reads %s as %s', (typed, day) => {
    expect(typedDate(typed)).toBe(day);
  });

  it.each([
    '2026/02/31',
    '2025/02/29',
    '2026/13/01',
    '2026/00/10',
    '2026/04/31',
    '1899/12/31',
    '2100/01/01',
    '14/03/2026',
    'tomorrow',
    '',
    '2026/03',
  ])('refuses %s', (typed) => {
    expect(typedDate(typed)).toBeNull();
  });
});
