/**
 * Backups and restore, the way a technician runs them: a built hub process sells through its HTTP
 * API and publishes to a real mosquitto; `ayi backup` (the CLI, through the admin socket) runs while
 * it sells; `ayi restore` puts the backup into a fresh data directory; a new hub starts from it.
 * What HQ sees is checked with `hq-tail` and with a subscriber of its own.
 *
 * Needs `npm run build -w hub` (the hub process runs hub/dist).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import type { BackupResult, BackupView } from '../../hub/src/services/backup.service.ts';
import { readBackup } from '../../hub/src/storage/backup-archive.ts';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import type { HealthView } from '../../hub/src/transport/http/app.ts';
import type { TailSummary } from '../../scripts/hq-tail.ts';
import { REPO_ROOT, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { type HqSubscriber, type Mosquitto, hqSubscriber, startMosquitto } from '../support/mosquitto.ts';
import { poll } from '../support/poll.ts';
import { checkoutRequest, listSales, sell } from '../support/sales.ts';
import { pairedTablet, startTestHub } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const AYI = path.join(REPO_ROOT, 'scripts', 'ayi.ts');
const HQ_TAIL = path.join(REPO_ROOT, 'scripts', 'hq-tail.ts');
const PASSPHRASE = '阿姨的店 backup 2026 passphrase';
const dirs = new TempDirs();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run ayi -- <args>` as the technician runs it (settings from the environment, no settings file). */
function ayi(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', AYI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, AYI_SETTINGS_FILE: path.join(dirs.make(), 'none.env'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A data directory's files and their bytes (what "nothing changed" compares). */
function contentsOf(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, full)] = readFileSync(full).toString('base64');
  }
  return out;
}

const backupsIn = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.ayibackup'));

/** The journal's events in a backup, by parsing its day files' lines. */
async function eventsInBackup(file: string): Promise<HubEvent[]> {
  const { entries } = await readBackup(file, PASSPHRASE);
  return entries
    .filter((entry) => entry.name.startsWith('journal/'))
    .flatMap((entry) => entry.bytes.toString('utf8').split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as HubEvent)
    .sort((a, b) => a.seq - b.seq);
}

let broker: Mosquitto;
let hq: HqSubscriber;
type Tail = { child: ChildProcess; out: () => string; exited: Promise<number | null> };
/** hq-tail as HQ's developers run it; `fromStart`: every stream counted from its first seq. */
let tails: { joined: Tail; fromStart: Tail };
let hubA: HubProcess;
let hubB: HubProcess | null = null;
let backupDir: string;
let env: Record<string, string>;

/** The summaries a tail printed (JSON lines). */
function summariesOf(tail: Tail): TailSummary[] {
  return tail
    .out()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { kind: string })
    .filter((line) => line.kind === 'summary') as unknown as TailSummary[];
}

