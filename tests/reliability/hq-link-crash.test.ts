/**
 * The link to HQ survives crashes: the built hub publishes its journal to a real mosquitto while
 * tablets ring up sales, and is killed with SIGKILL at random moments (while selling, while
 * draining a backlog, right after start-up), then restarted on the same data directory, again and
 * again; now and then the broker is stopped for a moment too, so backlogs build up and drain, and
 * HQ's consumer goes away for a moment (sometimes across a broker restart).
 *
 * HQ is a QoS 1 subscriber with a persistent session (fixed client id, clean start off, a session
 * expiry) on a broker with persistence. That is what makes HQ's copy complete: once the broker
 * has sent the hub its PUBACK the hub's watermark moves past that event and the hub never sends it
 * again (unless asked with resend), so from then on the broker alone is responsible for it. With a
 * persistent session the broker queues the event for HQ even while HQ is reconnecting, and with
 * persistence that queue (and the session) outlives the broker's own restart (mosquitto saves it
 * on SIGTERM). A clean-session subscriber, or a broker without persistence, would lose what was
 * acknowledged but not yet forwarded when the broker stops: a gap only `resend` could fill.
 *
 * At the end (selling stopped, backlog 0 in the health view) HQ's copies, deduplicated by eventId,
 * must be exactly the journal's events: the same eventIds with the same seqs 1..lastSeq, no gap,
 * no seq carried by two eventIds, every copy of an event the same as the journal's line; every
 * sale acknowledged to a tablet (including retried unknown outcomes) among them. Duplicates
 * (re-publishes after a crash or a reconnect) are expected and counted.
 *
 * Needs the built hub: `npm run build -w hub`. AYI_HQ_CRASH_CYCLES (default 22) sets the number of
 * kill/restart cycles, AYI_HQ_CRASH_SEED the random seed (printed, so a failing run can be repeated).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProductView, SaleView } from '../../hub/src/protocol/api.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import type { HqHealthView } from '../../hub/src/transport/http/app.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';
import { pairTablets, reconnect, send, sleep, SalesLedger } from '../support/crash-sales.ts';
import { HUB_ENTRY, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { readStoreIdentity, salesInJournal, scanJournal } from '../support/journal-files.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';

const CYCLES = Number(process.env.AYI_HQ_CRASH_CYCLES ?? 22);
const SEED = Number(process.env.AYI_HQ_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CHAIN = 'crash-chain';
const STORE = 'store-crash';
/** Longest time a checkout stream runs before the kill. */
const MAX_RUN_MS = 1_200;

interface Health {
  lastSeq: number;
  hq?: HqHealthView;
}

const rng = seededRng(SEED);
const randomInt = (min: number, max: number) => min + Math.floor(rng() * (max - min + 1));
const TABLETS = randomInt(2, 4);

async function health(hub: HubProcess): Promise<Health | null> {
  try {
    const res = await fetch(`${hub.url}/api/health`, { signal: AbortSignal.timeout(2_000) });
    return (await res.json()) as Health;
  } catch {
    return null;
  }
}

/** The watermark the hub left on disk (hq-link.json), 0 when there is none yet. */
function persistedWatermark(dataDir: string): number {
  try {
    return (JSON.parse(readFileSync(path.join(dataDir, 'hq-link.json'), 'utf8')) as { deliveredSeq: number })
      .deliveredSeq;
  } catch {
    return 0;
  }
}

/** An event as HQ compares it with the journal's line: the optional `link` HQ may get is not in the journal. */
function withoutLink(event: HubEvent): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...event };
  delete copy.link;
  return copy;
}

