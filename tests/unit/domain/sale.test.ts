/**
 * Pricing a cart, settling tenders and refunds: the money a customer pays and gets back.
 * Every expected NT$ amount is worked out by hand in the comments.
 */
import { describe, expect, it } from 'vitest';
import { computeRefund, priceCart, settleTenders } from '../../../hub/src/domain/sale.ts';
import { allocateProportionally } from '../../../hub/src/domain/money.ts';
import { DomainError } from '../../../hub/src/domain/errors.ts';
import type { ProductData, SaleLineData } from '../../../hub/src/protocol/events.ts';

const product = (sku: string, price: number): ProductData => ({
  sku,
  barcodes: [],
  name: `商品 ${sku}`,
  category: '測試',
  price,
  repurchaseDays: null,
});

const CATALOG = new Map<string, ProductData>(
  [
    product('P25', 25),
    product('P35', 35),
    product('P50', 50),
    product('P30', 30),
    product('P20', 20),
    product('P33', 33),
    product('P17', 17),
    product('P100', 100),
  ].map((p) => [p.sku, p]),
);
const find = (sku: string) => CATALOG.get(sku);

/** Runs `fn`, expecting a DomainError, and returns it. */
function domainError(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  }
  throw new Error('expected a DomainError, nothing was thrown');
}

describe('priceCart: line discounts', () => {
  it('uses the catalog price times the quantity', () => {
    // 3 x NT$25 = 75
    const priced = priceCart({ lines: [{ sku: 'P25', qty: 3 }] }, find);
    expect(priced.lines[0]).toMatchObject({ lineNo: 1, unitPrice: 25, qty: 3, lineDiscount: 0, lineTotal: 75 });
    expect(priced).toMatchObject({ subtotal: 75, orderDiscount: 0, total: 75 });
  });

  it('takes an amount discount off the line', () => {
    // 2 x 50 = 100, NT$15 off -> 85
    const priced = priceCart({ lines: [{ sku: 'P50', qty: 2, discount: { kind: 'amount', value: 15 } }] }, find);
    expect(priced.lines[0]).toMatchObject({ lineDiscount: 15, lineTotal: 85 });
    expect(priced.total).toBe(85);
  });

  it('rounds a percent discount half up to the dollar', () => {
    // 10% of 25 = 2.5 -> 3 off, line 22
    const half = priceCart({ lines: [{ sku: 'P25', qty: 1, discount: { kind: 'percent', value: 10 } }] }, find);
    expect(half.lines[0]).toMatchObject({ lineDiscount: 3, lineTotal: 22 });
    // 10% of 35 = 3.5 -> 4 off, line 31
    const half2 = priceCart({ lines: [{ sku: 'P35', qty: 1, discount: { kind: 'percent', value: 10 } }] }, find);
    expect(half2.lines[0]).toMatchObject({ lineDiscount: 4, lineTotal: 31 });
    // 15% of 33 = 4.95 -> 5 off (rounds up), line 28
    const up = priceCart({ lines: [{ sku: 'P33', qty: 1, discount: { kind: 'percent', value: 15 } }] }, find);
    expect(up.lines[0]).toMatchObject({ lineDiscount: 5, lineTotal: 28 });
    // 12% of 17 = 2.04 -> 2 off (rounds down), line 15
    const down = priceCart({ lines: [{ sku: 'P17', qty: 1, discount: { kind: 'percent', value: 12 } }] }, find);
    expect(down.lines[0]).toMatchObject({ lineDiscount: 2, lineTotal: 15 });
  });

  it('applies a percent discount to the whole line, not per unit', () => {
    // 3 x 25 = 75; 10% of 75 = 7.5 -> 8 off (per unit it would be 3 x 3 = 9), line 67
    const priced = priceCart({ lines: [{ sku: 'P25', qty: 3, discount: { kind: 'percent', value: 10 } }] }, find);
    expect(priced.lines[0]).toMatchObject({ lineDiscount: 8, lineTotal: 67 });
  });

  it('allows 100 % off (a free line) and the exact line amount off', () => {
    const free = priceCart({ lines: [{ sku: 'P25', qty: 2, discount: { kind: 'percent', value: 100 } }] }, find);
    expect(free.lines[0]).toMatchObject({ lineDiscount: 50, lineTotal: 0 });
    const exact = priceCart({ lines: [{ sku: 'P25', qty: 2, discount: { kind: 'amount', value: 50 } }] }, find);
    expect(exact.lines[0]).toMatchObject({ lineDiscount: 50, lineTotal: 0 });
  });

  it('refuses an amount discount larger than the line', () => {
    // the line is 2 x 25 = 50; NT$51 off would make it negative
    const err = domainError(() =>
      priceCart(
        {
          lines: [
            { sku: 'P50', qty: 1 },
            { sku: 'P25', qty: 2, discount: { kind: 'amount', value: 51 } },
          ],
        },
        find,
      ),
    );
    expect(err.code).toBe('discount_too_large');
    expect(err.message).toContain('Line 2');
    expect(err.details).toMatchObject({ base: 50, value: 51 });
  });

  it('refuses a percent discount over 100', () => {
    const err = domainError(() =>
      priceCart({ lines: [{ sku: 'P25', qty: 1, discount: { kind: 'percent', value: 101 } }] }, find),
    );
    expect(err.code).toBe('invalid_discount');
  });

  it('refuses an unknown SKU, naming the line', () => {
    const err = domainError(() =>
      priceCart(
        {
          lines: [
            { sku: 'P25', qty: 1 },
            { sku: 'P30', qty: 1 },
            { sku: 'NOPE', qty: 1 },
          ],
        },
        find,
      ),
    );
    expect(err.code).toBe('unknown_product');
    expect(err.details).toEqual({ line: 3, sku: 'NOPE' });
    expect(err.message).toContain('Line 3');
  });
});

