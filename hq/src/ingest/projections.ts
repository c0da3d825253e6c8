/**
 * The tables the dashboard reads, kept from the events in the same transaction that stores them.
 * Each handler gives the same rows whatever order a store's events arrive in: a void or a refund
 * that lands before its sale waits in the sale's row for it.
 */
import type {
  MemberErasedData,
  SaleCompletedData,
  SaleRefundedData,
  SaleVoidedData,
} from '../../../hub/src/protocol/events.js';
import { markSaleDaysDirty } from '../analytics/rollups.js';
import type { Queryable } from '../db/database.js';
import { ANALYTICS_PROJECTIONS, saleTiers } from './analytics-projections.js';
import { applyErasure } from './erasure.js';
import type { IncomingEvent } from './event-message.js';

type Projection = (tx: Queryable, event: IncomingEvent) => Promise<void>;

const memberErased: Projection = async (tx, event) => {
  const { memberId } = event.data as unknown as MemberErasedData;
  // Already anonymised on arrival: the member was erased before (an erasure sent again).
  if (memberId.startsWith('erased-')) return;
  await applyErasure(tx, memberId);
};

const saleEvent: Projection = (tx, event) => projectMany(tx, [event]);

const PROJECTIONS: Partial<Record<string, Projection>> = {
  ...ANALYTICS_PROJECTIONS,
  'member.erased': memberErased,
  'sale.completed': saleEvent,
  'sale.voided': saleEvent,
  'sale.refunded': saleEvent,
};

/** Event types with a projection. */
export const PROJECTED = new Set(Object.keys(PROJECTIONS));

export async function project(tx: Queryable, event: IncomingEvent): Promise<void> {
  await PROJECTIONS[event.type]?.(tx, event);
}

/** Event types `projectMany` projects; a batch with any other projected type is stored event by event. */
export const SET_PROJECTED = new Set(['sale.completed', 'sale.voided', 'sale.refunded']);

const byKey = <T extends { storeId: string; saleId: string }>(a: T, b: T) =>
  a.storeId < b.storeId ? -1 : a.storeId > b.storeId ? 1 : a.saleId < b.saleId ? -1 : a.saleId > b.saleId ? 1 : 0;

/**
 * The sale projections of any number of sale events (completed, voided, refunded), one event or a
 * whole batch: the one place a sale's rows are written. One statement for the sales, their lines
 * and refunds, then the members' tiers. The same rows whatever the order the events come in (each
 * change leaves the others' columns alone: a void or a refund before its sale waits in the sale's
 * row for it). Each event at most once; rows are written in key order, so concurrent batches that
 * share sales wait for each other instead of deadlocking.
 */
