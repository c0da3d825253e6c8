/**
 * Voids (same business day only, once) and refunds (part of a sale, in several goes, each once per
 * key, never more than was sold). Demo prices: DRK-001 NT$15, SNK-001 NT$25, FOD-001 NT$399.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { TabletClient, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { checkoutRequest, lastSeq, newKey, sell } from '../support/sales.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
// 20:00 in Taipei on 2026-11-22 (staff sessions last 12 h, so the test day fits in one)
const clock = new FakeClock('2026-11-22T12:00:00Z');
let hub: Hub;
let cashier: TabletClient;
let manager: TabletClient;

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make(), clock: clock.now });
  cashier = await pairedTablet(hub, '1111', 'Counter');
  manager = await pairedTablet(hub, '222222', 'Back office');
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

// FOD-001 3 x 399 = 1197; SNK-001 1 x 25 with 10% off (2.5 -> 3) = 22; subtotal 1219;
// NT$19 off the order: shares 19*1197/1219 = 18.657 and 19*22/1219 = 0.343 -> floors 18, 0, the dollar
// left goes to the larger remainder (line 1): 19 and 0. Paid per line: 1197-19 = 1178 and 22; total 1200.
const bigCart = () =>
  checkoutRequest(
    [
      { sku: 'FOD-001', qty: 3 },
      { sku: 'SNK-001', qty: 1, discount: { kind: 'percent', value: 10 } },
    ],
    [{ type: 'cash', amount: 1200 }],
    { orderDiscount: { kind: 'amount', value: 19 } },
  );

const refund = (saleId: string, lines: { lineNo: number; qty: number }[], idempotencyKey = newKey()) =>
  manager.request('POST', `/api/sales/${saleId}/refund`, { idempotencyKey, lines, reason: 'customer returned it' });

/** A retry of the refund under `key`: answered with the sale (200) and nothing journalled again. */
async function retryRefund(saleId: string, lines: { lineNo: number; qty: number }[], key: string) {
  const seq = await lastSeq(hub.url);
  const retry = await refund(saleId, lines, key);
  expect(retry.status).toBe(200);
  expect(await lastSeq(hub.url)).toBe(seq);
  return retry;
}

describe('void', () => {
  it('voids a sale of the same day once; a second void is 409', async () => {
    const sale = await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 20 }]));
    const first = await manager.request('POST', `/api/sales/${sale.saleId}/void`, { reason: 'rang up twice' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ saleId: sale.saleId, status: 'voided' });
    expect((await cashier.request('GET', `/api/sales/${sale.saleId}`)).body.status).toBe('voided');

    const seq = await lastSeq(hub.url);
    const second = await manager.request('POST', `/api/sales/${sale.saleId}/void`, { reason: 'again' });
    expect(second.status).toBe(409);
    expect(second.body.error?.code).toBe('already_voided');
    expect(await lastSeq(hub.url)).toBe(seq);
  });

  it('refuses to refund a voided sale', async () => {
    const sale = await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    await manager.request('POST', `/api/sales/${sale.saleId}/void`, { reason: 'mistake' });
    const res = await refund(sale.saleId, [{ lineNo: 1, qty: 1 }]);
    expect(res.status).toBe(409);
    expect(res.body.error?.code).toBe('already_voided');
  });

  it('refuses to void a sale with refunds (refund the rest instead)', async () => {
    const sale = await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 2 }], [{ type: 'cash', amount: 30 }]));
    expect((await refund(sale.saleId, [{ lineNo: 1, qty: 1 }])).status).toBe(200);
    const res = await manager.request('POST', `/api/sales/${sale.saleId}/void`, { reason: 'late' });
    expect(res.status).toBe(422);
    expect(res.body.error?.code).toBe('void_after_refund');
  });

  it('refuses to void yesterday’s sale after local midnight (refund it instead)', async () => {
    clock.set('2026-11-22T15:59:00Z'); // 23:59 in Taipei
    const sale = await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    expect(sale.businessDate).toBe('2026-11-22');
    clock.set('2026-11-22T16:01:00Z'); // 00:01 on the 23rd
    const res = await manager.request('POST', `/api/sales/${sale.saleId}/void`, { reason: 'too late' });
    expect(res.status).toBe(422);
    expect(res.body.error?.code).toBe('void_not_same_day');
    expect((await refund(sale.saleId, [{ lineNo: 1, qty: 1 }])).body).toMatchObject({
      status: 'refunded',
      refundedAmount: 15,
    });
  });
});

