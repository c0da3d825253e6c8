/**
 * Discounts over the owner's limit (default 20 % of a line or of the order) need a manager's PIN on
 * the cashier's tablet; one approval covers one sale, and the sale's event says who approved.
 * Demo prices: DRK-001 NT$15, SNK-001 NT$25, FOD-001 NT$399.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { DEMO_STAFF, type Hub } from '../../hub/src/hub.ts';
import type { DiscountApprovalView, QuoteView, SaleView } from '../../hub/src/protocol/api.ts';
import { type TabletClient, pairedTablet, startTestHub, demoPin } from '../support/test-hub.ts';
import { checkoutRequest, lastSeq, sell } from '../support/sales.ts';
import { scanJournal } from '../support/journal-files.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
let hub: Hub;
let cashier: TabletClient;
let otherCashier: TabletClient;
let manager: TabletClient;
let owner: TabletClient;
let managerId: string;

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make() });
  cashier = await pairedTablet(hub, demoPin('cashier'), 'Counter');
  otherCashier = await pairedTablet(hub, demoPin('cashier'), 'Counter 2');
  manager = await pairedTablet(hub, demoPin('manager'), 'Back office');
  owner = await pairedTablet(hub, demoPin('owner'), 'Office');
  managerId = ((await manager.request('GET', '/api/me')).body.staff as { id: string }).id;
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

/** One FOD-001 (NT$399) given away as a 100 % line discount, paid NT$0... with a token. */
const giveaway = (extra: Parameters<typeof checkoutRequest>[2] = {}) =>
  checkoutRequest(
    [
      { sku: 'FOD-001', qty: 1, discount: { kind: 'percent', value: 100 } },
      { sku: 'DRK-001', qty: 1 },
    ],
    [{ type: 'cash', amount: 15 }],
    extra,
  );

const approve = (tablet: TabletClient, request: ReturnType<typeof giveaway>, pin: string) =>
  tablet.request('POST', '/api/sales/approvals', {
    idempotencyKey: request.idempotencyKey,
    pin,
    lines: request.lines,
    ...(request.orderDiscount ? { orderDiscount: request.orderDiscount } : {}),
  });

const journalledSale = (saleId: string) =>
  scanJournal(hub.config.dataDir).events.find(
    (event) => event.type === 'sale.completed' && event.data.saleId === saleId,
  ) as { data: { approvedBy?: string | null } } | undefined;

