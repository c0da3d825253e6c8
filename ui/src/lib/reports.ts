/**
 * The reports page's calls to the hub (A1-A6, R5), its date ranges and the small pure helpers its
 * sections share: date presets in the store's calendar, the activity settings and their limits,
 * number formats, and the words for a repurchase prediction.
 *
 * Dates are store-local YYYY-MM-DD strings throughout; "today" is the date in the store's zone, whatever
 * zone the tablet is set to.
 */
import type {
  CrossSellReport,
  MemberMetrics,
  ProductReport,
  RepurchaseDueReport,
  RepurchasePredictionView,
  RfmReport,
  RfmSegmentName,
} from '$protocol/crm';
import type { ServerMessage } from '$protocol/api';
import { api, isApiError } from '$lib/api';
import { adminError } from '$lib/components/AdminApi';
import { storeTimeZone } from '$lib/store-zone';
import { formatMoney, formatNumber } from '$lib/money';

export type Translate = (
  id: string,
  options?: { default?: string; values?: Record<string, string | number> },
) => string;

// ---- dates ----

export interface DateRange {
  from: string;
  to: string;
}

const DAY_MS = 86_400_000;
const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

function utcOf(day: string): number {
  return Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10)));
}

function dayOf(utc: number): string {
  return new Date(utc).toISOString().slice(0, 10);
}

/** True for a real calendar date written YYYY-MM-DD (2025-02-30 is not one). */
export function isDay(value: string): boolean {
  const m = DAY_PATTERN.exec(value);
  if (!m) return false;
  const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return dayOf(utc) === value;
}

export function addDays(day: string, days: number): string {
  return dayOf(utcOf(day) + days * DAY_MS);
}

/** Days in a range, both ends counted: 2025-03-01..2025-03-07 is 7. */
export function daysInRange(range: DateRange): number {
  return Math.round((utcOf(range.to) - utcOf(range.from)) / DAY_MS) + 1;
}

export const PRESETS = ['today', 'last7', 'last30', 'thisMonth', 'lastMonth', 'thisYear'] as const;
export type PresetId = (typeof PRESETS)[number];
export type RangeChoice = PresetId | 'custom';

/** The range a preset stands for on `today` (the store's date). */
export function presetRange(preset: PresetId, today: string): DateRange {
  const year = today.slice(0, 4);
  const monthStart = `${today.slice(0, 7)}-01`;
  switch (preset) {
    case 'today':
      return { from: today, to: today };
    case 'last7':
      return { from: addDays(today, -6), to: today };
    case 'last30':
      return { from: addDays(today, -29), to: today };
    case 'thisMonth':
      return { from: monthStart, to: today };
    case 'lastMonth': {
      const lastOfPrevious = addDays(monthStart, -1);
      return { from: `${lastOfPrevious.slice(0, 7)}-01`, to: lastOfPrevious };
    }
    case 'thisYear':
      return { from: `${year}-01-01`, to: today };
  }
}

/** The preset a range is on `today`, or 'custom' when it is none of them. */
export function presetOf(range: DateRange, today: string): RangeChoice {
  for (const preset of PRESETS) {
    const r = presetRange(preset, today);
    if (r.from === range.from && r.to === range.to) return preset;
  }
  return 'custom';
}

/** Whole days from a predicted date to `today`: 3 when it was due 3 days ago, 0 when due today or later. */
export function daysOverdue(dueOn: string, today: string): number {
  return Math.max(0, daysInRange({ from: dueOn, to: today }) - 1);
}

// ---- settings ----

/** Activity thresholds (days since the last purchase), idle days for items, an optional category. */
export interface ReportSettings {
  activeDays: number;
  churnedDays: number;
  idleDays: number;
  /** '' for every category. */
  category: string;
}

export const DEFAULT_SETTINGS: ReportSettings = { activeDays: 90, churnedDays: 180, idleDays: 30, category: '' };

/** The longest period the hub reports on, both ends counted (it keeps about 3 years of history). */
export const MAX_RANGE_DAYS = 1100;

/** What the hub accepts (ReportRangeQuery). */
export const LIMITS = {
  activeDays: { min: 1, max: 730 },
  churnedDays: { min: 2, max: 1095 },
  idleDays: { min: 1, max: 1095 },
} as const;

export type SettingsField = 'from' | 'to' | 'activeDays' | 'churnedDays' | 'idleDays';