describe('priceCart: order discount', () => {
  it('spreads an order discount in proportion to the line totals', () => {
    // lines 50 + 30 + 20 = 100; NT$7 off: exact shares 3.5, 2.1, 1.4 -> floors 3, 2, 1 (= 6),
    // the dollar left goes to the largest remainder (0.5, line 1): 4, 2, 1
    const priced = priceCart(
      {
        lines: [
          { sku: 'P50', qty: 1 },
          { sku: 'P30', qty: 1 },
          { sku: 'P20', qty: 1 },
        ],
        orderDiscount: { kind: 'amount', value: 7 },
      },
      find,
    );
    expect(priced.lines.map((l) => l.orderDiscountShare)).toEqual([4, 2, 1]);
    expect(priced).toMatchObject({ subtotal: 100, orderDiscount: 7, total: 93 });
  });

  it('gives the leftover dollars to the earliest line on equal remainders, and shares sum exactly', () => {
    // 3 lines of 100; NT$100 off: 33.33 each -> 33, 33, 33 (= 99), one dollar left -> line 1
    const priced = priceCart(
      {
        lines: [
          { sku: 'P100', qty: 1 },
          { sku: 'P100', qty: 1 },
          { sku: 'P100', qty: 1 },
        ],
        orderDiscount: { kind: 'amount', value: 100 },
      },
      find,
    );
    expect(priced.lines.map((l) => l.orderDiscountShare)).toEqual([34, 33, 33]);
    expect(priced.total).toBe(200);
  });

  it('spreads after line discounts and rounds a percent order discount half up', () => {
    // line 1: 25 - 10% (2.5 -> 3) = 22; line 2: 2 x 35 = 70 -> subtotal 92
    // order 5% of 92 = 4.6 -> 5; shares 5*22/92 = 1.196, 5*70/92 = 3.804 -> floors 1, 3, left 1 -> line 2: 1, 4
    const priced = priceCart(
      {
        lines: [
          { sku: 'P25', qty: 1, discount: { kind: 'percent', value: 10 } },
          { sku: 'P35', qty: 2 },
        ],
        orderDiscount: { kind: 'percent', value: 5 },
      },
      find,
    );
    expect(priced).toMatchObject({ subtotal: 92, orderDiscount: 5, total: 87 });
    expect(priced.lines.map((l) => l.orderDiscountShare)).toEqual([1, 4]);
  });

  it('refuses an order discount larger than the subtotal', () => {
    // subtotal 25 + 30 = 55
    const err = domainError(() =>
      priceCart(
        {
          lines: [
            { sku: 'P25', qty: 1 },
            { sku: 'P30', qty: 1 },
          ],
          orderDiscount: { kind: 'amount', value: 56 },
        },
        find,
      ),
    );
    expect(err.code).toBe('discount_too_large');
    expect(err.message).toContain('Order');
  });

  it('always allocates the whole discount, whatever the line totals', () => {
    // Properties a refund relies on: shares add up to the discount, none is negative or above its line.
    const weightsList = [[1, 1, 1], [7, 11, 13, 17], [99, 1], [0, 5, 0], [3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]];
    for (const weights of weightsList) {
      const total = weights.reduce((s, w) => s + w, 0);
      for (let amount = 0; amount <= total; amount++) {
        const parts = allocateProportionally(amount, weights);
        expect(
          parts.reduce((s, p) => s + p, 0),
          `${amount} over ${weights.join(',')}`,
        ).toBe(amount);
        parts.forEach((p, i) => {
          expect(p).toBeGreaterThanOrEqual(0);
          expect(p).toBeLessThanOrEqual(weights[i]!);
        });
      }
    }
  });
});

