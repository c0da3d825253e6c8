/**
 * Crash safety of the built hub: several tablets ring up sales over HTTP while the hub process is
 * killed with SIGKILL at random moments, then restarted on the same data directory, again and again.
 *
 * Every sale the hub acknowledged (201/200 with a saleId) must survive every crash exactly once;
 * a request whose connection died (outcome unknown) must, when retried with its idempotency key,
 * give at most one sale; the journal must stay a gap-free 1..N sequence of whole JSON lines.
 * Some restarts are preceded by a torn tail written into the newest journal file (what a power cut
 * in the middle of an append leaves: half a line, or half a line and zeros), which the hub must cut
 * off exactly; some by a second crash in the middle of start-up. Some runs take a snapshot every
 * 100 events (the least the hub allows), so crashes also land while snapshots are written.
 *
 * Needs the built hub: `npm run build -w hub`. AYI_CRASH_CYCLES (default 24) sets the number of
 * kill/restart cycles, AYI_CRASH_SEED the random seed (printed, so a failing run can be repeated).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProductView, SaleView } from '../../hub/src/protocol/api.ts';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';
import { pairTablets, reconnect, send, sleep, SalesLedger, type Outcome } from '../support/crash-sales.ts';
import { freePort } from '../support/free-port.ts';
import { HUB_ENTRY, REPO_ROOT, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import {
  journalDays,
  journalDir,
  readStoreIdentity,
  salesInJournal,
  scanJournal,
  scanSnapshots,
} from '../support/journal-files.ts';

const CYCLES = Number(process.env.AYI_CRASH_CYCLES ?? 24);
const SEED = Number(process.env.AYI_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const TABLETS = 4;
/** Longest time a checkout stream runs before the kill. */
const MAX_RUN_MS = 1_200;

interface StartupReport {
  snapshotSeq: number;
  replayedEvents: number;
  lastSeq: number;
  tornBytesDropped: number;
  corruptLines: number;
  startupMs: number;
}

const rng = seededRng(SEED);
const randomInt = (min: number, max: number) => min + Math.floor(rng() * (max - min + 1));

/** The hub's answer, or a failed expectation when the connection died. */
function answered(outcome: Outcome, what: string): { status: number; body: Record<string, unknown> } {
  if (outcome.kind === 'unknown') expect.fail(`${what}: no answer (${outcome.error})`);
  return outcome;
}

/** Bytes after the last newline of the newest journal file: what the hub must cut at start-up. */
function tailAfterLastNewline(dataDir: string): number {
  const day = journalDays(dataDir).at(-1);
  if (!day) return 0;
  const bytes = readFileSync(path.join(journalDir(dataDir), `${day}.jsonl`));
  return bytes.length - (bytes.lastIndexOf(0x0a) + 1);
}

/**
 * Writes what a power cut in the middle of an append leaves at the end of the newest journal file:
 * the start of a plausible next event, without its newline, sometimes followed by zeros (a page
 * the file system allocated but never filled). Returns the number of bytes written.
 */
function injectTornTail(dataDir: string, withZeros: boolean): number {
  const day = journalDays(dataDir).at(-1);
  if (!day) return 0;
  const file = path.join(journalDir(dataDir), `${day}.jsonl`);
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const last = JSON.parse(lines.at(-1)!) as { seq: number };
  const next = JSON.stringify({ ...last, seq: last.seq + 1 });
  let torn = Buffer.from(next.slice(0, randomInt(1, next.length - 1)), 'utf8');
  if (withZeros) torn = Buffer.concat([torn, Buffer.alloc(randomInt(1, 4096))]);
  appendFileSync(file, torn);
  return torn.length;
}

/** Starts the hub and kills it at a random moment of its start-up (replay, snapshot, listen). */
async function crashDuringStartup(dataDir: string, env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, [HUB_ENTRY], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      AYI_PORT: String(await freePort()),
      AYI_HOST: '127.0.0.1',
      AYI_DATA_DIR: dataDir,
      AYI_LOG_LEVEL: 'warn',
      AYI_DEMO_HISTORY: 'off',
      ...env,
    },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await sleep(randomInt(60, 450));
  child.kill('SIGKILL');
  await exited;
}