describe('discounts over the limit', () => {
  it('refuses a cashier’s 100 % line discount with a clear code and records nothing', async () => {
    const seq = await lastSeq(hub.url);
    const res = await cashier.request('POST', '/api/sales', giveaway());
    expect(res.status).toBe(403);
    expect(res.body.error?.code).toBe('discount_approval_required');
    expect((res.body.error as { details?: unknown }).details).toEqual({
      discountsOverLimit: [
        { scope: 'line', lineNo: 1, amount: 399, base: 399, limitPercent: 20 },
        { scope: 'total', lineNo: null, amount: 399, base: 414, limitPercent: 20 },
      ],
    });
    expect(await lastSeq(hub.url)).toBe(seq);
  });

  it('refuses an order discount equal to the subtotal', async () => {
    const res = await cashier.request(
      'POST',
      '/api/sales',
      checkoutRequest([{ sku: 'DRK-001', qty: 2 }], [{ type: 'cash', amount: 1 }], {
        orderDiscount: { kind: 'amount', value: 30 },
      }),
    );
    expect(res.status).toBe(403);
    expect(res.body.error?.code).toBe('discount_approval_required');
  });

  it('takes discounts up to the limit from a cashier, with no approver', async () => {
    // 10 % of 399 = 39.9 -> 40 off the line; NT$37 off the rest (359 + 15 = 374); 77 of 414 in all
    const sale = await sell(
      cashier,
      checkoutRequest(
        [
          { sku: 'FOD-001', qty: 1, discount: { kind: 'percent', value: 10 } },
          { sku: 'DRK-001', qty: 1 },
        ],
        [{ type: 'cash', amount: 337 }],
        { orderDiscount: { kind: 'amount', value: 37 } },
      ),
    );
    expect(sale.total).toBe(337);
    expect(sale.approvedBy).toBeNull();
    expect(journalledSale(sale.saleId)?.data.approvedBy).toBeNull();
  });

  it('stacked discounts: 20 % off every line plus 20 % off the order (36 % in all) needs approval', async () => {
    const stacked = checkoutRequest(
      [
        { sku: 'FOD-001', qty: 1, discount: { kind: 'percent', value: 20 } },
        { sku: 'SNK-001', qty: 1, discount: { kind: 'percent', value: 20 } },
      ],
      [{ type: 'cash', amount: 271 }],
      { orderDiscount: { kind: 'percent', value: 20 } },
    );
    const seq = await lastSeq(hub.url);
    const res = await cashier.request('POST', '/api/sales', stacked);
    expect(res.status).toBe(403);
    expect(res.body.error?.code).toBe('discount_approval_required');
    // 80 + 5 off the lines, 20 % of 339 = 68 off the order: NT$153 off NT$424
    expect((res.body.error as { details?: unknown }).details).toEqual({
      discountsOverLimit: [{ scope: 'total', lineNo: null, amount: 153, base: 424, limitPercent: 20 }],
    });
    expect(await lastSeq(hub.url)).toBe(seq);
  });

  it('an amount just over the limit needs approval: limits are not rounded up to the dollar', async () => {
    // 20 % of FOD-001 (NT$399) is NT$79.80: NT$79 off is within, NT$80 off (20.05 %) is not
    const within = checkoutRequest(
      [{ sku: 'FOD-001', qty: 1, discount: { kind: 'amount', value: 79 } }],
      [{ type: 'cash', amount: 320 }],
    );
    expect((await sell(cashier, within)).approvedBy).toBeNull();
    const over = await cashier.request(
      'POST',
      '/api/sales',
      checkoutRequest(
        [{ sku: 'FOD-001', qty: 1, discount: { kind: 'amount', value: 80 } }],
        [{ type: 'cash', amount: 319 }],
      ),
    );
    expect(over.status).toBe(403);
    expect(over.body.error?.code).toBe('discount_approval_required');
  });

  it('the quote tells the tablet which discounts need approval', async () => {
    const { idempotencyKey: _key, tenders: _tenders, ...cart } = giveaway();
    const quote = (await cashier.request('POST', '/api/sales/quote', cart)).body as unknown as QuoteView;
    expect(quote.discountsOverLimit).toEqual([
      { scope: 'line', lineNo: 1, amount: 399, base: 399, limitPercent: 20 },
      { scope: 'total', lineNo: null, amount: 399, base: 414, limitPercent: 20 },
    ]);
  });

  it('accepts the sale with a manager’s approval typed on the cashier’s tablet; the event records who approved', async () => {
    const request = giveaway();
    const approval = await approve(cashier, request, demoPin('manager'));
    expect(approval.status).toBe(201);
    const grant = approval.body as unknown as DiscountApprovalView;
    expect(grant.approvedBy).toEqual({ id: managerId, name: DEMO_STAFF.find((s) => s.role === 'manager')!.name });
    // the manager is not left logged in on the cashier's tablet
    expect(((await cashier.request('GET', '/api/me')).body.staff as { role: string }).role).toBe('cashier');

    const sale = await sell(cashier, { ...request, approvalToken: grant.approvalToken });
    expect(sale).toMatchObject({ total: 15, approvedBy: managerId, approvedByName: grant.approvedBy.name });
    // the printed receipt says who approved
    const receipt = async () =>
      ((await cashier.request('GET', `/api/sales/${sale.saleId}/receipt`)).body as { jobs: { text: string }[] }).jobs[0]
        ?.text ?? '';
    await expect.poll(receipt).toMatch(new RegExp(`折扣核准 APPROVED\\s+${grant.approvedBy.name}`));
    const event = journalledSale(sale.saleId);
    expect(event?.data.approvedBy).toBe(managerId);
    expect(JSON.stringify(event)).not.toContain(grant.approvedBy.name);

    // a retry of the same sale answers it again (same key), and records nothing more
    const seq = await lastSeq(hub.url);
    const retry = await cashier.request('POST', '/api/sales', { ...request, approvalToken: grant.approvalToken });
    expect(retry.status).toBe(200);
    expect((retry.body as unknown as SaleView).saleId).toBe(sale.saleId);
    expect(await lastSeq(hub.url)).toBe(seq);

    // the approval cannot be reused for another sale
    const another = giveaway({ approvalToken: grant.approvalToken });
    const reused = await cashier.request('POST', '/api/sales', another);
    expect(reused.status).toBe(403);
    expect(reused.body.error?.code).toBe('discount_approval_invalid');
    expect(await lastSeq(hub.url)).toBe(seq);
  });

  it('an approval is for its tablet and its discounts only', async () => {
    const request = giveaway();
    const grant = (await approve(cashier, request, demoPin('manager'))).body as unknown as DiscountApprovalView;
    const elsewhere = await otherCashier.request('POST', '/api/sales', {
      ...request,
      approvalToken: grant.approvalToken,
    });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body.error?.code).toBe('discount_approval_invalid');
    const bigger = {
      ...request,
      lines: [...request.lines, { sku: 'SNK-001', qty: 1, discount: { kind: 'percent' as const, value: 100 } }],
      approvalToken: grant.approvalToken,
    };
    const more = await cashier.request('POST', '/api/sales', bigger);
    expect(more.status).toBe(403);
    expect(more.body.error?.code).toBe('discount_approval_invalid');
    // still good for what it approved
    expect((await sell(cashier, { ...request, approvalToken: grant.approvalToken })).approvedBy).toBe(managerId);
  });

  it('an approval is for its sale: the same cart under a new idempotency key is refused', async () => {
    const request = giveaway();
    const grant = (await approve(cashier, request, demoPin('manager'))).body as unknown as DiscountApprovalView;
    const seq = await lastSeq(hub.url);
    const newKey = await cashier.request('POST', '/api/sales', {
      ...giveaway(),
      approvalToken: grant.approvalToken,
    });
    expect(newKey.status).toBe(403);
    expect(newKey.body.error?.code).toBe('discount_approval_invalid');
    expect(await lastSeq(hub.url)).toBe(seq);
    // unused, so still good for the sale it was asked for
    expect((await sell(cashier, { ...request, approvalToken: grant.approvalToken })).approvedBy).toBe(managerId);
  });

  it('an approval is for the cashier who asked for it, not the next one logged in on that tablet', async () => {
    await adminRequest(path.join(hub.config.dataDir, 'ayi.sock'), 'add-staff', ['阿華', 'cashier', '4321']);
    const tablet = await pairedTablet(hub, demoPin('cashier'), 'Shared counter');
    const request = giveaway();
    const grant = (await approve(tablet, request, demoPin('manager'))).body as unknown as DiscountApprovalView;
    await tablet.login('4321');
    const seq = await lastSeq(hub.url);
    const res = await tablet.request('POST', '/api/sales', { ...request, approvalToken: grant.approvalToken });
    expect(res.status).toBe(403);
    expect(res.body.error?.code).toBe('discount_approval_invalid');
    expect(await lastSeq(hub.url)).toBe(seq);
    await tablet.login(demoPin('cashier'));
    expect((await sell(tablet, { ...request, approvalToken: grant.approvalToken })).approvedBy).toBe(managerId);
  });

  it('a cashier’s own PIN does not approve', async () => {
    const res = await approve(cashier, giveaway(), demoPin('cashier'));
    expect(res.status).toBe(403);
    expect(res.body.error?.code).toBe('approver_not_manager');
  });

  it('answers approval_not_needed for discounts within the limits', async () => {
    const request = checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]);
    const res = await approve(cashier, request, demoPin('manager'));
    expect(res.status).toBe(422);
    expect(res.body.error?.code).toBe('approval_not_needed');
  });

  it('a manager selling needs no one else’s approval and is recorded as the approver', async () => {
    const sale = await sell(manager, giveaway());
    expect(sale.approvedBy).toBe(managerId);
  });

  it('wrong manager PINs count against the tablet’s PIN guard, as wrong logins do', async () => {
    const tablet = await pairedTablet(hub, demoPin('cashier'), 'Guessing');
    const request = giveaway();
    const wrong = DEMO_STAFF.some((s) => s.pin === '98765431') ? '98765432' : '98765431';
    let status = 0;
    for (let i = 0; i < 30 && status !== 429 && status !== 423; i++) {
      const res = await approve(tablet, request, wrong);
      status = res.status;
      if (status === 401) expect(res.body.error?.code).toBe('wrong_pin');
    }
    expect([429, 423]).toContain(status);
    // the guard now holds back the right PIN too, for approvals and logins alike
    expect([429, 423]).toContain((await approve(tablet, request, demoPin('manager'))).status);
    expect([429, 423]).toContain((await tablet.request('POST', '/api/session', { pin: demoPin('manager') })).status);
  });
});

