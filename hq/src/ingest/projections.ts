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
import { ANALYTICS_PROJECTIONS, saleTier, saleTiers } from './analytics-projections.js';
import { applyErasure } from './erasure.js';
import type { IncomingEvent } from './event-message.js';

type Projection = (tx: Queryable, event: IncomingEvent) => Promise<void>;

const saleCompleted: Projection = async (tx, event) => {
  const sale = event.data as unknown as SaleCompletedData;
  await tx.query(
    `INSERT INTO sales (store_id, sale_id, completed, business_date, at, member_id, total, line_count)
     VALUES ($1, $2, true, $3, $4, $5, $6, $7)
     ON CONFLICT (store_id, sale_id) DO UPDATE SET
       completed = true, business_date = EXCLUDED.business_date, at = EXCLUDED.at,
       member_id = EXCLUDED.member_id, total = EXCLUDED.total, line_count = EXCLUDED.line_count`,
    [
      event.storeId,
      sale.saleId,
      sale.businessDate,
      event.occurredAt ?? event.at,
      sale.memberId,
      sale.total,
      sale.lines.length,
    ],
  );
  for (const line of sale.lines) {
    await tx.query(
      `INSERT INTO sale_lines (store_id, sale_id, line_no, sku, qty, amount)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [event.storeId, sale.saleId, line.lineNo, line.sku, line.qty, line.lineTotal - line.orderDiscountShare],
    );
  }
};

const saleVoided: Projection = async (tx, event) => {
  const { saleId } = event.data as unknown as SaleVoidedData;
  await tx.query(
    `INSERT INTO sales (store_id, sale_id, voided) VALUES ($1, $2, true)
     ON CONFLICT (store_id, sale_id) DO UPDATE SET voided = true`,
    [event.storeId, saleId],
  );
};

const saleRefunded: Projection = async (tx, event) => {
  const { saleId, amount } = event.data as unknown as SaleRefundedData;
  const added = await tx.query(
    `INSERT INTO sale_refunds (store_id, event_id, sale_id, amount) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING RETURNING event_id`,
    [event.storeId, event.eventId, saleId, amount],
  );
  if (added.length === 0) return;
  await tx.query(
    `INSERT INTO sales (store_id, sale_id, refunded) VALUES ($1, $2, $3)
     ON CONFLICT (store_id, sale_id) DO UPDATE SET refunded = sales.refunded + EXCLUDED.refunded`,
    [event.storeId, saleId, amount],
  );
};

const memberErased: Projection = async (tx, event) => {
  const { memberId } = event.data as unknown as MemberErasedData;
  // Already anonymised on arrival: the member was erased before (an erasure sent again).
  if (memberId.startsWith('erased-')) return;
  await applyErasure(tx, memberId);
};

const PROJECTIONS: Partial<Record<string, Projection>> = {
  ...ANALYTICS_PROJECTIONS,
  'member.erased': memberErased,
  'sale.completed': async (tx, event) => {
    await saleCompleted(tx, event);
    await saleTier(tx, event);
  },
  'sale.voided': saleVoided,
  'sale.refunded': saleRefunded,
};

/** Event types with a projection. */
export const PROJECTED = new Set(Object.keys(PROJECTIONS));

export async function project(tx: Queryable, event: IncomingEvent): Promise<void> {
  await PROJECTIONS[event.type]?.(tx, event);
  await markSaleDaysDirty(tx, [event]);
}

/** Event types `projectMany` projects; a batch with any other projected type is stored event by event. */
export const SET_PROJECTED = new Set(['sale.completed', 'sale.voided', 'sale.refunded']);

/**
 * The projections of many events at once, a statement per table: the same rows as `project` one
 * event at a time, in any order (each upsert leaves the others' columns alone). Only the types in
 * SET_PROJECTED; each event at most once.
 */
export async function projectMany(tx: Queryable, events: IncomingEvent[]): Promise<void> {
  const ofType = (type: string) => events.filter((e) => e.type === type);
  // One row per sale (the last completion, as one at a time would leave it): an upsert may not
  // touch a row twice in one statement.
  const completed = [
    ...new Map(
      ofType('sale.completed').map((e) => {
        const sale = e.data as unknown as SaleCompletedData;
        return [`${e.storeId} ${sale.saleId}`, { event: e, sale }] as const;
      }),
    ).values(),
  ];
  if (completed.length > 0) {
    await tx.query(
      `INSERT INTO sales (store_id, sale_id, completed, business_date, at, member_id, total, line_count)
       SELECT store_id, sale_id, true, business_date, at, member_id, total, line_count
       FROM unnest($1::text[], $2::text[], $3::date[], $4::timestamptz[], $5::text[], $6::bigint[], $7::int[])
         AS c (store_id, sale_id, business_date, at, member_id, total, line_count)
       ON CONFLICT (store_id, sale_id) DO UPDATE SET
         completed = true, business_date = EXCLUDED.business_date, at = EXCLUDED.at,
         member_id = EXCLUDED.member_id, total = EXCLUDED.total, line_count = EXCLUDED.line_count`,
      [
        completed.map((c) => c.event.storeId),
        completed.map((c) => c.sale.saleId),
        completed.map((c) => c.sale.businessDate),
        completed.map((c) => c.event.occurredAt ?? c.event.at),
        completed.map((c) => c.sale.memberId),
        completed.map((c) => c.sale.total),
        completed.map((c) => c.sale.lines.length),
      ],
    );
    const lines = completed.flatMap((c) => c.sale.lines.map((line) => ({ ...c, line })));
    await tx.query(
      `INSERT INTO sale_lines (store_id, sale_id, line_no, sku, qty, amount)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::bigint[])
       ON CONFLICT DO NOTHING`,
      [
        lines.map((l) => l.event.storeId),
        lines.map((l) => l.sale.saleId),
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
  }
  const voided = new Map(
    ofType('sale.voided').map((e) => {
      const { saleId } = e.data as unknown as SaleVoidedData;
      return [`${e.storeId} ${saleId}`, [e.storeId, saleId] as const];
    }),
  );
  if (voided.size > 0) {
    await tx.query(
      `INSERT INTO sales (store_id, sale_id, voided) SELECT *, true FROM unnest($1::text[], $2::text[])
       ON CONFLICT (store_id, sale_id) DO UPDATE SET voided = true`,
      [[...voided.values()].map((v) => v[0]), [...voided.values()].map((v) => v[1])],
    );
  }
  const refunds = ofType('sale.refunded').map((e) => ({ event: e, refund: e.data as unknown as SaleRefundedData }));
  if (refunds.length > 0) {
    await tx.query(
      `WITH added AS (
         INSERT INTO sale_refunds (store_id, event_id, sale_id, amount)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bigint[])
         ON CONFLICT DO NOTHING RETURNING store_id, sale_id, amount)
       INSERT INTO sales (store_id, sale_id, refunded)
       SELECT store_id, sale_id, sum(amount) FROM added GROUP BY store_id, sale_id
       ON CONFLICT (store_id, sale_id) DO UPDATE SET refunded = sales.refunded + EXCLUDED.refunded`,
      [
        refunds.map((r) => r.event.storeId),
        refunds.map((r) => r.event.eventId),
        refunds.map((r) => r.refund.saleId),
        refunds.map((r) => r.refund.amount),
      ],
    );
  }
  await markSaleDaysDirty(tx, events);
}
