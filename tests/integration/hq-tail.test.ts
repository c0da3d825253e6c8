/**
 * `npm run hq-tail` against a real mosquitto: hand-made events published the way hubs publish them
 * (valid ones, a duplicate, a gap later half filled by a late event, a new epoch, invalid ones: not
 * JSON, an unknown type, a phone number in clear, an event under another store's topic) and one chain
 * it was not asked to watch. Its JSON report and its text summary must say exactly that.
 *
 * Then with a real hub in this process publishing to the same broker: the status line carries the
 * hub's live figures from `ping` (not those of its retained status, written when it connected); a
 * persistent session (--session) gets, on its next run, every event published while it was not
 * running; one Ctrl-C and --duration end it with a final summary and exit status 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { HqHealthView } from '../../hub/src/transport/http/app.ts';
import type { StoreSummary, TailSummary } from '../../scripts/hq-tail.ts';
import { REPO_ROOT } from '../support/hub-process.ts';
import { type Mosquitto, startMosquitto } from '../support/mosquitto.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { pairedTablet, startTestHub, type TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'hq-tail.ts');
const EPOCH_A = uuidv7();
const EPOCH_B1 = uuidv7();
const EPOCH_B2 = uuidv7();

interface Tail {
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  exited: Promise<number | null>;
}

function runTail(args: string[]): Tail {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, stderr: () => stderr, exited };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const jsonLines = (tail: Tail) =>
  tail.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { kind: string } & Record<string, unknown>);

function event(storeId: string, epoch: string, seq: number, overrides: Record<string, unknown> = {}) {
  return {
    schema: 'ayi.event/1',
    eventId: uuidv7(),
    chainId: 'demo',
    storeId,
    epoch,
    seq,
    type: 'device.revoked',
    at: '2026-01-10T02:00:00.000Z',
    data: { deviceId: `tab-${seq}` },
    ...overrides,
  };
}

let broker: Mosquitto;
let publisher: MqttClient;
let jsonTail: Tail;
let textTail: Tail;
let final: TailSummary;
let jsonExit: number | null;
let textExit: number | null;

beforeAll(async () => {
  broker = await startMosquitto();
  publisher = await connectAsync(broker.url, { protocolVersion: 5, clean: true });
  jsonTail = runTail(['--broker', broker.url, '--chain', 'demo', '--json', '--interval', '0.2']);
  textTail = runTail(['--broker', broker.url, '--chain', 'demo', '--interval', '0']);
  await waitFor(() => jsonLines(jsonTail).some((l) => l.kind === 'subscribed'), 'hq-tail --json to subscribe');
  await waitFor(() => textTail.stderr().includes('subscribed to'), 'hq-tail to subscribe');

  const publish = (topic: string, payload: unknown, retain = false) =>
    publisher.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), {
      qos: 1,
      retain,
    });
  const a = 'ayi/v1/demo/store-001';
  const b = 'ayi/v1/demo/store-002';
  await publish(`${a}/status`, {
    state: 'online',
    chainId: 'demo',
    storeId: 'store-001',
    epoch: EPOCH_A,
    lastSeq: 6,
    deliveredSeq: 3,
    version: '0.1.0',
    at: '2026-01-10T02:00:00.000Z',
  });
  const [a1, a2, a3] = [1, 2, 3].map((seq) => event('store-001', EPOCH_A, seq));
  for (const e of [a1, a2, a3]) await publish(`${a}/events`, e);
  await publish(`${a}/events`, a3); // a duplicate (at-least-once)
  await publish(`${a}/events`, event('store-001', EPOCH_A, 6)); // 4 and 5 missing
  await publish(`${a}/events`, event('store-001', EPOCH_A, 5)); // 5 arrives late; 4 stays missing
  await publish(`${a}/events`, '{"schema":"ayi.event/1", torn');
  await publish(`${a}/events`, event('store-001', EPOCH_A, 7, { type: 'sale.exploded' }));
  await publish(`${a}/events`, event('store-001', EPOCH_A, 8, { type: 'staff.logged_out', data: { staffId: 's1' } }));
  await publish(`${a}/events`, event('store-001', EPOCH_A, 9, { data: { deviceId: 'tab-9', phone: '0912345678' } }));
  await publish(`${a}/events`, event('store-003', EPOCH_A, 10)); // says another store
  // Store 2: an epoch, then a restore from backup (new epoch, seq starts again).
  for (const seq of [1, 2]) await publish(`${b}/events`, event('store-002', EPOCH_B1, seq));
  for (const seq of [1, 2, 3]) await publish(`${b}/events`, event('store-002', EPOCH_B2, seq));
  // Another chain: not subscribed.
  await publish('ayi/v1/other/store-001/events', { ...event('store-001', EPOCH_A, 1), chainId: 'other' });

  const expectedMessages = 1 + 11 + 5;
  await waitFor(
    () =>
      jsonLines(jsonTail).some(
        (l) => l.kind === 'summary' && (l as unknown as TailSummary).messages >= expectedMessages,
      ),
    'a summary with every message',
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  jsonTail.child.kill('SIGTERM');
  textTail.child.kill('SIGINT');
  [jsonExit, textExit] = await Promise.all([jsonTail.exited, textTail.exited]);
  final = jsonLines(jsonTail).findLast((l) => l.kind === 'summary') as unknown as TailSummary;
});

afterAll(async () => {
  for (const tail of [jsonTail, textTail]) if (tail && tail.child.exitCode === null) tail.child.kill('SIGKILL');
  await publisher?.endAsync(true);
  await broker?.kill();
});

describe('hq-tail', () => {
  it('ends with a final summary and exit status 1 (invalid messages, a gap left open)', () => {
    expect(final.final).toBe(true);
    expect(jsonExit).toBe(1);
    expect(textExit).toBe(1);
    expect(final).toMatchObject({ messages: 17, events: 10, duplicates: 1, invalid: 5, missing: 1 });
  });

  it('dedupes by eventId and tracks seq per store and epoch: gaps, late events', () => {
    const [a, b] = final.stores;
    expect(a).toMatchObject({ chainId: 'demo', storeId: 'store-001', events: 5, duplicates: 1, invalid: 5 });
    expect(a!.status).toMatchObject({ state: 'online', lastSeq: 6, deliveredSeq: 3 });
    expect(a!.epochs).toEqual([
      expect.objectContaining({
        epoch: EPOCH_A,
        firstSeq: 1,
        maxSeq: 6,
        contiguousSeq: 3,
        gaps: [[4, 4]],
        missing: 1,
        outOfOrder: 1,
      }),
    ]);
    expect(b).toMatchObject({ storeId: 'store-002', events: 5, duplicates: 0, invalid: 0 });
    expect(b!.epochs.map((e) => [e.epoch, e.firstSeq, e.maxSeq, e.missing])).toEqual([
      [EPOCH_B1, 1, 2, 0],
      [EPOCH_B2, 1, 3, 0],
    ]);
    expect(final.stores.map((s) => s.chainId)).not.toContain('other');
  });

  it('names each invalid message and why, and reports the gap when it opens', () => {
    const lines = jsonLines(jsonTail);
    const invalid = lines.filter((l) => l.kind === 'invalid') as unknown as { reason: string; seq?: number }[];
    expect(invalid).toHaveLength(5);
    expect(invalid[0]!.reason).toMatch(/^not JSON/);
    expect(invalid[1]!.reason).toBe('unknown event type "sale.exploded"');
    expect(invalid[2]!.reason).toBe('unknown event type "staff.logged_out"');
    expect(invalid[3]).toMatchObject({ seq: 9 });
    expect(invalid[3]!.reason).toMatch(/\/data\/phone/);
    expect(invalid[4]!.reason).toMatch(/published under demo\/store-001 but says demo\/store-003/);
    expect(lines.filter((l) => l.kind === 'gap')).toEqual([{ kind: 'gap', store: 'demo/store-001', from: 4, to: 5 }]);
  });

  it('prints the same as text for people', () => {
    const text = textTail.lines.join('\n');
    expect(text).toContain('final');
    // No hub answers pings here: the figures are the retained status's, and say so.
    expect(text).toMatch(
      /demo\/store-001: online \(retained at 2026-01-10T02:00:00\.000Z: hub lastSeq 6, delivered 3, v0\.1\.0\), no answer to \d+ pings?; 5 events, 1 dup, 5 invalid/,
    );
    expect(text).toMatch(/seq 1\.\.6, GAPS 4 \(1 missing\), 1 late/);
    expect(text).toMatch(/GAP ayi\/v1\/demo\/store-001\/events: seq 4-5 missing \(got 6\)/);
    expect(text).toMatch(/INVALID .* seq 9: \/data\/phone/);
  });

  it('refuses bad arguments with exit status 2', async () => {
    const tail = runTail(['--chain', 'demo']);
    expect(await tail.exited).toBe(2);
    expect(tail.stderr()).toMatch(/--broker is required/);
    const store = runTail(['--broker', broker.url, '--store', 'store-001']);
    expect(await store.exited).toBe(2);
    expect(store.stderr()).toMatch(/--store needs --chain/);
    const session = runTail(['--broker', broker.url, '--session', 'two words']);
    expect(await session.exited).toBe(2);
    expect(session.stderr()).toMatch(/--session "two words": letters, digits/);
  });
});

describe('hq-tail with a real hub', () => {
  const temp = new TempDirs();
  const CHAIN = 'live';
  let hub: Hub;
  let tablet: TabletClient;

  const health = async () =>
    (await (await fetch(`${hub.url}/api/health`)).json()) as { lastSeq: number; epoch: string; hq: HqHealthView };
  /** Sells, then waits until the broker has acknowledged every event; returns the hub's lastSeq. */
  const sellAndDeliver = async (count: number) => {
    for (let i = 0; i < count; i++) {
      await sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 1 + i }], [{ type: 'cash', amount: 500 }]));
    }
    for (;;) {
      const h = await health();
      if (h.hq.link === 'connected' && h.hq.backlog === 0) return h.lastSeq;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const summaries = (tail: Tail) => jsonLines(tail).filter((l) => l.kind === 'summary') as unknown as TailSummary[];
  const store = (summary: TailSummary | undefined): StoreSummary | undefined =>
    summary?.stores.find((s) => s.chainId === CHAIN && s.storeId === 'store-101');
  const subscribed = (tail: Tail) => jsonLines(tail).some((l) => l.kind === 'subscribed');

  beforeAll(async () => {
    hub = await startTestHub({
      dataDir: temp.make('ayi-hq-tail-'),
      config: { chainId: CHAIN, storeId: 'store-101', mqttUrl: broker.url, mqttReconnectMaxMs: 1000 },
    });
    tablet = await pairedTablet(hub, '1111', 'Counter');
    await sellAndDeliver(0);
  });

  afterAll(async () => {
    await hub?.stop();
    temp.removeAll();
  });

  it("shows the hub's live figures from ping, not the retained status of connect time", async () => {
    const tail = runTail(['--broker', broker.url, '--chain', CHAIN, '--json', '--interval', '0.2', '--ping', '0.2']);
    await waitFor(() => subscribed(tail), 'hq-tail to subscribe');
    const lastSeq = await sellAndDeliver(4);
    // A ping answered while the last sales were still on their way shows them as not yet delivered;
    // the next ones catch up.
    await waitFor(() => {
      const live = store(summaries(tail).at(-1))?.live;
      return live?.lastSeq === lastSeq && live.deliveredSeq === lastSeq;
    }, `live lastSeq and deliveredSeq ${lastSeq}`);
    const seen = store(summaries(tail).at(-1))!;
    expect(seen.live).toMatchObject({ lastSeq, deliveredSeq: lastSeq, backlog: 0, epoch: (await health()).epoch });
    expect(seen.status!.state).toBe('online');
    // The retained status was written when the hub connected, before the pairing and the sales.
    expect(seen.status!.lastSeq).toBeLessThan(lastSeq);
    expect(seen.pings.sent).toBeGreaterThan(0);
    tail.child.kill('SIGINT');
    expect(await tail.exited).toBe(0);

    // The same in text, ended by --duration.
    const text = runTail([
      '--broker',
      broker.url,
      '--chain',
      CHAIN,
      '--interval',
      '0',
      '--ping',
      '0.2',
      '--duration',
      '2',
    ]);
    expect(await text.exited).toBe(0);
    expect(text.lines.join('\n')).toMatch(
      new RegExp(`live/store-101: online, live [\\d.]+ s ago: hub lastSeq ${lastSeq}, delivered ${lastSeq}, backlog 0`),
    );
  });

  it('ends at one Ctrl-C with a final summary and exit 0, however long --duration still had to run', async () => {
    const tail = runTail(['--broker', broker.url, '--chain', CHAIN, '--interval', '0', '--duration', '3600']);
    await waitFor(() => tail.stderr().includes('subscribed to'), 'hq-tail to subscribe');
    tail.child.kill('SIGINT');
    let code: number | null | 'still running' = 'still running';
    void tail.exited.then((c) => (code = c));
    await waitFor(() => code !== 'still running', 'hq-tail to exit after one Ctrl-C', 10_000);
    expect(code).toBe(0);
    expect(tail.lines.join('\n')).toMatch(/^final \([\d.]+ s\): \d+ messages/m);
  });

  it('misses nothing between two runs of one --session, and ends with exit 0 on one Ctrl-C and on --duration', async () => {
    const args = ['--broker', broker.url, '--chain', CHAIN, '--json', '--session', 'test-session', '--ping', '0'];
    // A first run: stopped with one Ctrl-C while --duration is still far away.
    const first = runTail([...args, '--interval', '0.2', '--duration', '600']);
    await waitFor(() => subscribed(first), 'the first run to subscribe');
    const firstSeq = await sellAndDeliver(2);
    await waitFor(() => (store(summaries(first).at(-1))?.epochs[0]?.maxSeq ?? 0) === firstSeq, 'the first run');
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    const firstFinal = summaries(first).at(-1)!;
    expect(firstFinal.final).toBe(true);

    // Not running: the hub sells on and the broker acknowledges every event.
    const lastSeq = await sellAndDeliver(3);

    // The second run, ended by --duration, gets what was published in between, then nothing is missing.
    const second = runTail([...args, '--interval', '0', '--duration', '2']);
    expect(await second.exited).toBe(0);
    expect(second.lines.join('\n')).toMatch(/session test-session: resumed/);
    const final = store(summaries(second).at(-1))!;
    expect(summaries(second).at(-1)!.final).toBe(true);
    expect(final.epochs).toEqual([
      expect.objectContaining({ firstSeq: firstSeq + 1, maxSeq: lastSeq, missing: 0, events: lastSeq - firstSeq }),
    ]);
    expect(final.types).toEqual({ 'sale.completed': 3 });
  });
});