/** Message keys (under reports.problems) for whatever would be refused; empty when all is well. */
export function settingsProblems(range: DateRange, s: ReportSettings): Partial<Record<SettingsField, string>> {
  const problems: Partial<Record<SettingsField, string>> = {};
  if (!isDay(range.from)) problems.from = 'date';
  if (!isDay(range.to)) problems.to = 'date';
  else if (!problems.from && range.from > range.to) problems.to = 'toBeforeFrom';
  else if (!problems.from && daysInRange(range) > MAX_RANGE_DAYS) problems.to = 'rangeTooLong';
  for (const field of ['activeDays', 'churnedDays', 'idleDays'] as const) {
    const v = s[field];
    const { min, max } = LIMITS[field];
    if (!Number.isInteger(v) || v < min || v > max) problems[field] = 'days';
  }
  if (!problems.activeDays && !problems.churnedDays && s.churnedDays <= s.activeDays) {
    problems.churnedDays = 'churnedAfterActive';
  }
  return problems;
}

// ---- the hub's answers ----

/**
 * How many rows a table shows, and how many its CSV may hold (the most the hub hands out): the
 * screen stays short, the file is the whole list unless it is longer than that.
 */
export const ROW_LIMITS = {
  products: { screen: 20, file: 500 },
  crossSell: { screen: 50, file: 500 },
  due: { screen: 200, file: 1000 },
} as const;

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  return q.toString();
}

export const reportsApi = {
  members: (range: DateRange, s: ReportSettings, signal?: AbortSignal) =>
    api.get<MemberMetrics>(
      `/api/reports/members?${query({ ...range, activeDays: s.activeDays, churnedDays: s.churnedDays })}`,
      { signal },
    ),
  /** Best sellers and slow movers cut to `limit` each (idle items and categories are whole). */
  products: (
    range: DateRange,
    s: Pick<ReportSettings, 'idleDays' | 'category'>,
    limit: number = ROW_LIMITS.products.screen,
    signal?: AbortSignal,
  ) =>
    api.get<ProductReport>(
      `/api/reports/products?${query({ ...range, idleDays: s.idleDays, category: s.category || undefined, limit })}`,
      { signal },
    ),
  rfm: () => api.get<RfmReport>('/api/analytics/rfm', { timeoutMs: 60_000 }),
  /** Scores every member again now (also done nightly). */
  recomputeRfm: () => api.post<RfmReport>('/api/analytics/rfm/recompute', {}, { timeoutMs: 60_000 }),
  /**
   * Due this week as the counter sees it: due from today to 6 days on, and overdue by less than one
   * interval. The hub gives a phone number only for members who consented to SMS.
   */
  repurchaseDue: (limit: number = ROW_LIMITS.due.screen) =>
    api.get<RepurchaseDueReport>(`/api/analytics/repurchase-due?${query({ limit })}`),
  /** Pairs for one SKU, or all pairs by lift without one. */
  crossSell: (sku: string | null, limit: number = ROW_LIMITS.crossSell.screen) =>
    api.get<CrossSellReport>(`/api/analytics/cross-sell?${query({ sku: sku ?? undefined, limit })}`),
  /** The whole catalog (and more the reports do not need), for the product picker. */
  catalog: () => api.get<{ products: CatalogChoice[] }>('/api/segments/options'),
};

/** A product to pick. */
export interface CatalogChoice {
  sku: string;
  name: string;
  category: string;
}

/** The reports' own words for the hub's refusals (a period or threshold out of bounds), else the shared ones. */
export function reportError(e: unknown, t: Translate): string {
  if (isApiError(e)) {
    const own = t(`reports.errors.${e.code}`, { default: '', values: { max: MAX_RANGE_DAYS } });
    if (own) return own;
  }
  return adminError(e, t);
}

/**
 * Messages after which the member and product figures may have moved: a sale, a void or a refund
 * (the hub sends all three as `sale`), a catalog import (idle items), and a reconnect (sales made
 * while this tablet was cut off).
 */
export function changesReports(msg: ServerMessage): boolean {
  return msg.type === 'sale' || msg.type === 'catalog.changed' || msg.type === 'hello';
}

/** Calls `fn` once, `ms` after the last of a burst of calls. */
export function debounce(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const call = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
  call.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return call;
}

// ---- words and numbers ----

const percent = new Intl.NumberFormat('zh-TW', { style: 'percent', maximumFractionDigits: 1 });
const decimal = new Intl.NumberFormat('zh-TW', { maximumFractionDigits: 2 });

/** A 0..1 share as "37.5%". */
export function formatShare(share: number): string {
  return percent.format(share);
}

/** A 0..1 share as a number of percent with one decimal, for a CSV cell: 0.375 -> 37.5. */
export function sharePercent(share: number): number {
  return Math.round(share * 1000) / 10;
}

/** Up to 2 decimals: purchase frequency, lift. */
export function formatDecimal(n: number): string {
  return decimal.format(n);
}

export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** The time of day in the store's zone, 24 h: "14:05:09". */
export function formatClock(at: Date): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: storeTimeZone(),
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  }).format(at);
}

