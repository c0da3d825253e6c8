/**
 * A snapshot is encoded a slice at a time, the hub committing events in between: what it holds is
 * still the projection at its own seq. A sale voided or refunded while the snapshot is being
 * encoded is written as it was, a sale completed meanwhile is not in it, and a start from the
 * snapshot that replays those events reaches the live projection (nothing counted twice).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreState, type StoreStateData } from '../../../hub/src/domain/store-state.ts';
import type { HubEvent } from '../../../hub/src/protocol/events.ts';
import { SnapshotService } from '../../../hub/src/services/snapshot.service.ts';
import { SnapshotStore } from '../../../hub/src/storage/snapshots.ts';
import { at10, completedSale, EventSequence, saleLine, sealFor, unseal } from '../../support/member-events.ts';

const DAY = '2026-11-20';
const SALES = 600;

let dir: string | null = null;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

const saleIdOf = (n: number) => `20261120-${String(n).padStart(6, '0')}`;

describe('snapshots encoded a slice at a time', () => {
  it('hold the projection at their seq while events change it during the encoding', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ayi-snapshot-slices-'));
    const { ev } = new EventSequence();
    const state = new StoreState(35, unseal);
    for (let n = 1; n <= SALES; n++) {
      state.apply(
        ev(
          'sale.completed',
          completedSale({ saleId: saleIdOf(n), businessDate: DAY, memberId: null, lines: [saleLine(1, 'F1', 30)] }),
          at10(DAY),
        ),
      );
    }
    const store = new SnapshotStore<StoreStateData>(dir);
    await store.ensureDirectory();
    // sliceMs 0: the encoding gives the event loop a turn after every sale.
    const service = new SnapshotService(
      state,
      store,
      sealFor,
      'Asia/Taipei',
      1000,
      () => new Date(),
      () => {},
      0,
      '',
      {
        sliceMs: 0,
        firstSliceMs: 0,
        pauseMs: 0,
      },
    );
    const seqAtSnapshot = state.lastSeq;
    const before = JSON.parse(JSON.stringify(state.toData(sealFor))) as StoreStateData;

    const saving = service.take();
    // Committed while the snapshot is being encoded: late sales of the array, not encoded yet.
    const later: HubEvent[] = [
      ev(
        'sale.voided',
        { saleId: saleIdOf(SALES), reason: 'wrong item', staffId: 'staff-1', deviceId: 'dev-1', loyalty: null },
        at10(DAY),
      ),
      ev(
        'sale.refunded',
        {
          saleId: saleIdOf(SALES - 1),
          refundId: 'r-1',
          idempotencyKey: 'refund-1',
          lines: [{ lineNo: 1, qty: 1, amount: 30 }],
          amount: 30,
          reason: 'returned',
          staffId: 'staff-1',
          deviceId: 'dev-1',
          loyalty: null,
        },
        at10(DAY),
      ),
      ev(
        'sale.completed',
        completedSale({
          saleId: saleIdOf(SALES + 1),
          businessDate: DAY,
          memberId: null,
          lines: [saleLine(1, 'F1', 30)],
        }),
        at10(DAY),
      ),
    ];
    for (const event of later) {
      await new Promise((resolve) => setImmediate(resolve));
      state.apply(event);
    }
    await saving;

    const snapshot = (await store.loadNewest())!;
    expect(snapshot.seq).toBe(seqAtSnapshot);
    expect(snapshot.state).toEqual(before);
    expect(snapshot.state.sales.find((sale) => sale.saleId === saleIdOf(SALES))?.voided).toBeNull();
    expect(snapshot.state.sales.find((sale) => sale.saleId === saleIdOf(SALES - 1))?.refundedAmount).toBe(0);

    // A start from it replays the events after its seq and reaches the live projection.
    const restarted = StoreState.fromData(snapshot.state, 35, unseal);
    for (const event of later) restarted.apply(event);
    expect(JSON.parse(JSON.stringify(restarted.toData(sealFor)))).toEqual(
      JSON.parse(JSON.stringify(state.toData(sealFor))),
    );
    expect(restarted.sales.get(saleIdOf(SALES - 1))?.refundedAmount).toBe(30);
    expect(state.beforeSaleChange).toBeNull();
  });
});
