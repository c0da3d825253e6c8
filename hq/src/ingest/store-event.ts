/**
 * Stores events and their projections, each event with its projections in one transaction (a
 * batch: several events in one). A second copy changes nothing; the same seq under another event id
 * is kept and flagged, never counted twice.
 */
import type { Database, Queryable } from '../db/database.js';
import type { IncomingEvent, QuarantineReason } from './event-message.js';
import { anonymiseIfErased, namesErasedMember, quarantinable } from './erasure.js';
import { PROJECTED, project, projectMany, SET_PROJECTED } from './projections.js';

export type StoreOutcome = 'stored' | 'duplicate' | 'conflict';

/** How far the next contiguous run is read at once when a late event closes a hole. */
const RUN_PAGE = 5000;

/** An event that passed validation, and whether this HQ knows its type (and so projects it). */
export interface ValidEvent {
  event: IncomingEvent;
  knownType: boolean;
}

/** Stores one event and its projections in a transaction of its own. */
export async function storeEvent(db: Database, received: IncomingEvent, knownType: boolean): Promise<StoreOutcome> {
  const [outcome] = await storeEvents(db, [{ event: received, knownType }]);
  return outcome!;
}

/**
 * Stores several events (from any stores) in one transaction, in the order given: one commit for
 * all of them. Each gets the outcome it would have had alone.
 */
export async function storeEvents(db: Database, events: ValidEvent[]): Promise<StoreOutcome[]> {
  return db.transaction(async (tx) => {
    // Sales, voids and refunds (the bulk of the stream) take their stream locks only after their
    // events are in, one event as a batch; the rest locks first and goes event by event.
    if (await storableAsSet(tx, events)) return storeSet(tx, events);
    const streams = await lockStreams(tx, events);
    const outcomes: StoreOutcome[] = [];
    for (const { event, knownType } of events) outcomes.push(await storeLocked(tx, streams, event, knownType));
    return outcomes;
  });
}

/**
 * Whether a batch can be stored a statement per table rather than event by event: only when no
 * event's storing depends on another's in ways the statements cannot see (an erasure, a merge, an
 * event of an erased member, a projection `projectMany` does not have).
 */
async function storableAsSet(tx: Queryable, events: ValidEvent[]): Promise<boolean> {
  const projectable = events.every(
    ({ event, knownType }) => !knownType || SET_PROJECTED.has(event.type) || !PROJECTED.has(event.type),
  );
  return (
    projectable &&
    !(await namesErasedMember(
      tx,
      events.map((e) => e.event),
    ))
  );
}

const eventKey = (event: IncomingEvent) => `${event.storeId} ${event.eventId.toLowerCase()}`;

/**
 * `storeLocked` for a whole batch, a statement per table: the same rows, far fewer round trips.
 *
 * The events are inserted before their streams are locked, so the workers' batches (which share
 * most stores) insert their events at the same time and wait for each other only for what needs
 * one view of a stream: the seq conflicts, the contiguous seq and the projections, all read after
 * the lock (each statement then sees every event a batch that held the lock before committed).
 * Keys are taken in one order (events by store and id, streams by store and epoch, projected rows
 * by key) so batches that share events or sales wait instead of deadlocking.
 */
