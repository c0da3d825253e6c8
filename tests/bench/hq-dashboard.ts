/**
 * How long HQ's dashboard figures take over a chain's year, on the embedded PGlite. One JSON line
 * per metric on stdout, {"metric","value","unit","baseline","ratio"}; progress on stderr.
 *
 *   hq_overview_ms         the median of AYI_BENCH_HQ_CALLS calls of the chain overview over the
 *                          year, for AYI_BENCH_HQ_STORES stores with AYI_BENCH_HQ_SALES sales in
 *                          all (a third to members). The members are stored through HQ's
 *                          ingest (storeEvents); the sales through the projection ingest runs for
 *                          a batch (projectMany, 2,000 a transaction) without their rows in the
 *                          events table, which the figures never read: a year of 200,000 sales
 *                          through the whole ingest takes PGlite minutes. Baseline: in the same run, the median of a bare
 *                          `SELECT sum(total) FROM sales` over the same table: what reading the
 *                          sales once costs. ratio = overview / bare.
 *   hq_stores_compare_ms   the same for the store comparison.
 *
 * Environment: AYI_BENCH_HQ_STORES (50), AYI_BENCH_HQ_SALES (200000), AYI_BENCH_HQ_CALLS (9),
 * AYI_BENCH_SEED.
 */
import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { overview } from '../../hq/src/analytics/overview.ts';
import { storesCompare } from '../../hq/src/analytics/stores-compare.ts';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import type { IncomingEvent } from '../../hq/src/ingest/event-message.ts';
import { projectMany } from '../../hq/src/ingest/projections.ts';
import { storeEvents } from '../../hq/src/ingest/store-event.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';
import { completedSale, registration, memberProfile, saleLine } from '../support/member-events.ts';
import { emit, progress, runBench } from './report.ts';

const env = process.env;
const STORES = Number(env.AYI_BENCH_HQ_STORES ?? 50);
const SALES = Number(env.AYI_BENCH_HQ_SALES ?? 200_000);
const CALLS = Number(env.AYI_BENCH_HQ_CALLS ?? 9);
const SEED = Number(env.AYI_BENCH_SEED ?? 20_261_207);
const MEMBERS_PER_STORE = 40;
const BATCH = 2000;
const CHAIN = 'bench-chain';
const YEAR = { from: '2026-01-01', to: '2026-12-31' };

const SEALED = { iv: 'aXY=', tag: 'dGFn', data: 'c2VhbGVk' };
const dayOf = (index: number) => new Date(Date.UTC(2026, 0, 1) + index * 86_400_000).toISOString().slice(0, 10);

/** One store's year: its members first, then its sales day by day, seq 1..N. */
function storeYear(storeId: string, sales: number, rng: () => number, phoneHashes: string[]): IncomingEvent[] {
  const epoch = randomUUID();
  const events: IncomingEvent[] = [];
  const push = (type: string, at: string, data: unknown, link: Record<string, unknown> | null = null) =>
    events.push({
      eventId: uuidv7(),
      chainId: CHAIN,
      storeId,
      epoch,
      seq: events.length + 1,
      type,
      at,
      occurredAt: null,
      data: data as Record<string, unknown>,
      link,
    });
  const members: string[] = [];
  for (let i = 0; i < MEMBERS_PER_STORE; i++) {
    const memberId = randomUUID();
    members.push(memberId);
    // Some shoppers of the chain shop in several stores: the same phone hash.
    const phoneHash = phoneHashes[Math.floor(rng() * phoneHashes.length)]!;
    push(
      'member.registered',
      '2026-01-01T02:00:00.000Z',
      { ...registration(memberId, memberProfile(memberId)), memberCode: `M${i}`, sealed: SEALED },
      { phoneHash },
    );
  }
  for (let i = 0; i < sales; i++) {
    const date = dayOf(Math.floor((i * 365) / sales));
    const memberId = rng() < 0.33 ? members[Math.floor(rng() * members.length)]! : null;
    const price = 30 + Math.floor(rng() * 300);
    push(
      'sale.completed',
      `${date}T04:00:00.000Z`,
      completedSale({
        saleId: `${date.replaceAll('-', '')}-${i + 1}`,
        businessDate: date,
        memberId,
        lines: [
          saleLine(1, `SKU-${Math.floor(rng() * 200)}`, price),
          saleLine(2, `SKU-${Math.floor(rng() * 200)}`, 40),
        ],
      }),
    );
  }
  return events;
}

async function median(calls: number, work: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  await work(); // the first call warms the caches; not counted
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await work();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function fill(db: Database): Promise<void> {
  const rng = seededRng(SEED);
  const phoneHashes = Array.from({ length: STORES * MEMBERS_PER_STORE * 0.8 }, () =>
    Array.from({ length: 64 }, () => Math.floor(rng() * 16).toString(16)).join(''),
  );
  const started = performance.now();
  for (let s = 0; s < STORES; s++) {
    const storeId = `store-${String(s + 1).padStart(3, '0')}`;
    const events = storeYear(storeId, Math.round(SALES / STORES), rng, phoneHashes);
    const members = events.filter((e) => e.type === 'member.registered');
    await storeEvents(
      db,
      members.map((event) => ({ event, knownType: true })),
    );
    const sales = events.filter((e) => e.type === 'sale.completed');
    for (let i = 0; i < sales.length; i += BATCH) {
      await db.transaction((tx) => projectMany(tx, sales.slice(i, i + BATCH)));
    }
    if ((s + 1) % 10 === 0) progress(`${s + 1} stores stored (${Math.round((performance.now() - started) / 1000)} s)`);
  }
}

runBench(async () => {
  const db = await openDatabase({ dataDir: 'memory://' });
  try {
    await migrate(db);
    progress(`storing ${SALES} sales of ${STORES} stores through HQ's ingest (PGlite)`);
    await fill(db);
    const bare = await median(CALLS, () => db.query('SELECT sum(total) FROM sales'));
    const overviewMs = await median(CALLS, () => overview(db, YEAR));
    const compareMs = await median(CALLS, () => storesCompare(db, YEAR));
    emit('hq_overview_ms', overviewMs, 'ms', bare, overviewMs / bare);
    emit('hq_stores_compare_ms', compareMs, 'ms', bare, compareMs / bare);
  } finally {
    await db.close();
  }
});
