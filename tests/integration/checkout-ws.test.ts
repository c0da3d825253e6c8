/**
 * The tablet WebSocket: hello on connect, checkout over the socket, every tablet told about every
 * sale, and the handshake refused to strangers and to foreign web pages.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import { SESSION_TTL_MS } from '../../hub/src/services/security.service.ts';
import { TabletClient, newPairingCode, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { checkoutRequest, lastSeq, listSales, sell } from '../support/sales.ts';
import { type TabletSocket, openTabletSocket, refusedHandshake } from '../support/ws-client.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
let hub: Hub;
let counter1: TabletClient;
let counter2: TabletClient;
const sockets: TabletSocket[] = [];

async function connect(tablet: TabletClient, headers: Record<string, string> = {}): Promise<TabletSocket> {
  const socket = await openTabletSocket(tablet, headers);
  sockets.push(socket);
  return socket;
}

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make() });
  counter1 = await pairedTablet(hub, '1111', 'Counter 1');
  counter2 = await pairedTablet(hub, '222222', 'Counter 2');
});
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

describe('WebSocket /api/ws', () => {
  it('says hello with the store, the device, the staff member and the last seq', async () => {
    const seq = await lastSeq(hub.url);
    const socket = await connect(counter1);
    const hello = await socket.next('hello');
    expect(hello).toEqual({
      type: 'hello',
      storeId: 'store-001',
      deviceId: counter1.deviceId,
      staff: expect.objectContaining({ name: '小美', role: 'cashier' }),
      lastSeq: seq,
      storage: expect.stringMatching(/^(ok|low)$/),
      clock: 'ok',
    });
  });

  it('sells with checkout -> checkout.result, and the other tablet receives the sale', async () => {
    const seller = await connect(counter1);
    const watcher = await connect(counter2);
    await seller.next('hello');
    await watcher.next('hello');

    // DRK-002 95 + SNK-001 2 x 25 = 145; cash 200 -> change 55
    const request = checkoutRequest(
      [
        { sku: 'DRK-002', qty: 1 },
        { sku: 'SNK-001', qty: 2 },
      ],
      [{ type: 'cash', amount: 200 }],
    );
    seller.send({ type: 'checkout', requestId: 'req-1', sale: request });
    const result = await seller.next('checkout.result');
    expect(result).toMatchObject({
      requestId: 'req-1',
      replayed: false,
      sale: { total: 145, change: 55, deviceId: counter1.deviceId },
    });

    const broadcast = await watcher.next('sale', (m) => m.sale.saleId === result.sale.saleId);
    expect(broadcast.sale).toEqual(result.sale);
    // the seller is told too (its other screens stay in step)
    await seller.next('sale', (m) => m.sale.saleId === result.sale.saleId);
    // and the sale is the one HTTP sees
    expect((await listSales(counter2, '?limit=1'))[0]).toEqual(result.sale);

    // a retry over the socket answers the same sale, replayed, without a new one
    const seq = await lastSeq(hub.url);
    seller.send({ type: 'checkout', requestId: 'req-2', sale: request });
    const retry = await seller.next('checkout.result', (m) => m.requestId === 'req-2');
    expect(retry).toMatchObject({ replayed: true, sale: { saleId: result.sale.saleId } });
    expect(await lastSeq(hub.url)).toBe(seq);
  });

  it('tells connected tablets about sales made over HTTP, and voids', async () => {
    const watcher = await connect(counter1);
    await watcher.next('hello');
    const sale = await sell(counter2, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    expect((await watcher.next('sale', (m) => m.sale.saleId === sale.saleId)).sale.status).toBe('completed');
    expect((await counter2.request('POST', `/api/sales/${sale.saleId}/void`, { reason: 'test' })).status).toBe(200);
    const voided = await watcher.next('sale', (m) => m.sale.saleId === sale.saleId && m.sale.status === 'voided');
    expect(voided.sale.status).toBe('voided');
  });

  it('answers a business error on the socket with an error message for that request', async () => {
    const socket = await connect(counter1);
    const before = await lastSeq(hub.url);
    socket.send({
      type: 'checkout',
      requestId: 'short',
      sale: checkoutRequest([{ sku: 'FOD-001', qty: 1 }], [{ type: 'cash', amount: 100 }]),
    });
    const error = await socket.next('error');
    // 399 due, 100 paid -> 299 still due
    expect(error).toMatchObject({ requestId: 'short', error: { code: 'insufficient_payment', details: { due: 299 } } });
    expect(await lastSeq(hub.url)).toBe(before);
  });

  it('sells a discount over the limit with a manager’s approval over the socket, once', async () => {
    const socket = await connect(counter1);
    await socket.next('hello');
    const request = checkoutRequest(
      [
        { sku: 'FOD-001', qty: 1, discount: { kind: 'percent', value: 100 } },
        { sku: 'DRK-001', qty: 1 },
      ],
      [{ type: 'cash', amount: 15 }],
    );
    const before = await lastSeq(hub.url);
    socket.send({ type: 'checkout', requestId: 'no-approval', sale: request });
    expect(await socket.next('error')).toMatchObject({
      requestId: 'no-approval',
      error: { code: 'discount_approval_required', details: { discountsOverLimit: expect.any(Array) } },
    });
    expect(await lastSeq(hub.url)).toBe(before);

    // the manager (222222) types their PIN on this tablet, over HTTP like the tablet does
    const approval = await counter1.request('POST', '/api/sales/approvals', {
      idempotencyKey: request.idempotencyKey,
      pin: '222222',
      lines: request.lines,
    });
    expect(approval.status).toBe(201);
    const { approvalToken, approvedBy } = approval.body as { approvalToken: string; approvedBy: { id: string } };
    socket.send({ type: 'checkout', requestId: 'approved', sale: { ...request, approvalToken } });
    const result = await socket.next('checkout.result', (m) => m.requestId === 'approved');
    expect(result).toMatchObject({ replayed: false, sale: { total: 15, approvedBy: approvedBy.id } });
    expect(await lastSeq(hub.url)).toBe(before + 1);

    // used up: the same approval on a new sale is refused
    socket.send({
      type: 'checkout',
      requestId: 'again',
      sale: { ...checkoutRequest(request.lines, request.tenders), approvalToken },
    });
    expect(await socket.next('error', (m) => m.requestId === 'again')).toMatchObject({
      error: { code: 'discount_approval_invalid' },
    });
    expect(await lastSeq(hub.url)).toBe(before + 1);
  });

  it('answers an invalid message with error invalid_request and keeps the socket open', async () => {
    const socket = await connect(counter1);
    const before = await lastSeq(hub.url);
    const bad = checkoutRequest([{ sku: 'DRK-001', qty: -1 }], [{ type: 'cash', amount: 15 }]);
    socket.send({ type: 'checkout', requestId: 'bad-1', sale: bad });
    expect(await socket.next('error')).toMatchObject({ requestId: 'bad-1', error: { code: 'invalid_request' } });
    socket.send({ type: 'launch-missiles', requestId: 'bad-2' });
    expect(await socket.next('error')).toMatchObject({ error: { code: 'invalid_request' } });
    socket.send('{ not json');
    expect(await socket.next('error')).toMatchObject({ error: { code: 'invalid_json' } });

    socket.send({ type: 'ping', requestId: 'p-1' });
    expect(await socket.next('pong')).toEqual({ type: 'pong', requestId: 'p-1' });
    expect(await lastSeq(hub.url)).toBe(before);
  });

  it('needs a staff session to sell over the socket', async () => {
    const noStaff = new TabletClient(hub.url);
    noStaff.deviceToken = counter1.deviceToken;
    const socket = await connect(noStaff);
    expect((await socket.next('hello')).staff).toBeNull();
    socket.send({
      type: 'checkout',
      requestId: 'anon',
      sale: checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]),
    });
    expect(await socket.next('error')).toMatchObject({ requestId: 'anon', error: { code: 'staff_login_required' } });
  });

  it('stops selling on a socket whose staff member logged out', async () => {
    const tablet = await pairedTablet(hub, '1111', 'Logout tablet');
    const socket = await connect(tablet);
    await socket.next('hello');
    expect((await tablet.request('DELETE', '/api/session')).status).toBe(204);
    socket.send({
      type: 'checkout',
      requestId: 'after-logout',
      sale: checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]),
    });
    expect(await socket.next('error')).toMatchObject({ error: { code: 'staff_login_required' } });
  });
});

/** A ping answered means everything the hub sent this socket before it has arrived too. */
async function settle(socket: TabletSocket, requestId: string): Promise<void> {
  socket.send({ type: 'ping', requestId });
  await socket.next('pong', (m) => m.requestId === requestId);
}

