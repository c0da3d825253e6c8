/**
 * Pricing a member's cart: the tier discount, a coupon and points come off one after the other, each
 * on what is left, and every deduction is spread over the lines so that the line shares add up to the
 * deductions exactly (a refund of a line then returns what was paid for it). Then the share of a sale
 * a refund covers, which decides the points it takes back. Amounts worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { type CartDeductions, priceCart, refundedFraction } from '../../../hub/src/domain/sale.ts';
import { pointsToReverse } from '../../../hub/src/domain/loyalty.ts';
import { roundHalfUp } from '../../../hub/src/domain/money.ts';
import type { ProductData, SaleLineData } from '../../../hub/src/protocol/events.ts';

const product = (sku: string, price: number): ProductData => ({
  sku,
  barcodes: [],
  name: sku,
  category: '測試',
  price,
  repurchaseDays: null,
});
const CATALOG = new Map(
  [
    product('P50', 50),
    product('P30', 30),
    product('P20', 20),
    product('FOD', 399),
    product('PET', 890),
    product('HOU', 219),
  ].map((p) => [p.sku, p]),
);
const find = (sku: string) => CATALOG.get(sku);

/** Deductions the way checkout makes them: whole percent off for the tier, then fixed figures. */
function deductions(memberPercent: number, coupon: (left: number) => number, points: number) {
  const seen: { member?: number; coupon?: number; points?: number } = {};
  const d: CartDeductions = {
    memberDiscount: (after) => ((seen.member = after), roundHalfUp((after * memberPercent) / 100)),
    couponDiscount: (after) => ((seen.coupon = after), coupon(after)),
    pointsDiscount: (payable) => ((seen.points = payable), points),
  };
  return { d, seen };
}

const shares = (lines: SaleLineData[]) => lines.map((l) => l.orderDiscountShare);
const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

describe('priceCart with member deductions', () => {
  it('takes the tier discount, a coupon and points off in turn and spreads them exactly', () => {
    // 50 + 30 + 20 = 100; 3% = 3 -> 97; coupon NT$10 -> 87; 7 points -> 80
    const { d, seen } = deductions(3, () => 10, 7);
    const priced = priceCart(
      {
        lines: [
          { sku: 'P50', qty: 1 },
          { sku: 'P30', qty: 1 },
          { sku: 'P20', qty: 1 },
        ],
      },
      find,
      d,
    );
    expect(seen).toEqual({ member: 100, coupon: 97, points: 87 });
    expect(priced).toMatchObject({
      subtotal: 100,
      orderDiscount: 0,
      memberDiscount: 3,
      couponDiscount: 10,
      pointsDiscount: 7,
      total: 80,
    });
    // 20 off in all, in proportion 50 : 30 : 20 -> 10, 6, 4
    expect(shares(priced.lines)).toEqual([10, 6, 4]);
  });

  it('gives the dollar left by rounding to the largest remainder', () => {
    // 399 + 890 + 219 = 1,508; 3% = 45.24 -> 45 -> 1,463; coupon 100 -> 1,363; 50 points -> 1,313
    const { d } = deductions(3, () => 100, 50);
    const priced = priceCart(
      {
        lines: [
          { sku: 'FOD', qty: 1 },
          { sku: 'PET', qty: 1 },
          { sku: 'HOU', qty: 1 },
        ],
      },
      find,
      d,
    );
    expect(priced).toMatchObject({ memberDiscount: 45, couponDiscount: 100, pointsDiscount: 50, total: 1_313 });
    // 195 off: 195 x 399/1,508 = 51.59, 195 x 890/1,508 = 115.09, 195 x 219/1,508 = 28.32
    // floors 51 + 115 + 28 = 194; the dollar left goes to the largest remainder (.59, line 1)
    expect(shares(priced.lines)).toEqual([52, 115, 28]);
    expect(sum(shares(priced.lines))).toBe(195);
    // each line's net: 399 - 52 = 347, 890 - 115 = 775, 219 - 28 = 191; together the total
    expect(sum(priced.lines.map((l) => l.lineTotal - l.orderDiscountShare))).toBe(1_313);
  });

  it('works each step out on what the staff’s order discount and earlier steps left', () => {
    // 1,508; order 10% = 150.8 -> 151 -> 1,357; tier 3% = 40.71 -> 41 -> 1,316;
    // coupon 10% = 131.6 -> 132 -> 1,184; 100 points -> 1,084
    const { d, seen } = deductions(3, (left) => roundHalfUp(left / 10), 100);
    const priced = priceCart(
      {
        lines: [
          { sku: 'FOD', qty: 1 },
          { sku: 'PET', qty: 1 },
          { sku: 'HOU', qty: 1 },
        ],
        orderDiscount: { kind: 'percent', value: 10 },
      },
      find,
      d,
    );
    expect(seen).toEqual({ member: 1_357, coupon: 1_316, points: 1_184 });
    expect(priced).toMatchObject({
      orderDiscount: 151,
      memberDiscount: 41,
      couponDiscount: 132,
      pointsDiscount: 100,
      total: 1_084,
    });
    // 151 + 41 + 132 + 100 = 424 spread: 112.19, 250.24, 61.58 -> floors 112 + 250 + 61 = 423,
    // the dollar left to line 3 (.58): 112, 250, 62
    expect(shares(priced.lines)).toEqual([112, 250, 62]);
    expect(sum(shares(priced.lines))).toBe(424);
  });

  it('a coupon for the whole cart leaves every line at zero', () => {
    // 50 + 30 = 80, NT$80 off -> 0; shares equal the line totals
    const { d } = deductions(0, (left) => Math.min(100, left), 0);
    const priced = priceCart(
      {
        lines: [
          { sku: 'P50', qty: 1 },
          { sku: 'P30', qty: 1 },
        ],
      },
      find,
      d,
    );
    expect(priced).toMatchObject({ couponDiscount: 80, total: 0 });
    expect(shares(priced.lines)).toEqual([50, 30]);
  });

  it('gives a free line no share of the deductions', () => {
    // P20 free (100% off): lines 50 + 0; 3% of 50 = 1.5 -> 2 -> 48; all 2 on line 1
    const { d } = deductions(3, () => 0, 0);
    const priced = priceCart(
      {
        lines: [
          { sku: 'P50', qty: 1 },
          { sku: 'P20', qty: 1, discount: { kind: 'percent', value: 100 } },
        ],
      },
      find,
      d,
    );
    expect(priced).toMatchObject({ subtotal: 50, memberDiscount: 2, total: 48 });
    expect(shares(priced.lines)).toEqual([2, 0]);
  });

  it('without deductions prices as before', () => {
    const priced = priceCart({ lines: [{ sku: 'FOD', qty: 2 }] }, find);
    expect(priced).toMatchObject({
      subtotal: 798,
      memberDiscount: 0,
      couponDiscount: 0,
      pointsDiscount: 0,
      total: 798,
    });
  });
});

