/**
 * Small durable documents of the hub (identity, devices, staff, sessions): one lowdb database per
 * file over the durable JSON adapter, files mode 0600. Every change is written before it is answered.
 */
import path from 'node:path';
import { Low } from 'lowdb';
import { DurableJsonFile } from './durable-json.adapter.js';

export async function openSettings<T>(dataDir: string, name: string, initial: () => T): Promise<Low<T>> {
  const adapter = new DurableJsonFile<T>(path.join(dataDir, `${name}.json`));
  const stored = await adapter.read();
  const db = new Low<T>(adapter, stored ?? initial());
  // A new document is written at once: an identity (epoch, secrets) must not change on restart.
  if (stored === null) await db.write();
  return db;
}