const oneDrink = () => checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]);

describe('WebSocket broadcasts need a staff session, checked when they are sent', () => {
  it('sends no sale to a paired tablet nobody is logged in on', async () => {
    const idle = new TabletClient(hub.url);
    await idle.pair(await newPairingCode(hub), 'Idle tablet');
    const idleSocket = await connect(idle);
    expect((await idleSocket.next('hello')).staff).toBeNull();
    const watcher = await connect(counter2);
    await watcher.next('hello');

    const sale = await sell(counter1, oneDrink());
    await watcher.next('sale', (m) => m.sale.saleId === sale.saleId);
    await settle(idleSocket, 'idle-1');
    expect(idleSocket.received.filter((m) => m.type === 'sale')).toEqual([]);
  });

  it('stops sending sales to a socket once its staff member logs out', async () => {
    const tablet = await pairedTablet(hub, '1111', 'Logout watcher');
    const socket = await connect(tablet);
    await socket.next('hello');
    const before = await sell(counter1, oneDrink());
    await socket.next('sale', (m) => m.sale.saleId === before.saleId);

    expect((await tablet.request('DELETE', '/api/session')).status).toBe(204);
    const watcher = await connect(counter2);
    await watcher.next('hello');
    const after = await sell(counter1, oneDrink());
    await watcher.next('sale', (m) => m.sale.saleId === after.saleId);
    await settle(socket, 'logout-1');
    expect(socket.received.filter((m) => m.type === 'sale' && m.sale.saleId === after.saleId)).toEqual([]);
  });

  it('stops sending sales to a socket whose staff session has expired', async () => {
    const clock = new FakeClock(new Date());
    const clockHub = await startTestHub({ dataDir: temp.make(), clock: clock.now });
    try {
      const early = await pairedTablet(clockHub, '1111', 'Early shift');
      const earlySocket = await connect(early);
      await earlySocket.next('hello');
      clock.advance(SESSION_TTL_MS + 60_000);
      const late = await pairedTablet(clockHub, '222222', 'Late shift');
      const lateSocket = await connect(late);
      await lateSocket.next('hello');
      const sale = await sell(late, oneDrink());
      await lateSocket.next('sale', (m) => m.sale.saleId === sale.saleId);
      await settle(earlySocket, 'expired-1');
      expect(earlySocket.received.filter((m) => m.type === 'sale')).toEqual([]);
    } finally {
      await Promise.all(sockets.splice(0).map((s) => s.close()));
      await clockHub.stop();
    }
  });
});