describe('refund', () => {
  it('refunds lines partly, in several goes, adding up to exactly what was paid', async () => {
    const sale = await sell(cashier, bigCart());
    expect(sale).toMatchObject({ subtotal: 1219, orderDiscount: 19, total: 1200, change: 0 });

    // line 1 paid 1178 for 3 units: 1 unit round(1178/3 = 392.67) = 393
    const first = await refund(sale.saleId, [{ lineNo: 1, qty: 1 }]);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'partially_refunded', refundedAmount: 393 });
    expect((first.body as unknown as SaleView).lines.map((l) => l.refundedQty)).toEqual([1, 0]);

    // line 2 (22) and a second unit of line 1: round(1178*2/3 = 785.33) = 785 -> 392 more; 393 + 22 + 392 = 807
    const second = await refund(sale.saleId, [
      { lineNo: 2, qty: 1 },
      { lineNo: 1, qty: 1 },
    ]);
    expect(second.body).toMatchObject({ status: 'partially_refunded', refundedAmount: 807 });

    // the last unit: 1178 - 785 = 393; 807 + 393 = 1200, the whole total
    const third = await refund(sale.saleId, [{ lineNo: 1, qty: 1 }]);
    expect(third.body).toMatchObject({ status: 'refunded', refundedAmount: 1200 });
    expect((third.body as unknown as SaleView).lines.map((l) => l.refundedQty)).toEqual([3, 1]);
  });

  it('is idempotent by key: a retried refund gives back nothing more', async () => {
    const sale = await sell(cashier, bigCart());
    const key = newKey();
    const first = await refund(sale.saleId, [{ lineNo: 1, qty: 1 }], key);
    expect(first.body.refundedAmount).toBe(393);
    const retry = await retryRefund(sale.saleId, [{ lineNo: 1, qty: 1 }], key);
    expect(retry.body).toMatchObject({ refundedAmount: 393, status: 'partially_refunded' });

    // the same key on another sale is refused
    const other = await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    const reused = await refund(other.saleId, [{ lineNo: 1, qty: 1 }], key);
    expect(reused.status).toBe(409);
    expect(reused.body.error?.code).toBe('idempotency_key_reused');
  });

  it('answers 409 when a refund key is reused for other lines of the same sale, and refunds nothing', async () => {
    const sale = await sell(cashier, bigCart());
    const key = newKey();
    expect((await refund(sale.saleId, [{ lineNo: 1, qty: 1 }], key)).status).toBe(200);
    const seq = await lastSeq(hub.url);
    for (const lines of [
      [{ lineNo: 2, qty: 1 }],
      [{ lineNo: 1, qty: 2 }],
      [
        { lineNo: 1, qty: 1 },
        { lineNo: 2, qty: 1 },
      ],
    ]) {
      const reused = await refund(sale.saleId, lines, key);
      expect(reused.status).toBe(409);
      expect(reused.body.error?.code).toBe('idempotency_key_reused');
    }
    expect(await lastSeq(hub.url)).toBe(seq);
    const after = (await cashier.request('GET', `/api/sales/${sale.saleId}`)).body as unknown as SaleView;
    expect(after.refundedAmount).toBe(393);
    expect(after.lines.map((l) => l.refundedQty)).toEqual([1, 0]);
    // the same lines split differently are the same refund: a retry
    expect((await refund(sale.saleId, [{ lineNo: 1, qty: 1 }], key)).status).toBe(200);
  });

  it('counts lines split in two as the same refund: [{line 1, 1}, {line 1, 1}] is [{line 1, 2}]', async () => {
    const sale = await sell(cashier, bigCart());
    const key = newKey();
    const first = await refund(sale.saleId, [{ lineNo: 1, qty: 2 }], key);
    expect(first.status).toBe(200);
    const split = await retryRefund(
      sale.saleId,
      [
        { lineNo: 1, qty: 1 },
        { lineNo: 1, qty: 1 },
      ],
      key,
    );
    expect(split.body).toMatchObject({ refundedAmount: first.body.refundedAmount });
    // and the other way round, with a new key
    const other = newKey();
    expect(
      (
        await refund(
          sale.saleId,
          [
            { lineNo: 2, qty: 1 },
            { lineNo: 1, qty: 1 },
          ],
          other,
        )
      ).status,
    ).toBe(200);
    await retryRefund(
      sale.saleId,
      [
        { lineNo: 1, qty: 1 },
        { lineNo: 2, qty: 1 },
      ],
      other,
    );
  });

  it('remembers refund keys across a restart: a retry answers the sale, other lines are 409', async () => {
    const dataDir = temp.make();
    let store = await startTestHub({ dataDir, clock: clock.now });
    try {
      const counter = await pairedTablet(store, '1111', 'Counter');
      const office = await pairedTablet(store, '222222', 'Back office');
      const sale = await sell(counter, bigCart());
      const key = newKey();
      const body = (lines: { lineNo: number; qty: number }[]) => ({ idempotencyKey: key, lines, reason: 'returned' });
      const first = await office.request('POST', `/api/sales/${sale.saleId}/refund`, body([{ lineNo: 1, qty: 1 }]));
      expect(first.status).toBe(200);
      await store.stop();
      store = await startTestHub({ dataDir, clock: clock.now });
      const again = new TabletClient(store.url);
      Object.assign(again, {
        deviceToken: office.deviceToken,
        deviceId: office.deviceId,
        sessionToken: office.sessionToken,
      });
      const seq = await lastSeq(store.url);
      const retry = await again.request('POST', `/api/sales/${sale.saleId}/refund`, body([{ lineNo: 1, qty: 1 }]));
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ refundedAmount: first.body.refundedAmount });
      const reused = await again.request('POST', `/api/sales/${sale.saleId}/refund`, body([{ lineNo: 2, qty: 1 }]));
      expect(reused.status).toBe(409);
      expect(reused.body.error?.code).toBe('idempotency_key_reused');
      expect(await lastSeq(store.url)).toBe(seq);
    } finally {
      await store.stop();
    }
  });

  it('refuses to refund more than was sold (422), in one go or several', async () => {
    const sale = await sell(cashier, bigCart());
    const seq = await lastSeq(hub.url);
    const tooMany = await refund(sale.saleId, [{ lineNo: 1, qty: 4 }]);
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.error).toMatchObject({
      code: 'refund_exceeds_sale',
      details: { lineNo: 1, refundable: 3, requested: 4 },
    });
    expect(await lastSeq(hub.url)).toBe(seq);

    expect((await refund(sale.saleId, [{ lineNo: 1, qty: 2 }])).status).toBe(200);
    const more = await refund(sale.saleId, [{ lineNo: 1, qty: 2 }]);
    expect(more.status).toBe(422);
    expect(more.body.error).toMatchObject({ code: 'refund_exceeds_sale', details: { refundable: 1 } });

    const noLine = await refund(sale.saleId, [{ lineNo: 3, qty: 1 }]);
    expect(noLine.status).toBe(422);
    expect(noLine.body.error?.code).toBe('unknown_line');

    const after = (await cashier.request('GET', `/api/sales/${sale.saleId}`)).body as unknown as SaleView;
    // two units of line 1: round(1178*2/3) = 785
    expect(after).toMatchObject({ status: 'partially_refunded', refundedAmount: 785 });
  });

  it('answers 404 for a sale that does not exist', async () => {
    const res = await refund('20261122-999999', [{ lineNo: 1, qty: 1 }]);
    expect(res.status).toBe(404);
  });
});

