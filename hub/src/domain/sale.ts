/** Pricing a cart, settling tenders and working out refunds. Pure. */
import type { CheckoutRequest, RefundRequest, Tender } from '../protocol/api.js';
import type { ProductData, SaleLineData } from '../protocol/events.js';
import { DomainError } from './errors.js';
import { allocateProportionally, discountAmount } from './money.js';

export interface PricedCart {
  lines: SaleLineData[];
  subtotal: number;
  orderDiscount: number;
  memberDiscount: number;
  couponDiscount: number;
  pointsDiscount: number;
  total: number;
}

/** Deductions after the staff's order discount, worked out from what is left to pay at each step. */
export interface CartDeductions {
  memberDiscount(afterOrderDiscount: number): number;
  couponDiscount(afterMemberDiscount: number): number;
  pointsDiscount(payable: number): number;
}

const NO_DEDUCTIONS: CartDeductions = {
  memberDiscount: () => 0,
  couponDiscount: () => 0,
  pointsDiscount: () => 0,
};

/**
 * Prices a cart from the catalog: line discounts, the order discount, then the member's tier
 * discount, a coupon and points, each on what is left. Every order-level amount is spread over the
 * lines in proportion (orderDiscountShare), so a refund of a line returns what was paid for it.
 */
export function priceCart(
  request: Pick<CheckoutRequest, 'lines' | 'orderDiscount'>,
  findProduct: (sku: string) => ProductData | undefined,
  deductions: CartDeductions = NO_DEDUCTIONS,
): PricedCart {
  const lines: SaleLineData[] = request.lines.map((line, index) => {
    const product = findProduct(line.sku);
    if (!product) {
      throw new DomainError('unknown_product', `Line ${index + 1}: no product with SKU ${line.sku}`, {
        line: index + 1,
        sku: line.sku,
      });
    }
    const gross = product.price * line.qty;
    const lineDiscount = discountAmount(gross, line.discount, `Line ${index + 1}`);
    return {
      lineNo: index + 1,
      sku: product.sku,
      name: product.name,
      category: product.category,
      qty: line.qty,
      unitPrice: product.price,
      lineDiscount,
      lineTotal: gross - lineDiscount,
      orderDiscountShare: 0,
    };
  });
  const subtotal = lines.reduce((sum, line) => sum + line.lineTotal, 0);
  const orderDiscount = discountAmount(subtotal, request.orderDiscount, 'Order');
  const afterOrder = subtotal - orderDiscount;
  const memberDiscount = deductions.memberDiscount(afterOrder);
  const couponDiscount = deductions.couponDiscount(afterOrder - memberDiscount);
  const pointsDiscount = deductions.pointsDiscount(afterOrder - memberDiscount - couponDiscount);
  const deducted = orderDiscount + memberDiscount + couponDiscount + pointsDiscount;
  const shares = allocateProportionally(
    deducted,
    lines.map((line) => line.lineTotal),
  );
  lines.forEach((line, i) => (line.orderDiscountShare = shares[i]!));
  return { lines, subtotal, orderDiscount, memberDiscount, couponDiscount, pointsDiscount, total: subtotal - deducted };
}

/** Share of a sale's goods refunded once `refundedQty` units of each line have gone back, 0..1. */
export function refundedFraction(lines: SaleLineData[], refundedQty: Record<number, number>): number {
  const subtotal = lines.reduce((sum, l) => sum + l.lineTotal, 0);
  if (subtotal === 0) return lines.every((l) => (refundedQty[l.lineNo] ?? 0) >= l.qty) ? 1 : 0;
  const back = lines.reduce((sum, l) => sum + (l.lineTotal * Math.min(l.qty, refundedQty[l.lineNo] ?? 0)) / l.qty, 0);
  return back / subtotal;
}

/** Checks the tenders cover the total and works out the change, which only cash can give. */
export function settleTenders(total: number, tenders: Tender[]): { change: number } {
  const nonCash = tenders.filter((t) => t.type !== 'cash').reduce((sum, t) => sum + t.amount, 0);
  const paid = tenders.reduce((sum, t) => sum + t.amount, 0);
  if (nonCash > total) {
    throw new DomainError(
      'non_cash_exceeds_total',
      `Card and mobile payments (NT$${nonCash}) may not exceed the total (NT$${total}); only cash gives change`,
      { total, nonCash },
    );
  }
  if (paid < total) {
    throw new DomainError('insufficient_payment', `NT$${total - paid} still due (total NT$${total}, paid NT$${paid})`, {
      total,
      paid,
      due: total - paid,
    });
  }
  return { change: paid - total };
}

/** A line's net amount (after its own and its share of the order discount) for `qty` of its units. */
function netForQty(line: SaleLineData, qty: number): number {
  const net = line.lineTotal - line.orderDiscountShare;
  return qty === line.qty ? net : Math.round((net * qty) / line.qty);
}

/**
 * The units a refund asks for, merged per line and in line order, so that a retried refund can be
 * told apart from a different refund sent with the same idempotency key.
 */
export function refundLinesSignature(lines: readonly { lineNo: number; qty: number }[]): string {
  const wanted = new Map<number, number>();
  for (const { lineNo, qty } of lines) wanted.set(lineNo, (wanted.get(lineNo) ?? 0) + qty);
  return [...wanted]
    .sort((a, b) => a[0] - b[0])
    .map(([lineNo, qty]) => `${lineNo}x${qty}`)
    .join(',');
}

export interface RefundLine {
  lineNo: number;
  qty: number;
  amount: number;
}

/**
 * What a refund of some units gives back. Amounts are cumulative differences, so refunding a line
 * in several goes returns exactly what was paid for it.
 */
export function computeRefund(
  lines: SaleLineData[],
  refundedQty: Record<number, number>,
  request: RefundRequest['lines'],
): { lines: RefundLine[]; amount: number } {
  const wanted = new Map<number, number>();
  for (const { lineNo, qty } of request) wanted.set(lineNo, (wanted.get(lineNo) ?? 0) + qty);
  const result: RefundLine[] = [];
  for (const [lineNo, qty] of wanted) {
    const line = lines.find((l) => l.lineNo === lineNo);
    if (!line) throw new DomainError('unknown_line', `The sale has no line ${lineNo}`, { lineNo });
    const before = refundedQty[lineNo] ?? 0;
    if (before + qty > line.qty) {
      throw new DomainError(
        'refund_exceeds_sale',
        `Line ${lineNo} (${line.name}): ${line.qty - before} left to refund, asked for ${qty}`,
        { lineNo, refundable: line.qty - before, requested: qty },
      );
    }
    result.push({ lineNo, qty, amount: netForQty(line, before + qty) - netForQty(line, before) });
  }
  result.sort((a, b) => a.lineNo - b.lineNo);
  return { lines: result, amount: result.reduce((sum, l) => sum + l.amount, 0) };
}