async function storeSet(tx: Queryable, events: ValidEvent[]): Promise<StoreOutcome[]> {
  // The first copy of each event in the batch is the one stored; the others are duplicates.
  const firstCopy = new Map<string, ValidEvent>();
  for (const item of events) if (!firstCopy.has(eventKey(item.event))) firstCopy.set(eventKey(item.event), item);
  const candidates = [...firstCopy.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, item]) => item.event);
  const column = <T>(pick: (e: IncomingEvent) => T) => candidates.map(pick);
  const inserted = await tx.query<{ store_id: string; event_id: string }>(
    `INSERT INTO events (store_id, event_id, chain_id, epoch, seq, type, at, occurred_at, data, link)
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::bigint[], $6::text[],
                          $7::timestamptz[], $8::timestamptz[], $9::jsonb[], $10::jsonb[])
     ON CONFLICT (store_id, event_id) DO NOTHING RETURNING store_id, event_id`,
    [
      column((e) => e.storeId),
      column((e) => e.eventId),
      column((e) => e.chainId),
      column((e) => e.epoch),
      column((e) => e.seq),
      column((e) => e.type),
      column((e) => e.at),
      column((e) => e.occurredAt),
      column((e) => JSON.stringify(e.data)),
      column((e) => (e.link === null ? null : JSON.stringify(e.link))),
    ],
  );
  const insertedKeys = new Set(inserted.map((row) => `${row.store_id} ${row.event_id}`));
  const outcomes = (conflicted: Set<string>) =>
    events.map((item): StoreOutcome => {
      const key = eventKey(item.event);
      if (firstCopy.get(key) !== item || !insertedKeys.has(key)) return 'duplicate';
      return conflicted.has(key) ? 'conflict' : 'stored';
    });
  const stored = [...firstCopy.entries()].filter(([key]) => insertedKeys.has(key)).map(([, item]) => item);
  if (stored.length === 0) return outcomes(new Set());

  const streams = await lockStreams(tx, stored);
  // A member erased while this batch waited for its streams: the batcher stores it again one event
  // at a time, anonymised.
  const erasedMeanwhile = await namesErasedMember(
    tx,
    stored.map((s) => s.event),
  );
  if (erasedMeanwhile) throw new Error('a member named in this batch was erased meanwhile');
  const conflicted = await flagSeqConflicts(tx, streams, stored);

  // Each stream touched: its new contiguous seq, highest seq, count and latest time.
  const touched = new Map<string, { event: IncomingEvent; maxSeq: number; count: number; lastAt: string }>();
  for (const { event } of stored) {
    const key = streamKey(event.storeId, event.epoch);
    const stream = touched.get(key) ?? { event, maxSeq: 0, count: 0, lastAt: event.at };
    stream.maxSeq = Math.max(stream.maxSeq, event.seq);
    stream.count += 1;
    if (Date.parse(event.at) > Date.parse(stream.lastAt)) stream.lastAt = event.at;
    touched.set(key, stream);
  }
  // Only an event right after a stream's contiguous seq moves it (and the run may go on past the
  // batch, into events that waited for a hole): one query for every stream that moves.
  const movingKeys = new Set(
    stored
      .map((s) => streamKey(s.event.storeId, s.event.epoch))
      .filter((key, i) => stored[i]!.event.seq === streams.get(key)!.contiguous + 1),
  );
  const moving = [...touched.entries()].filter(([key]) => movingKeys.has(key));
  if (moving.length > 0) {
    const runs = await tx.query<{ reached: string | number }>(
      `SELECT s.c + (
         SELECT count(*) FROM (
           SELECT d.seq, row_number() OVER (ORDER BY d.seq) AS rn
           FROM (SELECT DISTINCT seq FROM events e WHERE e.store_id = s.store_id AND e.epoch = s.epoch
                 AND e.seq > s.c ORDER BY seq LIMIT ${RUN_PAGE}) d) r
         WHERE r.seq = s.c + r.rn) AS reached
       FROM unnest($1::text[], $2::uuid[], $3::bigint[]) WITH ORDINALITY AS s (store_id, epoch, c, i) ORDER BY s.i`,
      [
        moving.map(([, s]) => s.event.storeId),
        moving.map(([, s]) => s.event.epoch),
        moving.map(([key]) => streams.get(key)!.contiguous),
      ],
    );
    for (const [i, [key, { event }]] of moving.entries()) {
      let reached = Number(runs[i]!.reached);
      // A run longer than a page (a long-awaited hole filled): read on from where the page ended.
      if (reached - streams.get(key)!.contiguous === RUN_PAGE)
        reached = await advanceContiguous(tx, { ...event, seq: reached }, reached - 1);
      streams.get(key)!.contiguous = reached;
    }
  }
  const rows = [...touched.entries()];
  await tx.query(
    `UPDATE store_streams t SET
       contiguous_seq = u.contiguous,
       max_seq = GREATEST(t.max_seq, u.max_seq),
       event_count = t.event_count + u.count,
       last_event_at = GREATEST(t.last_event_at, u.last_at),
       last_received_at = now(),
       gap_since = CASE WHEN GREATEST(t.max_seq, u.max_seq) > u.contiguous THEN COALESCE(t.gap_since, now()) ELSE NULL END
     FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[])
       AS u (store_id, epoch, contiguous, max_seq, count, last_at)
     WHERE t.store_id = u.store_id AND t.epoch = u.epoch`,
    [
      rows.map(([, s]) => s.event.storeId),
      rows.map(([, s]) => s.event.epoch),
      rows.map(([key]) => streams.get(key)!.contiguous),
      rows.map(([, s]) => s.maxSeq),
      rows.map(([, s]) => s.count),
      rows.map(([, s]) => s.lastAt),
    ],
  );

  // The first copy of a seq stays in the figures; a conflicting one is only shown.
  const projected = stored.filter(({ event, knownType }) => knownType && !conflicted.has(eventKey(event)));
  await projectMany(
    tx,
    projected.map((p) => p.event),
  );
  return outcomes(conflicted);
}

