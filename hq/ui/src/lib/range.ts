/**
 * The figures' date range: business days of the stores (Asia/Taipei), as HQ counts them. Presets
 * like the tablets' reports; the range is kept in the address so a link shows the same figures.
 */
const ZONE = 'Asia/Taipei';

export interface DayRange {
  from: string;
  to: string;
}

export const PRESETS = ['last7', 'last30', 'thisMonth', 'lastMonth', 'last365'] as const;
export type Preset = (typeof PRESETS)[number];

export function today(now = new Date()): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    now,
  );
}

function shift(day: string, days: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export function presetRange(preset: Preset, now = new Date()): DayRange {
  const t = today(now);
  switch (preset) {
    case 'last7':
      return { from: shift(t, -6), to: t };
    case 'last30':
      return { from: shift(t, -29), to: t };
    case 'thisMonth':
      return { from: `${t.slice(0, 7)}-01`, to: t };
    case 'lastMonth': {
      const lastOfPrevious = shift(`${t.slice(0, 7)}-01`, -1);
      return { from: `${lastOfPrevious.slice(0, 7)}-01`, to: lastOfPrevious };
    }
    case 'last365':
      return { from: shift(t, -364), to: t };
  }
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The range in the page's address, or the last 30 days. */
export function rangeFrom(url: URL): DayRange {
  const from = url.searchParams.get('from');
  const to = url.searchParams.get('to');
  if (from && to && DAY.test(from) && DAY.test(to) && from <= to) return { from, to };
  return presetRange('last30');
}

export function rangeQuery(range: DayRange): string {
  return `from=${range.from}&to=${range.to}`;
}