/** Best first, as the segments table lists them (the protocol's types only reach the UI). */
export const RFM_ORDER: readonly RfmSegmentName[] = [
  'champions',
  'loyal',
  'promising',
  'new_customers',
  'needs_attention',
  'at_risk',
  'hibernating',
  'one_time',
];

/** How a repurchase date was predicted, in the staff's language. */
export function explainRepurchase(
  p: Pick<RepurchasePredictionView, 'basis' | 'intervalDays' | 'samples'>,
  t: Translate,
): string {
  return t(`reports.due.basis.${p.basis}`, { values: { n: p.samples, days: p.intervalDays } });
}

/**
 * Products to pick a cross-sell filter from: the whole catalog, and products the pairs name that
 * left it (their baskets still count). By category, then name; those gone from the catalog last.
 */
export function productChoices(
  catalog: readonly CatalogChoice[],
  pairs: readonly { sku: string; name: string; withSku: string; withName: string }[],
): CatalogChoice[] {
  const bySku = new Map<string, CatalogChoice>();
  for (const p of catalog) bySku.set(p.sku, p);
  for (const p of pairs) {
    if (!bySku.has(p.sku)) bySku.set(p.sku, { sku: p.sku, name: p.name, category: '' });
    if (!bySku.has(p.withSku)) bySku.set(p.withSku, { sku: p.withSku, name: p.withName, category: '' });
  }
  // Products gone from the catalog (no category here) go last.
  const rank = (c: CatalogChoice) => (c.category ? 0 : 1);
  return [...bySku.values()].sort(
    (a, b) =>
      rank(a) - rank(b) || a.category.localeCompare(b.category, 'zh-TW') || a.name.localeCompare(b.name, 'zh-TW'),
  );
}

/** Choices whose name, SKU or category holds every word typed (any case), e.g. "貓 飼料". */
export function searchChoices(choices: readonly CatalogChoice[], text: string): CatalogChoice[] {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [...choices];
  return choices.filter((c) => {
    const haystack = `${c.name} ${c.sku} ${c.category}`.toLowerCase();
    return words.every((w) => haystack.includes(w));
  });
}

/** Categories met so far, to filter by: kept across answers, since a filtered answer names only one. */
export function mergeCategories(known: readonly string[], report: ProductReport): string[] {
  const all = new Set(known);
  for (const c of report.byCategory) all.add(c.category);
  for (const r of [...report.bestSellers, ...report.slowMovers, ...report.idle]) all.add(r.category);
  return [...all].sort((a, b) => a.localeCompare(b, 'zh-TW'));
}

// ---- tables ----

/** A column of a report table: its CSV value (raw numbers), and how it reads on screen. */
export interface ReportColumn<T> {
  id: string;
  /** The header in the current language (on screen and in the CSV). */
  label: string;
  csv: (row: T) => string | number | null;
  /** On screen, when it differs from the CSV value (NT$, %, "—"). */
  text?: (row: T) => string;
  numeric?: boolean;
  /** Drawn by the table's `cell` snippet (a button, a link). */
  custom?: boolean;
  /** In the CSV, not on screen (shown within another column there). */
  csvOnly?: boolean;
}

/** A count: digits grouped on screen ("1,234"), the plain number in the file. */
export function countColumn<T>(id: string, label: string, value: (row: T) => number): ReportColumn<T> {
  return { id, label, csv: value, text: (r) => formatNumber(value(r)), numeric: true };
}

/** An amount: "NT$1,234" on screen, the plain number of dollars in the file. */
export function moneyColumn<T>(id: string, label: string, value: (row: T) => number): ReportColumn<T> {
  return { id, label, csv: value, text: (r) => formatMoney(value(r)), numeric: true };
}

/** A 0..1 share: "37.5%" on screen, 37.5 in the file. */
export function shareColumn<T>(id: string, label: string, value: (row: T) => number): ReportColumn<T> {
  return { id, label, csv: (r) => sharePercent(value(r)), text: (r) => formatShare(value(r)), numeric: true };
}

/** What the page hands a report tab that fetches its own figures. */
export interface LiveSectionProps {
  /** Changes when the page's figures should be fetched again (a sale landed, Refresh). */
  refresh: number;
  /** Called when fresh figures are on screen ("updated at" in the page's title row). */
  onupdated: () => void;
}

/** The rows of a table's file, and what to say when even those are not the whole list. */
export interface FileRows<T> {
  rows: T[];
  /** e.g. "檔案只含前 500 名"; empty when the file has every row. */
  cutNote?: string;
}

export function cellText<T>(column: ReportColumn<T>, row: T): string {
  if (column.text) return column.text(row);
  const v = column.csv(row);
  return v === null || v === '' ? '—' : String(v);
}
