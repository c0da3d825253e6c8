/** A range's days summed by week (from Monday) or month, for the overview's chart. */
export type Period = 'day' | 'week' | 'month';

export interface DayFigures {
  date: string;
  revenue: number;
  sales: number;
}

/** The first day of the week (Monday) or month a YYYY-MM-DD day is in. */
export function periodStart(day: string, period: Period): string {
  if (period === 'day') return day;
  if (period === 'month') return `${day.slice(0, 7)}-01`;
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return d.toISOString().slice(0, 10);
}

export function byPeriod(days: readonly DayFigures[], period: Period): DayFigures[] {
  const sums = new Map<string, DayFigures>();
  for (const day of days) {
    const start = periodStart(day.date, period);
    const sum = sums.get(start) ?? { date: start, revenue: 0, sales: 0 };
    sum.revenue += day.revenue;
    sum.sales += day.sales;
    sums.set(start, sum);
  }
  return [...sums.values()];
}
