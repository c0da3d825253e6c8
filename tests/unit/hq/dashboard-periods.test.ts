/** HQ's overview chart by week and month: every day counted once, in the period it belongs to. */
import { describe, expect, it } from 'vitest';
import { byPeriod, periodStart } from '../../../hq/ui/src/lib/periods.ts';

describe('the overview by period', () => {
  it('starts weeks on Monday and months on the 1st, across a year end', () => {
    expect(periodStart('2026-12-07', 'week')).toBe('2026-12-07'); // a Monday
    expect(periodStart('2026-12-13', 'week')).toBe('2026-12-07'); // the Sunday after
    expect(periodStart('2027-01-01', 'week')).toBe('2026-12-28');
    expect(periodStart('2026-02-28', 'month')).toBe('2026-02-01');
  });

  it('sums each day once into its week or month', () => {
    const days = Array.from({ length: 45 }, (_, i) => {
      const d = new Date(Date.UTC(2026, 10, 20 + i));
      return { date: d.toISOString().slice(0, 10), revenue: 100 + i, sales: 1 + (i % 3) };
    });
    const total = (list: { revenue: number; sales: number }[]) =>
      list.reduce((s, d) => ({ revenue: s.revenue + d.revenue, sales: s.sales + d.sales }), { revenue: 0, sales: 0 });
    for (const period of ['day', 'week', 'month'] as const) expect(total(byPeriod(days, period))).toEqual(total(days));
    expect(byPeriod(days, 'month').map((m) => m.date)).toEqual(['2026-11-01', '2026-12-01', '2027-01-01']);
    expect(byPeriod(days, 'week')[0]).toEqual({ date: '2026-11-16', revenue: 100 + 101 + 102, sales: 1 + 2 + 3 });
  });
});
