/** Which staff discounts go over the owner's limits (and so need a manager's approval). */
import { describe, expect, it } from 'vitest';
import { DEFAULT_DISCOUNT_POLICY, discountsOverLimit } from '../../../hub/src/domain/discount-policy.ts';
import { priceCart } from '../../../hub/src/domain/sale.ts';
import type { Discount } from '../../../hub/src/protocol/api.ts';

const PRICES: Record<string, number> = { A: 399, B: 15 };
const price = (lineDiscount?: Discount, orderDiscount?: Discount) =>
  priceCart(
    {
      lines: [
        { sku: 'A', qty: 1, ...(lineDiscount ? { discount: lineDiscount } : {}) },
        { sku: 'B', qty: 2 },
      ],
      ...(orderDiscount ? { orderDiscount } : {}),
    },
    (sku) => ({ sku, barcodes: [], name: sku, category: 'x', price: PRICES[sku]!, repurchaseDays: null }),
  );

describe('discountsOverLimit (default 20 %)', () => {
  it('lets 20 % off a line or the order through, rounded as the discount is', () => {
    // 20 % of 399 = 79.8 -> 80; then 20 % of 319 + 30 = 349 is 69.8 -> 70
    expect(discountsOverLimit(price({ kind: 'percent', value: 20 }), DEFAULT_DISCOUNT_POLICY)).toEqual([]);
    expect(
      discountsOverLimit(price({ kind: 'amount', value: 80 }, { kind: 'amount', value: 70 }), DEFAULT_DISCOUNT_POLICY),
    ).toEqual([]);
  });

  it('flags one dollar more, a 100 % line and an order given away', () => {
    expect(discountsOverLimit(price({ kind: 'amount', value: 81 }), DEFAULT_DISCOUNT_POLICY)).toEqual([
      { scope: 'line', lineNo: 1, amount: 81, base: 399, limitPercent: 20 },
    ]);
    // 20 % of 399 + 30 = 429 is 85.8 -> 86 within; 87 is not
    expect(discountsOverLimit(price(undefined, { kind: 'amount', value: 86 }), DEFAULT_DISCOUNT_POLICY)).toEqual([]);
    expect(discountsOverLimit(price(undefined, { kind: 'amount', value: 87 }), DEFAULT_DISCOUNT_POLICY)).toEqual([
      { scope: 'order', lineNo: null, amount: 87, base: 429, limitPercent: 20 },
    ]);
    expect(
      discountsOverLimit(
        price({ kind: 'percent', value: 100 }, { kind: 'percent', value: 100 }),
        DEFAULT_DISCOUNT_POLICY,
      ),
    ).toEqual([
      { scope: 'line', lineNo: 1, amount: 399, base: 399, limitPercent: 20 },
      { scope: 'order', lineNo: null, amount: 30, base: 30, limitPercent: 20 },
    ]);
  });

  it('follows the owner’s limits: 0 % means every discount needs approval, 100 % none', () => {
    expect(
      discountsOverLimit(price({ kind: 'amount', value: 1 }), { maxLinePercent: 0, maxOrderPercent: 0 }),
    ).toHaveLength(1);
    expect(
      discountsOverLimit(price({ kind: 'percent', value: 100 }, { kind: 'percent', value: 100 }), {
        maxLinePercent: 100,
        maxOrderPercent: 100,
      }),
    ).toEqual([]);
  });
});
