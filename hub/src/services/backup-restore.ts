/**
 * Restores a backup into a data directory (the hub stopped) and starts a new epoch.
 *
 * Nothing is changed until the backup has been decrypted and authenticated whole. Then its files are
 * written to a staging directory inside the data directory (same filesystem: the data directory may
 * be a mount point), what was there is moved aside into `before-restore-<time>/` (never deleted),
 * and the staged files are moved in.
 *
 * The new epoch: the backup's events keep their seqs and their old epoch (HQ already holds them under
 * it); the restored store records from the backup's seq + 1 on under a new epoch (`epochStartSeq` in
 * store.json). Events after the backup that the old box had sent stay in HQ under the old epoch;
 * the new box's events never share an (epoch, seq) with them. See hub/docs/hq.md, "Epochs".
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { BackupError, checkPassphrase, readBackup } from '../storage/backup-archive.js';
import { ensureDirectory, fsyncDirectory, writeFully } from '../storage/fsync.js';
import type { StoreIdentityFile } from '../storage/store-identity.js';

export interface RestoreResult {
  dataDir: string;
  chainId: string;
  storeId: string;
  /** The last seq in the backup: the new epoch's first event is seq + 1. */
  seq: number;
  previousEpoch: string;
  epoch: string;
  backupCreatedAt: string;
  /** Where what the data directory held went (null: it was empty). */
  movedAsideTo: string | null;
  files: number;
}

interface WatermarkFileData {
  epoch: string;
  deliveredSeq: number;
  deliveredAt: string | null;
  updatedAt: string;
}

const STAGING_PREFIX = '.restore-';
const ASIDE_PREFIX = 'before-restore-';

export async function restoreBackup(options: {
  file: string;
  dataDir: string;
  passphrase: string | null | undefined;
  /** The store this box is set up for (AYI_CHAIN_ID, AYI_STORE_ID); a backup of another is refused. */
  expectedStore?: { chainId: string | null; storeId: string | null };
  clock?: () => Date;
}): Promise<RestoreResult> {
  const clock = options.clock ?? (() => new Date());
  const dataDir = path.resolve(options.dataDir);
  const passphrase = checkPassphrase(options.passphrase);
  const { header, entries } = await readBackup(options.file, passphrase);

  const identityEntry = entries.find((entry) => entry.name === 'store.json');
  if (!identityEntry) throw new BackupError('damaged', 'the backup holds no store identity (store.json)');
  const identity = JSON.parse(identityEntry.bytes.toString('utf8')) as StoreIdentityFile;
  if (identity.chainId !== header.chainId || identity.storeId !== header.storeId || identity.epoch !== header.epoch) {
    throw new BackupError('damaged', 'the backup is inconsistent: its identity file names another store or epoch');
  }

  const expected = options.expectedStore;
  if (
    expected &&
    ((expected.chainId !== null && expected.chainId !== identity.chainId) ||
      (expected.storeId !== null && expected.storeId !== identity.storeId))
  ) {
    throw new Error(
      `this backup is of store ${identity.chainId}/${identity.storeId}, but this box is set up for ` +
        `${expected.chainId ?? '?'}/${expected.storeId ?? '?'} (AYI_CHAIN_ID, AYI_STORE_ID in /etc/ayi/hub.env): nothing was changed`,
    );
  }

  const now = clock();
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  const epoch = uuidv7({ msecs: now.getTime() });
  const restoredIdentity: StoreIdentityFile = {
    ...identity,
    epoch,
    // Acknowledgements beyond the backup belong to events the backup does not have.
    deliveredSeq: Math.min(identity.deliveredSeq, header.seq),
    epochStartSeq: header.seq + 1,
    restoredFrom: [
      ...(identity.restoredFrom ?? []),
      { epoch: identity.epoch, seq: header.seq, backupCreatedAt: header.createdAt, restoredAt: now.toISOString() },
    ],
  };
  const files = new Map(entries.map((entry) => [entry.name, entry.bytes]));
  files.set('store.json', Buffer.from(JSON.stringify(restoredIdentity), 'utf8'));
  files.set('hq-link.json', Buffer.from(JSON.stringify(restoredWatermark(files, identity, header.seq, epoch, now))));

  const existed = await isDirectory(dataDir);
  const owner = existed ? await fs.stat(dataDir) : serviceUser();
  await ensureDirectory(dataDir);
  const staging = path.join(dataDir, `${STAGING_PREFIX}${stamp}`);
  await fs.mkdir(staging, { mode: 0o700 });
  for (const [name, bytes] of files) await writeDurably(path.join(staging, name), bytes);

  // What was there is kept, whole, beside the restored files.
  const present = (await fs.readdir(dataDir)).filter(
    (name) => !name.startsWith(STAGING_PREFIX) && !name.startsWith(ASIDE_PREFIX),
  );
  let movedAsideTo: string | null = null;
  if (present.length > 0) {
    movedAsideTo = path.join(dataDir, `${ASIDE_PREFIX}${stamp}`);
    await fs.mkdir(movedAsideTo, { mode: 0o700 });
    for (const name of present) await fs.rename(path.join(dataDir, name), path.join(movedAsideTo, name));
    await fsyncDirectory(movedAsideTo);
  }
  for (const name of await fs.readdir(staging)) await fs.rename(path.join(staging, name), path.join(dataDir, name));
  await fs.rmdir(staging);
  await fsyncDirectory(dataDir);
  if (owner && process.getuid?.() === 0) await chownTree(dataDir, owner.uid, owner.gid, movedAsideTo);

  return {
    dataDir,
    chainId: identity.chainId,
    storeId: identity.storeId,
    seq: header.seq,
    previousEpoch: identity.epoch,
    epoch,
    backupCreatedAt: header.createdAt,
    movedAsideTo,
    files: files.size,
  };
}

