/** Figures as the dashboard shows them, in the dashboard's language. */
export { formatMoney, formatNumber } from '$ui/money';

export function formatPercent(share: number | null | undefined): string {
  if (share === null || share === undefined || Number.isNaN(share)) return '—';
  return `${(share * 100).toFixed(1)}%`;
}

/** A timestamp in the stores' zone: 2026/12/07 14:05 or 7 Dec 2026, 14:05. */
export function formatTime(iso: string | null | undefined, locale: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale === 'en' ? 'en-GB' : 'zh-TW', {
    timeZone: 'Asia/Taipei',
    year: 'numeric',
    month: locale === 'en' ? 'short' : '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(d);
}

/** How long ago, roughly: for "last event" columns. */
export function ageSeconds(iso: string | null | undefined, now = Date.now()): number | null {
  if (!iso) return null;
  const t = new Date(iso).getTime();
  return Number.isNaN(t) ? null : Math.max(0, Math.round((now - t) / 1000));
}

export function nowIso(): string {
  return new Date().toISOString();
}
