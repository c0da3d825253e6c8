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
import type { Queryable } from '../db/database.js';
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
  'member.erased': memberErased,
  'sale.completed': saleCompleted,
  'sale.voided': saleVoided,
  'sale.refunded': saleRefunded,
};

export async function project(tx: Queryable, event: IncomingEvent): Promise<void> {
  await PROJECTIONS[event.type]?.(tx, event);
}
