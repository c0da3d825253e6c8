/**
 * The link to HQ against a real broker: `npm run bench` (after building the hub) runs this after the
 * other benches. Prints one JSON object per line on stdout, {"metric","value","unit","baseline",
 * "ratio"}; progress goes to stderr.
 *
 *   mqtt_backlog_drain_per_s   a hub whose journal holds 50,000 events never delivered (as after a
 *                              long outage) is started with AYI_MQTT_URL pointing at mosquitto: events
 *                              per second from the first event an HQ subscriber receives to the
 *                              moment it holds every seq. Baseline: in the same run, against the same
 *                              broker and subscriber, a bare mqtt.js client (its own process) publishing
 *                              the same 50,000 envelopes (the journal's own lines, so the same sizes)
 *                              at QoS 1 to the same topic with the same window (never more than 64
 *                              unacknowledged), measured the same way. ratio = hub / bare (target: at
 *                              least 0.5). Both are run AYI_BENCH_DRAIN_RUNS times, interleaved; the
 *                              medians are reported.
 *   sale_to_broker_p99_ms      steady state, link connected and caught up: 4 tablets submit sales in
 *                              rounds 15-35 ms apart; from sending the checkout to the subscriber
 *                              receiving that sale's event (matched by saleId). Baseline 50 ms, the
 *                              target.
 *
 * Environment: AYI_BENCH_DRAIN_EVENTS (50000), AYI_BENCH_DRAIN_RUNS (3), AYI_BENCH_LINK_SALES (1000),
 * AYI_BENCH_INFLIGHT (64), AYI_BENCH_SEED, AYI_BENCH_KEEP=1 keeps the temporary directory,
 * AYI_BENCH_HUB_NODE_ARGS (node options for the hub, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 *
 * Internally, `node --import tsx tests/bench/hq-link.ts --bare-publisher URL TOPIC JOURNAL_DIR COUNT
 * WINDOW` is the baseline publisher (a child process, as the hub is).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync, type MqttClient } from 'mqtt';
import type { ProductView } from '../../hub/src/protocol/api.ts';
import { randomBasket, seededRng } from '../../scripts/lib/baskets.ts';
import { HubTablet } from '../../scripts/lib/hub-client.ts';
import { percentile, round } from '../../scripts/lib/stats.ts';
import { REPO_ROOT, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { seedPastSales } from './seed-journal.ts';

const env = process.env;
const DRAIN_EVENTS = Number(env.AYI_BENCH_DRAIN_EVENTS ?? 50_000);
const DRAIN_RUNS = Number(env.AYI_BENCH_DRAIN_RUNS ?? 3);
const SALES = Number(env.AYI_BENCH_LINK_SALES ?? 1000);
const WARMUP_SALES = 200;
const WINDOW = Number(env.AYI_BENCH_INFLIGHT ?? 64);
const SEED = Number(env.AYI_BENCH_SEED ?? 20_240_601);
const PAUSE_MS: [number, number] = [15, 35];
const TABLETS = 4;
const P99_TARGET_MS = 50;
const DRAIN_TIMEOUT_MS = 120_000;
const TZ = env.AYI_TZ ?? 'Asia/Taipei';
const SELF = fileURLToPath(import.meta.url);
/** Node options for the hub (e.g. `--cpu-prof` to see where its time goes), space-separated. */
const HUB_NODE_ARGS = (env.AYI_BENCH_HUB_NODE_ARGS ?? '').split(' ').filter(Boolean);

const started = performance.now();
const progress = (line: string) =>
  process.stderr.write(`[bench hq-link ${((performance.now() - started) / 1000).toFixed(1)} s] ${line}\n`);

