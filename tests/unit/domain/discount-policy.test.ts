/** Which staff discounts go over the owner's limits (and so need a manager's approval). */
import { describe, expect, it } from 'vitest';
import { DEFAULT_DISCOUNT_POLICY, discountsOverLimit } from '../../../hub/src/domain/discount-policy.ts';
import { priceCart } from '../../../hub/src/domain/sale.ts';
import type { CheckoutRequest, Discount } from '../../../hub/src/protocol/api.ts';

const PRICES: Record<string, number> = { A: 399, B: 15, C: 28, D: 100 };
const product = (sku: string) => ({
  sku,
  barcodes: [],
  name: sku,
  category: 'x',
  price: PRICES[sku]!,
  repurchaseDays: null,
});
const over = (request: Pick<CheckoutRequest, 'lines' | 'orderDiscount'>, policy = DEFAULT_DISCOUNT_POLICY) =>
  discountsOverLimit(request, priceCart(request, product), policy);
const cart = (lineDiscount?: Discount, orderDiscount?: Discount) => ({
  lines: [
    { sku: 'A', qty: 1, ...(lineDiscount ? { discount: lineDiscount } : {}) },
    { sku: 'B', qty: 2 },
  ],
  ...(orderDiscount ? { orderDiscount } : {}),
});

describe('discountsOverLimit (default 20 %)', () => {
  it('lets exactly 20 % off a line or the order through', () => {
    // 20 % of 399 = 79.8 -> NT$80 off, still "20 %"; NT$79 typed as an amount is 19.8 %
    expect(over(cart({ kind: 'percent', value: 20 }))).toEqual([]);
    expect(over(cart({ kind: 'amount', value: 79 }))).toEqual([]);
    // 20 % of 399 + 30 = 429 is 85.8: NT$85 is within, NT$86 is 20.05 %
    expect(over(cart(undefined, { kind: 'amount', value: 85 }))).toEqual([]);
    expect(over(cart(undefined, { kind: 'percent', value: 20 }))).toEqual([]);
  });

  it('compares amounts exactly instead of rounding the limit: NT$6 off NT$28 (21.4 %) needs approval', () => {
    expect(over({ lines: [{ sku: 'C', qty: 1, discount: { kind: 'amount', value: 6 } }] })).toEqual([
      { scope: 'line', lineNo: 1, amount: 6, base: 28, limitPercent: 20 },
      { scope: 'total', lineNo: null, amount: 6, base: 28, limitPercent: 20 },
    ]);
    expect(over({ lines: [{ sku: 'C', qty: 1 }], orderDiscount: { kind: 'amount', value: 6 } })).toEqual([
      { scope: 'order', lineNo: null, amount: 6, base: 28, limitPercent: 20 },
      { scope: 'total', lineNo: null, amount: 6, base: 28, limitPercent: 20 },
    ]);
    expect(over({ lines: [{ sku: 'C', qty: 1, discount: { kind: 'amount', value: 5 } }] })).toEqual([]);
  });

  it('flags one dollar more, a 100 % line and an order given away', () => {
    expect(over(cart({ kind: 'amount', value: 80 }))).toEqual([
      { scope: 'line', lineNo: 1, amount: 80, base: 399, limitPercent: 20 },
    ]);
    expect(over(cart(undefined, { kind: 'amount', value: 86 }))).toEqual([
      { scope: 'order', lineNo: null, amount: 86, base: 429, limitPercent: 20 },
      { scope: 'total', lineNo: null, amount: 86, base: 429, limitPercent: 20 },
    ]);
    expect(over(cart({ kind: 'percent', value: 100 }, { kind: 'percent', value: 100 }))).toEqual([
      { scope: 'line', lineNo: 1, amount: 399, base: 399, limitPercent: 20 },
      { scope: 'order', lineNo: null, amount: 30, base: 30, limitPercent: 20 },
      { scope: 'total', lineNo: null, amount: 429, base: 429, limitPercent: 20 },
    ]);
  });

  it('adds line and order discounts up: 20 % off every line plus 20 % off the order (36 %) needs approval', () => {
    const stacked = {
      lines: [
        { sku: 'D', qty: 1, discount: { kind: 'percent', value: 20 } as Discount },
        { sku: 'D', qty: 2, discount: { kind: 'percent', value: 20 } as Discount },
      ],
      orderDiscount: { kind: 'percent', value: 20 } as Discount,
    };
    // each line and the order on its own is within 20 %; together NT$108 off NT$300 is 36 %
    expect(over(stacked)).toEqual([{ scope: 'total', lineNo: null, amount: 108, base: 300, limitPercent: 20 }]);
    // 10 % off the lines and 10 % off the rest is 19 % in all
    expect(
      over({
        lines: stacked.lines.map((l) => ({ ...l, discount: { kind: 'percent', value: 10 } as Discount })),
        orderDiscount: { kind: 'percent', value: 10 },
      }),
    ).toEqual([]);
  });

  it('follows the owner’s limits: 0 % means every discount needs approval, 100 % none', () => {
    expect(over(cart({ kind: 'amount', value: 1 }), { maxLinePercent: 0, maxOrderPercent: 0 })).toHaveLength(2);
    expect(
      over(cart({ kind: 'percent', value: 100 }, { kind: 'percent', value: 100 }), {
        maxLinePercent: 100,
        maxOrderPercent: 100,
      }),
    ).toEqual([]);
  });
});