describe('refundedFraction', () => {
  const line = (lineNo: number, qty: number, lineTotal: number): SaleLineData => ({
    lineNo,
    sku: `L${lineNo}`,
    name: `L${lineNo}`,
    category: 'x',
    qty,
    unitPrice: lineTotal / qty,
    lineDiscount: 0,
    lineTotal,
    orderDiscountShare: 0,
  });

  it('is the refunded goods over all the goods', () => {
    const lines = [line(1, 1, 890), line(2, 1, 219)];
    expect(refundedFraction(lines, {})).toBe(0);
    // 890 / 1,109
    expect(refundedFraction(lines, { 1: 1 })).toBe(890 / 1_109);
    expect(refundedFraction(lines, { 1: 1, 2: 1 })).toBe(1);
  });

  it('counts units of a line in proportion, never more than were sold', () => {
    // 3 x 399 = 1,197 and 890: 1 unit back = 399 / 2,087
    const lines = [line(1, 3, 1_197), line(2, 1, 890)];
    expect(refundedFraction(lines, { 1: 1 })).toBeCloseTo(399 / 2_087, 12);
    // 5 units asked of 3 counts as 3
    expect(refundedFraction(lines, { 1: 5 })).toBeCloseTo(1_197 / 2_087, 12);
  });

  it('refunding a line of three one unit at a time takes back 11 points as 4, 3, 4', () => {
    const lines = [line(1, 3, 1_197)];
    const fractions = [0, 1, 2, 3].map((n) => refundedFraction(lines, { 1: n }));
    // 0, 1/3, 2/3, 1 (the last exactly 1)
    expect(fractions[3]).toBe(1);
    const steps = [1, 2, 3].map((i) => pointsToReverse(11, 0, fractions[i - 1]!, fractions[i]!).reversed);
    // cumulative round(3.67) = 4, round(7.33) = 7, 11
    expect(steps).toEqual([4, 3, 4]);
  });

  it('with nothing paid, counts only a full refund', () => {
    const lines = [line(1, 1, 0), line(2, 2, 0)];
    expect(refundedFraction(lines, { 1: 1 })).toBe(0);
    expect(refundedFraction(lines, { 1: 1, 2: 2 })).toBe(1);
  });
});