function emit(metric: string, value: number, unit: string, baseline: number, ratio: number): void {
  process.stdout.write(
    `${JSON.stringify({ metric, value: round(value, 3), unit, baseline: round(baseline, 3), ratio: round(ratio, 3) })}\n`,
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

/** The journal's lines (one envelope each, with its newline stripped), in seq order. */
function journalLines(dataDir: string): string[] {
  const dir = path.join(dataDir, 'journal');
  const lines: string[] = [];
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .sort()) {
    for (const line of readFileSync(path.join(dir, name), 'utf8').split('\n')) if (line) lines.push(line);
  }
  return lines;
}

// ---- the baseline publisher (child process) ----------------------------------------------------

/**
 * A bare mqtt.js QoS 1 publisher: the first `count` journal lines, as they are, to `topic`, at most
 * `window` unacknowledged (the next one goes out as a PUBACK comes back). Prints "connected" and
 * "done" on stdout.
 */
async function barePublisher(url: string, topic: string, dataDir: string, count: number, window: number) {
  const payloads = journalLines(dataDir).slice(0, count);
  if (payloads.length !== count) throw new Error(`the journal holds ${payloads.length} events, not ${count}`);
  const client = await connectAsync(url, { protocolVersion: 5, clean: true, reconnectPeriod: 0 });
  process.stdout.write('connected\n');
  const cpuAtStart = process.cpuUsage();
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let acked = 0;
    let inFlight = 0;
    const pump = () => {
      while (inFlight < window && next < payloads.length) {
        const payload = payloads[next++]!;
        inFlight += 1;
        client.publish(topic, payload, { qos: 1 }, (err) => {
          if (err) {
            reject(err);
            return;
          }
          inFlight -= 1;
          acked += 1;
          if (acked === payloads.length) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  const cpu = process.cpuUsage(cpuAtStart);
  await client.endAsync();
  process.stdout.write(`done cpu ${Math.round((cpu.user + cpu.system) / 1000)} ms\n`);
}

// ---- the HQ subscriber ---------------------------------------------------------------------------

interface Drain {
  /** Resolves when every seq 1..count was received: ms from the first event to the last missing one. */
  done: Promise<{ ms: number; received: number }>;
  received(): number;
  /** Stops counting (a failed phase). */
  cancel(): void;
}

/** One QoS 1 subscriber on the events topic; a phase at a time decides what it counts. */
class Subscriber {
  private onEvent: ((event: { seq: number; type: string; data?: { saleId?: string } }, at: number) => void) | null =
    null;

  private constructor(readonly client: MqttClient) {
    client.on('message', (_topic, payload) => {
      const at = performance.now();
      const handler = this.onEvent;
      if (handler) handler(JSON.parse(payload.toString('utf8')) as never, at);
    });
  }

  static async connect(url: string, topic: string): Promise<Subscriber> {
    const client = await connectAsync(url, { protocolVersion: 5, clean: true, reconnectPeriod: 200 });
    const subscriber = new Subscriber(client);
    await client.subscribeAsync(topic, { qos: 1 });
    return subscriber;
  }

  /** Counts distinct seqs 1..count from now on. */
  drain(count: number, what: string): Drain {
    const seen = new Uint8Array(count + 1);
    let distinct = 0;
    let first = 0;
    let resolveDone!: (value: { ms: number; received: number }) => void;
    let rejectDone!: (err: Error) => void;
    const done = new Promise<{ ms: number; received: number }>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    let received = 0;
    const timer = setTimeout(() => {
      this.onEvent = null;
      rejectDone(new Error(`${what}: ${distinct} of ${count} events after ${DRAIN_TIMEOUT_MS} ms`));
    }, DRAIN_TIMEOUT_MS);
    timer.unref();
    this.onEvent = (event, at) => {
      received += 1;
      if (first === 0) first = at;
      const seq = event.seq;
      if (seq >= 1 && seq <= count && seen[seq] === 0) {
        seen[seq] = 1;
        distinct += 1;
        if (distinct === count) {
          clearTimeout(timer);
          this.onEvent = null;
          resolveDone({ ms: at - first, received });
        }
      }
    };
    return {
      done,
      received: () => received,
      cancel: () => {
        clearTimeout(timer);
        this.onEvent = null;
      },
    };
  }

  /** Records when each sale's event arrives, by saleId, until stopped. */
  sales(): { arrivals: Map<string, number>; stop(): void } {
    const arrivals = new Map<string, number>();
    this.onEvent = (event, at) => {
      const saleId = event.type === 'sale.completed' ? event.data?.saleId : undefined;
      if (saleId && !arrivals.has(saleId)) arrivals.set(saleId, at);
    };
    return { arrivals, stop: () => (this.onEvent = null) };
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

// ---- phases --------------------------------------------------------------------------------------

interface HqHealth {
  lastSeq: number;
  hq?: { link: string; deliveredSeq: number; backlog: number; lastError: string | null };
}

async function health(hub: HubProcess): Promise<HqHealth> {
  const response = await fetch(`${hub.url}/api/health`);
  return (await response.json()) as HqHealth;
}

/** Runs the bare publisher in its own process; the subscriber's clock measures it. */
async function bareDrain(
  subscriber: Subscriber,
  children: Set<ChildProcess>,
  url: string,
  topic: string,
  dataDir: string,
  count: number,
): Promise<number> {
  const drain = subscriber.drain(count, 'bare publisher');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', SELF, '--bare-publisher', url, topic, dataDir, String(count), String(WINDOW)],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  children.delete(child);
  // Every PUBACK is in: the last copies may still be on their way from the broker to the subscriber.
  if (code !== 0) {
    drain.cancel();
    throw new Error(`the bare publisher failed (${code}):\n${output}`);
  }
  const result = await drain.done;
  const cpuMs = Number(/done cpu (\d+) ms/.exec(output)?.[1] ?? NaN);
  progress(`  bare publisher: ${((cpuMs / count) * 1000).toFixed(0)} ms of CPU per 1000 events`);
  return (count / result.ms) * 1000;
}

/** CPU time (user + system) a process has used so far, in ms (Linux). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, fields 14 and 15 of stat, in clock ticks (100 a second).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Starts the hub on a data directory with nothing delivered; the subscriber measures the drain. */
async function hubDrain(
  subscriber: Subscriber,
  dataDir: string,
  hubEnv: Record<string, string>,
  count: number,
  setHub: (hub: HubProcess | null) => void,
): Promise<number> {
  rmSync(path.join(dataDir, 'hq-link.json'), { force: true });
  const drain = subscriber.drain(count, 'hub');
  let hub: HubProcess;
  try {
    hub = await startHubProcess({ dataDir, env: hubEnv, nodeArgs: HUB_NODE_ARGS, readyTimeoutMs: 60_000 });
  } catch (err) {
    drain.cancel();
    throw err;
  }
  setHub(hub);
  // The hub's CPU from the moment it is ready (it starts publishing then) to the last event.
  const cpuAtReady = cpuMsOf(hub.child.pid!);
  const { ms, received } = await drain.done;
  const cpuMs = cpuMsOf(hub.child.pid!) - cpuAtReady;
  progress(`  hub: ${((cpuMs / count) * 1000).toFixed(0)} ms of CPU per 1000 events (from ready to the last)`);
  // The hub's own view agrees: everything acknowledged.
  const deadline = Date.now() + 10_000;
  let view = await health(hub);
  while (view.hq?.link !== 'connected' || view.hq.deliveredSeq < count) {
    if (Date.now() > deadline) throw new Error(`the hub's health after the drain: ${JSON.stringify(view.hq)}`);
    await sleep(50);
    view = await health(hub);
  }
  if (received !== count) progress(`  (the subscriber got ${received} messages for ${count} events)`);
  await hub.stop();
  setHub(null);
  return (count / ms) * 1000;
}

function checkoutBody(products: ProductView[], rng: () => number, tag: string, n: number) {
  return { idempotencyKey: `bench-hq-${tag}-${String(n).padStart(7, '0')}`, ...randomBasket(products, rng).basket };
}

/** Rounds of 4 simultaneous checkouts, PAUSE_MS apart: the send time of each sale, by saleId. */
async function saleRounds(
  tablets: HubTablet[],
  products: ProductView[],
  count: number,
  tag: string,
): Promise<Map<string, { t0: number; ackMs: number }>> {
  const rng = seededRng(SEED + count);
  const sent = new Map<string, { t0: number; ackMs: number }>();
  let n = 0;
  while (n < count) {
    const round = tablets.slice(0, Math.min(tablets.length, count - n));
    const bodies = round.map(() => checkoutBody(products, rng, tag, ++n));
    await Promise.all(
      round.map(async (tablet, i) => {
        const t0 = performance.now();
        const answer = await tablet.request<{ saleId?: string }>('POST', '/api/sales', bodies[i]);
        if (answer.status !== 201 || !answer.body.saleId) {
          throw new Error(`checkout failed: ${answer.status} ${JSON.stringify(answer.body)}`);
        }
        sent.set(answer.body.saleId, { t0, ackMs: performance.now() - t0 });
      }),
    );
    await sleep(PAUSE_MS[0] + rng() * (PAUSE_MS[1] - PAUSE_MS[0]));
  }
  return sent;
}

async function main(): Promise<void> {
  const benchStarted = performance.now();
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ayi-bench-hq-'));
  const dataDir = path.join(root, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  progress(`temporary directory ${root}`);
  let hub: HubProcess | null = null;
  let broker: Mosquitto | null = null;
  let subscriber: Subscriber | null = null;
  const children = new Set<ChildProcess>();
  const setHub = (h: HubProcess | null) => (hub = h);
  try {
    // 1. A store whose broker was never reachable: a fresh hub without a broker, then a past of
    //    sales written into its journal, so that the journal holds exactly DRAIN_EVENTS events.
    const offlineEnv = { AYI_TZ: TZ };
    hub = await startHubProcess({ dataDir, env: offlineEnv });
    await hub.stop();
    hub = null;
    const initialEvents = journalLines(dataDir).length;
    const t0 = performance.now();
    const seed = seedPastSales(dataDir, {
      sales: DRAIN_EVENTS - initialEvents,
      days: 60,
      timeZone: TZ,
      rng: seededRng(SEED),
    });
    if (seed.lastSeq !== DRAIN_EVENTS) throw new Error(`seeded up to seq ${seed.lastSeq}, not ${DRAIN_EVENTS}`);
    progress(
      `seeded ${seed.sales} past sales after ${initialEvents} first events: ${seed.lastSeq} events undelivered, ` +
        `${(seed.bytes / 1e6).toFixed(1)} MB, median sale line ${seed.medianSaleLineBytes} bytes, ` +
        `in ${Math.round(performance.now() - t0)} ms`,
    );
    // Once more without a broker: the hub replays the seeded past and snapshots it, so the measured
    // starts below do not replay 50,000 events while they publish.
    hub = await startHubProcess({ dataDir, env: offlineEnv, readyTimeoutMs: 120_000 });
    const offline = await health(hub);
    if (offline.hq?.link !== 'disabled' || offline.hq.backlog !== offline.lastSeq) {
      throw new Error(`the hub without a broker: ${JSON.stringify(offline)}`);
    }
    await hub.stop();
    hub = null;
    const events = journalLines(dataDir).length;
    if (events < DRAIN_EVENTS) throw new Error(`the journal holds ${events} events`);

    // 2. The broker and HQ.
    broker = await startMosquitto();
    const identity = JSON.parse(readFileSync(path.join(dataDir, 'store.json'), 'utf8')) as {
      chainId: string;
      storeId: string;
    };
    const topic = `ayi/v1/${identity.chainId}/${identity.storeId}/events`;
    subscriber = await Subscriber.connect(broker.url, topic);
    const linkEnv = { AYI_TZ: TZ, AYI_MQTT_URL: broker.url, AYI_MQTT_INFLIGHT: String(WINDOW) };
    progress(`mosquitto on ${broker.url}, HQ subscribed to ${topic}, window ${WINDOW}`);

    // 3. Drains, interleaved: the bare publisher, then the hub from an empty watermark.
    const bareRates: number[] = [];
    const hubRates: number[] = [];
    for (let i = 0; i < DRAIN_RUNS; i++) {
      const bare = await bareDrain(subscriber, children, broker.url, topic, dataDir, DRAIN_EVENTS);
      bareRates.push(bare);
      progress(`drain ${i + 1}: bare mqtt.js publisher ${Math.round(bare)} events/s`);
      // Every event the hub holds (DRAIN_EVENTS, plus any a start recorded) is backlog.
      const backlog = journalLines(dataDir).length;
      hubRates.push(await hubDrain(subscriber, dataDir, linkEnv, backlog, setHub));
      progress(`drain ${i + 1}: hub ${Math.round(hubRates.at(-1)!)} events/s (${backlog} events)`);
    }
    const bareRate = median(bareRates);
    const hubRate = median(hubRates);

    // 4. Steady state: the hub connected and caught up, 4 tablets selling.
    hub = await startHubProcess({ dataDir, env: linkEnv });
    const live: HubProcess = hub;
    const tablets: HubTablet[] = [];
    for (let i = 0; i < TABLETS; i++) {
      const tablet = new HubTablet(live.url);
      await tablet.pair(i === 0 ? live.pairingCode : await live.newPairingCode(), `Bench tablet ${i + 1}`);
      await tablet.login(live.demoPins.cashier);
      tablets.push(tablet);
    }
    const products = await tablets[0]!.products();
    const caughtUp = Date.now() + 30_000;
    let view = await health(live);
    while (view.hq?.link !== 'connected' || view.hq.backlog !== 0) {
      if (Date.now() > caughtUp) throw new Error(`the link did not catch up: ${JSON.stringify(view.hq)}`);
      await sleep(50);
      view = await health(live);
    }
    const recorder = subscriber.sales();
    const warmup = await saleRounds(tablets, products, WARMUP_SALES, 'warmup');
    const t1 = performance.now();
    const sent = await saleRounds(tablets, products, SALES, 'run');
    const seconds = (performance.now() - t1) / 1000;
    const waitAll = Date.now() + 30_000;
    while ([...sent.keys(), ...warmup.keys()].some((saleId) => !recorder.arrivals.has(saleId))) {
      if (Date.now() > waitAll) {
        const missing = [...sent.keys()].filter((saleId) => !recorder.arrivals.has(saleId)).length;
        throw new Error(`${missing} of ${sent.size} sales never reached the subscriber`);
      }
      await sleep(20);
    }
    recorder.stop();
    const latencies = [...sent].map(([saleId, s]) => recorder.arrivals.get(saleId)! - s.t0).sort((a, b) => a - b);
    const p99 = percentile(latencies, 99);
    // What the checkout itself took (to the tablet's answer), to tell the link's share from the commit's.
    const acks = [...sent.values()].map((s) => s.ackMs).sort((a, b) => a - b);
    const afterAnswer = [...sent]
      .map(([saleId, s]) => recorder.arrivals.get(saleId)! - s.t0 - s.ackMs)
      .sort((a, b) => a - b);
    progress(
      `${TABLETS} tablets, ${PAUSE_MS.join('-')} ms between rounds: ${sent.size} sales in ${seconds.toFixed(2)} s; ` +
        `checkout to broker p50 ${percentile(latencies, 50).toFixed(2)} ms, p90 ${percentile(latencies, 90).toFixed(2)} ms, ` +
        `p99 ${p99.toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms ` +
        `(checkout answered: p50 ${percentile(acks, 50).toFixed(2)} ms, p99 ${percentile(acks, 99).toFixed(2)} ms; ` +
        `answer to broker: p50 ${percentile(afterAnswer, 50).toFixed(2)} ms, ` +
        `p99 ${percentile(afterAnswer, 99).toFixed(2)} ms)`,
    );
    await live.stop();
    hub = null;

    emit('mqtt_backlog_drain_per_s', hubRate, 'events/s', bareRate, hubRate / bareRate);
    emit('sale_to_broker_p99_ms', p99, 'ms', P99_TARGET_MS, p99 / P99_TARGET_MS);
    progress(
      `drain medians of ${DRAIN_RUNS}: hub ${Math.round(hubRate)}/s, bare ${Math.round(bareRate)}/s; ` +
        `done in ${((performance.now() - benchStarted) / 1000).toFixed(1)} s`,
    );
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await (hub as HubProcess | null)?.kill('SIGKILL');
    await subscriber?.close().catch(() => undefined);
    await broker?.kill();
    if (env.AYI_BENCH_KEEP === '1') progress(`kept ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--bare-publisher') {
  const [url, topic, dataDir, count, window] = process.argv.slice(3);
  barePublisher(url!, topic!, dataDir!, Number(count), Number(window)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bare publisher failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`[bench hq-link] failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