describe('member.changed', () => {
  it('is broadcast for every committed event that names a member, to logged-in tablets only', async () => {
    const watcher = await connect(counter1);
    await watcher.next('hello');
    const idle = new TabletClient(hub.url);
    await idle.pair(await newPairingCode(hub), 'Idle tablet 2');
    const idleSocket = await connect(idle);
    await idleSocket.next('hello');
    const staff = { staffId: 'stf-test', deviceId: counter1.deviceId! };
    const sealed = { iv: 'aXY=', tag: 'dGFn', data: 'ZGF0YQ==' };

    // Member events straight through the event store: what the member services will record.
    await hub.events.record('member.tagged', { memberId: 'mem-tagged', sealed, ...staff });
    await hub.events.record('member.profile_updated', { memberId: 'mem-profile', sealed, ...staff });
    await hub.events.record('member.merged', { fromMemberId: 'mem-from', intoMemberId: 'mem-into', ...staff });
    await hub.events.record('points.expired', { memberId: 'mem-points', points: 10, earnedOnOrBefore: '2025-01-01' });
    await hub.events.record('coupon.issued', { couponId: 'cpn-1', code: 'HELLO-1', memberId: 'mem-coupon' });
    // Not about a member: no message.
    await hub.events.record('device.paired', { deviceId: 'tab-nobody', name: 'Nobody' });

    // A member's sale, its void (loyalty reversal) and a sale without a member.
    const plain = await sell(counter2, oneDrink());
    const record = hub.state.sales.get(plain.saleId)!;
    const memberSale = await hub.events.record('sale.completed', ({ seq }) => ({
      ...record,
      saleId: `${record.saleId}-m${seq}`,
      idempotencyKey: `member-sale-${seq}`,
      memberId: 'mem-sale',
    }));
    await hub.events.record('sale.voided', {
      saleId: memberSale.data.saleId,
      reason: 'test',
      staffId: 'stf-test',
      deviceId: counter1.deviceId!,
      loyalty: { memberId: 'mem-void', pointsReversed: 1, pointsReturned: 0, businessDate: '2026-11-22' },
    });
    await hub.events.record('sale.voided', {
      saleId: plain.saleId,
      reason: 'test',
      staffId: 'stf-test',
      deviceId: counter1.deviceId!,
      loyalty: null,
    });

    const expected = [
      'mem-tagged',
      'mem-profile',
      'mem-from',
      'mem-into',
      'mem-points',
      'mem-coupon',
      'mem-sale',
      'mem-void',
    ];
    for (const memberId of expected) await watcher.next('member.changed', (m) => m.memberId === memberId);
    await settle(watcher, 'members-1');
    await settle(idleSocket, 'members-2');
    const told = watcher.received.filter((m) => m.type === 'member.changed').map((m) => m.memberId);
    expect(told).toEqual(expected);
    expect(idleSocket.received.filter((m) => m.type === 'member.changed')).toEqual([]);
  });
});

describe('WebSocket handshake', () => {
  it('is refused without a device token (401)', async () => {
    const refused = await refusedHandshake(hub.url, {});
    expect(refused.status).toBe(401);
    expect(refused.body.error?.code).toBe('device_not_paired');
  });

  it('is refused with a foreign Origin (403), accepted from the hub’s own', async () => {
    const refused = await refusedHandshake(hub.url, { ...counter1.headers(), origin: 'http://evil.example' });
    expect(refused.status).toBe(403);
    expect(refused.body.error?.code).toBe('origin_not_allowed');
    // same host name, other port: still another site
    const port = new URL(hub.url).port;
    expect(
      (await refusedHandshake(hub.url, { ...counter1.headers(), origin: `http://127.0.0.1:${Number(port) + 1}` }))
        .status,
    ).toBe(403);

    const own = await connect(counter1, { origin: hub.url });
    expect((await own.next('hello')).deviceId).toBe(counter1.deviceId);
  });
});
