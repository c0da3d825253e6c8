/**
 * The reports page's date presets in the store's calendar (month, year and leap-day ends), the
 * limits of its period and activity settings, how late a predicted repurchase is, and the product
 * picker's search. Expected dates are counted by hand in the comments.
 */
import { describe, expect, it } from 'vitest';
import { todayInStore } from '$lib/components/AdminApi';
import { toCsv } from '$lib/csv';
import {
  DEFAULT_SETTINGS,
  cellText,
  countColumn,
  daysOverdue,
  moneyColumn,
  presetOf,
  presetRange,
  searchChoices,
  settingsProblems,
  shareColumn,
  type CatalogChoice,
  type PresetId,
  type ReportSettings,
} from '$lib/reports';

const allPresets = (today: string): Record<PresetId, { from: string; to: string }> => ({
  today: presetRange('today', today),
  last7: presetRange('last7', today),
  last30: presetRange('last30', today),
  thisMonth: presetRange('thisMonth', today),
  lastMonth: presetRange('lastMonth', today),
  thisYear: presetRange('thisYear', today),
});

describe('presetRange', () => {
  it('on New Year’s Day: last month and the last 7 / 30 days reach back into the old year', () => {
    expect(allPresets('2027-01-01')).toEqual({
      today: { from: '2027-01-01', to: '2027-01-01' },
      // Jan 1 and the 6 days before it: Dec 26..31.
      last7: { from: '2026-12-26', to: '2027-01-01' },
      // Jan 1 and the 29 days before it: Dec 31 back 28 more days is Dec 3.
      last30: { from: '2026-12-03', to: '2027-01-01' },
      thisMonth: { from: '2027-01-01', to: '2027-01-01' },
      lastMonth: { from: '2026-12-01', to: '2026-12-31' },
      thisYear: { from: '2027-01-01', to: '2027-01-01' },
    });
  });

  it('on the last day of March: last month is February, 28 days in 2026', () => {
    expect(allPresets('2026-03-31')).toEqual({
      today: { from: '2026-03-31', to: '2026-03-31' },
      last7: { from: '2026-03-25', to: '2026-03-31' },
      // 31 - 29 = March 2.
      last30: { from: '2026-03-02', to: '2026-03-31' },
      thisMonth: { from: '2026-03-01', to: '2026-03-31' },
      lastMonth: { from: '2026-02-01', to: '2026-02-28' },
      thisYear: { from: '2026-01-01', to: '2026-03-31' },
    });
  });

  it('on March 1 of a leap year: February ends on the 29th', () => {
    // Mar 1 - 1 = Feb 29; Feb 29 - 5 = Feb 24; Feb 29 - 28 = Feb 1.
    expect(presetRange('lastMonth', '2028-03-01')).toEqual({ from: '2028-02-01', to: '2028-02-29' });
    expect(presetRange('last7', '2028-03-01')).toEqual({ from: '2028-02-24', to: '2028-03-01' });
    expect(presetRange('last30', '2028-03-01')).toEqual({ from: '2028-02-01', to: '2028-03-01' });
  });

  it('takes today in Asia/Taipei: 00:30 on Jan 1 there is still Dec 31 in UTC', () => {
    const justAfterMidnight = new Date('2026-12-31T16:30:00Z');
    const justBeforeMidnight = new Date('2026-12-31T15:59:59Z');
    expect(todayInStore(justAfterMidnight)).toBe('2027-01-01');
    expect(todayInStore(justBeforeMidnight)).toBe('2026-12-31');
    expect(presetRange('lastMonth', todayInStore(justAfterMidnight))).toEqual({ from: '2026-12-01', to: '2026-12-31' });
    expect(presetRange('thisYear', todayInStore(justBeforeMidnight))).toEqual({ from: '2026-01-01', to: '2026-12-31' });
  });
});

describe('presetOf', () => {
  it('names the preset a range is on that day, else custom', () => {
    expect(presetOf({ from: '2026-02-01', to: '2026-02-28' }, '2026-03-31')).toBe('lastMonth');
    expect(presetOf({ from: '2026-03-25', to: '2026-03-31' }, '2026-03-31')).toBe('last7');
    expect(presetOf({ from: '2026-03-25', to: '2026-03-31' }, '2026-04-01')).toBe('custom');
  });
});

