/**
 * The hub's performance against its own disk: `npm run bench` (builds the hub, then runs this).
 *
 * Prints one JSON object per line on stdout, {"metric","value","unit","baseline","ratio"}; progress
 * goes to stderr.
 *
 *   fsync_append_p50_ms, fsync_append_p99_ms   one fdatasync'd append of a sale-sized line to an open
 *                                              file in the same directory: the baseline (ratio 1)
 *   checkout_commit_p50_ms, _p99_ms            HTTP checkout to acknowledgement, hub holding 200,000
 *                                              past sales: rounds in which 4 tablets submit at the same
 *                                              moment, 15-35 ms apart; baseline = fsync p50/p99
 *                                              (target: p99 at most 5x)
 *   checkout_commit_vs_quote_p99_ms            the same p99, beside the p99 of quoting the same carts in
 *                                              the same rounds (same HTTP path, no journal write): what
 *                                              durability costs over the rest of the request
 *   durable_http_floor_p50_ms, _p99_ms         the floor: a bare node:http server committing the same
 *                                              carts in the same rounds with a shared fdatasync
 *                                              (durable-floor-server.ts), measured once the hub has
 *                                              stopped; baseline = fsync p50/p99 (what any Node HTTP
 *                                              service adds to the disk here)
 *   http_floor_no_write_p99_ms                 the same server answering the same carts without writing
 *                                              (an HTTP round and nothing else); baseline = fsync p99
 *   checkout_commit_vs_floor_p50_ms, _p99_ms   the hub's checkout beside that floor: what the hub itself
 *                                              adds (auth, validation, pricing, projections, answers,
 *                                              and its periodic snapshots, which the floor has none of),
 *                                              the two measured a minute or two apart
 *   checkout_commit_saturated_p50_ms, _p99_ms  the same, but every tablet submits its next sale the
 *                                              moment the last is answered (the hub saturated); same
 *                                              baselines
 *   hub_start_cold_ms                          spawn to ready with no snapshot: replays every event
 *   hub_start_ms                               spawn to ready from the snapshot (target: under 3000 ms)
 *
 * The tablets are node:http clients with one keep-alive connection each (scripts/lib/hub-client.ts).
 *
 * Environment: AYI_BENCH_SALES (200000), AYI_BENCH_DAYS (500), AYI_BENCH_CHECKOUTS (2000),
 * AYI_BENCH_SATURATED (1000 back-to-back checkouts),
 * AYI_BENCH_SNAPSHOT_EVERY (250: AYI_SNAPSHOT_EVERY_EVENTS of the bench hub, low enough that
 * periodic snapshots, forced after 4x that many events when the store is never quiet, fall inside
 * both measured phases, so their p99s include what a snapshot costs the sales in flight),
 * AYI_BENCH_STARTS (3: start-ups of each kind, the median is reported), AYI_BENCH_SEED,
 * AYI_BENCH_KEEP=1 keeps the temporary directory.
 */
