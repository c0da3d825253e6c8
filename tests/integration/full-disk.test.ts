/**
 * A full disk, for real: the hub process runs with its data directory on a small tmpfs, a filler file
 * takes the last byte, and the store carries on the way it expects to. Sales and sign-ups are
 * refused with 507 `storage_full` (nothing acknowledged), reads still work, health says why, every
 * tablet is told, the process stays up, and once the filler is gone the next sale and sign-up go
 * through without a restart. HQ sees the reason in the store's retained status. A restart with the
 * disk still full starts read-only. Nothing acknowledged is lost (counted after a restart).
 *
 * Needs root (mount -t tmpfs); skipped with a message where mounting is not permitted.
 */
import { existsSync, openSync, closeSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { HUB_ENTRY, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { TabletClient } from '../support/test-hub.ts';
import { checkoutRequest, listSales, sell } from '../support/sales.ts';
import { scanJournal } from '../support/journal-files.ts';
import { openTabletSocket } from '../support/ws-client.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { mountSmallDisk } from '../support/small-disk.ts';

const disk = mountSmallDisk({
  prefix: 'ayi-full-disk-',
  label: 'full-disk tests',
  skipBecause: existsSync(HUB_ENTRY) ? null : `${HUB_ENTRY} is missing: run npm run build -w hub`,
});
const dataDir = path.join(disk.mountPoint, 'data');
const filler = disk.filler;

interface Health {
  status: string;
  problems: string[];
  lastSeq: number;
  storage: { state: string; freeBytes: number; totalBytes: number; daysLeft: number | null };
}

async function health(hub: HubProcess): Promise<Health> {
  return (await (await fetch(`${hub.url}/api/health`)).json()) as Health;
}

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const hubEnv = {
  // Warn when under half of this small disk is free; probe every second.
  AYI_DISK_MIN_FREE_PERCENT: '50',
  AYI_DISK_MIN_FREE_MB: '0',
  AYI_DISK_PROBE_S: '1',
  AYI_LOG_LEVEL: 'error',
};

describe.skipIf(disk.problem !== null)('a full data disk', () => {
  let hub: HubProcess;
  let broker: Mosquitto;
  let hq: HqSubscriber;
  const statusProblems = () => (hq.last('/status')?.problems as string[] | undefined) ?? null;
  let cashier: TabletClient;
  const acknowledged: SaleView[] = [];
  const members: string[] = [];
  const refusedPhones: string[] = [];

  const start = async () => {
    hub = await startHubProcess({
      dataDir,
      env: { ...hubEnv, AYI_MQTT_URL: broker.url, AYI_MQTT_RECONNECT_MAX_MS: '1000' },
    });
    const tablet = new TabletClient(hub.url);
    if (cashier) {
      tablet.deviceToken = cashier.deviceToken;
      tablet.deviceId = cashier.deviceId;
      tablet.sessionToken = cashier.sessionToken;
    }
    cashier = tablet;
  };
  const sale = () => checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]);
  const signUp = (phone: string) => cashier.request('POST', '/api/members', { phone });
  let nextPhone = 10;
  /**
   * Sells until the disk refuses: a file's last page may still hold a line or two after the filler
   * took every free block. Returns the refusal; what went through counts as acknowledged.
   */
  const sellUntilRefused = async () => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const res = await cashier.request('POST', '/api/sales', sale());
      if (res.status !== 201) return res;
      acknowledged.push(res.body as unknown as SaleView);
    }
    throw new Error('the full disk never refused a sale');
  };
  const signUpUntilRefused = async () => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const phone = `09120000${nextPhone++}`;
      const res = await signUp(phone);
      if (res.status !== 201) return { res, phone };
      members.push(phone);
    }
    throw new Error('the full disk never refused a sign-up');
  };

  beforeAll(async () => {
    broker = await startMosquitto();
    hq = await hqSubscriber(broker.url, `${storeTopics('demo', 'store-001').root}/#`);
    await start();
    await cashier.pair(hub.pairingCode, 'Counter');
    await cashier.login(hub.demoPins.cashier);
  });

  afterAll(async () => {
    await hub?.kill();
    await hq?.close();
    await broker?.kill();
    disk.remove();
  });

  it('warns in health while space is merely low, then refuses writes with 507 storage_full and keeps serving', async () => {
    acknowledged.push(await sell(cashier, sale()));
    const signedUp = await signUp('0912000001');
    expect(signedUp.status).toBe(201);
    members.push('0912000001');
    expect(await health(hub)).toMatchObject({ status: 'ok', problems: [], storage: { state: 'ok' } });

    // Under the warning threshold (half of the disk) but not full: degraded, and it says why.
    const fd = openSync(filler, 'w');
    const { storage } = await health(hub);
    writeSync(fd, Buffer.alloc(Math.ceil(storage.freeBytes - storage.totalBytes * 0.3), 0x61));
    closeSync(fd);
    const low = await until(
      'health under the threshold',
      () => health(hub),
      (h) => h.storage.state === 'low',
    );
    expect(low).toMatchObject({ status: 'degraded', problems: ['storage_low'] });
    acknowledged.push(await sell(cashier, sale()));

    const socket = await openTabletSocket(cashier);
    expect((await socket.next('hello')).storage).toBe('low');
    disk.fill();

    const refused = await sellUntilRefused();
    expect(refused.status).toBe(507);
    expect(refused.body.error?.code).toBe('storage_full');
    const refusedSignUp = await signUpUntilRefused();
    expect(refusedSignUp.res.status).toBe(507);
    refusedPhones.push(refusedSignUp.phone);
    // Every tablet is told at once (the banner), logged in or not.
    expect((await socket.next('storage', (m) => m.state === 'full')).state).toBe('full');
    await socket.close();

    // Reads: catalog, history, a receipt, a member.
    expect((await cashier.request('GET', '/api/products')).status).toBe(200);
    expect((await listSales(cashier)).map((s) => s.saleId).sort()).toEqual(acknowledged.map((s) => s.saleId).sort());
    expect((await cashier.request('GET', `/api/sales/${acknowledged[0]!.saleId}/receipt`)).status).toBe(200);
    const found = await cashier.request('POST', '/api/members/lookup', { query: '0912000001' });
    expect(found.status).toBe(200);
    expect((found.body.matches as unknown[]).length).toBe(1);

    const full = await health(hub);
    expect(full.status).toBe('degraded');
    expect(full.problems).toContain('storage_full');
    expect(full.storage.state).toBe('full');
    expect(full.lastSeq).toBe((await health(hub)).lastSeq);
    // HQ sees why in the store's retained status.
    await hq.waitFor(() => statusProblems()?.includes('storage_full') === true, 10_000, 'storage_full in the status');
    // Still the same process, still answering.
    expect(hub.child.exitCode).toBeNull();
    expect(hub.child.signalCode).toBeNull();
  });

  it('refuses every one of many concurrent checkouts with 507 storage_full while a refused write is cut back', async () => {
    // Checkouts from several tablets at once, arriving while the hub cuts back a refused write; space
    // comes back in the middle of the storm. Each answer is a sale (201) or 507, never a 500.
    const answers: { status: number; code?: string; saleId?: string }[] = [];
    let freed = false;
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          await new Promise((resolve) => setTimeout(resolve, i / 4));
          const res = await cashier.request('POST', '/api/sales', sale());
          return res;
        }),
      );
      for (const res of results) {
        answers.push({
          status: res.status,
          code: res.body.error?.code,
          saleId: (res.body as { saleId?: string }).saleId,
        });
        if (res.status === 201) acknowledged.push(res.body as unknown as SaleView);
      }
      if (round === 1 && !freed) {
        rmSync(filler);
        freed = true;
      }
    }
    expect(answers.filter((a) => a.status !== 201 && a.status !== 507)).toEqual([]);
    expect(answers.filter((a) => a.status === 507).every((a) => a.code === 'storage_full')).toBe(true);
    expect(answers.filter((a) => a.status === 507).length).toBeGreaterThan(0);
    // The disk is full again for the next steps.
    disk.fill();
    const refused = await sellUntilRefused();
    expect(refused.status).toBe(507);
  });

  it('takes sales and sign-ups again by itself once space is freed, and loses nothing acknowledged', async () => {
    // A second refused attempt of each kind first: nothing may be left poisoned by them.
    expect((await cashier.request('POST', '/api/sales', sale())).status).toBe(507);
    const phone = `09120000${nextPhone++}`;
    expect((await signUp(phone)).status).toBe(507);
    refusedPhones.push(phone);
    rmSync(filler);

    acknowledged.push(await sell(cashier, sale()));
    const signedUp = await signUp('0912000004');
    expect(signedUp.status).toBe(201);
    members.push('0912000004');
    await until(
      'health after space is back',
      () => health(hub),
      (h) => h.storage.state === 'ok',
    );
    expect(hub.child.exitCode).toBeNull();

    await hub.stop();
    await start();
    expect((await listSales(cashier)).map((s) => s.saleId).sort()).toEqual(acknowledged.map((s) => s.saleId).sort());
    for (const phone of members) {
      const res = await cashier.request('POST', '/api/members/lookup', { query: phone });
      expect((res.body.matches as unknown[]).length, phone).toBe(1);
    }
    for (const phone of refusedPhones) {
      const res = await cashier.request('POST', '/api/members/lookup', { query: phone });
      expect((res.body.matches as unknown[]).length, phone).toBe(0);
    }
    // No partial line, no gap, no refused event in the journal: seqs 1..N, each line whole, each
    // sale once and each one acknowledged.
    const scan = scanJournal(dataDir);
    expect(scan.problems).toEqual([]);
    const saleIds = scan.events
      .filter((event) => event.type === 'sale.completed')
      .map((event) => (event.data as { saleId: string }).saleId);
    expect(new Set(saleIds).size).toBe(saleIds.length);
    expect(saleIds.sort()).toEqual(acknowledged.map((s) => s.saleId).sort());
  });

  it('starts read-only when restarted on a full disk, and sells again once space is back', async () => {
    await hub.stop();
    disk.fill();
    await start();
    const started = await health(hub);
    expect(started.problems).toContain('storage_full');
    expect((await listSales(cashier)).length).toBe(acknowledged.length);
    const refused = await sellUntilRefused();
    expect(refused.status).toBe(507);
    expect(refused.body.error?.code).toBe('storage_full');
    expect(hub.child.exitCode).toBeNull();

    rmSync(filler);
    acknowledged.push(await sell(cashier, sale()));
    await hub.stop();
    await start();
    expect((await listSales(cashier)).map((s) => s.saleId).sort()).toEqual(acknowledged.map((s) => s.saleId).sort());
    expect(scanJournal(dataDir).problems).toEqual([]);
  });
});
