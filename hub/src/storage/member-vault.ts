/**
 * Members' personal data at rest. Each member has a key of their own (AES-256-GCM) in an
 * append-only, fdatasync'd key file; events and snapshots carry only the sealed data. Erasure
 * destroys the key by rewriting the key file without it (temp, fsync, rename, fsync the directory),
 * which makes every sealed copy in the journal, the snapshots and any backup unreadable.
 * Phone numbers and carrier barcodes are also looked up by keyed HMAC, under the chain's key, so
 * the same person has the same hash in every store and nothing reversible is indexed.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Low } from 'lowdb';
import type { SealedData } from '../protocol/events.js';
import { JsonLinesAppendFile, formatLine } from './jsonl-append.adapter.js';
import { ensureDirectory, fsyncDirectory } from './fsync.js';

interface KeyEntry {
  memberId: string;
  key: string;
}

const isKeyEntry = (value: unknown): value is KeyEntry =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as KeyEntry).memberId === 'string' &&
  typeof (value as KeyEntry).key === 'string';

export class MemberVault {
  private readonly keys = new Map<string, Buffer>();
  private db!: Low<KeyEntry[]>;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly hashKey: Buffer,
  ) {}

  static async open(dir: string, hashKey: Buffer): Promise<MemberVault> {
    await ensureDirectory(dir);
    const vault = new MemberVault(path.join(dir, 'keys.jsonl'), hashKey);
    await vault.load();
    return vault;
  }

  private async load(): Promise<void> {
    const adapter = new JsonLinesAppendFile<KeyEntry>(this.file, isKeyEntry);
    const entries = (await adapter.read()) ?? [];
    this.db = new Low(adapter, entries);
    this.keys.clear();
    for (const entry of entries) this.keys.set(entry.memberId, Buffer.from(entry.key, 'base64'));
  }

  hashPhone(e164: string): string {
    return createHmac('sha256', this.hashKey).update(`phone:${e164}`).digest('hex');
  }

  hashCarrier(carrier: string): string {
    return createHmac('sha256', this.hashKey).update(`carrier:${carrier}`).digest('hex');
  }

  /** Makes a member's key and puts it on disk; resolves once it is durable. */
  createKey(memberId: string): Promise<void> {
    return this.serially(async () => {
      if (this.keys.has(memberId)) return;
      const key = randomBytes(32);
      this.db.data.push({ memberId, key: key.toString('base64') });
      try {
        await this.db.write();
      } catch (err) {
        // A full disk: the key was not kept (the adapter forgot it); the next sign-up tries afresh.
        await (this.db.adapter as JsonLinesAppendFile<KeyEntry>).reset();
        throw err;
      }
      this.keys.set(memberId, key);
    });
  }

  /** Keys for many members at once, with one fdatasync (a history import); resolves once durable. */
  createKeys(memberIds: string[]): Promise<void> {
    return this.serially(async () => {
      const made = memberIds.filter((id) => !this.keys.has(id)).map((memberId) => ({ memberId, key: randomBytes(32) }));
      for (const { memberId, key } of made) this.db.data.push({ memberId, key: key.toString('base64') });
      try {
        await this.db.write();
      } catch (err) {
        await (this.db.adapter as JsonLinesAppendFile<KeyEntry>).reset();
        throw err;
      }
      for (const { memberId, key } of made) this.keys.set(memberId, key);
    });
  }

  /** Seals any JSON value (a profile, a tag, a carrier's hash) under the member's key. */
  seal(memberId: string, value: unknown): SealedData {
    const key = this.keys.get(memberId);
    if (!key) throw new Error(`no key for member ${memberId}`);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(memberId));
    const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return { iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  }

  /** What was sealed, or null when the key was destroyed (erased member) or the data is damaged. */
  unseal(memberId: string, sealed: SealedData): unknown {
    const key = this.keys.get(memberId);
    if (!key) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
      decipher.setAAD(Buffer.from(memberId));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      const text = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]);
      return JSON.parse(text.toString('utf8')) as unknown;
    } catch {
      return null;
    }
  }

  hasKey(memberId: string): boolean {
    return this.keys.has(memberId);
  }

  /** Destroys members' keys for good: the key file is rewritten without them. */
  destroyKeys(memberIds: string[]): Promise<void> {
    return this.serially(async () => {
      const doomed = new Set(memberIds.filter((id) => this.keys.has(id)));
      if (doomed.size === 0) return;
      const kept = this.db.data.filter((entry) => !doomed.has(entry.memberId));
      const tmp = `${this.file}.${process.pid}.tmp`;
      try {
        const handle = await fs.open(tmp, 'w', 0o600);
        try {
          await handle.writeFile(kept.map(formatLine).join(''), 'utf8');
          await handle.sync();
        } finally {
          await handle.close();
        }
      } catch (err) {
        await fs.rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
      await (this.db.adapter as JsonLinesAppendFile<KeyEntry>).close();
      await fs.rename(tmp, this.file);
      await fsyncDirectory(path.dirname(this.file));
      await this.load();
    });
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await (this.db.adapter as JsonLinesAppendFile<KeyEntry>).close();
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
