/**
 * A data disk that fails a write for a reason other than space (EIO: a failing SD card; EROFS: the
 * kernel remounted it read-only) is told everywhere: the sale is refused with 503 `storage_error`
 * (nothing saved), health turns degraded with `storage_error`, every tablet gets the banner state,
 * the status to HQ names it, and the next write that goes through clears all of it by itself.
 * The real hub, real files, a real mosquitto; the failure itself is injected at the file handle
 * (a running hub's tmpfs cannot be remounted read-only while its journal is open for writing).
 */
import { promises as fs } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { HealthView } from '../../hub/src/transport/http/app.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { pairedTablet, startTestHub, type TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { openTabletSocket } from '../support/ws-client.ts';

const temp = new TempDirs();
const CHAIN = 'test-chain';
const STORE = 'store-eio';
let broker: Mosquitto;
let hq: HqSubscriber;
let hub: Hub;
let cashier: TabletClient;

beforeAll(async () => {
  broker = await startMosquitto();
  hq = await hqSubscriber(broker.url, `${storeTopics(CHAIN, STORE).root}/#`);
  hub = await startTestHub({
    dataDir: temp.make('ayi-storage-error-'),
    config: { chainId: CHAIN, storeId: STORE, mqttUrl: broker.url, mqttReconnectMaxMs: 1000 },
  });
  cashier = await pairedTablet(hub, '1111', 'Counter');
});

afterAll(async () => {
  vi.restoreAllMocks();
  await hq?.close();
  await hub?.stop();
  await broker?.kill();
  temp.removeAll();
});

async function health(): Promise<HealthView> {
  return (await (await fetch(`${hub.url}/api/health`)).json()) as HealthView;
}

const sale = () => checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]);
const statusProblems = () => (hq.last('/status')?.problems as string[] | undefined) ?? null;

describe('a disk that fails writes with EIO', () => {
  it('refuses with 503 storage_error, says so in health, to tablets and to HQ, and clears at the next good write', async () => {
    await sell(cashier, sale());
    await hq.waitFor(() => hq.last('/status')?.state === 'online', 10_000, 'the online status');
    const socket = await openTabletSocket(cashier);
    await socket.next('hello');

    const probe = await fs.open(process.execPath, 'r');
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const spy = vi
      .spyOn(proto, 'datasync')
      .mockRejectedValueOnce(
        Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', syscall: 'fdatasync' }),
      );
    const refused = await cashier.request('POST', '/api/sales', sale());
    spy.mockRestore();
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('storage_error');
    expect((await socket.next('storage', (m) => m.state === 'error')).state).toBe('error');
    const view = await health();
    expect(view.status).toBe('degraded');
    expect(view.problems).toContain('storage_error');
    expect(view.storage).toMatchObject({ state: 'error', storageError: 'EIO (fdatasync)' });
    await hq.waitFor(() => statusProblems()?.includes('storage_error') === true, 10_000, 'storage_error in the status');

    await sell(cashier, sale());
    expect((await socket.next('storage', (m) => m.state === 'ok')).state).toBe('ok');
    await socket.close();
    expect((await health()).problems).not.toContain('storage_error');
    await hq.waitFor(() => statusProblems()?.includes('storage_error') === false, 10_000, 'storage_error cleared');
  });
});