/**
 * Flags the stored events whose seq another event already has (held before, or earlier in this
 * batch): both kept, the later one flagged. Returns the flagged ones' keys. Only a seq at or below
 * its stream's highest seq, or one the batch holds twice, can have another event.
 */
async function flagSeqConflicts(
  tx: Queryable,
  streams: Map<string, LockedStream>,
  stored: ValidEvent[],
): Promise<Set<string>> {
  const seqKey = (e: IncomingEvent) => `${streamKey(e.storeId, e.epoch)} ${e.seq}`;
  const seqCount = new Map<string, number>();
  for (const { event } of stored) seqCount.set(seqKey(event), (seqCount.get(seqKey(event)) ?? 0) + 1);
  const suspects = stored
    .map((s) => s.event)
    .filter((e) => e.seq <= streams.get(streamKey(e.storeId, e.epoch))!.maxSeq || seqCount.get(seqKey(e))! > 1);
  if (suspects.length === 0) return new Set();
  const conflicts = await tx.query<{ store_id: string; event_id: string; epoch: string; seq: string; other: string }>(
    `SELECT n.store_id, n.event_id, n.epoch, n.seq, e.event_id AS other
     FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::bigint[]) AS n (store_id, event_id, epoch, seq)
     JOIN events e ON e.store_id = n.store_id AND e.epoch = n.epoch AND e.seq = n.seq AND e.event_id <> n.event_id`,
    [
      suspects.map((e) => e.storeId),
      suspects.map((e) => e.eventId),
      suspects.map((e) => e.epoch),
      suspects.map((e) => e.seq),
    ],
  );
  // As one at a time would: an event conflicts with those held before it, not with those after it.
  const position = new Map(stored.map((s, i) => [eventKey(s.event), i]));
  const flagged = conflicts.filter(
    (c) => (position.get(`${c.store_id} ${c.other}`) ?? -1) < position.get(`${c.store_id} ${c.event_id}`)!,
  );
  if (flagged.length > 0) {
    await tx.query(
      `INSERT INTO seq_conflicts (store_id, epoch, seq, event_id, other_event_id)
       SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::uuid[], $5::uuid[]) ON CONFLICT DO NOTHING`,
      [
        flagged.map((c) => c.store_id),
        flagged.map((c) => c.epoch),
        flagged.map((c) => c.seq),
        flagged.map((c) => c.event_id),
        flagged.map((c) => c.other),
      ],
    );
  }
  return new Set(flagged.map((c) => `${c.store_id} ${c.event_id}`));
}