async function startTail(extra: string[]): Promise<Tail> {
  const args = ['--broker', broker.url, '--chain', 'demo', '--json', '--interval', '0', '--ping', '0', ...extra];
  const child = spawn(process.execPath, ['--import', 'tsx', HQ_TAIL, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  await poll(
    async () => out + err,
    (text) => text.includes('subscribed'),
    'hq-tail to subscribe',
    20_000,
  );
  return { child, out: () => out, exited: new Promise((resolve) => child.once('exit', resolve)) };
}

beforeAll(async () => {
  broker = await startMosquitto();
  hq = await hqSubscriber(broker.url, 'ayi/v1/#', false);
  tails = { joined: await startTail([]), fromStart: await startTail(['--from-start']) };

  backupDir = dirs.make('ayi-backups-');
  const passphraseFile = path.join(dirs.make('ayi-etc-'), 'backup-passphrase');
  writeFileSync(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
  env = {
    AYI_MQTT_URL: broker.url,
    AYI_BACKUP_DIR: backupDir,
    AYI_BACKUP_PASSPHRASE_FILE: passphraseFile,
    AYI_BACKUP_KEEP: '2',
  };
  hubA = await startHubProcess({ env, dataDir: dirs.make('ayi-hub-a-') });
}, 60_000);

afterAll(async () => {
  await hubB?.stop();
  await hubA?.stop();
  for (const tail of Object.values(tails ?? {})) if (tail.child.exitCode === null) tail.child.kill('SIGKILL');
  await hq?.close();
  await broker?.kill();
  dirs.removeAll();
});

const oneTea = () => checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]);

describe('ayi backup while the store sells, ayi restore, a new epoch', () => {
  let firstBackup: BackupResult;
  let ackedBeforeBackup: string[];
  let soldAfterBackup: string[];
  /** Every sale hub A acknowledged. */
  const allSold: string[] = [];

  it('writes a backup holding every sale acknowledged before it started, while sales go on', async () => {
    const tablet = await pairedTablet(hubA);
    const acked: string[] = [];
    let selling = true;
    const seller = (async () => {
      while (selling) acked.push((await sell(tablet, oneTea())).saleId);
    })();
    await poll(
      async () => acked.length,
      (n) => n >= 5,
      'five sales',
    );
    ackedBeforeBackup = [...acked];
    const run = await ayi(['backup'], { AYI_DATA_DIR: hubA.dataDir });
    const countAtEnd = acked.length;
    await poll(
      async () => acked.length,
      (n) => n >= countAtEnd + 3,
      'sales after the backup',
    );
    selling = false;
    await seller;

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    firstBackup = JSON.parse(run.stdout) as BackupResult;
    expect(path.dirname(firstBackup.file)).toBe(backupDir);
    expect(readdirSync(backupDir).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    const events = await eventsInBackup(firstBackup.file);
    // A consistent prefix: seqs 1..N without a hole, nothing after N.
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: firstBackup.seq }, (_, i) => i + 1));
    const salesInBackup = new Set(
      events
        .filter((event) => event.type === 'sale.completed')
        .map((event) => (event.data as { saleId: string }).saleId),
    );
    for (const saleId of ackedBeforeBackup) expect(salesInBackup).toContain(saleId);
    soldAfterBackup = acked.filter((saleId) => !salesInBackup.has(saleId));
    expect(soldAfterBackup.length).toBeGreaterThanOrEqual(3);
    allSold.push(...acked);
    // The file is encrypted: no sale id, no settings in clear.
    const raw = readFileSync(firstBackup.file);
    expect(raw.includes(Buffer.from(ackedBeforeBackup[0]!))).toBe(false);
    expect(raw.includes(Buffer.from('member-secrets'))).toBe(false);
  }, 60_000);

  it('keeps the newest AYI_BACKUP_KEEP backups and shows the last one in health', async () => {
    const second = await ayi(['backup'], { AYI_DATA_DIR: hubA.dataDir });
    const third = await ayi(['backup'], { AYI_DATA_DIR: hubA.dataDir });
    expect([second.code, third.code]).toEqual([0, 0]);
    const kept = backupsIn(backupDir).sort();
    expect(kept).toHaveLength(2);
    expect(kept).not.toContain(path.basename(firstBackup.file));
    expect(kept).toContain(path.basename((JSON.parse(third.stdout) as BackupResult).file));
    const health = (await (await fetch(`${hubA.url}/api/health`)).json()) as HealthView;
    expect(health.backup).toMatchObject({ enabled: true, keep: 2, lastResult: 'ok', lastError: null });
    expect(health.backup.lastBackupFile).toBe(path.basename((JSON.parse(third.stdout) as BackupResult).file));
    expect(health.problems).not.toContain('backup_failed');
  }, 60_000);

  it('refuses to restore while the hub runs, and changes nothing', async () => {
    const saved = path.join(dirs.make('ayi-saved-'), path.basename(firstBackup.file));
    writeFileSync(saved, 'placeholder');
    const before = contentsOf(hubA.dataDir);
    const run = await ayi(['restore', saved], { AYI_DATA_DIR: hubA.dataDir });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/hub is running .*stop it first \(sudo systemctl stop ayi-hub\)/);
    expect(Object.keys(contentsOf(hubA.dataDir)).sort()).toEqual(Object.keys(before).sort());
    expect(contentsOf(hubA.dataDir)['store.json']).toBe(before['store.json']);
  });

  describe('with the store stopped', () => {
    let backupFile: string;
    let backupSeq: number;
    let oldEpoch: string;
    let lastSeqA: number;
    let soldBeforeRestoredBackup: string[];
    let soldAfterRestoredBackup: string[];

    beforeAll(async () => {
      // The newest backup is restored (the first one was pruned); its seq is where the new epoch starts.
      const newest = backupsIn(backupDir).sort().at(-1)!;
      backupFile = path.join(backupDir, newest);
      const { header } = await readBackup(backupFile, PASSPHRASE);
      backupSeq = header.seq;
      oldEpoch = header.epoch;
      // Sales after the backup: the old box sells on, and HQ gets them under the old epoch.
      const tablet = await pairedTablet(hubA);
      for (let i = 0; i < 3; i++) allSold.push((await sell(tablet, oneTea())).saleId);
      const inBackup = new Set(
        (await eventsInBackup(backupFile)).flatMap((event) =>
          event.type === 'sale.completed' ? [(event.data as { saleId: string }).saleId] : [],
        ),
      );
      soldBeforeRestoredBackup = allSold.filter((saleId) => inBackup.has(saleId));
      soldAfterRestoredBackup = allSold.filter((saleId) => !inBackup.has(saleId));
      expect(soldBeforeRestoredBackup.length).toBeGreaterThan(0);
      expect(soldAfterRestoredBackup).toHaveLength(3);
      const health = (await (await fetch(`${hubA.url}/api/health`)).json()) as HealthView;
      lastSeqA = health.lastSeq;
      await hq.waitFor(
        () => hq.unique().some((event) => event.epoch === oldEpoch && event.seq === lastSeqA),
        30_000,
        "the old box's last event at HQ",
      );
      await hubA.stop();
    }, 60_000);

    it('refuses a wrong passphrase and a tampered file with clear errors, changing nothing', async () => {
      const target = dirs.make('ayi-target-');
      writeFileSync(path.join(target, 'keep-me.txt'), 'what was there');
      const before = contentsOf(target);

      const wrong = await ayi(['restore', backupFile], {
        AYI_DATA_DIR: target,
        AYI_BACKUP_PASSPHRASE: 'not the right passphrase',
      });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/wrong passphrase/);
      expect(contentsOf(target)).toEqual(before);

      const tampered = path.join(dirs.make('ayi-tampered-'), path.basename(backupFile));
      const bytes = readFileSync(backupFile);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      writeFileSync(tampered, bytes);
      const altered = await ayi(['restore', tampered], { AYI_DATA_DIR: target, AYI_BACKUP_PASSPHRASE: PASSPHRASE });
      expect(altered.code).toBe(1);
      expect(altered.stderr).toMatch(/damaged or was altered/);
      expect(contentsOf(target)).toEqual(before);

      const none = await ayi(['restore', backupFile], { AYI_DATA_DIR: target });
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/no backup passphrase/);
      expect(contentsOf(target)).toEqual(before);
    }, 60_000);

    it('restores into a fresh data directory; the hub starts with the sales and a new epoch, HQ sees no conflict', async () => {
      const fresh = path.join(dirs.make('ayi-new-box-'), 'data');
      const run = await ayi(['restore', backupFile], { AYI_DATA_DIR: fresh, AYI_BACKUP_PASSPHRASE: PASSPHRASE });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`records from seq ${backupSeq + 1} on`);

      hubB = await startHubProcess({ env, dataDir: fresh });
      const health = (await (await fetch(`${hubB.url}/api/health`)).json()) as HealthView;
      expect(health.epoch).not.toBe(oldEpoch);
      expect(health.lastSeq).toBe(backupSeq);
      const tablet = await pairedTablet(hubB);
      const sales = new Set<string>();
      // Every sale the store has, a page at a time (newest first).
      for (let page = await listSales(tablet, '?limit=200'); page.length > 0;) {
        for (const sale of page) sales.add(sale.saleId);
        page = await listSales(tablet, `?limit=200&beforeSeq=${Math.min(...page.map((sale) => sale.seq))}`);
      }
      for (const saleId of soldBeforeRestoredBackup) expect(sales).toContain(saleId);
      // Made by the old box after the backup: not on the restored box (HQ has them, old epoch).
      for (const saleId of soldAfterRestoredBackup) expect(sales).not.toContain(saleId);

      const newSale = await sell(tablet, oneTea());
      const newEpoch = health.epoch;
      await hq.waitFor(
        () => hq.unique().some((event) => event.epoch === newEpoch && event.type === 'sale.completed'),
        30_000,
        "the restored store's sale at HQ",
      );
      const newEpochEvents = hq.unique().filter((event) => event.epoch === newEpoch);
      expect(Math.min(...newEpochEvents.map((event) => event.seq))).toBe(backupSeq + 1);
      expect(newEpochEvents.find((event) => event.type === 'sale.completed')!.data).toMatchObject({
        saleId: newSale.saleId,
      });
      // The old box sold under the same seqs after the backup: no sale id names two sales.
      const oldSaleIds = hq
        .unique()
        .filter((event) => event.epoch === oldEpoch && event.type === 'sale.completed')
        .map((event) => (event.data as { saleId: string }).saleId);
      expect(oldSaleIds).toHaveLength(allSold.length);
      expect(oldSaleIds).not.toContain(newSale.saleId);
      const status = hq.last('/status');
      expect(status).toMatchObject({ epoch: newEpoch, epochStartSeq: backupSeq + 1 });

      // No two different events under one (epoch, seq), across both boxes' publishing.
      expect(hq.seqConflicts()).toEqual([]);
      // The old epoch stays whole at HQ: the old box's sales after the backup are there.
      const oldSeqs = hq.seqsOf(oldEpoch);
      expect(oldSeqs.at(-1)).toBeGreaterThanOrEqual(lastSeqA);
      expect(oldSeqs).toEqual(Array.from({ length: oldSeqs.length }, (_, i) => i + 1));

      // hq-tail: two epochs of the store, no gap, no invalid message; counted from each stream's
      // first seq too, the restored epoch starts at its epochStartSeq, not at 1.
      for (const tail of [tails.joined, tails.fromStart]) {
        tail.child.kill('SIGTERM');
        const code = await tail.exited;
        const store = summariesOf(tail)
          .at(-1)!
          .stores.find((s) => s.storeId === 'store-001')!;
        expect(store.epochs.map((e) => e.epoch).sort()).toEqual([oldEpoch, newEpoch].sort());
        expect(store.epochs.every((e) => e.missing === 0)).toBe(true);
        expect(code).toBe(0);
      }
      const restored = summariesOf(tails.fromStart)
        .at(-1)!
        .stores.find((s) => s.storeId === 'store-001')!
        .epochs.find((e) => e.epoch === newEpoch)!;
      expect(restored.firstSeq).toBe(backupSeq + 1);
    }, 90_000);
  });
});

