/**
 * The projection's recent sales: a sale's record carries every field of its event, and refunds
 * change the record, not the event or another sale's record; sales older than the retention
 * window leave memory (with their idempotency keys) as newer days arrive, also across a snapshot,
 * while the day totals keep them.
 */
import { describe, expect, it } from 'vitest';
import { StoreState } from '../../../hub/src/domain/store-state.ts';
import type { HubEvent, SaleCompletedData } from '../../../hub/src/protocol/events.ts';
import {
  at10,
  completedSale,
  EventSequence,
  saleLine,
  sealFor,
  unseal,
  type SaleSpec,
} from '../../support/member-events.ts';

const RETENTION_DAYS = 35;

function saleOn(day: string, n: number, fields: Partial<SaleSpec> = {}): SaleCompletedData {
  return completedSale({
    saleId: `${day.replaceAll('-', '')}-${String(n).padStart(6, '0')}`,
    businessDate: day,
    memberId: null,
    lines: [saleLine(1, 'F1', 30)],
    ...fields,
  });
}

const dayAfter = (day: string, days: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

describe('StoreState: recent sales', () => {
  it("keeps every field of a completed sale's event, with nothing voided or refunded yet", () => {
    const { ev } = new EventSequence();
    const state = new StoreState(RETENTION_DAYS, unseal);
    const data = saleOn('2026-11-20', 1, {
      memberId: 'm1',
      couponCode: 'WELCOME',
      couponDiscount: 5,
      pointsRedeemed: 10,
      pointsDiscount: 1,
      orderDiscount: 2,
      change: 3,
    });
    const event = ev('sale.completed', data, at10('2026-11-20'));
    state.apply(event);
    const record = state.sales.get(data.saleId)!;
    expect(record).toEqual({
      ...data,
      seq: event.seq,
      saleNo: 1,
      at: event.at,
      storeId: event.storeId,
      voided: null,
      refundedQty: {},
      refundedAmount: 0,
      refundKeys: [],
    });
    expect(state.saleKeys.get(data.idempotencyKey)).toBe(data.saleId);

    // The record is the projection's own: a refund and a second sale change it, never the event
    // it came from (which the journal and the HQ outbox still hold), nor each other's.
    const before = structuredClone(data);
    const second = saleOn('2026-11-20', 2);
    state.apply(ev('sale.completed', second, at10('2026-11-20')));
    state.apply(
      ev(
        'sale.refunded',
        {
          saleId: data.saleId,
          refundId: 'r-1',
          idempotencyKey: 'refund-1',
          lines: [{ lineNo: 1, qty: 1, amount: 30 }],
          amount: 30,
          reason: 'returned',
          staffId: 'staff-1',
          deviceId: 'dev-1',
          loyalty: null,
        },
        at10('2026-11-20'),
      ),
    );
    expect(event.data).toEqual(before);
    expect(record).toMatchObject({ refundedQty: { 1: 1 }, refundedAmount: 30, refundKeys: ['refund-1'] });
    expect(state.sales.get(second.saleId)).toMatchObject({ refundedQty: {}, refundedAmount: 0, refundKeys: [] });
  });

  it('lets sales older than the window go, with their idempotency keys, as new days arrive', () => {
    const { ev } = new EventSequence();
    const state = new StoreState(RETENTION_DAYS, unseal);
    const first = '2026-09-01';
    const sold: SaleCompletedData[] = [];
    // Three sales a day for 60 days.
    for (let d = 0; d < 60; d++) {
      const day = dayAfter(first, d);
      for (let n = 1; n <= 3; n++) {
        const sale = saleOn(day, d * 3 + n);
        sold.push(sale);
        state.apply(ev('sale.completed', sale, at10(day)));
      }
    }
    const lastDay = dayAfter(first, 59);
    const oldestKept = dayAfter(lastDay, -RETENTION_DAYS);
    const kept = sold.filter((sale) => sale.businessDate >= oldestKept);
    expect([...state.sales.keys()]).toEqual(kept.map((sale) => sale.saleId));
    expect(kept).toHaveLength(36 * 3);
    for (const sale of sold) {
      expect(state.saleKeys.has(sale.idempotencyKey), sale.saleId).toBe(sale.businessDate >= oldestKept);
    }
    expect(state.totals.salesCount).toBe(180);

    // A snapshot of it keeps the same window, and the next day moves it on by one day.
    const restored = StoreState.fromData(structuredClone(state.toData(sealFor)), RETENTION_DAYS, unseal);
    const next = dayAfter(lastDay, 1);
    restored.apply(ev('sale.completed', saleOn(next, 181), at10(next)));
    const nowOldest = dayAfter(next, -RETENTION_DAYS);
    expect([...restored.sales.values()].every((sale) => sale.businessDate >= nowOldest)).toBe(true);
    expect(restored.sales.size).toBe(35 * 3 + 1);
  });
});

describe('StoreState: the day sale number', () => {
  /** A day of sales with other events between them (the journal's seq skips), one of them voided. */
  function busyDay(): { events: HubEvent[]; ids: string[] } {
    const { ev } = new EventSequence();
    const events: HubEvent[] = [];
    const ids: string[] = [];
    const sell = (day: string, n: number) => {
      const data = saleOn(day, n);
      ids.push(data.saleId);
      events.push(ev('sale.completed', data, at10(day)));
    };
    sell('2026-11-20', 8);
    sell('2026-11-20', 13);
    events.push(
      ev(
        'sale.voided',
        { saleId: ids[1]!, reason: 'wrong item', staffId: 'staff-1', deviceId: 'dev-1', loyalty: null },
        at10('2026-11-20'),
      ),
    );
    events.push(ev('staff.added', { staffId: 'staff-9', name: '小美', role: 'cashier' }, at10('2026-11-20')));
    sell('2026-11-20', 19);
    sell('2026-11-20', 20);
    sell('2026-11-21', 22);
    return { events, ids };
  }

  it('numbers each day 1, 2, 3... with no gaps; a voided sale keeps its number; the next day starts at 1', () => {
    const state = new StoreState(RETENTION_DAYS, unseal);
    const { events, ids } = busyDay();
    for (const event of events) state.apply(event);
    const numbers = ids.map((id) => [
      state.saleView(state.sales.get(id)!).saleNo,
      state.saleView(state.sales.get(id)!).status,
    ]);
    expect(numbers).toEqual([
      [1, 'completed'],
      [2, 'voided'],
      [3, 'completed'],
      [4, 'completed'],
      [1, 'completed'],
    ]);
  });

  it('gives every sale the same number after a replay, a snapshot, or a snapshot of an older version', () => {
    const { events, ids } = busyDay();
    const live = new StoreState(RETENTION_DAYS, unseal);
    for (const event of events) live.apply(event);
    const numbersOf = (s: StoreState) => ids.map((id) => s.sales.get(id)!.saleNo);

    const replayed = new StoreState(RETENTION_DAYS, unseal);
    for (const event of events) replayed.apply(event);
    expect(numbersOf(replayed)).toEqual(numbersOf(live));

    // A snapshot after the third sale, then the rest of the journal replayed on top of it.
    const partial = new StoreState(RETENTION_DAYS, unseal);
    for (const event of events.slice(0, 4)) partial.apply(event);
    const restored = StoreState.fromData(structuredClone(partial.toData(sealFor)), RETENTION_DAYS, unseal);
    for (const event of events) restored.apply(event);
    expect(numbersOf(restored)).toEqual(numbersOf(live));

    // Snapshots written before sales had numbers number their whole days of sales on loading.
    const older = structuredClone(partial.toData(sealFor));
    for (const sale of older.sales) delete sale.saleNo;
    const upgraded = StoreState.fromData(older, RETENTION_DAYS, unseal);
    for (const event of events) upgraded.apply(event);
    expect(numbersOf(upgraded)).toEqual(numbersOf(live));
  });
});
