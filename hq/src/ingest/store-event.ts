/**
 * Stores one event and its projections in one transaction. A second copy changes nothing; the
 * same seq under another event id is kept and flagged, never counted twice.
 */
import type { Database, Queryable } from '../db/database.js';
import type { IncomingEvent, QuarantineReason } from './event-message.js';
import { anonymiseIfErased } from './erasure.js';
import { project } from './projections.js';

export type StoreOutcome = 'stored' | 'duplicate' | 'conflict';

/** How far the next contiguous run is read at once when a late event closes a hole. */
const RUN_PAGE = 5000;

export async function storeEvent(db: Database, received: IncomingEvent, knownType: boolean): Promise<StoreOutcome> {
  return db.transaction(async (tx) => {
    // An event of a member erased earlier is kept only anonymised.
    const event = await anonymiseIfErased(tx, received);
    // The stream's row is the lock: one store's events are stored one at a time whichever worker
    // received them, so its contiguous seq is never computed from two views at once.
    await tx.query(`INSERT INTO store_streams (store_id, epoch, chain_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
      event.storeId,
      event.epoch,
      event.chainId,
    ]);
    const [stream] = await tx.query<{ contiguous_seq: string | number }>(
      `SELECT contiguous_seq FROM store_streams WHERE store_id = $1 AND epoch = $2 FOR UPDATE`,
      [event.storeId, event.epoch],
    );
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

    const contiguous = await advanceContiguous(tx, event, Number(stream!.contiguous_seq));
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
  });
}

/** The highest seq up to which every seq is held, after `event` arrived. */
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
  await db.query(`INSERT INTO quarantine (topic, store_id, reason, detail, payload) VALUES ($1, $2, $3, $4, $5)`, [
    topic,
    storeId,
    reason,
    detail.slice(0, 500),
    // PostgreSQL text cannot hold NUL: it is kept as U+FFFD.
    text.split('\u0000').join('\uFFFD'),
  ]);
}
