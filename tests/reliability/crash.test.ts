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
 * 100 or 200 events, so crashes also land while snapshots are written.
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
import { randomBasket, seededRng, type Basket } from '../../scripts/lib/baskets.ts';
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
import { TabletClient } from '../support/test-hub.ts';

const CYCLES = Number(process.env.AYI_CRASH_CYCLES ?? 24);
const SEED = Number(process.env.AYI_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const TABLETS = 4;
/** Longest time a checkout stream runs before the kill. */
const MAX_RUN_MS = 1_200;
const REQUEST_TIMEOUT_MS = 15_000;

interface Attempt {
  key: string;
  basket: Basket;
  tablet: number;
  cycle: number;
}

interface StartupReport {
  snapshotSeq: number;
  replayedEvents: number;
  lastSeq: number;
  tornBytesDropped: number;
  corruptLines: number;
  startupMs: number;
}

type Outcome = { kind: 'answered'; status: number; body: Record<string, unknown> } | { kind: 'unknown'; error: string };

const rng = seededRng(SEED);
const randomInt = (min: number, max: number) => min + Math.floor(rng() * (max - min + 1));

/** A tablet's request that tells "the hub answered" from "the connection died: outcome unknown". */
async function send(tablet: TabletClient, method: string, url: string, body?: unknown): Promise<Outcome> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(tablet.baseUrl + url, {
      method,
      headers: tablet.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    text = await response.text();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { kind: 'unknown', error: cause?.code ?? cause?.message ?? (err as Error).message };
  }
  return { kind: 'answered', status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The hub's answer, or a failed expectation when the connection died. */
function answered(outcome: Outcome, what: string): { status: number; body: Record<string, unknown> } {
  if (outcome.kind === 'unknown') expect.fail(`${what}: no answer (${outcome.error})`);
  return outcome;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The tablets' credentials survive restarts; only the hub's URL (a new port each time) changes. */
function reconnect(tablets: TabletClient[], url: string): TabletClient[] {
  return tablets.map((old) => {
    const tablet = new TabletClient(url);
    tablet.deviceToken = old.deviceToken;
    tablet.sessionToken = old.sessionToken;
    tablet.deviceId = old.deviceId;
    return tablet;
  });
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

    /** idempotency key -> acknowledged sale. */
    const acked = new Map<string, { saleId: string; total: number; attempt: Attempt }>();
    /** Requests whose connection died before an answer. */
    const unknown = new Map<string, Attempt>();
    const unexpected: string[] = [];
    const stats = {
      requests: 0,
      unknownRecorded: 0,
      unknownLost: 0,
      tornInjected: 0,
      tornBytesDropped: 0,
      startupCrashes: 0,
      snapshotStarts: 0,
      snapshotsSeen: new Set<string>(),
      leftoverFiles: new Set<string>(),
    };
    let keyCounter = 0;

    // ---- first start: pair the tablets and log them in once ----
    hub = await startHubProcess({ dataDir });
    let tablets: TabletClient[] = [];
    for (let i = 0; i < TABLETS; i++) {
      const tablet = new TabletClient(hub.url);
      await tablet.pair(i === 0 ? hub.pairingCode : await hub.newPairingCode(), `Crash tablet ${i + 1}`);
      await tablet.login(i === TABLETS - 1 ? hub.demoPins.manager : hub.demoPins.cashier);
      tablets.push(tablet);
    }
    const products = (await tablets[0]!.request('GET', '/api/products')).body.products as ProductView[];
    expect(products.length).toBeGreaterThan(5);
    const identity = readStoreIdentity(dataDir);

    const newAttempt = (tablet: number, cycle: number): Attempt => ({
      key: `crash-s${SEED}-t${tablet}-${String(++keyCounter).padStart(6, '0')}`,
      basket: randomBasket(products, rng).basket,
      tablet,
      cycle,
    });

    /** One tablet rings up sales back to back until the hub dies under it. */
    async function checkoutStream(index: number, cycle: number, killed: { now: boolean }): Promise<void> {
      const tablet = tablets[index]!;
      while (!killed.now) {
        const attempt = newAttempt(index, cycle);
        stats.requests += 1;
        const outcome = await send(tablet, 'POST', '/api/sales', { idempotencyKey: attempt.key, ...attempt.basket });
        if (outcome.kind === 'unknown') {
          unknown.set(attempt.key, attempt);
          return;
        }
        const sale = outcome.body as unknown as SaleView;
        if ((outcome.status === 201 || outcome.status === 200) && typeof sale.saleId === 'string') {
          acked.set(attempt.key, { saleId: sale.saleId, total: sale.total, attempt });
        } else {
          unexpected.push(`cycle ${cycle} tablet ${index}: ${outcome.status} ${JSON.stringify(outcome.body)}`);
          return;
        }
      }
    }

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
        /gap in the journal|skipped corrupt|skipped a damaged|journal write failed/,
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
        if (wasRecorded) {
          stats.unknownRecorded += 1;
          expect(saleA.saleId).toBe(sales.byKey.get(attempt.key)![0]);
        } else {
          stats.unknownLost += 1;
        }
        acked.set(attempt.key, { saleId: saleA.saleId, total: saleA.total, attempt });
        unknown.delete(attempt.key);
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
      const every = [null, '200', '100', '200'][cycle % 4];
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
      const streams = tablets.map((_, index) => checkoutStream(index, cycle, killed));
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
    expect(stats.snapshotsSeen.size, 'snapshots were written during the run').toBeGreaterThanOrEqual(3);
    expect(stats.tornBytesDropped).toBeGreaterThan(0);
    const journalBytes = journalDays(dataDir).reduce(
      (sum, day) => sum + statSync(path.join(journalDir(dataDir), `${day}.jsonl`)).size,
      0,
    );
    console.log(
      `crash test (seed ${SEED}): ${CYCLES} SIGKILLs, ${stats.requests} checkout requests, ${acked.size} sales kept, ` +
        `${stats.unknownRecorded + stats.unknownLost} unknown outcomes retried (${stats.unknownRecorded} had been recorded, ` +
        `${stats.unknownLost} had not), ${stats.tornInjected} torn tails injected (${stats.tornBytesDropped} bytes cut by the hub), ` +
        `${stats.startupCrashes} crashes during start-up, ${stats.snapshotStarts} starts from a snapshot, ` +
        `${stats.snapshotsSeen.size} snapshots seen, journal ${afterStop.events.length} events / ${journalBytes} bytes` +
        (stats.leftoverFiles.size > 0 ? `; leftover files in snapshots/: ${[...stats.leftoverFiles].join(', ')}` : ''),
    );
    passed = true;
  });
});
