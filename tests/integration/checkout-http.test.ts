/**
 * Selling over HTTP: the hub prices the cart from its catalog, works out the change, records the
 * sale once even when the tablet retries, and keeps seqs consecutive under load.
 * Demo catalog prices: DRK-001 NT$15, DRK-002 NT$95, FOD-001 NT$399, SNK-001 NT$25.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { type TabletClient, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { checkoutRequest, lastSeq, listSales, newKey, sell } from '../support/sales.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
let hub: Hub;
let tablet: TabletClient;

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make() });
  tablet = await pairedTablet(hub, '1111', 'Counter 1');
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

describe('POST /api/sales', () => {
  it('prices the cart from the catalog and gives change', async () => {
    // DRK-001 2 x 15 = 30, 10% off = 3 -> 27; FOD-001 1 x 399 = 399; subtotal 426;
    // NT$20 off the order -> total 406; cash 500 -> change 94
    const sale = await sell(
      tablet,
      checkoutRequest(
        [
          { sku: 'DRK-001', qty: 2, discount: { kind: 'percent', value: 10 } },
          { sku: 'FOD-001', qty: 1 },
        ],
        [{ type: 'cash', amount: 500 }],
        { orderDiscount: { kind: 'amount', value: 20 } },
      ),
    );
    expect(sale.lines).toEqual([
      expect.objectContaining({
        lineNo: 1,
        sku: 'DRK-001',
        name: '統一麥香紅茶 300ml',
        qty: 2,
        unitPrice: 15,
        lineDiscount: 3,
        lineTotal: 27,
        refundedQty: 0,
      }),
      expect.objectContaining({
        lineNo: 2,
        sku: 'FOD-001',
        name: '池上米 3kg',
        qty: 1,
        unitPrice: 399,
        lineDiscount: 0,
        lineTotal: 399,
        refundedQty: 0,
      }),
    ]);
    expect(sale).toMatchObject({
      subtotal: 426,
      orderDiscount: 20,
      total: 406,
      change: 94,
      status: 'completed',
      refundedAmount: 0,
    });
    expect(sale).toMatchObject({ deviceId: tablet.deviceId, staffName: '小美', storeId: 'store-001' });
    expect(sale.tenders).toEqual([{ type: 'cash', amount: 500 }]);
  });

  it('takes card and cash together, change only from the cash', async () => {
    // DRK-002 2 x 95 = 190; card 150 + cash 100 = 250 -> change 60
    const sale = await sell(
      tablet,
      checkoutRequest(
        [{ sku: 'DRK-002', qty: 2 }],
        [
          { type: 'card', amount: 150 },
          { type: 'cash', amount: 100 },
        ],
      ),
    );
    expect(sale).toMatchObject({ total: 190, change: 60 });
  });

  it('does not let a tablet set a price', async () => {
    const before = await lastSeq(hub.url);
    const request = checkoutRequest([{ sku: 'FOD-001', qty: 1 }], [{ type: 'cash', amount: 1 }]);
    (request.lines[0] as Record<string, unknown>).unitPrice = 1;
    const res = await tablet.request('POST', '/api/sales', request);
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_request');
    expect(JSON.stringify(res.body.error)).toContain('unitPrice');
    const withTotal = { ...checkoutRequest([{ sku: 'FOD-001', qty: 1 }], [{ type: 'cash', amount: 1 }]), total: 1 };
    expect((await tablet.request('POST', '/api/sales', withTotal)).status).toBe(400);
    expect(await lastSeq(hub.url)).toBe(before);
  });

  it('refuses too little money with 422 insufficient_payment and the amount due, recording nothing', async () => {
    const before = await lastSeq(hub.url);
    // FOD-001 399; card 300 + cash 50 = 350 -> 49 due
    const res = await tablet.request(
      'POST',
      '/api/sales',
      checkoutRequest(
        [{ sku: 'FOD-001', qty: 1 }],
        [
          { type: 'card', amount: 300 },
          { type: 'cash', amount: 50 },
        ],
      ),
    );
    expect(res.status).toBe(422);
    expect(res.body.error?.code).toBe('insufficient_payment');
    expect(res.body.error).toMatchObject({ details: { total: 399, paid: 350, due: 49 } });
    expect(await lastSeq(hub.url)).toBe(before);
  });

  it('refuses a card payment above the total (422 non_cash_exceeds_total)', async () => {
    const res = await tablet.request(
      'POST',
      '/api/sales',
      checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'card', amount: 20 }]),
    );
    expect(res.status).toBe(422);
    expect(res.body.error?.code).toBe('non_cash_exceeds_total');
  });

  it('refuses an unknown product (422 unknown_product) and a too-large discount', async () => {
    const unknown = await tablet.request(
      'POST',
      '/api/sales',
      checkoutRequest(
        [
          { sku: 'DRK-001', qty: 1 },
          { sku: 'NOPE-404', qty: 1 },
        ],
        [{ type: 'cash', amount: 100 }],
      ),
    );
    expect(unknown.status).toBe(422);
    expect(unknown.body.error).toMatchObject({ code: 'unknown_product', details: { line: 2, sku: 'NOPE-404' } });
    const tooMuch = await tablet.request(
      'POST',
      '/api/sales',
      checkoutRequest(
        [{ sku: 'DRK-001', qty: 1, discount: { kind: 'amount', value: 16 } }],
        [{ type: 'cash', amount: 100 }],
      ),
    );
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.error?.code).toBe('discount_too_large');
  });
});

describe('idempotency keys', () => {
  it('answers a retry with the same key with the same sale (200) and records no second sale', async () => {
    const request = checkoutRequest([{ sku: 'SNK-001', qty: 3 }], [{ type: 'cash', amount: 100 }]);
    const first = await tablet.request('POST', '/api/sales', request);
    expect(first.status).toBe(201);
    const seqAfterFirst = await lastSeq(hub.url);

    const retry = await tablet.request('POST', '/api/sales', request);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(await lastSeq(hub.url)).toBe(seqAfterFirst);
    const sales = await listSales(tablet, '?limit=200');
    expect(sales.filter((s) => s.saleId === first.body.saleId)).toHaveLength(1);
    // 3 x 25 = 75, only once
    expect(sales.filter((s) => s.total === 75 && s.tenders[0]?.amount === 100)).toHaveLength(1);
  });

  it('refuses the same key with a different cart (409 idempotency_key_reused)', async () => {
    const request = checkoutRequest([{ sku: 'SNK-001', qty: 1 }], [{ type: 'cash', amount: 25 }]);
    await sell(tablet, request);
    const before = await lastSeq(hub.url);
    const changed = {
      ...request,
      lines: [{ sku: 'SNK-001', qty: 2 }],
      tenders: [{ type: 'cash' as const, amount: 50 }],
    };
    const res = await tablet.request('POST', '/api/sales', changed);
    expect(res.status).toBe(409);
    expect(res.body.error?.code).toBe('idempotency_key_reused');
    expect(await lastSeq(hub.url)).toBe(before);
  });

  it('records one sale when the same submit arrives several times at once', async () => {
    const request = checkoutRequest([{ sku: 'DRK-002', qty: 1 }], [{ type: 'cash', amount: 100 }]);
    const before = await lastSeq(hub.url);
    const answers = await Promise.all(Array.from({ length: 5 }, () => tablet.request('POST', '/api/sales', request)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => a.body.saleId)).size).toBe(1);
    expect(await lastSeq(hub.url)).toBe(before + 1);
  });

  it('does not use up a key on a refused cart: the corrected cart can use it', async () => {
    const key = newKey();
    const short = await tablet.request('POST', '/api/sales', {
      ...checkoutRequest([{ sku: 'DRK-002', qty: 1 }], [{ type: 'cash', amount: 90 }]),
      idempotencyKey: key,
    });
    expect(short.status).toBe(422);
    const paid = await tablet.request('POST', '/api/sales', {
      ...checkoutRequest([{ sku: 'DRK-002', qty: 1 }], [{ type: 'cash', amount: 100 }]),
      idempotencyKey: key,
    });
    expect(paid.status).toBe(201);
    expect(paid.body.change).toBe(5);
  });
});

describe('many tablets at once', () => {
  it('20 concurrent checkouts from 4 tablets all succeed with distinct sale ids and consecutive seqs', async () => {
    const tablets = await Promise.all(
      [1, 2, 3, 4].map((n) => pairedTablet(hub, n % 2 ? '1111' : '222222', `Rush ${n}`)),
    );
    const before = await lastSeq(hub.url);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        // (i % 3 + 1) x NT$15, paid 100
        tablets[i % 4]!.request(
          'POST',
          '/api/sales',
          checkoutRequest([{ sku: 'DRK-001', qty: (i % 3) + 1 }], [{ type: 'cash', amount: 100 }]),
        ),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(201));
    const sales = answers.map((a) => a.body as unknown as SaleView);
    expect(new Set(sales.map((s) => s.saleId)).size).toBe(20);
    expect(sales.map((s) => s.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => before + 1 + i));
    sales.forEach((sale, i) => expect(sale.change).toBe(100 - 15 * ((i % 3) + 1)));
    expect(await lastSeq(hub.url)).toBe(before + 20);

    const listed = await listSales(tablet, '?limit=20');
    expect(listed.map((s) => s.saleId).sort()).toEqual(sales.map((s) => s.saleId).sort());
  });
});

describe('sale history and receipts', () => {
  it('lists sales newest first and pages back with beforeSeq', async () => {
    const a = await sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    const b = await sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    const c = await sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    expect((await listSales(tablet, '?limit=2')).map((s) => s.saleId)).toEqual([c.saleId, b.saleId]);
    expect((await listSales(tablet, `?limit=2&beforeSeq=${b.seq}`))[0]!.saleId).toBe(a.saleId);
  });

  it('prints the receipt after the sale and reprints a copy', async () => {
    // FOD-001 399 + DRK-001 15 = 414, cash 1000 -> change 586
    const sale = await sell(
      tablet,
      checkoutRequest(
        [
          { sku: 'FOD-001', qty: 1 },
          { sku: 'DRK-001', qty: 1 },
        ],
        [{ type: 'cash', amount: 1000 }],
      ),
    );
    const receipt = await tablet.request('GET', `/api/sales/${sale.saleId}/receipt`);
    expect(receipt.status).toBe(200);
    const jobs = receipt.body.jobs as { jobId: string; kind: string; text: string }[];
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ jobId: `${sale.saleId}-p1`, kind: 'original' });
    expect(jobs[0]!.text).toContain('池上米 3kg');
    expect(jobs[0]!.text).toMatch(/合計 TOTAL +NT\$414/);
    expect(jobs[0]!.text).toMatch(/找零 CHANGE +586/);
    expect(jobs[0]!.text).not.toContain('COPY');

    const reprint = await tablet.request('POST', `/api/sales/${sale.saleId}/reprint`);
    expect(reprint.status).toBe(200);
    expect(reprint.body.text).toContain('COPY');
    const after = (await tablet.request('GET', `/api/sales/${sale.saleId}/receipt`)).body.jobs as { kind: string }[];
    expect(after.map((j) => j.kind).sort()).toEqual(['copy', 'original']);
  });

  it('answers 404 for a sale that does not exist', async () => {
    const res = await tablet.request('GET', '/api/sales/20200101-000001');
    expect(res.status).toBe(404);
    expect(res.body.error?.code).toBe('not_found');
  });
});