describe('two managers at once', () => {
  it('void a sale only once', async () => {
    const other = await pairedTablet(hub, '333333', 'Owner');
    const sale = await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    const seq = await lastSeq(hub.url);
    const answers = await Promise.all(
      [manager, other].map((t) => t.request('POST', `/api/sales/${sale.saleId}/void`, { reason: 'both saw it' })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(await lastSeq(hub.url)).toBe(seq + 1);
  });

  it('a refund sent three times at once (same key, same lines) gets the same answer three times', async () => {
    const sale = await sell(cashier, bigCart());
    const seq = await lastSeq(hub.url);
    const key = newKey();
    const answers = await Promise.all([1, 2, 3].map(() => refund(sale.saleId, [{ lineNo: 1, qty: 1 }], key)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.body.refundedAmount)).toEqual([393, 393, 393]);
    expect(await lastSeq(hub.url)).toBe(seq + 1);
    // the same key with other lines while one is in flight is refused, not joined
    const key2 = newKey();
    const mixed = await Promise.all([
      refund(sale.saleId, [{ lineNo: 1, qty: 1 }], key2),
      refund(sale.saleId, [{ lineNo: 2, qty: 1 }], key2),
    ]);
    expect(mixed.map((a) => a.status)).toEqual([200, 409]);
    expect(mixed[1]!.body.error?.code).toBe('idempotency_key_reused');
  });

  it('never refund more than was sold', async () => {
    const other = await pairedTablet(hub, '333333', 'Owner 2');
    // FOD-001 3 x 399; each manager tries to refund 2 of the 3 units at the same moment
    const sale = await sell(cashier, bigCart());
    const answers = await Promise.all(
      [manager, other].map((t) =>
        t.request('POST', `/api/sales/${sale.saleId}/refund`, {
          idempotencyKey: newKey(),
          lines: [{ lineNo: 1, qty: 2 }],
          reason: 'returned',
        }),
      ),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    const after = (await cashier.request('GET', `/api/sales/${sale.saleId}`)).body as unknown as SaleView;
    expect(after.lines[0]!.refundedQty).toBe(2);
    // two units of line 1: round(1178*2/3 = 785.33) = 785
    expect(after.refundedAmount).toBe(785);
  });
});

describe('sale status', () => {
  it('goes completed -> partially_refunded -> refunded, or completed -> voided', async () => {
    const a = await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 2 }], [{ type: 'cash', amount: 30 }]));
    expect(a.status).toBe('completed');
    expect((await refund(a.saleId, [{ lineNo: 1, qty: 1 }])).body.status).toBe('partially_refunded');
    expect((await refund(a.saleId, [{ lineNo: 1, qty: 1 }])).body.status).toBe('refunded');

    const b = await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    expect((await manager.request('POST', `/api/sales/${b.saleId}/void`, { reason: 'x' })).body.status).toBe('voided');
  });

  it('is refunded when every line is back even if a line was free', async () => {
    // DRK-001 100% off (0) + SNK-001 25 -> total 25; refund only line 2 leaves line 1 (paid 0) outstanding.
    // A free line is over a cashier's discount limit: the manager rings it up.
    const sale = await sell(
      manager,
      checkoutRequest(
        [
          { sku: 'DRK-001', qty: 1, discount: { kind: 'percent', value: 100 } },
          { sku: 'SNK-001', qty: 1 },
        ],
        [{ type: 'cash', amount: 25 }],
      ),
    );
    expect(sale.total).toBe(25);
    const partial = await refund(sale.saleId, [{ lineNo: 2, qty: 1 }]);
    expect(partial.body).toMatchObject({ status: 'partially_refunded', refundedAmount: 25 });
    const rest = await refund(sale.saleId, [{ lineNo: 1, qty: 1 }]);
    expect(rest.body).toMatchObject({ status: 'refunded', refundedAmount: 25 });
  });
});