export async function projectMany(tx: Queryable, events: IncomingEvent[]): Promise<void> {
  const ofType = (type: string) => events.filter((e) => e.type === type);
  // One row per sale: the last completion (as one at a time would leave it), whether it is voided;
  // an upsert may not touch a row twice in one statement.
  const sales = new Map<string, SaleChange>();
  const change = (storeId: string, saleId: string) => {
    const key = `${storeId} ${saleId}`;
    const held = sales.get(key) ?? { storeId, saleId, completed: null, voided: false };
    sales.set(key, held);
    return held;
  };
  for (const event of ofType('sale.completed')) {
    const sale = event.data as unknown as SaleCompletedData;
    change(event.storeId, sale.saleId).completed = { event, sale };
  }
  for (const event of ofType('sale.voided'))
    change(event.storeId, (event.data as unknown as SaleVoidedData).saleId).voided = true;
  const refunds = ofType('sale.refunded').map((event) => ({
    storeId: event.storeId,
    eventId: event.eventId,
    ...(event.data as unknown as SaleRefundedData),
  }));
  for (const refund of refunds) change(refund.storeId, refund.saleId);
  if (sales.size === 0) return;
  const rows = [...sales.values()].sort(byKey);
  const completed = rows.filter((row) => row.completed).map((row) => row.completed!);
  const lines = completed
    .flatMap(({ event, sale }) => sale.lines.map((line) => ({ storeId: event.storeId, saleId: sale.saleId, line })))
    .sort((a, b) => byKey(a, b) || a.line.lineNo - b.line.lineNo);
  refunds.sort((a, b) => byKey(a, b) || (a.eventId < b.eventId ? -1 : 1));
  const completion = <T>(pick: (c: NonNullable<SaleChange['completed']>) => T) =>
    rows.map((row) => (row.completed ? pick(row.completed) : null));
  // A refund adds to its sale once: only when its event's row is new in sale_refunds.
  await tx.query(
    `WITH refunds AS (
       INSERT INTO sale_refunds (store_id, event_id, sale_id, amount)
       SELECT * FROM unnest($10::text[], $11::uuid[], $12::text[], $13::bigint[])
       ON CONFLICT DO NOTHING RETURNING store_id, sale_id, amount),
     lines AS (
       INSERT INTO sale_lines (store_id, sale_id, line_no, sku, qty, amount)
       SELECT * FROM unnest($14::text[], $15::text[], $16::int[], $17::text[], $18::int[], $19::bigint[])
       ON CONFLICT DO NOTHING)
     INSERT INTO sales (store_id, sale_id, completed, business_date, at, member_id, total, line_count, voided, refunded)
     SELECT c.store_id, c.sale_id, c.completed, c.business_date, c.at, c.member_id, COALESCE(c.total, 0),
            COALESCE(c.line_count, 0), c.voided, COALESCE(r.amount, 0)
     FROM unnest($1::text[], $2::text[], $3::boolean[], $4::date[], $5::timestamptz[], $6::text[], $7::bigint[],
                 $8::int[], $9::boolean[]) WITH ORDINALITY
       AS c (store_id, sale_id, completed, business_date, at, member_id, total, line_count, voided, i)
     LEFT JOIN (SELECT store_id, sale_id, sum(amount) AS amount FROM refunds GROUP BY store_id, sale_id) r
       ON r.store_id = c.store_id AND r.sale_id = c.sale_id
     ORDER BY c.i
     ON CONFLICT (store_id, sale_id) DO UPDATE SET
       completed = sales.completed OR EXCLUDED.completed,
       business_date = CASE WHEN EXCLUDED.completed THEN EXCLUDED.business_date ELSE sales.business_date END,
       at = CASE WHEN EXCLUDED.completed THEN EXCLUDED.at ELSE sales.at END,
       member_id = CASE WHEN EXCLUDED.completed THEN EXCLUDED.member_id ELSE sales.member_id END,
       total = CASE WHEN EXCLUDED.completed THEN EXCLUDED.total ELSE sales.total END,
       line_count = CASE WHEN EXCLUDED.completed THEN EXCLUDED.line_count ELSE sales.line_count END,
       voided = sales.voided OR EXCLUDED.voided,
       refunded = sales.refunded + EXCLUDED.refunded`,
    [
      rows.map((row) => row.storeId),
      rows.map((row) => row.saleId),
      rows.map((row) => row.completed !== null),
      completion((c) => c.sale.businessDate),
      completion((c) => c.event.occurredAt ?? c.event.at),
      completion((c) => c.sale.memberId),
      completion((c) => c.sale.total),
      completion((c) => c.sale.lines.length),
      rows.map((row) => row.voided),
      refunds.map((r) => r.storeId),
      refunds.map((r) => r.eventId),
      refunds.map((r) => r.saleId),
      refunds.map((r) => r.amount),
      lines.map((l) => l.storeId),
      lines.map((l) => l.saleId),
      lines.map((l) => l.line.lineNo),
      lines.map((l) => l.line.sku),
      lines.map((l) => l.line.qty),
      lines.map((l) => l.line.lineTotal - l.line.orderDiscountShare),
    ],
  );
  await saleTiers(
    tx,
    completed.map((c) => c.event),
  );
  // The days whose rollups these sales change are worked out again before a report reads them.
  await markSaleDaysDirty(tx, events);
}

/** What a batch changes in one sale's row (its refunds aside). */
interface SaleChange {
  storeId: string;
  saleId: string;
  completed: { event: IncomingEvent; sale: SaleCompletedData } | null;
  voided: boolean;
}
