/**
 * The cart hash behind idempotency keys: a retried submit of the same cart must match, and any
 * change a customer would pay differently for must not (or a retry could answer the wrong sale).
 */
import { describe, expect, it } from 'vitest';
import { cartHash } from '../../../hub/src/services/checkout.service.ts';
import type { CheckoutRequest } from '../../../hub/src/protocol/api.ts';

function cart(): CheckoutRequest {
  return {
    idempotencyKey: 'tablet1-0001',
    lines: [
      { sku: 'DRK-001', qty: 2, discount: { kind: 'percent', value: 10 } },
      { sku: 'SNK-001', qty: 1 },
    ],
    orderDiscount: { kind: 'amount', value: 5 },
    tenders: [
      { type: 'card', amount: 20 },
      { type: 'cash', amount: 100 },
    ],
  };
}

describe('cartHash', () => {
  it('is the same for the same cart, whatever the object or key order', () => {
    const a = cart();
    const b = JSON.parse(JSON.stringify(cart())) as CheckoutRequest;
    const reordered: CheckoutRequest = {
      tenders: a.tenders.map((t) => ({ amount: t.amount, type: t.type })),
      orderDiscount: { value: 5, kind: 'amount' },
      lines: a.lines.map((l) => ({
        ...(l.discount ? { discount: { value: l.discount.value, kind: l.discount.kind } } : {}),
        qty: l.qty,
        sku: l.sku,
      })),
      idempotencyKey: a.idempotencyKey,
    };
    expect(cartHash(b)).toBe(cartHash(a));
    expect(cartHash(reordered)).toBe(cartHash(a));
  });

  const changes: [string, (c: CheckoutRequest) => void][] = [
    ['a different quantity', (c) => (c.lines[0]!.qty = 3)],
    ['a different SKU', (c) => (c.lines[1]!.sku = 'SNK-002')],
    ['an extra line', (c) => c.lines.push({ sku: 'FOD-001', qty: 1 })],
    ['a different line discount value', (c) => (c.lines[0]!.discount = { kind: 'percent', value: 20 })],
    ['a different line discount kind', (c) => (c.lines[0]!.discount = { kind: 'amount', value: 10 })],
    ['no line discount', (c) => delete c.lines[0]!.discount],
    ['a different order discount', (c) => (c.orderDiscount = { kind: 'amount', value: 6 })],
    ['no order discount', (c) => delete c.orderDiscount],
    ['a different tender amount', (c) => (c.tenders[1]!.amount = 500)],
    ['a different tender type', (c) => (c.tenders[0]!.type = 'linepay')],
    ['one tender fewer', (c) => c.tenders.pop()],
  ];

  it.each(changes)('differs for %s', (_what, change) => {
    const changed = cart();
    change(changed);
    expect(cartHash(changed)).not.toBe(cartHash(cart()));
  });
});
