/**
 * How far staff may discount without a manager: the owner sets a limit for a line's own discount
 * and for the order discount (each a share of what it is taken off); anything above needs a
 * manager's (or the owner's) approval for that sale. Pure.
 */
import type { DiscountOverLimit, DiscountPolicy } from '../protocol/api.js';
import type { PricedCart } from './sale.js';
import { roundHalfUp } from './money.js';

export type { DiscountOverLimit, DiscountPolicy };

export const DEFAULT_DISCOUNT_POLICY: DiscountPolicy = { maxLinePercent: 20, maxOrderPercent: 20 };

/** The most NT$ off `base` within `percent`, rounded as a percent discount is (so 20 % off is within 20 %). */
function limitAmount(base: number, percent: number): number {
  return roundHalfUp((base * percent) / 100);
}

/** The staff discounts of a priced cart that go over the owner's limits (empty: no approval needed). */
export function discountsOverLimit(
  cart: Pick<PricedCart, 'lines' | 'subtotal' | 'orderDiscount'>,
  policy: DiscountPolicy,
): DiscountOverLimit[] {
  const over: DiscountOverLimit[] = [];
  for (const line of cart.lines) {
    const base = line.unitPrice * line.qty;
    if (line.lineDiscount > limitAmount(base, policy.maxLinePercent)) {
      over.push({
        scope: 'line',
        lineNo: line.lineNo,
        amount: line.lineDiscount,
        base,
        limitPercent: policy.maxLinePercent,
      });
    }
  }
  if (cart.orderDiscount > limitAmount(cart.subtotal, policy.maxOrderPercent)) {
    over.push({
      scope: 'order',
      lineNo: null,
      amount: cart.orderDiscount,
      base: cart.subtotal,
      limitPercent: policy.maxOrderPercent,
    });
  }
  return over;
}
