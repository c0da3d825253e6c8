/**
 * The backup file: the files a restore needs, in one archive encrypted and authenticated with
 * AES-256-GCM under a key derived from the technician's passphrase (scrypt).
 *
 *   AYIBACKUP1\n
 *   {header JSON}\n          store, epoch, seq, time, scrypt salt and cost, IV, key check (in clear)
 *   ciphertext               the archive: per file a u32 name length, the name, a u64 size, the bytes;
 *                            a name length of 0 ends it
 *   16-byte GCM tag          over the ciphertext and, as associated data, the two lines above
 *
 * The key check (a hash of a second key drawn from the same scrypt output) tells a wrong passphrase
 * from a damaged or altered file before anything is decrypted. Nothing of a backup is trusted or
 * written anywhere until the tag has been verified.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fsyncDirectory, writeFully } from './fsync.js';

const MAGIC = 'AYIBACKUP1\n';
const TAG_BYTES = 16;
/** scrypt cost: about 32 MB and a fraction of a second on a Raspberry Pi, per backup or restore. */
const SCRYPT = { N: 1 << 15, r: 8, p: 1 } as const;
const SCRYPT_MAXMEM = 64 * 1024 * 1024;
/** Longest header line read (it is a few hundred bytes). */
const MAX_HEADER_BYTES = 4096;
/** A passphrase shorter than this is refused: the backup leaves the box (a USB stick, a share). */
export const MIN_PASSPHRASE_CHARS = 12;
export const BACKUP_SUFFIX = '.ayibackup';

export interface BackupHeader {
  format: 1;
  chainId: string;
  storeId: string;
  /** The epoch the backed-up events belong to. */
  epoch: string;
  /** Every event up to this seq is in the backup, and none after it. */
  seq: number;
  createdAt: string;
  hubVersion: string;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  iv: string;
  keyCheck: string;
}

/** A file of the data directory: its path relative to it ('/' separated) and its bytes. */
export interface ArchiveEntry {
  name: string;
  bytes: Buffer;
}

/** Why a backup cannot be read; `code` tells the technician's tool what to say. */
export class BackupError extends Error {
  constructor(
    readonly code: 'wrong_passphrase' | 'damaged' | 'not_a_backup' | 'no_passphrase',
    message: string,
  ) {
    super(message);
    this.name = 'BackupError';
  }
}

export function checkPassphrase(passphrase: string | null | undefined): string {
  if (!passphrase) {
    throw new BackupError(
      'no_passphrase',
      'no backup passphrase: set AYI_BACKUP_PASSPHRASE in /etc/ayi/hub.env (or AYI_BACKUP_PASSPHRASE_FILE, a file holding it)',
    );
  }
  if ([...passphrase].length < MIN_PASSPHRASE_CHARS) {
    throw new BackupError(
      'no_passphrase',
      `the backup passphrase is too short: at least ${MIN_PASSPHRASE_CHARS} characters`,
    );
  }
  return passphrase;
}

function deriveKeys(passphrase: string, salt: Buffer, cost: { N: number; r: number; p: number }) {
  return new Promise<{ key: Buffer; check: string }>((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, 64, { ...cost, maxmem: SCRYPT_MAXMEM }, (err, derived) => {
      if (err) return reject(err);
      resolve({
        key: derived.subarray(0, 32),
        check: createHash('sha256').update(derived.subarray(32)).digest('base64'),
      });
    });
  });
}

/** An entry's head in the archive: its name's length, its name, its size. */
function entryHead(entry: ArchiveEntry): Buffer {
  const name = Buffer.from(entry.name, 'utf8');
  const head = Buffer.alloc(4 + name.length + 8);
  head.writeUInt32BE(name.length, 0);
  name.copy(head, 4);
  head.writeBigUInt64BE(BigInt(entry.bytes.length), 4 + name.length);
  return head;
}

/** A name in the archive: a relative path inside the data directory, nothing else. */
export function isSafeEntryName(name: string): boolean {
  return (
    /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(name) && !name.split('/').some((part) => part === '.' || part === '..')
  );
}

function decodeArchive(plain: Buffer): ArchiveEntry[] {
  const entries: ArchiveEntry[] = [];
  let at = 0;
  const fail = () => new BackupError('damaged', 'the backup file is damaged (its contents do not add up)');
  for (;;) {
    if (at + 4 > plain.length) throw fail();
    const nameLength = plain.readUInt32BE(at);
    at += 4;
    if (nameLength === 0) break;
    if (at + nameLength + 8 > plain.length) throw fail();
    const name = plain.subarray(at, at + nameLength).toString('utf8');
    at += nameLength;
    const size = Number(plain.readBigUInt64BE(at));
    at += 8;
    if (!isSafeEntryName(name) || at + size > plain.length) throw fail();
    entries.push({ name, bytes: plain.subarray(at, at + size) });
    at += size;
  }
  return entries;
}