const streamKey = (storeId: string, epoch: string) => `${storeId} ${epoch.toLowerCase()}`;

/** A stream row as locked: the seq up to which HQ holds everything, and the highest it holds. */
interface LockedStream {
  contiguous: number;
  maxSeq: number;
}

/**
 * The stream rows are the locks: one store's events are counted and projected one transaction at a
 * time whichever worker received them, so its contiguous seq is never computed from two views at
 * once. A batch takes its rows in one fixed order (store, epoch), as every worker does, so two
 * batches that share stores wait for each other instead of deadlocking.
 */
async function lockStreams(tx: Queryable, events: ValidEvent[]): Promise<Map<string, LockedStream>> {
  const streams = new Map<string, IncomingEvent>();
  for (const { event } of events) streams.set(streamKey(event.storeId, event.epoch), event);
  const ordered = [...streams.values()];
  const storeIds = ordered.map((e) => e.storeId);
  const epochs = ordered.map((e) => e.epoch);
  await tx.query(
    `INSERT INTO store_streams (store_id, epoch, chain_id)
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[]) AS s (store_id, epoch, chain_id) ORDER BY 1, 2
     ON CONFLICT DO NOTHING`,
    [storeIds, epochs, ordered.map((e) => e.chainId)],
  );
  const locked = await tx.query<{ store_id: string; epoch: string; contiguous_seq: string; max_seq: string }>(
    `SELECT store_id, epoch, contiguous_seq, max_seq FROM store_streams
     WHERE (store_id, epoch) IN (SELECT * FROM unnest($1::text[], $2::uuid[]))
     ORDER BY store_id, epoch FOR UPDATE`,
    [storeIds, epochs],
  );
  return new Map(
    locked.map((row) => [
      streamKey(row.store_id, row.epoch),
      { contiguous: Number(row.contiguous_seq), maxSeq: Number(row.max_seq) },
    ]),
  );
}

async function storeLocked(
  tx: Queryable,
  streams: Map<string, LockedStream>,
  received: IncomingEvent,
  knownType: boolean,
): Promise<StoreOutcome> {
  // An event of a member erased earlier is kept only anonymised.
  const event = await anonymiseIfErased(tx, received);
  const key = streamKey(event.storeId, event.epoch);
  const inserted = await tx.query(
    `INSERT INTO events (store_id, event_id, chain_id, epoch, seq, type, at, occurred_at, data, link)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (store_id, event_id) DO NOTHING RETURNING event_id`,
    [
      event.storeId,
      event.eventId,
      event.chainId,
      event.epoch,
      event.seq,
      event.type,
      event.at,
      event.occurredAt,
      JSON.stringify(event.data),
      event.link === null ? null : JSON.stringify(event.link),
    ],
  );
  if (inserted.length === 0) return 'duplicate';

  const others = await tx.query<{ event_id: string }>(
    `SELECT event_id FROM events WHERE store_id = $1 AND epoch = $2 AND seq = $3 AND event_id <> $4`,
    [event.storeId, event.epoch, event.seq, event.eventId],
  );
  for (const other of others) {
    await tx.query(
      `INSERT INTO seq_conflicts (store_id, epoch, seq, event_id, other_event_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING`,
      [event.storeId, event.epoch, event.seq, event.eventId, other.event_id],
    );
  }

  const stream = streams.get(key)!;
  const contiguous = await advanceContiguous(tx, event, stream.contiguous);
  stream.contiguous = contiguous;
  stream.maxSeq = Math.max(stream.maxSeq, event.seq);
  await tx.query(
    `UPDATE store_streams SET
       contiguous_seq = $3,
       max_seq = GREATEST(max_seq, $4),
       event_count = event_count + 1,
       last_event_at = GREATEST(last_event_at, $5::timestamptz),
       last_received_at = now(),
       gap_since = CASE WHEN GREATEST(max_seq, $4) > $3 THEN COALESCE(gap_since, now()) ELSE NULL END
     WHERE store_id = $1 AND epoch = $2`,
    [event.storeId, event.epoch, contiguous, event.seq, event.at],
  );

  if (others.length > 0) return 'conflict'; // the first copy stays in the figures; this one is shown
  if (knownType) await project(tx, event);
  return 'stored';
}