describe('the owner’s discount limits', () => {
  it('only the owner changes them; bad values are refused; the new limit applies at once', async () => {
    expect((await cashier.request('GET', '/api/settings/discounts')).body).toEqual({
      maxLinePercent: 20,
      maxOrderPercent: 20,
    });
    const byManager = await manager.request('PUT', '/api/settings/discounts', {
      maxLinePercent: 100,
      maxOrderPercent: 20,
    });
    expect(byManager.status).toBe(403);
    const bad = await owner.request('PUT', '/api/settings/discounts', { maxLinePercent: 101, maxOrderPercent: 20 });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('invalid_request');
    const missing = await owner.request('PUT', '/api/settings/discounts', { maxLinePercent: 50 });
    expect(missing.status).toBe(400);

    const set = await owner.request('PUT', '/api/settings/discounts', { maxLinePercent: 100, maxOrderPercent: 100 });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ maxLinePercent: 100, maxOrderPercent: 100 });
    try {
      const sale = await sell(cashier, giveaway());
      expect(sale).toMatchObject({ total: 15, approvedBy: null });
    } finally {
      await owner.request('PUT', '/api/settings/discounts', { maxLinePercent: 20, maxOrderPercent: 20 });
    }
    expect((await cashier.request('POST', '/api/sales', giveaway())).status).toBe(403);
  });
});

