/**
 * How far staff may discount without a manager: the owner sets a limit for a line's own discount
 * and for the order discount (each a share of what it is taken off), and all staff discounts of a
 * sale together may not take more than the order limit off the goods' gross price (so 20 % off
 * every line plus 20 % off the order, 36 % in all, is over a 20 % limit). Anything above needs a
 * manager's (or the owner's) approval for that sale. Pure.
 *
 * Limits are compared exactly, never with a rounded limit: a percent discount by its percent, an
 * amount by `amount × 100 ≤ base × percent` (NT$6 off NT$28 is 21.4 %, over 20 %).
 */
import type { CheckoutRequest, Discount, DiscountOverLimit, DiscountPolicy } from '../protocol/api.js';
import type { PricedCart } from './sale.js';

export type { DiscountOverLimit, DiscountPolicy };

export const DEFAULT_DISCOUNT_POLICY: DiscountPolicy = { maxLinePercent: 20, maxOrderPercent: 20 };

/**
 * A discount's exact size in hundredths of a NT$ (before rounding to whole dollars), so that
 * `hundredths ≤ base × percent` says exactly whether it is within `percent` of `base`.
 */
function hundredthsOff(base: number, discount: Discount | undefined, amount: number): number {
  return discount?.kind === 'percent' ? base * discount.value : amount * 100;
}

/** The staff discounts of a priced cart that go over the owner's limits (empty: no approval needed). */
export function discountsOverLimit(
  request: Pick<CheckoutRequest, 'lines' | 'orderDiscount'>,
  cart: Pick<PricedCart, 'lines' | 'subtotal' | 'orderDiscount'>,
  policy: DiscountPolicy,
): DiscountOverLimit[] {
  const over: DiscountOverLimit[] = [];
  let gross = 0;
  let hundredthsInAll = 0;
  cart.lines.forEach((line, i) => {
    const base = line.unitPrice * line.qty;
    const off = hundredthsOff(base, request.lines[i]?.discount, line.lineDiscount);
    gross += base;
    hundredthsInAll += off;
    if (off > base * policy.maxLinePercent) {
      over.push({
        scope: 'line',
        lineNo: line.lineNo,
        amount: line.lineDiscount,
        base,
        limitPercent: policy.maxLinePercent,
      });
    }
  });
  const orderOff = hundredthsOff(cart.subtotal, request.orderDiscount, cart.orderDiscount);
  hundredthsInAll += orderOff;
  if (orderOff > cart.subtotal * policy.maxOrderPercent) {
    over.push({
      scope: 'order',
      lineNo: null,
      amount: cart.orderDiscount,
      base: cart.subtotal,
      limitPercent: policy.maxOrderPercent,
    });
  }
  if (hundredthsInAll > gross * policy.maxOrderPercent) {
    over.push({
      scope: 'total',
      lineNo: null,
      amount: cart.lines.reduce((sum, line) => sum + line.lineDiscount, 0) + cart.orderDiscount,
      base: gross,
      limitPercent: policy.maxOrderPercent,
    });
  }
  return over;
}