/** The highest seq up to which every seq is held, after `event` arrived. */
/**
 * A store restored from a backup records its new epoch from `startSeq` on (its status's
 * `epochStartSeq`, the backup's last seq + 1): its seqs before that are the old epoch's events, so
 * HQ holds the new stream as complete up to `startSeq - 1` and never asks for them (a resend covers
 * the current epoch only and could not give them). Whether the status comes before the epoch's
 * first events or after some of them; a stream already past the start is left as it is.
 */
export async function startStreamAt(
  db: Database,
  stream: { chainId: string; storeId: string; epoch: string },
  startSeq: number,
): Promise<void> {
  const before = startSeq - 1;
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO store_streams (store_id, epoch, chain_id, contiguous_seq, max_seq) VALUES ($1, $2, $3, $4, $4)
       ON CONFLICT DO NOTHING`,
      [stream.storeId, stream.epoch, stream.chainId, before],
    );
    const [row] = await tx.query<{ contiguous_seq: string }>(
      'SELECT contiguous_seq FROM store_streams WHERE store_id = $1 AND epoch = $2 FOR UPDATE',
      [stream.storeId, stream.epoch],
    );
    if (!row || Number(row.contiguous_seq) >= before) return;
    // Events of the epoch that came before its status: the run from its start counts.
    const first = await tx.query('SELECT 1 FROM events WHERE store_id = $1 AND epoch = $2 AND seq = $3 LIMIT 1', [
      stream.storeId,
      stream.epoch,
      startSeq,
    ]);
    const contiguous =
      first.length > 0 ? await advanceContiguous(tx, { ...stream, seq: startSeq } as IncomingEvent, before) : before;
    await tx.query(
      `UPDATE store_streams SET contiguous_seq = $3, max_seq = GREATEST(max_seq, $3),
         gap_since = CASE WHEN GREATEST(max_seq, $3) > $3 THEN COALESCE(gap_since, now()) ELSE NULL END
       WHERE store_id = $1 AND epoch = $2`,
      [stream.storeId, stream.epoch, contiguous],
    );
  });
}

async function advanceContiguous(tx: Queryable, event: IncomingEvent, contiguous: number): Promise<number> {
  if (event.seq !== contiguous + 1) return contiguous;
  let reached = event.seq;
  for (;;) {
    const next = await tx.query<{ seq: string | number }>(
      `SELECT DISTINCT seq FROM events WHERE store_id = $1 AND epoch = $2 AND seq > $3 ORDER BY seq LIMIT ${RUN_PAGE}`,
      [event.storeId, event.epoch, reached],
    );
    let advanced = 0;
    for (const row of next) {
      if (Number(row.seq) !== reached + 1) break;
      reached += 1;
      advanced += 1;
    }
    if (advanced < RUN_PAGE) return reached;
  }
}

/** Keeps a refused message with the reason; the payload as received (it may not even be text). */
export async function quarantine(
  db: Queryable,
  topic: string,
  storeId: string | null,
  reason: QuarantineReason,
  detail: string,
  payload: Buffer | string,
): Promise<void> {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  const kept = await quarantinable(db, text, detail);
  await db.query(`INSERT INTO quarantine (topic, store_id, reason, detail, payload) VALUES ($1, $2, $3, $4, $5)`, [
    topic,
    storeId,
    reason,
    kept.detail.slice(0, 500),
    // PostgreSQL text cannot hold NUL: it is kept as U+FFFD.
    kept.payload.split('\u0000').join('\uFFFD'),
  ]);
}
