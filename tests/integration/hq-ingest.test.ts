/**
 * HQ's ingest: every event once, whatever order or how many times it arrives, refused messages
 * kept with a reason. Runs on the embedded PGlite always and on the PostgreSQL server at
 * 127.0.0.1:5432 where one answers (the same SQL, the same migrations).
 */
import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../hq/src/db/database.ts';
import { migrate, readMigrations } from '../../hq/src/db/migrations.ts';
import { readEventMessage } from '../../hq/src/ingest/event-message.ts';
import { IngestBatcher } from '../../hq/src/ingest/batcher.ts';
import { quarantine, storeEvent, storeEvents } from '../../hq/src/ingest/store-event.ts';
import type { EventType, HubEvent } from '../../hub/src/protocol/events.ts';
import { completedSale, refundedSale, saleLine, voidedSale } from '../support/member-events.ts';
import { hqTestDatabases } from '../support/postgres-server.ts';

const CHAIN = 'test-chain';
const topicOf = (storeId: string) => `ayi/v1/${CHAIN}/${storeId}/events`;
let stores = 0;

/** A store's event stream as its hub would publish it. */
class StoreStream {
  readonly epoch = randomUUID();
  private seq = 0;
  /** Each stream is a store of its own: the tests share one database without touching each other. */
  readonly storeId = `store-${++stores}`;

  next(type: EventType | string, data: unknown, at = '2026-12-01T02:00:00.000Z'): HubEvent {
    this.seq += 1;
    return {
      schema: 'ayi.event/1',
      eventId: uuidv7(),
      chainId: CHAIN,
      storeId: this.storeId,
      epoch: this.epoch,
      seq: this.seq,
      type,
      at,
      data,
    } as HubEvent;
  }
}

const sale = (saleId: string, total: number) =>
  completedSale({
    saleId,
    businessDate: '2026-12-01',
    memberId: null,
    lines: [saleLine(1, 'DRK-001', total - 20), saleLine(2, 'FOD-001', 20)],
  });
const voided = voidedSale;
const refunded = refundedSale;

async function ingest(db: Database, event: HubEvent) {
  const verdict = readEventMessage(topicOf(event.storeId), Buffer.from(JSON.stringify(event)));
  if (!verdict.ok) throw new Error(`refused: ${verdict.reason} ${verdict.detail}`);
  return storeEvent(db, verdict.event, verdict.knownType);
}

async function streamRow(db: Database, stream: StoreStream) {
  const [row] = await db.query<{
    contiguous_seq: string;
    max_seq: string;
    event_count: string;
    gap_since: Date | null;
  }>('SELECT contiguous_seq, max_seq, event_count, gap_since FROM store_streams WHERE store_id = $1 AND epoch = $2', [
    stream.storeId,
    stream.epoch,
  ]);
  return (
    row && {
      contiguous: Number(row.contiguous_seq),
      max: Number(row.max_seq),
      count: Number(row.event_count),
      gap: row.gap_since !== null,
    }
  );
}

async function salesRows(db: Database, storeId: string) {
  return (
    await db.query<Record<string, unknown>>(
      `SELECT sale_id, completed, voided, total::int AS total, refunded::int AS refunded, line_count
       FROM sales WHERE store_id = $1 ORDER BY sale_id`,
      [storeId],
    )
  ).map((r) => ({ ...r }));
}

const eventCount = async (db: Database, storeId: string) =>
  Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE store_id = $1', [storeId]))[0]!.n);

const backends = hqTestDatabases();

