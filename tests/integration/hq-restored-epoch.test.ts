/**
 * HQ and a store restored from a backup: its new epoch starts at the backup's seq + 1 (the status's
 * `epochStartSeq`). HQ holds that stream as complete from there, whether the status or the epoch's
 * first events come first, and never asks the store to resend the seqs before it (they are the old
 * epoch's). On the embedded PGlite.
 */
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { readEventMessage } from '../../hq/src/ingest/event-message.ts';
import { GapHealer } from '../../hq/src/ingest/gap-healer.ts';
import { LinkWatch } from '../../hq/src/ingest/link-watch.ts';
import { storeEvent } from '../../hq/src/ingest/store-event.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';

const CHAIN = 'test-chain';
const quiet = pino({ level: 'silent' });
let db: Database;
let stores = 0;

beforeAll(async () => {
  db = await openDatabase({ dataDir: 'memory://' });
  await migrate(db);
});
afterAll(async () => {
  await db?.close();
});

const event = (storeId: string, epoch: string, seq: number): HubEvent =>
  ({
    schema: 'ayi.event/1',
    eventId: uuidv7(),
    chainId: CHAIN,
    storeId,
    epoch,
    seq,
    type: 'device.revoked',
    at: '2026-12-01T02:00:00.000Z',
    data: { deviceId: `tab-${seq}` },
  }) as HubEvent;

async function ingest(e: HubEvent): Promise<void> {
  const verdict = readEventMessage(`ayi/v1/${CHAIN}/${e.storeId}/events`, Buffer.from(JSON.stringify(e)));
  if (!verdict.ok) throw new Error(`refused: ${verdict.reason}`);
  await storeEvent(db, verdict.event, verdict.knownType);
}

const status = (storeId: string, epoch: string, epochStartSeq: number, lastSeq: number) => ({
  state: 'online',
  chainId: CHAIN,
  storeId,
  epoch,
  lastSeq,
  deliveredSeq: epochStartSeq - 1,
  version: '0.1.0',
  at: new Date().toISOString(),
  connectedAt: new Date().toISOString(),
  problems: [],
  epochStartSeq,
});

async function streamOf(storeId: string, epoch: string) {
  const [row] = await db.query<{ contiguous_seq: string; max_seq: string; gap_since: Date | null }>(
    'SELECT contiguous_seq, max_seq, gap_since FROM store_streams WHERE store_id = $1 AND epoch = $2',
    [storeId, epoch],
  );
  return row && { contiguous: Number(row.contiguous_seq), max: Number(row.max_seq), gap: row.gap_since !== null };
}

/** Resend requests the gap healer sends now for this store (no grace period). */
async function resendsFor(storeId: string): Promise<number[]> {
  const healer = new GapHealer(db, () => Promise.resolve(), quiet, { graceMs: 0 });
  await healer.check();
  return healer.sent.filter((sent) => sent.storeId === storeId).map((sent) => sent.fromSeq);
}

describe('a store restored from a backup, at HQ', () => {
  for (const order of ['status first', 'events first'] as const) {
    it(`holds the new epoch complete from epochStartSeq and asks for nothing (${order})`, async () => {
      const storeId = `store-${++stores}`;
      const oldEpoch = uuidv7();
      const newEpoch = uuidv7();
      // The old box: seqs 1..8; its backup was made at seq 5.
      for (let seq = 1; seq <= 8; seq++) await ingest(event(storeId, oldEpoch, seq));
      const watch = new LinkWatch(db, () => Promise.resolve(), quiet);
      const restoredEvents = [6, 7].map((seq) => event(storeId, newEpoch, seq));
      if (order === 'status first') {
        await watch.noteStatus(CHAIN, storeId, status(storeId, newEpoch, 6, 7));
        for (const e of restoredEvents) await ingest(e);
      } else {
        for (const e of restoredEvents) await ingest(e);
        await watch.noteStatus(CHAIN, storeId, status(storeId, newEpoch, 6, 7));
      }
      expect(await streamOf(storeId, newEpoch)).toEqual({ contiguous: 7, max: 7, gap: false });
      expect(await streamOf(storeId, oldEpoch)).toEqual({ contiguous: 8, max: 8, gap: false });
      expect(await resendsFor(storeId)).toEqual([]);
    });
  }

  it('still asks for a real hole of the new epoch, from where it opens', async () => {
    const storeId = `store-${++stores}`;
    const newEpoch = uuidv7();
    const watch = new LinkWatch(db, () => Promise.resolve(), quiet);
    await watch.noteStatus(CHAIN, storeId, status(storeId, newEpoch, 11, 13));
    await ingest(event(storeId, newEpoch, 11));
    await ingest(event(storeId, newEpoch, 13));
    expect(await streamOf(storeId, newEpoch)).toEqual({ contiguous: 11, max: 13, gap: true });
    expect(await resendsFor(storeId)).toEqual([12]);
  });
});