describe('hub killed with SIGKILL during checkouts', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ayi-crash-'));
  let hub: HubProcess | null = null;
  let passed = false;

  afterAll(async () => {
    await hub?.kill('SIGKILL');
    if (passed) rmSync(dataDir, { recursive: true, force: true });
    else console.error(`crash test: data directory kept for inspection: ${dataDir} (seed ${SEED})`);
  });

  it(`loses no acknowledged sale and never duplicates one over ${CYCLES} kill/restart cycles`, async () => {
    expect(existsSync(HUB_ENTRY), `${HUB_ENTRY} is missing: run npm run build -w hub`).toBe(true);
    expect(CYCLES).toBeGreaterThanOrEqual(1);

    const stats = {
      tornInjected: 0,
      tornBytesDropped: 0,
      startupCrashes: 0,
      snapshotStarts: 0,
      snapshotsSeen: new Set<string>(),
      leftoverFiles: new Set<string>(),
    };

    // ---- first start: pair the tablets and log them in once ----
    hub = await startHubProcess({ dataDir });
    const pins = hub.demoPins;
    let tablets = await pairTablets(
      hub,
      TABLETS,
      (i) => `Crash tablet ${i + 1}`,
      (i) => (i === TABLETS - 1 ? pins.manager : pins.cashier),
    );
    const products = (await tablets[0]!.request('GET', '/api/products')).body.products as ProductView[];
    expect(products.length).toBeGreaterThan(5);
    const identity = readStoreIdentity(dataDir);

    const ledger = new SalesLedger(`crash-s${SEED}`, products, rng);
    const { acked, unknown, unexpected } = ledger;

    /** Everything that must hold after a restart (and at the end). */
    async function verify(cycle: number, expectedTornBytes: number): Promise<void> {
      const where = `cycle ${cycle} (seed ${SEED})`;
      const current = hub!;
      const startup = await adminRequest<{ lastSeq: number; startup: StartupReport }>(
        path.join(dataDir, 'ayi.sock'),
        'health',
      );
      expect(startup.startup.tornBytesDropped, `${where}: torn bytes cut at start-up`).toBe(expectedTornBytes);
      expect(startup.startup.corruptLines, `${where}: corrupt journal lines`).toBe(0);
      stats.tornBytesDropped += startup.startup.tornBytesDropped;
      if (startup.startup.snapshotSeq > 0) stats.snapshotStarts += 1;
      expect(current.output(), `${where}: hub log`).not.toMatch(
        /gap in the journal|skipped corrupt|skipped a damaged|journal append/,
      );

      // The files the hub left, read line by line without the hub's code.
      let scan = scanJournal(dataDir, identity);
      expect(scan.problems, `${where}: journal problems`).toEqual([]);
      const lastSeq = scan.events.at(-1)?.seq ?? 0;
      expect(startup.lastSeq, `${where}: hub lastSeq vs journal`).toBe(lastSeq);
      const health = answered(await send(tablets[0]!, 'GET', '/api/health'), `${where}: /api/health`);
      expect(health.body.lastSeq, `${where}: /api/health lastSeq`).toBe(lastSeq);
      const snapshots = scanSnapshots(dataDir);
      expect(snapshots.problems, `${where}: snapshot problems`).toEqual([]);
      for (const s of snapshots.snapshots) {
        expect(s.seq, `${where}: snapshot ${s.file} is ahead of the journal`).toBeLessThanOrEqual(lastSeq);
        stats.snapshotsSeen.add(s.file);
      }
      for (const name of snapshots.leftovers) stats.leftoverFiles.add(name);

      // Every acknowledged sale exactly once, under its own key; no key used twice.
      let sales = salesInJournal(scan.events);
      for (const [key, ids] of sales.byKey) expect(ids, `${where}: sales recorded under key ${key}`).toHaveLength(1);
      for (const [saleId, records] of sales.bySaleId)
        expect(records, `${where}: sale ${saleId} in the journal`).toHaveLength(1);
      for (const [key, sale] of acked) {
        expect(sales.byKey.get(key), `${where}: acknowledged sale ${sale.saleId} (key ${key})`).toEqual([sale.saleId]);
        expect(sales.bySaleId.get(sale.saleId)![0]!.total, `${where}: total of ${sale.saleId}`).toBe(sale.total);
      }

      // The same through the API, paging back by seq.
      const listed: SaleView[] = [];
      let beforeSeq: number | undefined;
      for (;;) {
        const query = `limit=200${beforeSeq === undefined ? '' : `&beforeSeq=${beforeSeq}`}`;
        const page = answered(await send(tablets[0]!, 'GET', `/api/sales?${query}`), `${where}: GET /api/sales`);
        expect(page.status, `${where}: GET /api/sales?${query}`).toBe(200);
        const batch = page.body.sales as SaleView[];
        if (batch.length === 0) break;
        for (const sale of batch) {
          if (beforeSeq !== undefined) expect(sale.seq, `${where}: paging order`).toBeLessThan(beforeSeq);
        }
        listed.push(...batch);
        beforeSeq = batch.at(-1)!.seq;
      }
      const listedIds = new Map<string, number>();
      for (const sale of listed) listedIds.set(sale.saleId, (listedIds.get(sale.saleId) ?? 0) + 1);
      expect(
        [...listedIds.values()].every((n) => n === 1),
        `${where}: a sale listed twice by /api/sales`,
      ).toBe(true);
      expect(listed.length, `${where}: /api/sales vs journal`).toBe(sales.bySaleId.size);
      for (const sale of acked.values()) {
        expect(listedIds.get(sale.saleId), `${where}: ${sale.saleId} in /api/sales`).toBe(1);
      }

      // Unknown outcomes: retry with the same key (twice at once, as an impatient tablet might).
      const retried = [...unknown.values()];
      for (const attempt of retried) {
        const body = { idempotencyKey: attempt.key, ...attempt.basket };
        const [a, b] = (
          await Promise.all([
            send(tablets[attempt.tablet]!, 'POST', '/api/sales', body),
            send(tablets[attempt.tablet]!, 'POST', '/api/sales', body),
          ])
        ).map((outcome) => answered(outcome, `${where}: retry of ${attempt.key}`));
        const saleA = a!.body as unknown as SaleView;
        const saleB = b!.body as unknown as SaleView;
        expect(typeof saleA.saleId, `${where}: retry of ${attempt.key}: ${JSON.stringify(a)}`).toBe('string');
        expect(saleB.saleId, `${where}: both retries of ${attempt.key} answer one sale`).toBe(saleA.saleId);
        const statuses = [a!.status, b!.status].sort();
        const wasRecorded = sales.byKey.has(attempt.key);
        // Recorded before the crash: both answers are replays. Lost: exactly one records it now.
        expect(statuses, `${where}: retry statuses of ${attempt.key}`).toEqual(wasRecorded ? [200, 200] : [200, 201]);
        ledger.settleRetry(attempt, saleA, wasRecorded ? sales.byKey.get(attempt.key)! : undefined);
      }
      if (retried.length > 0) {
        scan = scanJournal(dataDir, identity);
        expect(scan.problems, `${where}: journal problems after retries`).toEqual([]);
        sales = salesInJournal(scan.events);
        for (const attempt of retried) {
          expect(sales.byKey.get(attempt.key), `${where}: sales for retried key ${attempt.key}`).toEqual([
            acked.get(attempt.key)!.saleId,
          ]);
        }
      }

      // A few acknowledged sales resubmitted after the crash: the same sale, not a new one.
      const sample = [...acked.values()].filter(() => rng() < 0.01).slice(0, 5);
      for (const { attempt, saleId } of sample) {
        const again = answered(
          await send(tablets[attempt.tablet]!, 'POST', '/api/sales', {
            idempotencyKey: attempt.key,
            ...attempt.basket,
          }),
          `${where}: resubmitted ${attempt.key}`,
        );
        expect(again.status, `${where}: resubmitted ${attempt.key}`).toBe(200);
        expect(again.body.saleId).toBe(saleId);
      }
    }

    const envFor = (cycle: number): Record<string, string> => {
      // Snapshots are encoded in slices between sales, so one takes a while: often enough that
      // some finish between kills, and some are cut short by one.
      const every = [null, '100', '100', '100'][cycle % 4];
      // A short quiet time: the cycles are too short for the default 2 s pause to come.
      return every ? { AYI_SNAPSHOT_EVERY_EVENTS: every, AYI_SNAPSHOT_QUIET_MS: '50' } : {};
    };

    // ---- the kill/restart cycles ----
    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      let expectedTorn = 0;
      if (cycle > 0) {
        if (cycle % 6 === 3) {
          await crashDuringStartup(dataDir, envFor(cycle));
          stats.startupCrashes += 1;
        }
        if (cycle % 3 === 1) {
          injectTornTail(dataDir, cycle % 2 === 0);
          stats.tornInjected += 1;
        }
        expectedTorn = tailAfterLastNewline(dataDir);
        hub = await startHubProcess({ dataDir, env: envFor(cycle) });
        tablets = reconnect(tablets, hub.url);
      }
      await verify(cycle, expectedTorn);
      expect(unexpected, `unexpected answers (seed ${SEED})`).toEqual([]);
      if (cycle === CYCLES) break;

      // Checkouts from every tablet at once; SIGKILL at a random moment (now and then at once).
      const killed = { now: false };
      const streams = tablets.map((tablet, index) => ledger.checkoutStream(tablet, index, cycle, killed));
      const runMs = cycle % 7 === 5 ? randomInt(0, 15) : randomInt(20, MAX_RUN_MS);
      await sleep(runMs);
      await hub.kill('SIGKILL');
      killed.now = true;
      await Promise.all(streams);
      expect(unexpected, `unexpected answers (seed ${SEED})`).toEqual([]);
    }

    // ---- a clean stop writes a snapshot that covers everything; the next start replays nothing ----
    await hub.stop();
    expect(hub.child.exitCode, `clean stop exit code:\n${hub.output()}`).toBe(0);
    const afterStop = scanJournal(dataDir, identity);
    expect(afterStop.problems).toEqual([]);
    hub = await startHubProcess({ dataDir });
    tablets = reconnect(tablets, hub.url);
    await verify(CYCLES + 1, 0);
    const final = await adminRequest<{ lastSeq: number; startup: StartupReport }>(
      path.join(dataDir, 'ayi.sock'),
      'health',
    );
    expect(final.startup.replayedEvents).toBe(0);
    expect(final.startup.snapshotSeq).toBe(afterStop.events.at(-1)!.seq);
    await hub.stop();
    hub = null;

    expect(unknown.size).toBe(0);
    // Snapshots were written during the run (the hub keeps only the newest, so few are seen at the
    // checks between kills), and restarts began from them.
    expect(stats.snapshotsSeen.size, 'snapshots were written during the run').toBeGreaterThanOrEqual(2);
    expect(stats.snapshotStarts, 'restarts from a snapshot').toBeGreaterThanOrEqual(5);
    expect(stats.tornBytesDropped).toBeGreaterThan(0);
    const journalBytes = journalDays(dataDir).reduce(
      (sum, day) => sum + statSync(path.join(journalDir(dataDir), `${day}.jsonl`)).size,
      0,
    );
    console.log(
      `crash test (seed ${SEED}): ${CYCLES} SIGKILLs, ${ledger.requests} checkout requests, ${acked.size} sales kept, ` +
        `${ledger.unknownRecorded + ledger.unknownLost} unknown outcomes retried (${ledger.unknownRecorded} had been recorded, ` +
        `${ledger.unknownLost} had not), ${stats.tornInjected} torn tails injected (${stats.tornBytesDropped} bytes cut by the hub), ` +
        `${stats.startupCrashes} crashes during start-up, ${stats.snapshotStarts} starts from a snapshot, ` +
        `${stats.snapshotsSeen.size} snapshots seen, journal ${afterStop.events.length} events / ${journalBytes} bytes` +
        (stats.leftoverFiles.size > 0 ? `; leftover files in snapshots/: ${[...stats.leftoverFiles].join(', ')}` : ''),
    );
    passed = true;
  });
});