describe('hub killed with SIGKILL while publishing to HQ', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ayi-hq-crash-'));
  let hub: HubProcess | null = null;
  let broker: Mosquitto | null = null;
  let hq: HqSubscriber | null = null;
  let passed = false;

  afterAll(async () => {
    await hub?.kill('SIGKILL');
    await hq?.close();
    await broker?.kill();
    if (passed) rmSync(dataDir, { recursive: true, force: true });
    else console.error(`hq-link crash test: data directory kept for inspection: ${dataDir} (seed ${SEED})`);
  });

  it(`HQ holds exactly the journal after ${CYCLES} kill/restart cycles`, async () => {
    expect(existsSync(HUB_ENTRY), `${HUB_ENTRY} is missing: run npm run build -w hub`).toBe(true);
    expect(CYCLES).toBeGreaterThanOrEqual(1);
    const started = Date.now();

    broker = await startMosquitto({ persistence: true });
    const root = storeTopics(CHAIN, STORE).root;
    // HQ subscribes before the hub first starts, with a session that outlives its reconnections.
    hq = await hqSubscriber(broker.url, `${root}/events`, true);
    const subscriber = hq;
    const brokerNow = broker;
    let brokerUp = true;

    const stats = {
      brokerOutages: 0,
      startsWithBrokerDown: 0,
      killsWithBacklog: 0,
      maxBacklogAtKill: 0,
      restartsWithBacklog: 0,
      maxBacklogAtRestart: 0,
      earlyKills: 0,
      hqAbsences: 0,
      hqAbsencesOverBrokerRestart: 0,
    };

    const envFor = (): Record<string, string> => ({
      AYI_CHAIN_ID: CHAIN,
      AYI_STORE_ID: STORE,
      AYI_MQTT_URL: brokerNow.url,
      AYI_MQTT_RECONNECT_MAX_MS: '500',
      AYI_MQTT_KEEPALIVE_S: '5',
      // A small window now and then: the drain takes longer and more is in flight at a kill.
      AYI_MQTT_INFLIGHT: String([1, 8, 64][randomInt(0, 2)]),
    });

    // ---- first start: pair the tablets and log them in once ----
    hub = await startHubProcess({ dataDir, env: envFor() });
    const cashierPin = hub.demoPins.cashier;
    let tablets = await pairTablets(
      hub,
      TABLETS,
      (i) => `HQ crash tablet ${i + 1}`,
      () => cashierPin,
    );
    const products = (await tablets[0]!.request('GET', '/api/products')).body.products as ProductView[];
    expect(products.length).toBeGreaterThan(5);
    const identity = readStoreIdentity(dataDir);
    expect(identity).toMatchObject({ chainId: CHAIN, storeId: STORE });

    const ledger = new SalesLedger(`hqcrash-s${SEED}`, products, rng);
    const { acked, unknown, unexpected } = ledger;

    /** Unknown outcomes: the tablet retries with the same key; either way the sale is now acknowledged. */
    async function retryUnknown(cycle: number): Promise<void> {
      const where = `cycle ${cycle} (seed ${SEED})`;
      const keysInJournal = salesInJournal(scanJournal(dataDir, identity).events).byKey;
      for (const attempt of [...unknown.values()]) {
        const outcome = await send(tablets[attempt.tablet]!, 'POST', '/api/sales', {
          idempotencyKey: attempt.key,
          ...attempt.basket,
        });
        if (outcome.kind === 'unknown') expect.fail(`${where}: retry of ${attempt.key}: no answer (${outcome.error})`);
        const sale = outcome.body as unknown as SaleView;
        const wasRecorded = keysInJournal.has(attempt.key);
        // Recorded before the crash: a replay (200) of that sale. Lost with the crash: recorded now (201).
        expect(outcome.status, `${where}: retry of ${attempt.key}: ${JSON.stringify(outcome.body)}`).toBe(
          wasRecorded ? 200 : 201,
        );
        ledger.settleRetry(attempt, sale, wasRecorded ? keysInJournal.get(attempt.key)! : undefined);
      }
    }

    const stopBroker = async () => {
      brokerUp = false;
      stats.brokerOutages += 1;
      await brokerNow.stop();
    };
    const startBroker = async () => {
      await brokerNow.start();
      brokerUp = true;
    };

    /**
     * HQ's consumer goes away for a moment (a restart of HQ's service): the broker queues the events
     * for its persistent session. It comes back on its own (mqtt.js retries while the broker is down).
     */
    const hqAway = async () => {
      stats.hqAbsences += 1;
      await subscriber.client.endAsync(true);
    };
    const hqBack = () => {
      subscriber.client.reconnect();
    };

    // ---- the kill/restart cycles ----
    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      if (cycle > 0) {
        const journalLast = scanJournal(dataDir, identity).events.at(-1)?.seq ?? 0;
        const backlog = journalLast - persistedWatermark(dataDir);
        if (backlog > 0) stats.restartsWithBacklog += 1;
        stats.maxBacklogAtRestart = Math.max(stats.maxBacklogAtRestart, backlog);
        if (!brokerUp) stats.startsWithBrokerDown += 1;
        hub = await startHubProcess({ dataDir, env: envFor() });
        tablets = reconnect(tablets, hub.url);
        await retryUnknown(cycle);
      }
      expect(unexpected, `unexpected answers (seed ${SEED})`).toEqual([]);
      if (cycle === CYCLES) break;

      const current: HubProcess = hub;
      const stop = { now: false };
      const streams = tablets.map((tablet, index) => ledger.checkoutStream(tablet, index, cycle, stop));
      // The broker: down already (from the previous cycle), or stopped for a moment now and then.
      let brokerPlan: Promise<void> = Promise.resolve();
      let killAfterPlan = false;
      if (!brokerUp) {
        const downFor = randomInt(50, 700);
        brokerPlan = sleep(downFor).then(startBroker);
      } else if (rng() < 0.3) {
        const at = randomInt(0, 500);
        const downFor = randomInt(100, 800);
        // Sometimes it stays down over the kill and the next start-up (brought up next cycle).
        const staysDown = rng() < 0.3;
        // Sometimes HQ is away while the hub publishes and the broker stops and starts again: what
        // the broker acknowledged and queued for HQ must survive its restart (persistence), or HQ
        // has a gap the hub never fills. The hub is killed only after that, so the events are
        // acknowledged and the hub's watermark is past them.
        const hqAwayOverRestart = !staysDown && rng() < 0.5;
        const awayBefore = randomInt(100, 300);
        const backAfter = randomInt(50, 300);
        killAfterPlan = hqAwayOverRestart;
        brokerPlan = sleep(at).then(async () => {
          if (hqAwayOverRestart) {
            await hqAway();
            stats.hqAbsencesOverBrokerRestart += 1;
            await sleep(awayBefore);
          }
          await stopBroker();
          if (!staysDown) {
            await sleep(downFor);
            await startBroker();
          }
          if (hqAwayOverRestart) {
            await sleep(backAfter);
            hqBack();
          }
        });
      }
      // HQ away for a moment while the hub publishes (and perhaps while it is killed).
      let hqPlan: Promise<void> = Promise.resolve();
      if (!killAfterPlan && rng() < 0.3) {
        const at = randomInt(0, 600);
        const awayFor = randomInt(100, 900);
        hqPlan = brokerPlan.then(async () => {
          await sleep(at);
          await hqAway();
          await sleep(awayFor);
          hqBack();
        });
      }
      // SIGKILL at a random moment: now and then at once (the start-up drain of the backlog).
      const early = !killAfterPlan && cycle % 5 === 4;
      if (early) stats.earlyKills += 1;
      const runMs = early ? randomInt(0, 40) : randomInt(20, MAX_RUN_MS);
      await Promise.all([sleep(runMs), killAfterPlan ? brokerPlan.then(() => sleep(runMs % 300)) : null]);
      const seen = await health(current);
      const backlog = seen?.hq?.backlog ?? 0;
      if (backlog > 0) stats.killsWithBacklog += 1;
      stats.maxBacklogAtKill = Math.max(stats.maxBacklogAtKill, backlog);
      await current.kill('SIGKILL');
      stop.now = true;
      await Promise.all(streams);
      await brokerPlan;
      await hqPlan;
      expect(unexpected, `unexpected answers (seed ${SEED})`).toEqual([]);
    }

    // ---- the end: the broker up, selling stopped, the backlog drained ----
    if (!brokerUp) await startBroker();
    await subscriber.waitFor(() => subscriber.client.connected, 10_000, `HQ to be connected (seed ${SEED})`);
    const final = hub;
    const deadline = Date.now() + 30_000;
    let last: Health | null = null;
    for (;;) {
      last = await health(final);
      if (last?.hq?.link === 'connected' && last.hq.backlog === 0) break;
      if (Date.now() > deadline) expect.fail(`the backlog did not drain (seed ${SEED}): ${JSON.stringify(last)}`);
      await sleep(50);
    }
    const scan = scanJournal(dataDir, identity);
    expect(scan.problems, `journal problems (seed ${SEED})`).toEqual([]);
    const journal = scan.events;
    const lastSeq = journal.at(-1)!.seq;
    expect(last.lastSeq, `health lastSeq vs journal (seed ${SEED})`).toBe(lastSeq);
    expect(last.hq!.deliveredSeq, `delivered watermark (seed ${SEED})`).toBe(lastSeq);
    // A PUBACK means the broker has it, not HQ: give the broker a moment to forward the last ones
    // (if some never come, the comparison below names them).
    await subscriber
      .waitFor(() => new Set(subscriber.events.map((e) => e.eventId)).size >= journal.length, 10_000)
      .catch(() => undefined);
    await sleep(200); // late copies, so they are counted (and compared) too

    // ---- HQ's copy, deduplicated by eventId and kept per seq ----
    const copies = subscriber.events.slice();
    const byId = new Map<string, { event: HubEvent; copies: number }>();
    const idsBySeq = new Map<number, Set<string>>();
    const differentCopies: string[] = [];
    let outOfOrder = 0;
    let contiguous = 0;
    for (const event of copies) {
      const known = byId.get(event.eventId);
      if (known) {
        known.copies += 1;
        if (JSON.stringify(withoutLink(known.event)) !== JSON.stringify(withoutLink(event))) {
          differentCopies.push(`seq ${event.seq} (${event.eventId})`);
        }
        continue;
      }
      byId.set(event.eventId, { event, copies: 1 });
      idsBySeq.set(event.seq, (idsBySeq.get(event.seq) ?? new Set()).add(event.eventId));
      // The first copy of each seq should come after the first copies of all the seqs before it.
      if (event.seq === contiguous + 1) {
        contiguous += 1;
        while (idsBySeq.has(contiguous + 1)) contiguous += 1;
      } else if (event.seq > contiguous + 1) {
        outOfOrder += 1;
      }
    }
    expect(differentCopies, `copies of one event that differ (seed ${SEED})`).toEqual([]);
    const seqsWithTwoIds = [...idsBySeq].filter(([, ids]) => ids.size > 1).map(([seq]) => seq);
    expect(seqsWithTwoIds, `seqs HQ received under two eventIds (seed ${SEED})`).toEqual([]);

    const unique = [...byId.values()].map((v) => v.event).sort((a, b) => a.seq - b.seq);
    const journalIds = new Set(journal.map((e) => e.eventId));
    const missing = journal.filter((e) => !byId.has(e.eventId)).map((e) => e.seq);
    const extra = unique.filter((e) => !journalIds.has(e.eventId)).map((e) => `${e.seq} (${e.eventId})`);
    expect(missing, `journal events HQ never received (seed ${SEED})`).toEqual([]);
    expect(extra, `events HQ received that are not in the journal (seed ${SEED})`).toEqual([]);
    expect(
      unique.map((e) => e.seq),
      `HQ's seqs (seed ${SEED})`,
    ).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    unique.forEach((event, i) => {
      expect(withoutLink(event), `HQ's copy of seq ${event.seq} vs the journal (seed ${SEED})`).toEqual(journal[i]);
    });

    // Every sale acknowledged to a tablet, at HQ under the same saleId.
    expect(unknown.size).toBe(0);
    const salesAtHq = salesInJournal(unique);
    for (const [key, sale] of acked) {
      expect(salesAtHq.byKey.get(key), `acknowledged sale ${sale.saleId} (key ${key}) at HQ (seed ${SEED})`).toEqual([
        sale.saleId,
      ]);
    }
    expect(outOfOrder, `seqs whose first copy reached HQ before an earlier seq's (seed ${SEED})`).toBe(0);

    // A clean stop after all that.
    await final.stop();
    expect(final.child.exitCode, `clean stop exit code:\n${final.output()}`).toBe(0);
    hub = null;

    expect(
      stats.killsWithBacklog + stats.restartsWithBacklog,
      'kills landed while there was a backlog',
    ).toBeGreaterThan(0);
    const duplicates = copies.length - byId.size;
    const repeated = [...byId.values()].filter((v) => v.copies > 1);
    const maxCopies = Math.max(1, ...repeated.map((v) => v.copies));
    console.log(
      `hq-link crash test (seed ${SEED}): ${CYCLES} SIGKILLs (${stats.earlyKills} right after start-up, ` +
        `${stats.killsWithBacklog} with a backlog in the health view, max ${stats.maxBacklogAtKill}), ` +
        `${stats.restartsWithBacklog} restarts with undelivered events (max ${stats.maxBacklogAtRestart}), ` +
        `${stats.brokerOutages} broker outages (${stats.startsWithBrokerDown} hub starts with the broker down), ` +
        `HQ away ${stats.hqAbsences} times (${stats.hqAbsencesOverBrokerRestart} over a broker restart), ` +
        `${TABLETS} tablets, ${ledger.requests} checkout requests, ${acked.size} sales acknowledged, ` +
        `${ledger.unknownRecorded + ledger.unknownLost} unknown outcomes retried (${ledger.unknownRecorded} had been recorded, ` +
        `${ledger.unknownLost} had not); journal ${lastSeq} events, HQ received ${copies.length} copies: ` +
        `${byId.size} unique, ${duplicates} duplicates (${repeated.length} events more than once, at most ${maxCopies} copies), ` +
        `0 missing, 0 gaps; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    passed = true;
  });
});