describe('settleTenders', () => {
  it('gives change from cash', () => {
    // total 137, paid 200 in cash -> 63 change
    expect(settleTenders(137, [{ type: 'cash', amount: 200 }])).toEqual({ change: 63 });
    expect(settleTenders(137, [{ type: 'cash', amount: 137 }])).toEqual({ change: 0 });
  });

  it('splits card and cash, change coming from the cash part', () => {
    // total 137: card 100 + cash 50 = 150 -> 13 change
    expect(
      settleTenders(137, [
        { type: 'card', amount: 100 },
        { type: 'cash', amount: 50 },
      ]),
    ).toEqual({ change: 13 });
    // card 100 + LINE Pay 37 = exactly 137, no change
    expect(
      settleTenders(137, [
        { type: 'card', amount: 100 },
        { type: 'linepay', amount: 37 },
      ]),
    ).toEqual({ change: 0 });
  });

  it('refuses non-cash tenders above the total (they cannot give change)', () => {
    const single = domainError(() => settleTenders(137, [{ type: 'card', amount: 150 }]));
    expect(single.code).toBe('non_cash_exceeds_total');
    // card 100 + JKOPay 40 = 140 > 137, even with cash on top
    const mixed = domainError(() =>
      settleTenders(137, [
        { type: 'card', amount: 100 },
        { type: 'jkopay', amount: 40 },
        { type: 'cash', amount: 100 },
      ]),
    );
    expect(mixed.code).toBe('non_cash_exceeds_total');
    expect(mixed.details).toMatchObject({ total: 137, nonCash: 140 });
  });

  it('refuses too little, saying how much is still due', () => {
    // total 137, card 100 + cash 20 = 120 -> 17 due
    const err = domainError(() =>
      settleTenders(137, [
        { type: 'card', amount: 100 },
        { type: 'cash', amount: 20 },
      ]),
    );
    expect(err.code).toBe('insufficient_payment');
    expect(err.status).toBe(422);
    expect(err.details).toEqual({ total: 137, paid: 120, due: 17 });
    expect(err.message).toContain('NT$17');
  });
});