describe('the owner’s discount limits are journal events', () => {
  it('a change is recorded with who made it, old and new limits, and survives a snapshot and a restart', async () => {
    const dataDir = temp.make();
    let store = await startTestHub({ dataDir });
    try {
      const office = await pairedTablet(store, demoPin('owner'), 'Office');
      const set = await office.request('PUT', '/api/settings/discounts', { maxLinePercent: 30, maxOrderPercent: 25 });
      expect(set.status).toBe(200);
      const ownerId = ((await office.request('GET', '/api/me')).body.staff as { id: string }).id;
      const changes = scanJournal(dataDir).events.filter((e) => e.type === 'settings.discount_policy_changed');
      expect(changes.map((e) => e.data)).toEqual([
        {
          staffId: ownerId,
          deviceId: office.deviceId,
          previous: { maxLinePercent: 20, maxOrderPercent: 20 },
          limits: { maxLinePercent: 30, maxOrderPercent: 25 },
        },
      ]);
      await adminRequest(path.join(dataDir, 'ayi.sock'), 'snapshot', []);
      await store.stop();
      store = await startTestHub({ dataDir });
      const counter = await pairedTablet(store, demoPin('cashier'), 'Counter');
      expect((await counter.request('GET', '/api/settings/discounts')).body).toEqual({
        maxLinePercent: 30,
        maxOrderPercent: 25,
      });
    } finally {
      await store.stop();
    }
  });

  it('a data directory with discounts.json from an older version keeps its limits until the owner changes them', async () => {
    const dataDir = temp.make();
    writeFileSync(path.join(dataDir, 'discounts.json'), JSON.stringify({ maxLinePercent: 50, maxOrderPercent: 40 }));
    const store = await startTestHub({ dataDir });
    try {
      const office = await pairedTablet(store, demoPin('owner'), 'Office');
      expect((await office.request('GET', '/api/settings/discounts')).body).toEqual({
        maxLinePercent: 50,
        maxOrderPercent: 40,
      });
      await office.request('PUT', '/api/settings/discounts', { maxLinePercent: 10, maxOrderPercent: 10 });
      const change = scanJournal(dataDir).events.find((e) => e.type === 'settings.discount_policy_changed');
      expect(change?.data).toMatchObject({ previous: { maxLinePercent: 50, maxOrderPercent: 40 } });
      expect((await office.request('GET', '/api/settings/discounts')).body).toEqual({
        maxLinePercent: 10,
        maxOrderPercent: 10,
      });
    } finally {
      await store.stop();
    }
  });
});
