/**
 * Small durable documents of the hub (identity, devices, staff, sessions): one lowdb database per
 * file over the durable JSON adapter, files mode 0600. Every change is written before it is answered.
 *
 * Change a document with `updateSettings`, never lowdb's `update()` or a change to `db.data`
 * followed by `write()`: those change the document in memory first, so a write the disk refuses
 * (full, failing) leaves the hub acting on a change that is not on disk, and lost at the next start.
 */
import path from 'node:path';
import { Low } from 'lowdb';
import { DurableJsonFile } from './durable-json.adapter.js';

export async function openSettings<T>(dataDir: string, name: string, initial: () => T): Promise<Low<T>> {
  const adapter = new DurableJsonFile<T>(path.join(dataDir, `${name}.json`));
  const stored = await adapter.read();
  if (stored !== null) return new Low<T>(adapter, stored);
  // A new document is written at once: an identity (epoch, secrets) must not change on restart.
  const db = new Low<T>(adapter, null as T);
  await updateSettings(db, () => initial());
  return db;
}

/**
 * Applies `change` to a copy of the document (it may change the copy in place, or return a new
 * document), writes the copy durably and only then puts it in `db.data`. If the write fails the
 * document in memory is the one on disk, unchanged, and the error is thrown. Resolves with the
 * document as written. Changes made one after another are written in that order. `change` may run
 * twice (on the copy, then on the live document), so it must not read the clock or draw randoms.
 */
export function updateSettings<T>(db: Low<T>, change: (draft: T) => T | void): Promise<T> {
  // One change at a time per document: each starts from what the one before it left (no lost update).
  const previous = queues.get(db) ?? Promise.resolve();
  const result = previous.then(async () => {
    const draft = structuredClone(db.data);
    const next = (change(draft) ?? draft) as T;
    await db.adapter.write(next);
    // Made again on the live document rather than swapping the copy in: what was changed in memory
    // meanwhile, on purpose before its own write (a wrong PIN is counted at once), stays.
    db.data = db.data === null ? next : ((change(db.data) ?? db.data) as T);
    return next;
  });
  queues.set(
    db,
    result.then(
      () => undefined,
      () => undefined,
    ),
  );
  return result;
}

/**
 * Changes the live document at once, before any await (so a check made by a request that comes in
 * meanwhile already sees it), then writes it after the changes queued before it. For a change that
 * must hold even if the disk refuses it, in the safe direction: a wrong PIN counted, never forgotten.
 */
export function updateSettingsAtOnce<T>(db: Low<T>, change: (live: T) => void): Promise<T> {
  change(db.data);
  return updateSettings<T>(db, () => {});
}

const queues = new WeakMap<object, Promise<void>>();