describe('computeRefund', () => {
  // 7 x 33 = 231 (line 1); 1 x 17 with 10% off (1.7 -> 2) = 15 (line 2); subtotal 246
  // order discount NT$25: 25*231/246 = 23.476, 25*15/246 = 1.524 -> floors 23, 1; the dollar left goes
  // to the larger remainder (line 2): shares 23 and 2. Paid: line 1 231-23 = 208, line 2 15-2 = 13; total 221.
  const sale = priceCart(
    {
      lines: [
        { sku: 'P33', qty: 7 },
        { sku: 'P17', qty: 1, discount: { kind: 'percent', value: 10 } },
      ],
      orderDiscount: { kind: 'amount', value: 25 },
    },
    find,
  );

  /** Applies refunds one after another, as the store state does. */
  function refundInGoes(lines: SaleLineData[], goes: { lineNo: number; qty: number }[][]) {
    const refunded: Record<number, number> = {};
    const amounts: number[] = [];
    for (const request of goes) {
      const refund = computeRefund(lines, refunded, request);
      for (const line of refund.lines) refunded[line.lineNo] = (refunded[line.lineNo] ?? 0) + line.qty;
      amounts.push(refund.amount);
    }
    return { amounts, refunded };
  }

  it('prices the sale as worked out by hand', () => {
    expect(sale.lines.map((l) => [l.lineTotal, l.orderDiscountShare])).toEqual([
      [231, 23],
      [15, 2],
    ]);
    expect(sale.total).toBe(221);
  });

  it('refunds a line in several goes adding up exactly to what was paid for it', () => {
    // line 1 paid 208 for 7 units. Cumulative: 2 units round(208*2/7 = 59.43) = 59;
    // 5 units round(148.57) = 149 -> 90 more; all 7 = 208 -> 59 more.
    const { amounts } = refundInGoes(sale.lines, [
      [{ lineNo: 1, qty: 2 }],
      [{ lineNo: 1, qty: 3 }],
      [{ lineNo: 1, qty: 2 }],
    ]);
    expect(amounts).toEqual([59, 90, 59]);
    expect(amounts.reduce((s, a) => s + a, 0)).toBe(208);
  });

  it('refunds one unit at a time to the same total', () => {
    const goes = Array.from({ length: 7 }, () => [{ lineNo: 1, qty: 1 }]);
    const { amounts } = refundInGoes(sale.lines, goes);
    expect(amounts.reduce((s, a) => s + a, 0)).toBe(208);
    // each unit is about 208/7 = 29.71
    for (const amount of amounts) expect([29, 30]).toContain(amount);
  });

  it('refunds the whole sale back to exactly its total', () => {
    const { amounts } = refundInGoes(sale.lines, [
      [
        { lineNo: 2, qty: 1 },
        { lineNo: 1, qty: 4 },
      ],
      [{ lineNo: 1, qty: 3 }],
    ]);
    // line 2: 13; line 1 four units round(208*4/7 = 118.86) = 119 -> 132 in the first go; then 208-119 = 89
    expect(amounts).toEqual([132, 89]);
    expect(amounts[0]! + amounts[1]!).toBe(sale.total);
  });

  it('adds up two requests for the same line in one refund', () => {
    const refund = computeRefund(sale.lines, {}, [
      { lineNo: 1, qty: 1 },
      { lineNo: 1, qty: 1 },
    ]);
    expect(refund.lines).toEqual([{ lineNo: 1, qty: 2, amount: 59 }]);
  });

  it('refuses a refund beyond the quantity sold', () => {
    const once = domainError(() => computeRefund(sale.lines, {}, [{ lineNo: 2, qty: 2 }]));
    expect(once.code).toBe('refund_exceeds_sale');
    expect(once.details).toEqual({ lineNo: 2, refundable: 1, requested: 2 });

    // 5 of 7 already back: 3 more is too many, 2 is fine
    const later = domainError(() => computeRefund(sale.lines, { 1: 5 }, [{ lineNo: 1, qty: 3 }]));
    expect(later.code).toBe('refund_exceeds_sale');
    expect(later.details).toMatchObject({ refundable: 2 });
    expect(computeRefund(sale.lines, { 1: 5 }, [{ lineNo: 1, qty: 2 }]).amount).toBe(59);

    // two entries for one line that together exceed it
    const split = domainError(() =>
      computeRefund(sale.lines, {}, [
        { lineNo: 2, qty: 1 },
        { lineNo: 2, qty: 1 },
      ]),
    );
    expect(split.code).toBe('refund_exceeds_sale');
  });

  it('refuses a line the sale does not have', () => {
    expect(domainError(() => computeRefund(sale.lines, {}, [{ lineNo: 3, qty: 1 }])).code).toBe('unknown_line');
  });
});