/**
 * Writes the backup to `file`: a temporary name beside it first, fsync'd, then renamed and the
 * directory fsync'd, so a backup file that exists is whole. The entries are taken one at a time (a
 * journal's day files: only one is in memory at once). Returns its size and how many files it holds.
 */
export async function writeBackup(
  file: string,
  header: Omit<BackupHeader, 'format' | 'kdf' | 'iv' | 'keyCheck'>,
  entries: Iterable<ArchiveEntry> | AsyncIterable<ArchiveEntry>,
  passphrase: string,
): Promise<{ bytes: number; files: number }> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const { key, check } = await deriveKeys(passphrase, salt, SCRYPT);
  const full: BackupHeader = {
    format: 1,
    ...header,
    kdf: { name: 'scrypt', ...SCRYPT, salt: salt.toString('base64') },
    iv: iv.toString('base64'),
    keyCheck: check,
  };
  const prefix = Buffer.from(`${MAGIC}${JSON.stringify(full)}\n`, 'utf8');
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(prefix);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  let size = 0;
  let files = 0;
  try {
    const handle = await fs.open(tmp, 'w', 0o600);
    try {
      await writeFully(handle, prefix);
      size += prefix.length;
      const put = async (piece: Buffer) => {
        const out = cipher.update(piece);
        await writeFully(handle, out);
        size += out.length;
      };
      for await (const entry of entries) {
        await put(entryHead(entry));
        await put(entry.bytes);
        files += 1;
      }
      await put(Buffer.alloc(4));
      const tail = Buffer.concat([cipher.final(), cipher.getAuthTag()]);
      await writeFully(handle, tail);
      size += tail.length;
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await fsyncDirectory(path.dirname(file));
  return { bytes: size, files };
}

/** The header of a backup file, read without the passphrase (what store, what seq, when). */
export function parseHeader(bytes: Buffer): { header: BackupHeader; prefix: Buffer } {
  const notBackup = () => new BackupError('not_a_backup', 'this file is not an Ayi backup (or its start is damaged)');
  if (bytes.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw notBackup();
  const end = bytes.indexOf(0x0a, MAGIC.length);
  if (end < 0 || end - MAGIC.length > MAX_HEADER_BYTES) throw notBackup();
  let header: BackupHeader;
  try {
    header = JSON.parse(bytes.subarray(MAGIC.length, end).toString('utf8')) as BackupHeader;
  } catch {
    throw notBackup();
  }
  if (
    header.format !== 1 ||
    header.kdf?.name !== 'scrypt' ||
    typeof header.iv !== 'string' ||
    typeof header.keyCheck !== 'string' ||
    !Number.isInteger(header.seq)
  ) {
    throw notBackup();
  }
  return { header, prefix: bytes.subarray(0, end + 1) };
}

/**
 * Reads and decrypts a backup file. Throws a BackupError for a wrong passphrase (nothing decrypted)
 * or a file damaged or altered anywhere (the GCM tag does not verify: nothing of it is returned).
 */
export async function readBackup(
  file: string,
  passphrase: string,
): Promise<{ header: BackupHeader; entries: ArchiveEntry[] }> {
  const bytes = await fs.readFile(file);
  const { header, prefix } = parseHeader(bytes);
  if (bytes.length < prefix.length + TAG_BYTES) {
    throw new BackupError('damaged', 'the backup file is damaged or was altered: it is cut short');
  }
  const { N, r, p, salt } = header.kdf;
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20) throw parseHeaderCostError();
  const { key, check } = await deriveKeys(passphrase, Buffer.from(salt, 'base64'), { N, r, p });
  const expected = Buffer.from(header.keyCheck, 'base64');
  const actual = Buffer.from(check, 'base64');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new BackupError('wrong_passphrase', 'wrong passphrase: this backup was made with another one');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(header.iv, 'base64'));
  decipher.setAAD(prefix);
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(bytes.subarray(prefix.length, bytes.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new BackupError(
      'damaged',
      'the backup file is damaged or was altered (its authentication fails): nothing was restored from it',
    );
  }
  return { header, entries: decodeArchive(plain) };
}

function parseHeaderCostError(): BackupError {
  return new BackupError('not_a_backup', 'this file is not an Ayi backup (its key settings are out of range)');
}

/** The passphrase from the settings: AYI_BACKUP_PASSPHRASE, or the first line of AYI_BACKUP_PASSPHRASE_FILE. */
export async function readPassphrase(settings: {
  backupPassphrase: string | null;
  backupPassphraseFile: string | null;
}): Promise<string | null> {
  if (settings.backupPassphrase) return settings.backupPassphrase;
  if (!settings.backupPassphraseFile) return null;
  let text: string;
  try {
    text = await fs.readFile(settings.backupPassphraseFile, 'utf8');
  } catch (err) {
    throw new BackupError(
      'no_passphrase',
      `cannot read the backup passphrase file ${settings.backupPassphraseFile} (AYI_BACKUP_PASSPHRASE_FILE): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return text.split(/\r?\n/)[0] ?? '';
}
