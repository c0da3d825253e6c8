/**
 * A hub restarted on the same data directory carries on as if nothing happened: sales, receipts,
 * paired tablets, staff sessions and the store's epoch survive, and start-up replays only the
 * journal written after the newest snapshot.
 */
import { appendFileSync, cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { TabletClient, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { checkoutRequest, lastSeq, listSales, sell } from '../support/sales.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const hubs: Hub[] = [];

async function start(dataDir: string): Promise<Hub> {
  const hub = await startTestHub({ dataDir });
  hubs.push(hub);
  return hub;
}

/** The same tablet (same tokens) talking to another hub instance. */
function sameTablet(tablet: TabletClient, hub: Hub): TabletClient {
  const moved = new TabletClient(hub.url);
  moved.deviceToken = tablet.deviceToken;
  moved.sessionToken = tablet.sessionToken;
  moved.deviceId = tablet.deviceId;
  return moved;
}

async function health(hub: Hub) {
  return (await (await fetch(`${hub.url}/api/health`)).json()) as { epoch: string; lastSeq: number };
}

const dataDir = temp.make('ayi-restart-');
let first: Hub;
let cashier: TabletClient;
let manager: TabletClient;
let epoch: string;
let seqAtStop: number;
let sales: SaleView[] = [];
const firstRequest = checkoutRequest(
  [
    { sku: 'FOD-001', qty: 1 },
    { sku: 'DRK-001', qty: 2 },
  ],
  [{ type: 'cash', amount: 500 }],
);

beforeAll(async () => {
  first = await start(dataDir);
  cashier = await pairedTablet(first, '1111', 'Counter 1');
  manager = await pairedTablet(first, '222222', 'Back office');
  // FOD-001 399 + DRK-001 2 x 15 = 429, cash 500 -> 71 change
  sales.push(await sell(cashier, firstRequest));
  // PET-001 890, card
  sales.push(await sell(cashier, checkoutRequest([{ sku: 'PET-001', qty: 1 }], [{ type: 'card', amount: 890 }])));
  // DRK-002 95, refunded below
  sales.push(await sell(cashier, checkoutRequest([{ sku: 'DRK-002', qty: 1 }], [{ type: 'cash', amount: 100 }])));
  await manager.request('POST', `/api/sales/${sales[2]!.saleId}/refund`, {
    idempotencyKey: 'refund-before-restart',
    lines: [{ lineNo: 1, qty: 1 }],
    reason: 'expired',
  });
  sales = await listSales(cashier);
  epoch = (await health(first)).epoch;
  seqAtStop = await lastSeq(first.url);
  await first.stop();
});

afterAll(async () => {
  for (const hub of hubs) await hub.stop();
  temp.removeAll();
});

describe('restart on the same data directory', () => {
  let second: Hub;

  beforeAll(async () => {
    second = await start(dataDir);
  });

  it('left a snapshot at stop, so nothing needs replaying', () => {
    expect(readdirSync(path.join(dataDir, 'snapshots')).length).toBeGreaterThanOrEqual(1);
    expect(second.startup).toMatchObject({
      snapshotSeq: seqAtStop,
      replayedEvents: 0,
      lastSeq: seqAtStop,
      tornBytesDropped: 0,
    });
  });

  it('keeps the epoch and the last seq', async () => {
    expect(await health(second)).toMatchObject({ epoch, lastSeq: seqAtStop });
  });

  it('still knows the paired tablet and the staff session', async () => {
    const tablet = sameTablet(cashier, second);
    const me = await tablet.request('GET', '/api/me');
    expect(me.status).toBe(200);
    expect(me.body.device).toEqual({ deviceId: cashier.deviceId, name: 'Counter 1' });
    expect(me.body.staff).toMatchObject({ name: '小美', role: 'cashier' });
  });

  it('has every sale as it was, refunds included', async () => {
    const tablet = sameTablet(cashier, second);
    expect(await listSales(tablet)).toEqual(sales);
    const refunded = sales.find((s) => s.total === 95)!;
    expect(refunded).toMatchObject({ status: 'refunded', refundedAmount: 95 });
    // the refund key is still known: a retry gives nothing more
    const retry = await sameTablet(manager, second).request('POST', `/api/sales/${refunded.saleId}/refund`, {
      idempotencyKey: 'refund-before-restart',
      lines: [{ lineNo: 1, qty: 1 }],
      reason: 'expired',
    });
    expect(retry.body).toMatchObject({ refundedAmount: 95 });
  });

  it('answers a checkout retried across the restart with the same sale (200), and new sales follow on', async () => {
    const tablet = sameTablet(cashier, second);
    const retry = await tablet.request('POST', '/api/sales', firstRequest);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(sales.find((s) => s.total === 429));
    expect(await lastSeq(second.url)).toBe(seqAtStop);

    const next = await sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    // no gap, no repeat
    expect(next.seq).toBe(seqAtStop + 1);
    expect(sales.map((s) => s.saleId)).not.toContain(next.saleId);
    // The day's sale number carries on after the restart: the refund took no number of its own.
    expect(next.saleNo).toBe(sales.filter((s) => s.businessDate === next.businessDate).length + 1);
  });

  it('shows the printed receipt marked original, and a reprint adds a copy marked COPY', async () => {
    const tablet = sameTablet(cashier, second);
    const sale = sales.find((s) => s.total === 429)!;
    const receipt = await tablet.request('GET', `/api/sales/${sale.saleId}/receipt`);
    const jobs = receipt.body.jobs as { jobId: string; kind: string; text: string }[];
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.kind).toBe('original');
    expect(jobs[0]!.text).toContain('池上米 3kg');
    expect(jobs[0]!.text).toContain('統一麥香紅茶 300ml');
    expect(jobs[0]!.text).toMatch(/合計 TOTAL +NT\$429/);
    expect(jobs[0]!.text).not.toContain('COPY');

    const reprint = await tablet.request('POST', `/api/sales/${sale.saleId}/reprint`);
    expect(reprint.status).toBe(200);
    expect(reprint.body.text).toContain('COPY');
    expect(reprint.body.text).toContain('池上米 3kg');
    const after = (await tablet.request('GET', `/api/sales/${sale.saleId}/receipt`)).body.jobs as {
      jobId: string;
      kind: string;
    }[];
    expect(after.map((j) => [j.jobId, j.kind])).toEqual([
      [`${sale.saleId}-p1`, 'original'],
      [`${sale.saleId}-p2`, 'copy'],
    ]);
  });
});

describe('stopping right after a sale', () => {
  it('still prints its receipt before the hub is down', async () => {
    const dir = temp.make('ayi-restart-print-');
    const hub = await start(dir);
    const tablet = await pairedTablet(hub, '1111', 'Last sale');
    const sale = await sell(tablet, checkoutRequest([{ sku: 'HOU-001', qty: 1 }], [{ type: 'cash', amount: 219 }]));
    await hub.stop(); // e.g. SIGTERM a moment after the sale: the process exits once stop() resolves
    const printed = path.join(dir, 'printer', 'virtual', sale.businessDate, `${sale.saleId}-p1.original.txt`);
    expect(existsSync(printed)).toBe(true);

    const again = await start(dir);
    const jobs = (await sameTablet(tablet, again).request('GET', `/api/sales/${sale.saleId}/receipt`)).body.jobs as {
      kind: string;
      text: string;
    }[];
    expect(jobs.map((j) => j.kind)).toEqual(['original']);
    expect(jobs[0]!.text).toContain('舒潔');
  });
});

describe('a crash between a sale and its receipt', () => {
  it('prints the missing original receipt when the hub starts again', async () => {
    const dir = temp.make('ayi-restart-receipt-');
    const hub = await start(dir);
    const tablet = await pairedTablet(hub, '1111', 'Receipt tablet');
    const sale = await sell(tablet, checkoutRequest([{ sku: 'HOU-001', qty: 1 }], [{ type: 'cash', amount: 219 }]));
    await hub.stop();
    // the power went out after the acknowledgement, before the receipt was written
    const printed = path.join(dir, 'printer', 'virtual', sale.businessDate, `${sale.saleId}-p1.original.txt`);
    rmSync(printed);

    const again = sameTablet(tablet, await start(dir));
    let jobs: { jobId: string; kind: string; text: string }[] = [];
    for (let i = 0; i < 50 && jobs.length === 0; i++) {
      jobs = (await again.request('GET', `/api/sales/${sale.saleId}/receipt`)).body.jobs as typeof jobs;
      if (jobs.length === 0) await new Promise((resolve) => setTimeout(resolve, 40));
    }
    expect(jobs.map((j) => [j.jobId, j.kind])).toEqual([[`${sale.saleId}-p1`, 'original']]);
    expect(jobs[0]!.text).toContain('舒潔');
    expect(jobs[0]!.text).not.toContain('COPY');
    expect(existsSync(printed)).toBe(true);
  });
});

describe('restart after a crash (no final snapshot)', () => {
  it('replays only the events after the newest snapshot, and drops a torn tail', async () => {
    const live = await start(temp.make('ayi-restart-live-'));
    const tablet = await pairedTablet(live, '1111', 'Crash tablet');
    await live.snapshots.take(); // as the nightly job would
    const snapshotSeq = await lastSeq(live.url);
    const after: SaleView[] = [];
    for (let i = 0; i < 3; i++)
      after.push(await sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }])));

    // (the last receipt is out of the printer)
    await tablet.request('GET', `/api/sales/${after[2]!.saleId}/receipt`);
    // the power goes out: what is on disk right now is what the next start finds
    const crashed = temp.make('ayi-restart-crashed-');
    cpSync(live.config.dataDir, crashed, { recursive: true, filter: (src) => !src.endsWith('ayi.sock') });
    const journalDir = path.join(crashed, 'journal');
    const newestDay = readdirSync(journalDir).sort().at(-1)!;
    appendFileSync(path.join(journalDir, newestDay), '{"schema":"ayi.event/1","seq":');

    const recovered = await start(crashed);
    expect(recovered.startup).toMatchObject({ snapshotSeq, replayedEvents: 3, lastSeq: snapshotSeq + 3 });
    expect(recovered.startup!.tornBytesDropped).toBeGreaterThan(0);
    const list = await listSales(sameTablet(tablet, recovered));
    expect(list.map((s) => s.saleId)).toEqual(after.map((s) => s.saleId).reverse());
    // After the crash the replayed sales have the numbers the tablets and receipts showed.
    expect(list.map((s) => s.saleNo)).toEqual(after.map((s) => s.saleNo).reverse());
    expect(existsSync(path.join(crashed, 'snapshots'))).toBe(true);
  });
});