describe.each(backends)('HQ ingest on $name', ({ open }) => {
  let database: Database | null = null;
  beforeAll(async () => {
    database = await open();
  }, 60_000);
  afterAll(async () => {
    await database?.close();
  });
  const fresh = async (): Promise<Database | null> => database;

  it('applies each migration once', async () => {
    const db = await fresh();
    if (!db) return;
    expect(await migrate(db)).toEqual([]);
    const tables = await db.query<{ version: number }>('SELECT version FROM schema_migrations');
    expect(tables.map((t) => Number(t.version)).sort((a, b) => a - b)).toEqual(readMigrations().map((m) => m.version));
  });

  it('stores a second copy of an event as nothing: one row, a refund counted once', async () => {
    const db = await fresh();
    if (!db) return;
    const stream = new StoreStream();
    const sold = stream.next('sale.completed', sale('20261201-000001', 120));
    const refund = stream.next('sale.refunded', refunded('20261201-000001', 20));
    expect(await ingest(db, sold)).toBe('stored');
    expect(await ingest(db, refund)).toBe('stored');
    expect(await ingest(db, sold)).toBe('duplicate');
    expect(await ingest(db, refund)).toBe('duplicate');
    expect(await eventCount(db, stream.storeId)).toBe(2);
    expect(await salesRows(db, stream.storeId)).toEqual([
      { sale_id: '20261201-000001', completed: true, voided: false, total: 120, refunded: 20, line_count: 2 },
    ]);
    expect(await streamRow(db, stream)).toEqual({ contiguous: 2, max: 2, count: 2, gap: false });
  });

  it('keeps the contiguous seq: a hole stays open until the late event fills it', async () => {
    const db = await fresh();
    if (!db) return;
    const stream = new StoreStream();
    const events = Array.from({ length: 6 }, (_, i) => stream.next('sale.completed', sale(`S-${i + 1}`, 100)));
    const late = events[2]!;
    for (const event of events) if (event !== late) await ingest(db, event);
    expect(await streamRow(db, stream)).toEqual({ contiguous: 2, max: 6, count: 5, gap: true });
    await ingest(db, late);
    expect(await streamRow(db, stream)).toEqual({ contiguous: 6, max: 6, count: 6, gap: false });
  });

  it('gives the same sales whatever order a sale, its refund and its void arrive in', async () => {
    const db = await fresh();
    if (!db) return;
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    const results: unknown[] = [];
    for (const order of orders) {
      // The same sale at a store of its own for each order.
      const stream = new StoreStream();
      const events = [
        stream.next('sale.completed', sale('20261201-000007', 300)),
        stream.next('sale.refunded', refunded('20261201-000007', 20)),
        stream.next('sale.voided', voided('20261201-000007')),
      ];
      for (const i of order) await ingest(db, events[i]!);
      results.push({ sales: await salesRows(db, stream.storeId), stream: await streamRow(db, stream) });
    }
    expect(results[0]).toEqual({
      sales: [{ sale_id: '20261201-000007', completed: true, voided: true, total: 300, refunded: 20, line_count: 2 }],
      stream: { contiguous: 3, max: 3, count: 3, gap: false },
    });
    for (const result of results) expect(result).toEqual(results[0]);
  });

  it('keeps both events of one seq (a store restored without a new epoch), flags them, counts one', async () => {
    const db = await fresh();
    if (!db) return;
    const stream = new StoreStream();
    const first = stream.next('sale.completed', sale('20261201-000001', 100));
    const other = { ...first, eventId: uuidv7(), data: sale('20261201-000001', 999) } as HubEvent;
    expect(await ingest(db, first)).toBe('stored');
    expect(await ingest(db, other)).toBe('conflict');
    const conflicts = await db.query<{ seq: string; event_id: string; other_event_id: string }>(
      'SELECT seq, event_id, other_event_id FROM seq_conflicts WHERE store_id = $1',
      [stream.storeId],
    );
    expect(conflicts.map((c) => ({ ...c, seq: Number(c.seq) }))).toEqual([
      { seq: 1, event_id: other.eventId, other_event_id: first.eventId },
    ]);
    expect(await eventCount(db, stream.storeId)).toBe(2);
    expect((await salesRows(db, stream.storeId)).map((s) => s.total)).toEqual([100]);
  });

  it('dates imported history (a seeded demo store) by when it happened, not when it was recorded', async () => {
    const db = await fresh();
    if (!db) return;
    const stream = new StoreStream();
    const old = { ...stream.next('sale.completed', sale('S-1', 100)), occurredAt: '2025-12-24T03:00:00.000Z' };
    await ingest(db, old as HubEvent);
    const [row] = await db.query<{ at: Date }>('SELECT at FROM sales WHERE store_id = $1', [stream.storeId]);
    expect(row!.at.toISOString()).toBe('2025-12-24T03:00:00.000Z');
  });

  it('stores an event type it does not know yet (a newer hub): the seq stays contiguous', async () => {
    const db = await fresh();
    if (!db) return;
    const stream = new StoreStream();
    await ingest(db, stream.next('sale.completed', sale('S-1', 100)));
    expect(await ingest(db, stream.next('loyalty.something_new', { any: 'shape' }))).toBe('stored');
    await ingest(db, stream.next('sale.completed', sale('S-2', 100)));
    expect(await streamRow(db, stream)).toMatchObject({ contiguous: 3, count: 3 });
  });

  it('stores a batch (one transaction) exactly as it stores the same events one at a time', async () => {
    const db = await fresh();
    if (!db) return;
    // Two stores' streams with everything that depends on order: holes filled late, copies (within a
    // batch too), a refund and a void before their sale, two events of one seq, a type not known yet.
    const streams = [new StoreStream(), new StoreStream()];
    const events: HubEvent[] = [];
    for (const stream of streams) {
      const s1 = stream.next('sale.completed', sale(`${stream.storeId}-1`, 150));
      const s2 = stream.next('sale.completed', sale(`${stream.storeId}-2`, 90));
      const refund = stream.next('sale.refunded', refunded(`${stream.storeId}-1`, 20));
      const voidIt = stream.next('sale.voided', voided(`${stream.storeId}-2`));
      const unknown = stream.next('loyalty.something_new', { any: 'shape' });
      const s6 = stream.next('sale.completed', sale(`${stream.storeId}-6`, 70));
      const twin = { ...s6, eventId: uuidv7(), data: sale(`${stream.storeId}-6`, 999) } as HubEvent;
      events.push(refund, voidIt, s6, twin, s2, s2, unknown, s1, refund);
    }
    // The same events under other stores' names: one copy stored one at a time, one in batches.
    const as = (event: HubEvent, suffix: string) => ({ ...event, storeId: `${event.storeId}-${suffix}` }) as HubEvent;
    const verdicts = (suffix: string) =>
      events.map((e) => {
        const event = as(e, suffix);
        const verdict = readEventMessage(topicOf(event.storeId), JSON.stringify(event));
        if (!verdict.ok) throw new Error(verdict.detail);
        return verdict;
      });
    const oneAtATime: string[] = [];
    for (const v of verdicts('single')) oneAtATime.push(await storeEvent(db, v.event, v.knownType));
    const batched: string[] = [];
    const inBatches = verdicts('batch');
    for (const size of [4, 5, 9]) batched.push(...(await storeEvents(db, inBatches.splice(0, size))));
    expect(batched).toEqual(oneAtATime);
    expect(oneAtATime.filter((o) => o === 'conflict')).toHaveLength(2);

    // Every table, rows of the "-single" stores against the "-batch" ones.
    const tables: [string, string][] = [
      ['events', 'event_id, chain_id, epoch, seq, type, at, data'],
      ['store_streams', 'epoch, contiguous_seq, max_seq, event_count, gap_since IS NULL AS no_gap'],
      ['seq_conflicts', 'epoch, seq, event_id, other_event_id'],
      ['sales', "replace(sale_id, '-batch', '') AS sale, completed, voided, total, refunded, line_count"],
      ['sale_lines', "replace(sale_id, '-batch', '') AS sale, line_no, sku, qty, amount"],
      ['sale_refunds', "event_id, replace(sale_id, '-batch', '') AS sale, amount"],
    ];
    for (const [table, columns] of tables) {
      const rows = async (suffix: string) =>
        (
          await db.query(
            `SELECT regexp_replace(store_id, '-${suffix}$', '') AS store, ${columns.replaceAll("'-batch'", `'-${suffix}'`)}
             FROM ${table} WHERE store_id LIKE ANY($1) ORDER BY 1, 2, 3`,
            [streams.map((s) => `${s.storeId}-${suffix}`)],
          )
        ).map((row) => JSON.stringify(row));
      const single = await rows('single');
      expect(single.length, table).toBeGreaterThan(0);
      expect(await rows('batch'), table).toEqual(single);
    }
  });

  it('lets no event the database refuses hold back the others of its batch', async () => {
    const db = await fresh();
    if (!db) return;
    const batcher = new IngestBatcher(db, { lingerMs: 50 });
    const stream = new StoreStream();
    const [a, bad, b] = ['S-1', 'S-2', 'S-3'].map((id) => stream.next('sale.completed', sale(id, 100)));
    // Valid JSON a PostgreSQL jsonb cannot hold (a NUL character).
    const unstorable = { ...bad!, data: { ...(bad!.data as object), staffId: 'staff\u0000-1' } } as HubEvent;
    const results = await Promise.allSettled(
      [a!, unstorable, b!].map((event) => {
        const verdict = readEventMessage(topicOf(event.storeId), JSON.stringify(event));
        if (!verdict.ok) throw new Error(verdict.detail);
        return batcher.store(verdict.event, verdict.knownType);
      }),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(batcher.stats.fallbacks).toBe(1);
    expect(await eventCount(db, stream.storeId)).toBe(2);
    expect(await streamRow(db, stream)).toEqual({ contiguous: 1, max: 3, count: 2, gap: true });
  });

  it('stores exactly the right rows from one batch of copies, events out of order and one it cannot take', async () => {
    const db = await fresh();
    if (!db) return;
    const stream = new StoreStream();
    const first = stream.next('sale.completed', sale('M-1', 100));
    const second = stream.next('sale.completed', sale('M-2', 80));
    const third = stream.next('sale.completed', sale('M-3', 60));
    const refund = stream.next('sale.refunded', refunded('M-1', 30));
    const voidIt = stream.next('sale.voided', voided('M-2'));
    const fourth = stream.next('sale.completed', sale('M-4', 50));
    expect(await ingest(db, first)).toBe('stored'); // held before: its copy in the batch is nothing
    // Valid JSON a PostgreSQL jsonb cannot hold (a NUL character).
    const unstorable = { ...third, data: { ...(third.data as object), staffId: 'staff\u0000-1' } } as HubEvent;
    const batcher = new IngestBatcher(db, { lingerMs: 50 });
    const arriving = [voidIt, first, fourth, refund, unstorable, second, refund, voidIt];
    const results = await Promise.allSettled(
      arriving.map((event) => {
        const verdict = readEventMessage(topicOf(event.storeId), JSON.stringify(event));
        if (!verdict.ok) throw new Error(verdict.detail);
        return batcher.store(verdict.event, verdict.knownType);
      }),
    );
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'refused'))).toEqual([
      'stored',
      'duplicate',
      'stored',
      'stored',
      'refused',
      'stored',
      'duplicate',
      'duplicate',
    ]);
    expect(await eventCount(db, stream.storeId)).toBe(5);
    expect(await streamRow(db, stream)).toEqual({ contiguous: 2, max: 6, count: 5, gap: true });
    expect(await salesRows(db, stream.storeId)).toEqual([
      { sale_id: 'M-1', completed: true, voided: false, total: 100, refunded: 30, line_count: 2 },
      { sale_id: 'M-2', completed: true, voided: true, total: 80, refunded: 0, line_count: 2 },
      { sale_id: 'M-4', completed: true, voided: false, total: 50, refunded: 0, line_count: 2 },
    ]);
    // The store sends the refused seq again, as it is now (healed): the stream is whole.
    expect(await ingest(db, third)).toBe('stored');
    expect(await streamRow(db, stream)).toEqual({ contiguous: 6, max: 6, count: 6, gap: false });
    expect((await salesRows(db, stream.storeId)).map((row) => row.sale_id)).toEqual(['M-1', 'M-2', 'M-3', 'M-4']);
  });

  it('stores the same rows when three workers store one chain at once, copies and a twin seq included', async () => {
    const db = await fresh();
    if (!db) return;
    // Three workers' batchers on one database: each event goes to one of them, some to two (a copy
    // sent again), in an order of its own; one seq of each store comes twice under two event ids.
    const streams = [new StoreStream(), new StoreStream(), new StoreStream()];
    const events: HubEvent[] = [];
    const twins: [HubEvent, HubEvent][] = [];
    for (const stream of streams) {
      for (let n = 1; n <= 30; n += 1) {
        const saleId = `${stream.storeId}-${n}`;
        events.push(stream.next('sale.completed', sale(saleId, 100 + n)));
        if (n % 7 === 0) events.push(stream.next('sale.voided', voided(saleId)));
        if (n % 5 === 0) events.push(stream.next('sale.refunded', refunded(saleId, 10)));
      }
      const original = events.at(-1)!;
      const twin = { ...original, eventId: uuidv7() } as HubEvent;
      events.push(twin);
      twins.push([original, twin]);
    }
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const deliveries = events.flatMap((event, i) => (i % 4 === 0 ? [event, event] : [event]));
    deliveries.sort(() => random() - 0.5);
    const workers = Array.from({ length: 3 }, () => new IngestBatcher(db, { lingerMs: 5, maxBatch: 16 }));
    const outcomes = await Promise.all(
      deliveries.map((event) => {
        const verdict = readEventMessage(topicOf(event.storeId), JSON.stringify(event));
        if (!verdict.ok) throw new Error(verdict.detail);
        return workers[Math.floor(random() * 3)]!.store(verdict.event, verdict.knownType).then(
          (o) => [event, o] as const,
        );
      }),
    );
    const outcomeOf = (event: HubEvent) => outcomes.filter(([e]) => e === event).map(([, o]) => o);
    for (const event of events) {
      const kept = outcomeOf(event).filter((o) => o !== 'duplicate');
      expect(kept, `${event.storeId} seq ${event.seq}`).toHaveLength(1);
    }
    for (const [stream, [original, twin]] of streams.map((s, i) => [s, twins[i]!] as const)) {
      // One of the two is in the figures, the other flagged; every seq is held.
      const flagged = [original, twin].filter((e) => outcomeOf(e).includes('conflict'));
      expect(flagged).toHaveLength(1);
      const seqCount = events.filter((e) => e.storeId === stream.storeId).length - 1;
      expect(await streamRow(db, stream)).toEqual({
        contiguous: seqCount,
        max: seqCount,
        count: seqCount + 1,
        gap: false,
      });
      const conflicts = await db.query('SELECT 1 FROM seq_conflicts WHERE store_id = $1', [stream.storeId]);
      expect(conflicts).toHaveLength(1);
      // The sales as the events say, counted once each.
      const ofStore = events.filter((e) => e.storeId === stream.storeId && e !== flagged[0]);
      const expected = ofStore
        .filter((e) => e.type === 'sale.completed')
        .map((e) => {
          const { saleId, total } = e.data as { saleId: string; total: number };
          const about = (type: string) =>
            ofStore.filter((x) => x.type === type && (x.data as { saleId: string }).saleId === saleId);
          return {
            sale_id: saleId,
            completed: true,
            voided: about('sale.voided').length > 0,
            total,
            refunded: about('sale.refunded').length * 10,
            line_count: 2,
          };
        })
        .sort((a, b) => (a.sale_id < b.sale_id ? -1 : 1));
      expect(await salesRows(db, stream.storeId)).toEqual(expected);
    }
  });

  it('keeps what it refuses in quarantine, with the reason', async () => {
    const db = await fresh();
    if (!db) return;
    const stream = new StoreStream();
    const good = stream.next('sale.completed', sale('S-1', 100));
    const own = topicOf(stream.storeId);
    const elsewhere = `ayi/v1/${CHAIN}/${stream.storeId}-b/events`;
    const cases: [string, string, string][] = [
      [own.replace(/events$/, 'status'), JSON.stringify(good), 'bad_topic'],
      [own, '{"schema":"ayi.event/1",', 'not_json'],
      [own, JSON.stringify({ ...good, seq: 0 }), 'bad_envelope'],
      [elsewhere, JSON.stringify(good), 'topic_mismatch'],
      [own, JSON.stringify({ ...good, data: { ...(good.data as object), total: -5 } }), 'bad_payload'],
      [own, JSON.stringify({ ...good, extra: 1 }), 'bad_envelope'],
    ];
    for (const [topic, payload, reason] of cases) {
      const verdict = readEventMessage(topic, payload);
      expect(verdict.ok ? 'accepted' : verdict.reason, `${reason}: ${String(payload).slice(0, 40)}`).toBe(reason);
      if (!verdict.ok) await quarantine(db, topic, verdict.storeId, verdict.reason, verdict.detail, payload);
    }
    const kept = await db.query<{ reason: string; store_id: string | null; payload: string }>(
      `SELECT reason, store_id, payload FROM quarantine WHERE topic LIKE $1 ORDER BY id`,
      [`ayi/v1/${CHAIN}/${stream.storeId}%`],
    );
    expect(kept.map((k) => k.reason)).toEqual(cases.map((c) => c[2]));
    expect(kept[3]).toMatchObject({ store_id: `${stream.storeId}-b`, payload: JSON.stringify(good) });
    expect(kept[0]!.store_id).toBeNull(); // a topic that is not an events topic names nobody for sure
    expect(await eventCount(db, stream.storeId)).toBe(0);
  });
});