import { spawn } from 'node:child_process';
import { promises as fs, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import type { ProductView } from '../../hub/src/protocol/api.ts';
import { randomBasket, seededRng } from '../../scripts/lib/baskets.ts';
import { HubTablet } from '../../scripts/lib/hub-client.ts';
import { percentile } from '../../scripts/lib/stats.ts';
import { startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { scanSnapshots } from '../support/journal-files.ts';
import { seedPastSales } from './seed-journal.ts';
import { emit, progress, removeUnlessKept, runBench } from './report.ts';

const env = process.env;
const PAST_SALES = Number(env.AYI_BENCH_SALES ?? 200_000);
const PAST_DAYS = Number(env.AYI_BENCH_DAYS ?? 500);
const CHECKOUTS = Number(env.AYI_BENCH_CHECKOUTS ?? 2000);
const WARMUP = Math.max(200, Math.round(CHECKOUTS / 5));
const SATURATED = Number(env.AYI_BENCH_SATURATED ?? 1000);
/** Pause between rounds of simultaneous checkouts, ms (min, max). */
const PAUSE_MS: [number, number] = [15, 35];
const TABLETS = 4;
const STARTS = Number(env.AYI_BENCH_STARTS ?? 3);
const FSYNC_SAMPLES = 2000;
const SEED = Number(env.AYI_BENCH_SEED ?? 20_240_601);
const START_TARGET_MS = 3000;
const TZ = env.AYI_TZ ?? 'Asia/Taipei';
const SNAPSHOT_EVERY = Number(env.AYI_BENCH_SNAPSHOT_EVERY ?? 250);
/** How long a snapshot begun inside a measured phase may take to land on disk after it. */
const SNAPSHOT_LANDING_MS = 10_000;
/** The bench hub's environment. */
const HUB_ENV = { AYI_TZ: TZ, AYI_SNAPSHOT_EVERY_EVENTS: String(SNAPSHOT_EVERY) };

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

interface StartupReport {
  snapshotSeq: number;
  replayedEvents: number;
  lastSeq: number;
  startupMs: number;
}

async function startTimed(dataDir: string): Promise<{ hub: HubProcess; ms: number; startup: StartupReport }> {
  const t0 = performance.now();
  const hub = await startHubProcess({ dataDir, env: HUB_ENV, readyTimeoutMs: 180_000 });
  const ms = performance.now() - t0;
  const { startup } = await adminRequest<{ startup: StartupReport }>(path.join(dataDir, 'ayi.sock'), 'health');
  return { hub, ms, startup };
}

interface FloorServer {
  url: string;
  stop(): Promise<void>;
}

/** Starts tests/bench/durable-floor-server.ts as its own process, appending to `file`. */
async function startFloorServer(file: string): Promise<FloorServer> {
  const script = path.join(import.meta.dirname, 'durable-floor-server.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the floor server did not start within 30 s')), 30_000);
      let output = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        const match = /listening (\d+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the floor server exited with code ${code}`)));
    });
    return { url: `http://127.0.0.1:${port}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One fdatasync'd append of `line` to an open file, the hub's journal primitive, `samples` times. */
async function fsyncAppendLatencies(dir: string, line: string, samples: number): Promise<number[]> {
  const file = path.join(dir, 'fsync-baseline.jsonl');
  const handle = await fs.open(file, 'a', 0o600);
  const out: number[] = [];
  try {
    for (let i = 0; i < samples + 100; i++) {
      const t0 = performance.now();
      await handle.appendFile(line, 'utf8');
      await handle.datasync();
      if (i >= 100) out.push(performance.now() - t0);
    }
  } finally {
    await handle.close();
    await fs.rm(file, { force: true });
  }
  return out;
}

function checkoutBody(products: ProductView[], rng: () => number, tag: string, n: number) {
  return { idempotencyKey: `bench-${tag}-${String(n).padStart(7, '0')}`, ...randomBasket(products, rng).basket };
}

type CheckoutBody = ReturnType<typeof checkoutBody>;

/**
 * A POST of each cart to `urlPath` (what is sent: `payload` of the cart), timed on the tablet from
 * sending to the parsed answer; an answer that is not `status`, or lacks `field`, stops the bench.
 */
function timedPost(
  urlPath: string,
  status: number,
  field: string | null,
  payload: (body: CheckoutBody) => unknown = (body) => body,
): (tablet: HubTablet, body: CheckoutBody) => Promise<number> {
  return async (tablet, body) => {
    const t0 = performance.now();
    const answer = await tablet.request<Record<string, unknown> | null>('POST', urlPath, payload(body));
    const ms = performance.now() - t0;
    if (answer.status !== status || (field !== null && answer.body?.[field] === undefined)) {
      throw new Error(`POST ${urlPath} failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return ms;
  };
}

const timedCheckout = timedPost('/api/sales', 201, 'saleId');
/** A quote of the same cart: the same HTTP round, auth, validation and pricing, no journal write. */
const timedQuote = timedPost('/api/sales/quote', 200, 'total', (body) => ({ lines: body.lines }));
/** The floor server's durable append of the same cart (tests/bench/durable-floor-server.ts). */
const timedFloorCommit = timedPost('/commit', 201, null);
/** The floor server's answer to the same cart without writing it: an HTTP round and nothing else. */
const timedFloorQuote = timedPost('/quote', 200, null);

/** One kind of request measured in the rounds: who sends it and how. */
interface RoundStep {
  tablets: HubTablet[];
  timed: (tablet: HubTablet, body: CheckoutBody) => Promise<number>;
}

/**
 * The measured load: rounds in which every tablet submits a sale at the same moment (the worst case
 * a store sees: four cashiers pressing "pay" together, so four commits share the disk), then a short
 * pause before the next round, as between customers (shortened from seconds to PAUSE_MS so the run
 * stays short). Each round's carts go to every step in turn (the hub's checkout, then its quote of
 * the same carts), a pause after each, so the peers are measured side by side under the same
 * moment's noise. Latency is measured on each tablet from sending the request to the parsed answer.
 * Returns the latencies of each step.
 */
async function checkoutRounds(
  products: ProductView[],
  count: number,
  tag: string,
  steps: RoundStep[],
): Promise<number[][]> {
  const rng = seededRng(SEED + count);
  const latencies = steps.map((): number[] => []);
  let n = 0;
  while (n < count) {
    const size = Math.min(TABLETS, count - n);
    const bodies = Array.from({ length: size }, () => checkoutBody(products, rng, tag, ++n));
    for (const [i, step] of steps.entries()) {
      const answers = await Promise.all(bodies.map((body, t) => step.timed(step.tablets[t]!, body)));
      latencies[i]!.push(...answers);
      await sleep(PAUSE_MS[0] + rng() * (PAUSE_MS[1] - PAUSE_MS[0]));
    }
  }
  return latencies;
}

/** Saturation: every tablet submits its next sale the moment the last one is answered. */
async function checkoutBackToBack(
  tablets: HubTablet[],
  products: ProductView[],
  count: number,
  tag: string,
): Promise<number[]> {
  const rng = seededRng(SEED + count + 1);
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    tablets.map(async (tablet) => {
      while (next < count) {
        latencies.push(await timedCheckout(tablet, checkoutBody(products, rng, tag, ++next)));
      }
    }),
  );
  return latencies;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Seqs of the snapshot files now in the data directory. */
function snapshotSeqs(dataDir: string): number[] {
  return scanSnapshots(dataDir).snapshots.map((s) => s.seq);
}

async function hubLastSeq(dataDir: string): Promise<number> {
  return (await adminRequest<{ lastSeq: number }>(path.join(dataDir, 'ayi.sock'), 'health')).lastSeq;
}

/** Runs a measured phase and checks that the hub wrote at least one periodic snapshot during it. */
async function withSnapshots<T>(dataDir: string, label: string, phase: () => Promise<T>): Promise<T> {
  const fromSeq = await hubLastSeq(dataDir);
  const result = await phase();
  const toSeq = await hubLastSeq(dataDir);
  // A snapshot begun inside the phase is encoded a slice at a time and may land just after it.
  const inPhase = () => snapshotSeqs(dataDir).filter((seq) => seq > fromSeq && seq <= toSeq);
  for (let waited = 0; inPhase().length === 0 && waited < SNAPSHOT_LANDING_MS; waited += 100) await sleep(100);
  const taken = inPhase();
  progress(`${label}: seqs ${fromSeq + 1}..${toSeq}, periodic snapshots at seq ${taken.join(', ') || '(none)'}`);
  if (taken.length === 0) {
    throw new Error(
      `${label}: no periodic snapshot fell inside the measured phase (AYI_BENCH_SNAPSHOT_EVERY ${SNAPSHOT_EVERY})`,
    );
  }
  return result;
}

/** A line for the progress log; the rate only for a phase that ran alone (`seconds` given). */
function describe(label: string, latencies: number[], seconds?: number): string {
  const sorted = [...latencies].sort((a, b) => a - b);
  const rate = seconds === undefined ? '' : ` in ${seconds.toFixed(2)} s (${Math.round(latencies.length / seconds)}/s)`;
  return (
    `${label}: ${latencies.length}${rate}: ` +
    `p50 ${percentile(sorted, 50).toFixed(2)} ms, p90 ${percentile(sorted, 90).toFixed(2)} ms, ` +
    `p99 ${percentile(sorted, 99).toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms`
  );
}

async function main(): Promise<void> {
  const benchStarted = performance.now();
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ayi-bench-'));
  const dataDir = path.join(root, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  progress(`temporary directory ${root}`);
  let hub: HubProcess | null = null;
  let floor: FloorServer | null = null;
  try {
    // 1. A fresh store (identity, demo staff, demo catalog), then 500 days of past sales.
    hub = await startHubProcess({ dataDir, env: HUB_ENV });
    await hub.stop();
    hub = null;
    const t0 = performance.now();
    const seed = seedPastSales(dataDir, { sales: PAST_SALES, days: PAST_DAYS, timeZone: TZ, rng: seededRng(SEED) });
    progress(
      `seeded ${seed.sales} past sales over ${seed.files} days (${seed.firstDay} .. ${seed.lastDay}), ` +
        `${(seed.bytes / 1e6).toFixed(1)} MB of journal, last seq ${seed.lastSeq}, ` +
        `median sale line ${seed.medianSaleLineBytes} bytes, in ${Math.round(performance.now() - t0)} ms`,
    );

    // 2. Cold starts: no snapshot, every event replayed (the snapshot each one takes is removed again).
    const cold: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      rmSync(path.join(dataDir, 'snapshots'), { recursive: true, force: true });
      const run = await startTimed(dataDir);
      hub = run.hub;
      cold.push(run.ms);
      // The hub must take the generated past as its own: every event replayed, nothing complained about.
      if (run.startup.replayedEvents !== seed.lastSeq || run.startup.lastSeq !== seed.lastSeq) {
        throw new Error(`the hub replayed ${run.startup.replayedEvents} of ${seed.lastSeq} seeded events`);
      }
      if (/gap in the journal|corrupt|torn tail|damaged/.test(hub.output())) {
        throw new Error(`the hub complained about the seeded journal:\n${hub.output()}`);
      }
      progress(
        `cold start ${i + 1}: ${Math.round(run.ms)} ms spawn to ready (hub boot ${run.startup.startupMs} ms, ` +
          `replayed ${run.startup.replayedEvents} events)`,
      );
      await hub.stop();
      hub = null;
    }

    // 3. Starts from the snapshot the last cold start left.
    const warm: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      const run = await startTimed(dataDir);
      hub = run.hub;
      warm.push(run.ms);
      progress(
        `start ${i + 1} from snapshot seq ${run.startup.snapshotSeq}: ${Math.round(run.ms)} ms spawn to ready ` +
          `(hub boot ${run.startup.startupMs} ms, replayed ${run.startup.replayedEvents} events)`,
      );
      if (i < STARTS - 1) {
        await hub.stop();
        hub = null;
      }
    }

    // 4. The baseline: fdatasync'd appends of a typical sale line, next to the hub's data.
    const sampleLine =
      readFileSync(path.join(dataDir, 'journal', `${seed.lastDay}.jsonl`), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => `${l}\n`)
        .find((l) => Buffer.byteLength(l) === seed.medianSaleLineBytes) ??
      `${'x'.repeat(seed.medianSaleLineBytes - 1)}\n`;
    const fsyncMs = await fsyncAppendLatencies(root, sampleLine, FSYNC_SAMPLES);
    const fsyncSorted = [...fsyncMs].sort((a, b) => a - b);
    const fsyncP50 = percentile(fsyncSorted, 50);
    const fsyncP99 = percentile(fsyncSorted, 99);
    progress(
      `fsync baseline: ${FSYNC_SAMPLES} appends of ${Buffer.byteLength(sampleLine)} bytes: ` +
        `p50 ${fsyncP50.toFixed(3)} ms, p99 ${fsyncP99.toFixed(3)} ms`,
    );

    // 5. Checkouts: 4 tablets, warm-up, then the measured run.
    const live = hub!;
    const tablets: HubTablet[] = [];
    for (let i = 0; i < TABLETS; i++) {
      const tablet = new HubTablet(live.url);
      await tablet.pair(i === 0 ? live.pairingCode : await live.newPairingCode(), `Bench tablet ${i + 1}`);
      await tablet.login(live.demoPins.cashier);
      tablets.push(tablet);
    }
    const products = await tablets[0]!.products();
    let t1 = performance.now();
    const warmup = await checkoutBackToBack(tablets, products, WARMUP, 'warmup');
    progress(describe('warm-up, back to back (hub saturated)', warmup, (performance.now() - t1) / 1000));
    t1 = performance.now();
    const saturated = await withSnapshots(dataDir, 'saturated run', () =>
      checkoutBackToBack(tablets, products, SATURATED, 'saturated'),
    );
    progress(describe(`${TABLETS} tablets back to back (hub saturated)`, saturated, (performance.now() - t1) / 1000));
    const [checkoutMs = [], quoteMs = []] = await withSnapshots(dataDir, 'measured run', () =>
      checkoutRounds(products, CHECKOUTS, 'run', [
        { tablets, timed: timedCheckout },
        { tablets, timed: timedQuote },
      ]),
    );
    const rounds = `${PAUSE_MS.join('-')} ms between rounds`;
    progress(describe(`${TABLETS} tablets submitting together, ${rounds}`, checkoutMs));
    progress(describe(`${TABLETS} tablets quoting the same carts together (no journal write), ${rounds}`, quoteMs));
    for (const tablet of tablets) tablet.close();
    const quoteP99 = percentile(
      [...quoteMs].sort((a, b) => a - b),
      99,
    );
    const sorted = [...checkoutMs].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    const saturatedSorted = [...saturated].sort((a, b) => a - b);
    const saturatedP50 = percentile(saturatedSorted, 50);
    const saturatedP99 = percentile(saturatedSorted, 99);
    await live.stop();
    hub = null;

    // 6. The floor: a bare durable HTTP server on the same disk (durable-floor-server.ts), the same
    // carts in the same rounds, once the hub has stopped (its snapshots and receipts would otherwise
    // load the disk and the CPU under the floor's samples), after a warm-up of its own.
    const peer = await startFloorServer(path.join(root, 'floor.jsonl'));
    floor = peer;
    const floorClients = Array.from({ length: TABLETS }, () => new HubTablet(peer.url));
    const floorSteps: RoundStep[] = [
      { tablets: floorClients, timed: timedFloorCommit },
      { tablets: floorClients, timed: timedFloorQuote },
    ];
    await checkoutRounds(products, WARMUP, 'floor-warmup', floorSteps);
    const [floorMs = [], floorQuoteMs = []] = await checkoutRounds(products, CHECKOUTS, 'run', floorSteps);
    progress(describe(`floor server, the same carts committed together, ${rounds}`, floorMs));
    progress(describe(`floor server, the same carts answered without a write, ${rounds}`, floorQuoteMs));
    for (const client of floorClients) client.close();
    await peer.stop();
    floor = null;
    const floorSorted = [...floorMs].sort((a, b) => a - b);
    const floorP50 = percentile(floorSorted, 50);
    const floorP99 = percentile(floorSorted, 99);
    const floorQuoteP99 = percentile(
      [...floorQuoteMs].sort((a, b) => a - b),
      99,
    );

    emit('fsync_append_p50_ms', fsyncP50, 'ms', fsyncP50, 1);
    emit('fsync_append_p99_ms', fsyncP99, 'ms', fsyncP99, 1);
    emit('checkout_commit_p50_ms', p50, 'ms', fsyncP50, p50 / fsyncP50);
    emit('checkout_commit_p99_ms', p99, 'ms', fsyncP99, p99 / fsyncP99);
    emit('checkout_commit_vs_quote_p99_ms', p99, 'ms', quoteP99, p99 / quoteP99);
    emit('durable_http_floor_p50_ms', floorP50, 'ms', fsyncP50, floorP50 / fsyncP50);
    emit('durable_http_floor_p99_ms', floorP99, 'ms', fsyncP99, floorP99 / fsyncP99);
    emit('http_floor_no_write_p99_ms', floorQuoteP99, 'ms', fsyncP99, floorQuoteP99 / fsyncP99);
    emit('checkout_commit_vs_floor_p50_ms', p50, 'ms', floorP50, p50 / floorP50);
    emit('checkout_commit_vs_floor_p99_ms', p99, 'ms', floorP99, p99 / floorP99);
    emit('checkout_commit_saturated_p50_ms', saturatedP50, 'ms', fsyncP50, saturatedP50 / fsyncP50);
    emit('checkout_commit_saturated_p99_ms', saturatedP99, 'ms', fsyncP99, saturatedP99 / fsyncP99);
    emit('hub_start_cold_ms', median(cold), 'ms', START_TARGET_MS, median(cold) / START_TARGET_MS);
    emit('hub_start_ms', median(warm), 'ms', START_TARGET_MS, median(warm) / START_TARGET_MS);
    progress(`done in ${((performance.now() - benchStarted) / 1000).toFixed(1)} s`);
  } finally {
    await floor?.stop();
    await hub?.kill('SIGKILL');
    removeUnlessKept(root);
  }
}

runBench(main);
