/**
 * Cart arithmetic for display. The hub recomputes everything from its own catalog; these rules
 * match it: whole NT$, percent discounts round half up, the order discount applies to the
 * subtotal (the hub spreads it over the lines in proportion to their totals).
 */
import type { Discount } from '$protocol/api';

/** Percent of a whole NT$ amount, rounded half up, in integer arithmetic. */
export function percentOf(amount: number, percent: number): number {
  return Math.floor((amount * percent + 50) / 100);
}

/** NT$ taken off `base` by a discount (never more than base, never negative). */
export function discountAmount(base: number, d: Discount | null | undefined): number {
  if (!d || d.value <= 0 || base <= 0) return 0;
  const raw = d.kind === 'percent' ? percentOf(base, Math.min(d.value, 100)) : d.value;
  return Math.max(0, Math.min(raw, base));
}

/** Why a discount cannot be sent as it is, or null when it is fine. */
export function discountProblem(base: number, d: Discount | null | undefined): 'percent_range' | 'too_large' | null {
  if (!d) return null;
  if (!Number.isInteger(d.value) || d.value < 0) return 'too_large';
  if (d.kind === 'percent' && (d.value < 1 || d.value > 100)) return 'percent_range';
  if (d.kind === 'amount' && d.value > base) return 'too_large';
  return null;
}

export interface PricedLine {
  gross: number;
  discount: number;
  total: number;
}

export function priceLine(unitPrice: number, qty: number, d?: Discount | null): PricedLine {
  const gross = unitPrice * qty;
  const discount = discountAmount(gross, d);
  return { gross, discount, total: gross - discount };
}

export interface CartTotals {
  /** Sum of unit price x qty, before any discount. */
  gross: number;
  /** Sum of line totals after their own discounts (what the order discount applies to). */
  subtotal: number;
  /** Line discounts plus the order discount. */
  discount: number;
  orderDiscount: number;
  total: number;
  items: number;
}

export function cartTotals(
  lines: ReadonlyArray<{ unitPrice: number; qty: number; discount?: Discount | null }>,
  orderDiscount?: Discount | null,
): CartTotals {
  let gross = 0;
  let subtotal = 0;
  let lineDiscounts = 0;
  let items = 0;
  for (const l of lines) {
    const p = priceLine(l.unitPrice, l.qty, l.discount);
    gross += p.gross;
    subtotal += p.total;
    lineDiscounts += p.discount;
    items += l.qty;
  }
  const od = discountAmount(subtotal, orderDiscount);
  return { gross, subtotal, orderDiscount: od, discount: lineDiscounts + od, total: subtotal - od, items };
}

/**
 * Spreads an order discount over line totals in proportion (largest remainder, so the parts add
 * up exactly). Shown nowhere as such; kept here so the display can match a refund's share.
 */
export function spreadDiscount(lineTotals: readonly number[], discount: number): number[] {
  const sum = lineTotals.reduce((a, b) => a + b, 0);
  if (sum <= 0 || discount <= 0) return lineTotals.map(() => 0);
  const exact = lineTotals.map((t) => (t * discount) / sum);
  const parts = exact.map((x) => Math.floor(x));
  let left = discount - parts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    parts[i] = (parts[i] ?? 0) + 1;
    left -= 1;
  }
  return parts;
}
