/**
 * A box without a battery clock that starts after a power cut, before time sync, is at an old time.
 * A hub run at the right time writes a journal; the hub then starts on it with a clock an hour
 * behind its last event. Health is degraded with `clock_behind` and both times, the retained status
 * to HQ says so, a sale and a sign-up are refused with 503 `clock_behind` and nothing reaches the
 * journal, while reads still work. When the clock catches up, sales are accepted again without a
 * restart; a clock that jumps back while the hub runs is refused the same way. A real mosquitto,
 * the real hub, real files.
 */
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { LinkStatusSchema } from '../../hub/src/protocol/event-schemas.ts';
import type { HealthView } from '../../hub/src/transport/http/app.ts';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { scanJournal } from '../support/journal-files.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { TabletClient, newPairingCode, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { openTabletSocket, type TabletSocket } from '../support/ws-client.ts';

const temp = new TempDirs();
const CHAIN = 'test-chain';
const STORE = 'store-clock';
const HOUR_MS = 60 * 60 * 1000;
const dataDir = temp.make('ayi-clock-behind-');
let broker: Mosquitto;
let hub: Hub;
let hq: HqSubscriber;
let cashier: TabletClient;
let socket: TabletSocket;
/** The newest event the first run wrote (at the right time). */
let lastEventAt: string;
const clock = new FakeClock('2026-01-01T00:00:00Z');

async function health(): Promise<HealthView> {
  return (await (await fetch(`${hub.url}/api/health`)).json()) as HealthView;
}

const aSale = () => checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 100 }]);
const journalEvents = () => scanJournal(dataDir).events;

beforeAll(async () => {
  broker = await startMosquitto();
  const config = { chainId: CHAIN, storeId: STORE, mqttUrl: broker.url, mqttReconnectMaxMs: 1000 };
  // The first run, at the right time, sells and signs up.
  hub = await startTestHub({ dataDir, config });
  cashier = await pairedTablet(hub, '1111', 'Counter');
  await sell(cashier, aSale());
  expect((await cashier.request('POST', '/api/members', { phone: '0912345678' })).status).toBe(201);
  const before = await health();
  expect(before.status).toBe('ok');
  expect(before.clock.state).toBe('ok');
  await hub.stop();
  lastEventAt = journalEvents().at(-1)!.at;

  // The power cut: the box comes back an hour in the past (the time systemd last saved).
  clock.set(new Date(Date.parse(lastEventAt) - HOUR_MS));
  hq = await hqSubscriber(broker.url, `${storeTopics(CHAIN, STORE).root}/#`);
  hub = await startTestHub({ dataDir, config, clock: clock.now });
  cashier = Object.assign(new TabletClient(hub.url), {
    deviceToken: cashier.deviceToken,
    deviceId: cashier.deviceId,
    sessionToken: cashier.sessionToken,
  });
});

afterAll(async () => {
  await socket?.close();
  await hq?.close();
  await hub?.stop();
  await broker?.kill();
  temp.removeAll();
});