describe('the nightly backup and its problems in health', () => {
  let hub: Hub | null = null;
  afterAll(async () => {
    await hub?.stop();
  });

  it('a backup without a passphrase fails with a clear error, shown in health as backup_failed', async () => {
    const dir = dirs.make('ayi-backups-');
    // Every second instead of nightly, so the test sees a run.
    hub = await startTestHub({ config: { backupDir: dir, backupCron: '* * * * * *' } });
    const health = await poll(
      async () => (await (await fetch(`${hub!.url}/api/health`)).json()) as HealthView,
      (view) => view.backup.lastResult !== null,
      'the nightly backup to run',
      20_000,
      100,
    );
    expect(health.problems).toContain('backup_failed');
    expect(health.status).toBe('degraded');
    expect(health.backup.lastError).toMatch(/no backup passphrase/);
    await expect(adminRequest(path.join(hub.config.dataDir, 'ayi.sock'), 'backup')).rejects.toThrow(
      /no backup passphrase: set AYI_BACKUP_PASSPHRASE in \/etc\/ayi\/hub.env/,
    );
    expect(backupsIn(dir)).toEqual([]);
    await hub.stop();
    hub = null;
  }, 30_000);

  it('the nightly backup writes into the backup directory and keeps the newest N', async () => {
    const dir = dirs.make('ayi-backups-');
    hub = await startTestHub({
      config: { backupDir: dir, backupCron: '* * * * * *', backupPassphrase: PASSPHRASE, backupKeep: 1 },
    });
    const view = await poll(
      async () => ((await (await fetch(`${hub!.url}/api/health`)).json()) as HealthView).backup,
      (backup: BackupView) => backup.lastResult === 'ok' && backupsIn(dir).length === 1,
      'a nightly backup',
      20_000,
      100,
    );
    expect(view.lastBackupFile).toBe(backupsIn(dir)[0]);
    const { header } = await readBackup(path.join(dir, backupsIn(dir)[0]!), PASSPHRASE);
    expect(header).toMatchObject({ chainId: hub.config.chainId, storeId: hub.config.storeId });
  }, 30_000);
});