/**
 * The link's watermark for the new epoch: events the broker took before the backup need not be
 * sent again; those after it in the backup are published again as they are (under the old epoch:
 * HQ dedupes those it has and fills its gaps with the others), then the new epoch's.
 */
function restoredWatermark(
  files: Map<string, Buffer>,
  identity: StoreIdentityFile,
  seq: number,
  epoch: string,
  now: Date,
): WatermarkFileData {
  let delivered = Math.min(identity.deliveredSeq, seq);
  let deliveredAt: string | null = null;
  const stored = files.get('hq-link.json');
  if (stored) {
    try {
      const watermark = JSON.parse(stored.toString('utf8')) as WatermarkFileData;
      if (watermark.epoch === identity.epoch && Number.isInteger(watermark.deliveredSeq)) {
        delivered = Math.min(Math.max(delivered, watermark.deliveredSeq), seq);
        deliveredAt = watermark.deliveredSeq <= seq ? watermark.deliveredAt : null;
      }
    } catch {
      // An unreadable watermark only means publishing the backup's events again: HQ dedupes them.
    }
  }
  return { epoch, deliveredSeq: delivered, deliveredAt, updatedAt: now.toISOString() };
}

async function writeDurably(file: string, bytes: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    await writeFully(handle, bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsyncDirectory(path.dirname(file));
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await fs.stat(dir)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** The hub's user (`ayi`, as the systemd unit runs it) for a data directory created by a restore. */
function serviceUser(): { uid: number; gid: number } | null {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('ayi:'));
    const [, , uid, gid] = line?.split(':') ?? [];
    return uid && gid ? { uid: Number(uid), gid: Number(gid) } : null;
  } catch {
    return null;
  }
}

/** Run as root (sudo): the restored files belong to the hub's user, who must read and append them. */
async function chownTree(dir: string, uid: number, gid: number, skip: string | null): Promise<void> {
  await fs.chown(dir, uid, gid);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (full === skip) continue;
    if (entry.isDirectory()) await chownTree(full, uid, gid, skip);
    else await fs.chown(full, uid, gid);
  }
}