describe("a hub whose clock is behind its journal's last event", () => {
  it('says so in health, with the journal’s last event and the clock now', async () => {
    const view = await health();
    expect(view.status).toBe('degraded');
    expect(view.problems).toContain('clock_behind');
    expect(view.clock).toMatchObject({ state: 'behind', lastEventAt, now: clock.now().toISOString() });
    // `ayi health` on the box says the same.
    const admin = await adminRequest<{ problems: string[]; clock: HealthView['clock'] }>(
      path.join(dataDir, 'ayi.sock'),
      'health',
    );
    expect(admin.problems).toContain('clock_behind');
    expect(admin.clock).toMatchObject({ state: 'behind', lastEventAt });
  });

  it('says so in the retained status to HQ', async () => {
    await hq.waitFor(() => hq.last('/status')?.state === 'online', 10_000, 'the online status');
    const status = hq.last('/status')!;
    expect(Value.Check(LinkStatusSchema, status)).toBe(true);
    expect(status.problems).toEqual(['clock_behind']);
  });

  it('refuses a sale and a sign-up with 503 clock_behind and writes nothing, while reads still work', async () => {
    const eventsBefore = journalEvents();
    const lastSeq = hub.events.lastSeq;

    const sale = await cashier.request('POST', '/api/sales', aSale());
    expect(sale.status).toBe(503);
    expect(sale.body.error?.code).toBe('clock_behind');
    expect(sale.body.error?.message).toMatch(/clock/i);
    const signUp = await cashier.request('POST', '/api/members', { phone: '0987654321' });
    expect(signUp.status).toBe(503);
    expect(signUp.body.error?.code).toBe('clock_behind');

    expect(hub.events.lastSeq).toBe(lastSeq);
    expect(journalEvents()).toEqual(eventsBefore);
    const products = await cashier.request('GET', '/api/products');
    expect(products.status).toBe(200);
    expect((products.body as unknown as { products: unknown[] }).products.length).toBeGreaterThan(0);
    expect((await cashier.request('GET', '/api/sales')).status).toBe(200);
  });

  it('refuses to pair a tablet or add staff, leaving nothing half made', async () => {
    const socketPath = path.join(dataDir, 'ayi.sock');
    const devicesBefore = await adminRequest<unknown[]>(socketPath, 'devices');
    const staffBefore = await adminRequest<unknown[]>(socketPath, 'staff');
    const { code } = await adminRequest<{ code: string }>(socketPath, 'pair');
    const pairing = await new TabletClient(hub.url).request('POST', '/api/pair', { code, name: 'Back office' });
    expect(pairing.status).toBe(503);
    expect(pairing.body.error?.code).toBe('clock_behind');
    await expect(adminRequest(socketPath, 'add-staff', ['阿華', 'cashier', '5555'])).rejects.toThrow(/clock/);
    expect(await adminRequest<unknown[]>(socketPath, 'devices')).toEqual(devicesBefore);
    expect(await adminRequest<unknown[]>(socketPath, 'staff')).toEqual(staffBefore);
  });

  it('tells the tablet over its socket (the banner) and refuses a checkout sent there the same way', async () => {
    socket = await openTabletSocket(cashier);
    expect((await socket.next('hello')).clock).toBe('behind');
    const lastSeq = hub.events.lastSeq;
    socket.send({ type: 'checkout', requestId: 'behind-1', sale: aSale() });
    const answer = await socket.next('error', (m) => m.requestId === 'behind-1');
    expect(answer.error.code).toBe('clock_behind');
    expect(hub.events.lastSeq).toBe(lastSeq);
  });

  it('takes a clock a little behind (within the tolerance) as it is', async () => {
    clock.set(new Date(Date.parse(lastEventAt) - 30_000));
    expect((await health()).clock.state).toBe('ok');
    // The banner comes down as soon as the hub notices.
    expect((await socket.next('clock')).state).toBe('ok');
    const sale = await sell(cashier, aSale());
    expect(sale.saleId).toBeTruthy();
  });

  it('accepts sales again, without a restart, once the clock catches up; health and HQ are ok again', async () => {
    clock.set(new Date(Date.parse(lastEventAt) + 60_000));
    const view = await health();
    expect(view.status).toBe('ok');
    expect(view.problems).toEqual([]);
    expect(view.clock.state).toBe('ok');

    const sale: SaleView = await sell(cashier, aSale());
    await new TabletClient(hub.url).pair(await newPairingCode(hub), 'Back office');
    const recorded = journalEvents().find(
      (event) => event.type === 'sale.completed' && (event.data as { saleId: string }).saleId === sale.saleId,
    );
    expect(recorded?.at).toBe(clock.now().toISOString());
    await hq.waitFor(
      () => Array.isArray(hq.last('/status')?.problems) && (hq.last('/status')!.problems as string[]).length === 0,
      10_000,
      'the status without clock_behind',
    );
  });

  it('refuses writes the same way when the clock jumps back below the last event while running', async () => {
    const newest = journalEvents().at(-1)!;
    clock.set(new Date(Date.parse(newest.at) - 10 * 60_000));
    const sale = await cashier.request('POST', '/api/sales', aSale());
    expect(sale.status).toBe(503);
    expect(sale.body.error?.code).toBe('clock_behind');
    expect(journalEvents().at(-1)).toEqual(newest);
    const view = await health();
    expect(view.problems).toEqual(['clock_behind']);
    expect(view.clock.lastEventAt).toBe(newest.at);
    await hq.waitFor(
      () => (hq.last('/status')?.problems as string[] | undefined)?.includes('clock_behind') === true,
      10_000,
      'the status with clock_behind again',
    );

    clock.set(new Date(Date.parse(newest.at) + 1000));
    await sell(cashier, aSale());
    expect((await health()).status).toBe('ok');
  });
});

describe('a hub that starts in 1970 (a box that never saved the time)', () => {
  it('starts, serves reads, and refuses writes with clock_behind', async () => {
    await socket?.close();
    await hub.stop();
    const newest = journalEvents().at(-1)!;
    clock.set('1970-01-01T00:00:00Z');
    hub = await startTestHub({ dataDir, config: { chainId: CHAIN, storeId: STORE, mqttUrl: null }, clock: clock.now });
    cashier = Object.assign(new TabletClient(hub.url), {
      deviceToken: cashier.deviceToken,
      deviceId: cashier.deviceId,
      sessionToken: cashier.sessionToken,
    });

    const view = await health();
    expect(view.problems).toEqual(['clock_behind']);
    expect(view.clock).toMatchObject({ state: 'behind', lastEventAt: newest.at, now: '1970-01-01T00:00:00.000Z' });
    expect((await cashier.request('GET', '/api/products')).status).toBe(200);
    const sale = await cashier.request('POST', '/api/sales', aSale());
    expect(sale.status).toBe(503);
    expect(sale.body.error?.code).toBe('clock_behind');
    expect(journalEvents().at(-1)).toEqual(newest);
  });
});