describe('settingsProblems', () => {
  const march = { from: '2026-03-01', to: '2026-03-31' };
  const settings = (s: Partial<ReportSettings>): ReportSettings => ({ ...DEFAULT_SETTINGS, ...s });

  it('has nothing to say about the defaults over a month', () => {
    expect(settingsProblems(march, DEFAULT_SETTINGS)).toEqual({});
  });

  it('allows 1100 days, both ends counted, and not one more', () => {
    // 2023 has 365 days and 2024 366: 2023-01-01 + 731 = 2025-01-01, + 365 = 2026-01-01 (1096),
    // + 3 = 2026-01-04 (1099 days on, the 1100th day).
    expect(settingsProblems({ from: '2023-01-01', to: '2026-01-04' }, DEFAULT_SETTINGS)).toEqual({});
    expect(settingsProblems({ from: '2023-01-01', to: '2026-01-05' }, DEFAULT_SETTINGS)).toEqual({
      to: 'rangeTooLong',
    });
  });

  it('refuses dates not on the calendar and a period that ends before it starts', () => {
    expect(settingsProblems({ from: '2025-02-29', to: '2025-03-31' }, DEFAULT_SETTINGS)).toEqual({ from: 'date' });
    expect(settingsProblems({ from: '2026-03-01', to: '2026-3-31' }, DEFAULT_SETTINGS)).toEqual({ to: 'date' });
    expect(settingsProblems({ from: '2026-03-31', to: '2026-03-01' }, DEFAULT_SETTINGS)).toEqual({
      to: 'toBeforeFrom',
    });
  });

  it('wants churned to come after active', () => {
    expect(settingsProblems(march, settings({ activeDays: 90, churnedDays: 90 }))).toEqual({
      churnedDays: 'churnedAfterActive',
    });
    expect(settingsProblems(march, settings({ activeDays: 120, churnedDays: 60 }))).toEqual({
      churnedDays: 'churnedAfterActive',
    });
    expect(settingsProblems(march, settings({ activeDays: 90, churnedDays: 91 }))).toEqual({});
  });

  it('keeps each threshold to whole days within what the hub accepts', () => {
    expect(settingsProblems(march, settings({ activeDays: 0, churnedDays: 1.5, idleDays: 1096 }))).toEqual({
      activeDays: 'days',
      churnedDays: 'days',
      idleDays: 'days',
    });
    expect(settingsProblems(march, settings({ activeDays: 730, churnedDays: 1095, idleDays: 1 }))).toEqual({});
    expect(settingsProblems(march, settings({ activeDays: 731, churnedDays: 1095 }))).toEqual({ activeDays: 'days' });
  });
});

describe('daysOverdue', () => {
  it('counts whole days since the predicted date, across a year end', () => {
    expect(daysOverdue('2026-03-28', '2026-03-31')).toBe(3);
    expect(daysOverdue('2026-12-30', '2027-01-02')).toBe(3);
    expect(daysOverdue('2028-02-28', '2028-03-01')).toBe(2);
  });

  it('is 0 when due today or later', () => {
    expect(daysOverdue('2026-03-31', '2026-03-31')).toBe(0);
    expect(daysOverdue('2026-04-05', '2026-03-31')).toBe(0);
  });
});

describe('searchChoices', () => {
  const catFood: CatalogChoice = { sku: 'CAT-001', name: '貓飼料 2kg', category: '寵物食品' };
  const dogFood: CatalogChoice = { sku: 'DOG-010', name: '狗飼料', category: '寵物食品' };
  const vitamin: CatalogChoice = { sku: 'VIT-3', name: 'Cat Vitamin', category: '寵物保健' };
  const choices = [catFood, dogFood, vitamin];

  it('keeps choices whose name, SKU or category hold every word, in their order', () => {
    expect(searchChoices(choices, '貓 飼料')).toEqual([catFood]);
    expect(searchChoices(choices, '飼料')).toEqual([catFood, dogFood]);
    expect(searchChoices(choices, 'CAT')).toEqual([catFood, vitamin]);
    expect(searchChoices(choices, '寵物保健')).toEqual([vitamin]);
    expect(searchChoices(choices, 'dog 貓')).toEqual([]);
  });

  it('gives every choice for blank text', () => {
    expect(searchChoices(choices, '   ')).toEqual(choices);
  });
});

describe('countColumn, moneyColumn, shareColumn', () => {
  type Row = { members: number; revenue: number; share: number };
  const row: Row = { members: 1234, revenue: 56789, share: 0.375 };
  const columns = [
    countColumn<Row>('members', '會員數', (r) => r.members),
    moneyColumn<Row>('revenue', '營收', (r) => r.revenue),
    shareColumn<Row>('share', '占比', (r) => r.share),
  ];

  it('show grouped digits, NT$ and a percent on screen, right-aligned', () => {
    expect(columns.map((c) => cellText(c, row))).toEqual(['1,234', 'NT$56,789', '37.5%']);
    expect(columns.every((c) => c.numeric)).toBe(true);
  });

  it('write the plain numbers into the file, under the headers in the UI’s language', () => {
    expect(toCsv(columns, [row]).replace(/^\uFEFF/, '')).toBe('會員數,營收,占比\r\n1234,56789,37.5');
  });
});
