/**
 * The composition root: builds storage, projections, services and transports, and starts and
 * stops them in order. Start-up: newest good snapshot, then the journal after it.
 */
import { readFileSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { Value } from '@sinclair/typebox/value';
import type { Low } from 'lowdb';
import type { HubConfig } from './config/config.js';
import { Bus } from './bus/bus.js';
import { StoreState, type StoreStateData } from './domain/store-state.js';
import { businessDate } from './domain/time.js';
import { ensureDirectory } from './storage/fsync.js';
import { prepareDataFormat } from './storage/data-format.js';
import { WENT_BACK_IN_TIME_SHOWN_MS, type StoreIdentityFile, type WentBackInTime } from './storage/store-identity.js';
import { demoCatalogCsv } from './demo/demo-catalog.js';
import { clearSeedingMark, markSeeding, seedingWasCutShort } from './demo/seeding-mark.js';
import { EventStore, type StoreIdentity } from './storage/event-store.js';
import { Journal, type JournalDamage } from './storage/journal.js';
import { SnapshotStore } from './storage/snapshots.js';
import { StorageMonitor, isDiskFull, isStorageError } from './storage/storage-monitor.js';
import { ClockGuard } from './storage/clock-guard.js';
import { openSettings, updateSettings } from './storage/settings.repo.js';
import { DurableJsonFile } from './storage/durable-json.adapter.js';
import { CatalogService } from './services/catalog.service.js';
import { CheckoutService } from './services/checkout.service.js';
import {
  MANAGER_PIN_MIN_DIGITS,
  SecurityService,
  newSecurityData,
  type SecurityData,
} from './services/security.service.js';
import { SnapshotService } from './services/snapshot.service.js';
import { MembersService } from './services/members.service.js';
import { CouponsService } from './services/coupons.service.js';
import { KeyedLock } from './services/keyed-lock.js';
import { MessagingService, messageTemplates } from './services/messaging.service.js';
import { createSmsProvider } from './services/sms/sms-provider.js';
import { MemberVault } from './storage/member-vault.js';
import { DEFAULT_PROGRAM, LoyaltyProgram, checkProgram } from './domain/loyalty.js';
import { AnalyticsService } from './services/analytics.service.js';
import { SegmentsService } from './services/segments.service.js';
import { TagRulesService } from './services/tag-rules.service.js';
import { DEFAULT_DEVICES, DevicesConfig, checkDevices } from './devices/device-config.js';
import { buildHardware, type Hardware } from './hardware.js';
import { discoverDevices } from './devices/discovery.js';
import { sharedUsbBus } from './devices/usb-access.js';
import { loadSerialPort } from './devices/serial-scanner.driver.js';
import {
  apiRoutesOf,
  buildHttpApp,
  compileRouteSchemas,
  hqHealth,
  type ApiRoute,
  type HealthView,
} from './transport/http/app.js';
import { startAdminSocket } from './transport/admin/admin.socket.js';
import { scheduleNightly } from './jobs/nightly.js';
import { TechnicianCommands } from './services/technician-commands.js';
import { BackupService } from './services/backup.service.js';
import { readPassphrase } from './storage/backup-archive.js';
import { JournalRestorer } from './services/journal-restore.service.js';
import type { HubEvent } from './protocol/events.js';
import { HqLinkService, hqLinkSettings } from './services/hq-link.service.js';
import { WatermarkFile } from './transport/mqtt/watermark-file.js';
import { DiscountPolicy, type Role } from './protocol/api.js';
import { DEFAULT_DISCOUNT_POLICY } from './domain/discount-policy.js';
import { DiscountApprovalService } from './services/discount-approval.service.js';
import {
  backupsCheck,
  brokerCheck,
  certificatesCheck,
  clockCheck,
  devicesCheck,
  diskCheck,
  journalCheck,
  memberKeyCheck,
  ntpSynchronized,
  sameSummary,
  summarize,
  type CertificateFile,
  type CheckSummary,
  type DoctorCheck,
} from './services/doctor.js';

export const HUB_VERSION: string = (
  JSON.parse(readFileSync(path.resolve(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;

/** Sales kept in memory for history, receipts, voids and refunds. */
export const SALES_RETENTION_DAYS = 35;
/** The longest the start's warm-up (receipt encoder, route schemas) waits for the backlog to HQ. */
const WARM_UP_WAIT_MS = 60_000;

/** Managers' and owners' PINs are at least 6 digits (MANAGER_PIN_MIN_DIGITS), demo ones too. */
export const DEMO_STAFF: { name: string; role: Role; pin: string }[] = [
  { name: '小美', role: 'cashier', pin: '1111' },
  { name: '阿明', role: 'manager', pin: '222222' },
  { name: '王老闆', role: 'owner', pin: '333333' },
];
/** The demo manager's and owner's PINs before they had 6 digits. */
const OLD_DEMO_PINS: { role: Role; oldPin: string }[] = [
  { role: 'manager', oldPin: '2222' },
  { role: 'owner', oldPin: '3333' },
];

/** What seeding a demo store's history needs besides the hub's own parts. */
interface DemoHistoryParts {
  members: MembersService;
  approvals: DiscountApprovalService;
  analytics: AnalyticsService;
  vault: MemberVault;
  program: LoyaltyProgram;
}

interface MemberSecretsFile {
  /**
   * Key of the HMACs that index phone numbers and carrier barcodes. The chain's technicians give
   * every store the same one (AYI_MEMBER_HASH_KEY) so HQ can link one person across stores.
   */
  hashKey: string;
}

/** When the nightly loyalty review runs (store time): after closing, before the nightly snapshot. */
const LOYALTY_REVIEW_CRON = '10 3 * * *';
/** After the loyalty review, so RFM and automatic tags see the night's tiers and points. */
const CRM_NIGHTLY_CRON = '40 3 * * *';

export interface HubOptions {
  clock?: () => Date;
  logger?: Logger;
}

/** What makes the hub's health `degraded` (also in the status to HQ). */
export type HealthProblem =
  | 'storage_full'
  | 'storage_low'
  | 'storage_error'
  | 'journal_damaged'
  | 'clock_behind'
  | 'hq_backlog'
  | 'demo_history_incomplete'
  | 'backup_failed'
  | 'backup_old'
  | 'went_back_in_time';

export interface StartupReport {
  snapshotSeq: number;
  replayedEvents: number;
  lastSeq: number;
  tornBytesDropped: number;
  corruptLines: number;
  startupMs: number;
}

export class Hub {
  private app: FastifyInstance | null = null;
  private stopping: Promise<void> | null = null;
  private readonly stoppers: (() => Promise<void> | void)[] = [];
  private readonly startedAt: number;
  url = '';
  pairingCode = '';
  startup: StartupReport | null = null;
  security!: SecurityService;
  state!: StoreState;
  events!: EventStore;
  snapshots!: SnapshotService;
  members!: MembersService;
  messaging!: MessagingService;
  /** Automatic tags: tests wait for its queue (`idle()`). */
  tagRules!: TagRulesService;
  hardware!: Hardware;
  catalog!: CatalogService;
  hqLink!: HqLinkService;
  storage!: StorageMonitor;
  backups!: BackupService;
  /** The clock against the journal's last event: writes are refused while it is behind. */
  clockGuard!: ClockGuard;

  private constructor(
    readonly config: HubConfig,
    readonly log: Logger,
    private readonly clock: () => Date,
  ) {
    this.startedAt = Date.now();
  }

  static async start(config: HubConfig, options: HubOptions = {}): Promise<Hub> {
    const log = options.logger ?? pino({ level: config.logLevel, base: { storeId: config.storeId } });
    const hub = new Hub(config, log, options.clock ?? (() => new Date()));
    try {
      await hub.boot();
    } catch (err) {
      await hub.stop().catch(() => undefined);
      throw err;
    }
    return hub;
  }

  private async boot(): Promise<void> {
    const t0 = performance.now();
    const { config, log, clock } = this;
    await ensureDirectory(config.dataDir);
    // Members' keys and staff secrets live here: nobody but the hub's user may list or read it.
    await chmod(config.dataDir, 0o700);
    // Before anything reads the data: a newer format is refused, an older one migrated once.
    await prepareDataFormat(config.dataDir, {
      version: HUB_VERSION,
      clock,
      onMigrated: (migration) => log.info({ from: migration.from }, `data migrated: ${migration.description}`),
    });

    const bus = new Bus((topic, err) => log.error({ err, topic }, 'bus listener failed'));
    let storageState: string | null = null;
    // Free space on the data disk. A full disk does not stop the start: the hub serves what it has
    // (read-only until space is back) instead of dying at the next sale.
    const storage = new StorageMonitor(
      config.dataDir,
      {
        minFreePercent: config.diskMinFreePercent,
        minFreeBytes: config.diskMinFreeMb * 1024 * 1024,
        probeMs: config.diskProbeSeconds * 1000,
        fullProbeMs: Math.min(5000, config.diskProbeSeconds * 1000),
        clock,
      },
      (view) => {
        const fields = { freeBytes: view.freeBytes, freePercent: view.freePercent, daysLeft: view.daysLeft };
        if (view.state === 'full')
          log.error(fields, 'the data disk is full: sales and changes are refused until space is freed');
        else if (view.state === 'error')
          log.error(
            { ...fields, error: view.storageError },
            'the data disk refuses writes (I/O error or read-only): call support',
          );
        else if (view.state === 'low') log.warn(fields, 'the data disk is running out of space');
        else log.info(fields, 'the data disk has room');
        bus.emit('storage.changed', view);
        this.hqLink?.refreshStatus();
        // A receipt whose spool file the full disk refused is printed now that there is room.
        if (storageState === 'full' && view.state !== 'full' && this.hardware) {
          void this.hardware.printing
            .printMissingOriginals()
            .catch((err: unknown) => log.error({ err }, 'printing missing receipts failed'));
        }
        storageState = view.state;
      },
      (err) => log.warn({ err }, 'cannot measure free space on the data disk'),
    );
    this.storage = storage;
    await storage.start();
    this.stoppers.push(() => storage.stop());

    const identity = await openSettings<StoreIdentityFile>(config.dataDir, 'store', () => ({
      chainId: config.chainId,
      storeId: config.storeId,
      epoch: uuidv7(),
      createdAt: clock().toISOString(),
      deliveredSeq: 0,
    }));
    if (identity.data.storeId !== config.storeId || identity.data.chainId !== config.chainId) {
      throw new Error(
        `The data directory ${config.dataDir} belongs to store ${identity.data.chainId}/${identity.data.storeId}, ` +
          `not ${config.chainId}/${config.storeId}. Use that store's id or another AYI_DATA_DIR.`,
      );
    }

    // One identity for everything that stamps or checks events: a new epoch (the hub went back in
    // time, see the HQ link) changes it for all of them at once.
    const storeIdentity: StoreIdentity = {
      chainId: config.chainId,
      storeId: config.storeId,
      epoch: identity.data.epoch,
    };
    this.wentBackInTime = () => identity.data.wentBackInTime?.at(-1) ?? null;
    this.epoch = () => identity.data.epoch;

    this.backups = new BackupService({
      dataDir: config.dataDir,
      dir: config.backupDir === null ? null : path.resolve(config.backupDir),
      keep: config.backupKeep,
      passphrase: () => readPassphrase(config),
      identity: () => ({ chainId: config.chainId, storeId: config.storeId, epoch: identity.data.epoch }),
      lastSeq: () => this.events.lastSeq,
      hubVersion: HUB_VERSION,
      clock,
    });
    await this.backups.load();
    if (config.backupDir !== null && config.backupPassphrase === null && config.backupPassphraseFile === null) {
      log.error(
        'backups are set (AYI_BACKUP_DIR) without a passphrase: set AYI_BACKUP_PASSPHRASE in /etc/ayi/hub.env; no backup is written until then',
      );
    }

    const memberSecrets = await openSettings<MemberSecretsFile>(config.dataDir, 'member-secrets', () => ({
      hashKey: randomBytes(32).toString('base64'),
    }));
    const vault = await MemberVault.open(
      path.join(config.dataDir, 'members'),
      Buffer.from(config.memberHashKey ?? memberSecrets.data.hashKey, 'base64'),
    );
    this.stoppers.push(() => vault.close());
    const unseal = vault.unseal.bind(vault);
    const program = await this.loadLoyaltyProgram();
    const devicesConfig = await this.loadDevices();

    // 1. Journal (repairs a torn tail), 2. newest good snapshot, 3. replay after it.
    let tornBytesDropped = 0;
    let corruptLines = 0;
    const { journal, lastEvent, lastSeqSeen } = await Journal.open(
      path.join(config.dataDir, 'journal'),
      config.tz,
      (report) => {
        tornBytesDropped += report.truncatedBytes;
        corruptLines += report.corruptLines.length;
        if (report.truncatedBytes > 0) {
          log.warn({ file: report.file, bytes: report.truncatedBytes }, 'dropped a torn tail left by a crash');
        }
        if (report.corruptLines.length > 0) {
          log.error(
            { file: report.file, lines: report.corruptLines, seqs: report.corruptSeqHints },
            'skipped damaged journal lines (kept in the file)',
          );
        }
      },
    );
    this.stoppers.push(() => journal.close());
    this.journalDamage = () => journal.damage();
    this.journalFlush = (now) => journal.flushRunningMs(now);

    // A box that lost the time (no battery clock, no network yet) must not date events before the
    // journal's last one: refused while behind, accepted again as soon as time sync sets the clock.
    const clockGuard = new ClockGuard(clock, lastEvent?.at ?? null, (view) => {
      const fields = { now: view.now, lastEventAt: view.lastEventAt };
      if (view.state === 'behind')
        log.error(
          fields,
          "the clock is behind the journal's last event: sales and changes are refused until time sync",
        );
      else log.info(fields, 'the clock is past the journal again: sales and changes are accepted');
      bus.emit('clock.changed', view);
      this.hqLink?.refreshStatus();
    });
    this.clockGuard = clockGuard;
    this.stoppers.push(() => clockGuard.stop());

    const snapshotStore = new SnapshotStore<StoreStateData>(
      path.join(config.dataDir, 'snapshots'),
      (file, reason) => log.warn({ file, reason }, 'skipped a damaged snapshot'),
      // On a disk short of space a snapshot never takes the journal's last room.
      { short: () => storage.state() === 'low' || storage.state() === 'full' },
    );
    await snapshotStore.ensureDirectory();
    let snapshot = await snapshotStore.loadNewest();
    let state: StoreState;
    try {
      state = snapshot
        ? StoreState.fromData(snapshot.state, SALES_RETENTION_DAYS, unseal)
        : new StoreState(SALES_RETENTION_DAYS, unseal);
    } catch (err) {
      // A snapshot that reads back whole but does not fit the projections: rebuild from the journal.
      log.warn({ err, seq: snapshot?.seq }, 'snapshot does not fit this version; replaying the whole journal');
      snapshot = null;
      state = new StoreState(SALES_RETENTION_DAYS, unseal);
    }
    this.state = state;
    // The replay does not count towards "a snapshot every N events": that serialised the whole
    // projection every N replayed events (40 times for 200,000). A long replay ends with one (below).
    let replayed = 0;
    let lastReplayedAt: string | null = null;
    let erasedSinceSnapshot = false;
    // A day's events at a time: one await per day file, not one per event (200,000 of them).
    for await (const events of journal.replayDays(state.lastSeq, snapshot?.journalDay ?? '')) {
      for (const event of events) {
        if (event.seq !== state.lastSeq + 1) {
          log.error({ expected: state.lastSeq + 1, found: event.seq }, 'gap in the journal');
        }
        state.apply(event);
        lastReplayedAt = event.at;
        replayed += 1;
        if (event.type === 'member.erased') erasedSinceSnapshot = true;
      }
    }
    this.snapshots = new SnapshotService(
      state,
      snapshotStore,
      vault.seal.bind(vault),
      config.tz,
      config.snapshotEveryEvents,
      clock,
      (err) => log.error({ err }, 'snapshot failed'),
      snapshot?.seq ?? 0,
      lastReplayedAt === null ? (snapshot?.journalDay ?? '') : businessDate(new Date(lastReplayedAt), config.tz),
      { quietMs: config.snapshotQuietMs },
    );
    this.stoppers.push(() => this.snapshots.stop());
    // A seq is never given out twice: not one a damaged line at the journal's end took, nor one HQ
    // already acknowledged (the card may have lost it), nor one the snapshot holds.
    const watermark = await new WatermarkFile(config.dataDir, () => undefined).load();
    const hqDeliveredSeq = watermark?.epoch === identity.data.epoch ? watermark.deliveredSeq : 0;
    const lastSeq = Math.max(state.lastSeq, lastSeqSeen, identity.data.deliveredSeq, hqDeliveredSeq);
    journal.noteMissingThrough(lastEvent?.seq ?? 0, lastSeq);
    // A data directory nothing was ever recorded in: a demo store seeds its history only then.
    const newStore = lastSeq === 0;
    // A seeding cut short (a crash, a failure) is not taken up again: the store keeps part of the year.
    this.demoHistoryCutShort = !newStore && (await seedingWasCutShort(config.dataDir));
    if (this.demoHistoryCutShort) {
      log.error(
        "the demo store's year of history was cut short while it was being seeded: the store holds only part " +
          'of it and it is not seeded again; delete the data directory to start the demo store afresh',
      );
    }
    if (lastSeq > (lastEvent?.seq ?? 0)) {
      log.error(
        { lastGoodSeq: lastEvent?.seq ?? 0, lastSeq },
        'the journal ends before the last seq given out: the seqs after its last good line are missing',
      );
    }

    this.events = new EventStore(
      journal,
      storeIdentity,
      lastSeq,
      clock,
      (err) => {
        // The disk refused a write or an fsync (a full disk): the events not on disk were refused
        // and their seqs given back; the next event is tried afresh, so sales resume by themselves.
        storage.noteWriteFailure(err);
        if (isDiskFull(err)) log.error({ code: 'storage_full' }, 'journal append refused: the data disk is full');
        else if (isStorageError(err))
          log.error({ code: 'storage_error', err }, 'journal append refused: the disk cannot be written');
        else log.error({ err }, 'journal append failed; the events were refused');
      },
      (err, event) => log.error({ err, seq: event.seq, type: event.type }, 'committed-event listener failed'),
      (at) => clockGuard.check(at),
    );
    this.events.onCommitted((event) => clockGuard.noteEvent(event.at));
    this.events.onCommitted(() => storage.noteWriteSuccess());
    this.events.onCommitted((event) => state.apply(event));
    this.events.onCommitted((event) => this.snapshots.noteEvent(event));
    this.events.onCommitted((event) => bus.emit('event.committed', event));
    const catalog = new CatalogService(state, this.events, { chainId: config.chainId, storeId: config.storeId }, clock);
    this.catalog = catalog;
    // The link to HQ publishes from the journal; this listener only appends to its in-memory tail.
    this.hqLink = new HqLinkService({
      settings: hqLinkSettings(config),
      identity: storeIdentity,
      ...(identity.data.epochStartSeq !== undefined ? { epochStartSeq: identity.data.epochStartSeq } : {}),
      lastSeqAtStart: lastSeq,
      // Durable in store.json before anything is published under the new epoch.
      startNewEpoch: async (ahead) => {
        const noticedAt = clock().toISOString();
        const epoch = uuidv7({ msecs: Date.parse(noticedAt) });
        const record: WentBackInTime = {
          previousEpoch: ahead.epoch,
          epoch,
          epochStartSeq: ahead.epochStartSeq,
          brokerSeq: ahead.brokerSeq,
          brokerStatusAt: ahead.brokerStatusAt,
          noticedAt,
        };
        await updateSettings(identity, (data) => ({
          ...data,
          epoch,
          epochStartSeq: ahead.epochStartSeq,
          deliveredSeq: Math.min(data.deliveredSeq, ahead.epochStartSeq - 1),
          wentBackInTime: [...(data.wentBackInTime ?? []), record],
        }));
        storeIdentity.epoch = epoch;
        log.error(
          { previousEpoch: ahead.epoch, epoch, epochStartSeq: ahead.epochStartSeq, brokerSeq: ahead.brokerSeq },
          'went back in time: the data is older than what HQ has of this store (an old copy or card image was put back); ' +
            'a new epoch starts, HQ keeps the sales it has; this box lacks those made after the copy',
        );
        return { epoch };
      },
      wentBackInTime: () => this.wentBackInTime(),
      version: HUB_VERSION,
      timeZone: config.tz,
      dataDir: config.dataDir,
      journal,
      lastSeq: () => this.events.lastSeq,
      initialDeliveredSeq: identity.data.deliveredSeq,
      devices: () => (this.hardware ? this.hardware.registry.list() : []),
      lockedTablets: () => (this.security ? this.security.lockedTablets() : []),
      storePinBlock: () => (this.security ? this.security.storePinBlock() : null),
      // HQ links one person across stores by the keyed hash of their number (sealed in the journal).
      linkFor: (event) =>
        (event.type === 'member.registered' || event.type === 'member.profile_updated') && this.members
          ? this.members.hqLink(event.data.memberId)
          : null,
      log: log.child({ component: 'hq-link' }),
      clock,
      // The backlog is HQ's own to see; the rest tells HQ why this store is degraded.
      problems: () => this.problems().filter((problem) => problem !== 'hq_backlog'),
      checks: () => this.checkSummary(),
      missingSeqs: () => journal.damage().missingSeqs,
      restore: (events) => restorer.restore(events),
      catalog: {
        receive: (payload) => catalog.receiveHqCatalog(payload),
        status: () => catalog.hqStatus(),
      },
    });
    const hqLink = this.hqLink;
    this.events.onCommitted((event) => hqLink.noteCommitted(event));
    // The status says which catalog version the store runs, and whether a local import changed it.
    this.events.onCommitted((event) => {
      if (event.type === 'catalog.imported') hqLink.refreshStatus();
    });

    /**
     * Rebuilds the projection from the whole journal and swaps it in. Restored events are old seqs:
     * StoreState applies events in seq order only, and what they change depends on what came before
     * (a sale's number in its day, points and tiers, a later void of the restored sale), so applying
     * them now, after the events that followed, would not give what the journal says. A rebuild is
     * what a start without a snapshot does; restores are rare (a damaged card), and the store keeps
     * selling meanwhile: events committed during the rebuild are read in a second pass, and the new
     * projection replaces the old one only when none is left to read (no await in between).
     */
    const rebuildProjections = async (): Promise<void> => {
      const fresh = new StoreState(SALES_RETENTION_DAYS, unseal);
      for (;;) {
        const target = this.events.lastSeq;
        replay: for await (const events of journal.replayDays(fresh.lastSeq)) {
          for (const event of events) {
            if (event.seq > target) break replay;
            fresh.apply(event);
          }
        }
        if (this.events.lastSeq === target) break;
      }
      // Seqs lost at the journal's end were never applied: the live projection counted past them too.
      fresh.lastSeq = Math.max(fresh.lastSeq, state.lastSeq);
      state.adopt(fresh);
    };
    const restoredListeners: ((event: HubEvent) => void)[] = [];
    const restorer = new JournalRestorer({
      identity: storeIdentity,
      journal,
      lastSeq: () => this.events.lastSeq,
      apply: (restored, write) =>
        this.snapshots.during(async () => {
          // Snapshots from the first restored seq on lack it: removed before the journal has it, so
          // a crash at any point starts from an older snapshot (or none) and replays it.
          await this.snapshots.dropFrom(restored[0]!.seq);
          await write();
          await rebuildProjections();
          for (const event of restored) for (const listener of restoredListeners) listener(event);
          log.warn({ seqs: restored.map((event) => event.seq) }, 'journal events restored from HQ');
          await this.snapshots.take().catch((err: unknown) => log.error({ err }, 'snapshot after a restore failed'));
        }),
    });

    const securityDb: Low<SecurityData> = await openSettings(config.dataDir, 'security', newSecurityData);
    const events = this.events;
    this.security = new SecurityService(
      securityDb,
      clock,
      {
        checkRecordable: () => clockGuard.check(clock()),
        devicePaired: async (device) => void (await events.record('device.paired', device)),
        deviceRevoked: async (deviceId) => void (await events.record('device.revoked', { deviceId })),
        staffAdded: async (staff) =>
          void (await events.record('staff.added', { staffId: staff.id, name: staff.name, role: staff.role })),
        staffRemoved: async (staffId) => void (await events.record('staff.removed', { staffId })),
        staffPinChanged: async (staffId) => void (await events.record('staff.pin_changed', { staffId })),
        deviceUnlocked: async (deviceId, by) =>
          void (await events.record('device.unlocked', {
            deviceId,
            byStaffId: by?.staffId ?? null,
            byDeviceId: by?.deviceId ?? null,
          })),
      },
      log.child({ component: 'pin-guard' }),
    );
    this.security.onRevoked((deviceId) => bus.emit('device.revoked', { deviceId }));
    this.security.onLockChanged(() => hqLink.refreshStatus());

    const members = new MembersService(state, this.events, vault, program, config.tz, clock, new KeyedLock(), () =>
      this.snapshots.replaceAll(),
    );
    const coupons = new CouponsService(state, this.events);
    const messaging = new MessagingService({
      outbox: state.messages,
      events: this.events,
      resolveRecipient: (memberId) => members.recipient(memberId),
      provider: createSmsProvider(config, log.child({ component: 'sms' })),
      clock,
      log: log.child({ component: 'messaging' }),
      render: messageTemplates({ storeName: config.storeName }),
      canRecord: () => clockGuard.state() === 'ok',
    });
    this.messaging = messaging;
    bus.on('event.committed', (event) => {
      if (event.type === 'message.queued') messaging.kick();
    });
    const approvals = new DiscountApprovalService(
      state,
      this.events,
      await this.loadDiscountPolicy(),
      this.security,
      clock,
    );
    // After a restore the old box may have sold under the same seqs after the backup (HQ has those
    // sales): this epoch's sale ids end with a part of the epoch, so no id names two sales.
    // Until the link has read the broker's retained status this run cannot know whether its data went
    // back in time (the old box may have sold under the coming seqs too): a code of the run instead.
    const runSuffix = `-${randomBytes(3).toString('hex')}`;
    const saleIdSuffix = () =>
      !hqLink.epochChecked()
        ? runSuffix
        : identity.data.epochStartSeq !== undefined
          ? `-${identity.data.epoch.slice(-6)}`
          : '';
    const checkout = new CheckoutService(state, this.events, members, config.tz, clock, approvals, saleIdSuffix);
    const analytics = new AnalyticsService(state, members, config.storeId, config.tz, clock);
    restoredListeners.push((event) => analytics.noteCommitted(event));
    members.useStoreIntervals(() => analytics.storeIntervals());
    this.events.onCommitted((event) => analytics.noteCommitted(event));
    const segments = new SegmentsService(state, this.events, members, analytics, config.storeId, config.tz);
    const tagRules = new TagRulesService(state, this.events, vault, members, analytics, segments, (err) =>
      log.error({ err }, 'automatic tags failed'),
    );
    this.tagRules = tagRules;
    bus.on('event.committed', (event) => tagRules.noteCommitted(event));
    const hardware = await buildHardware({
      dataDir: config.dataDir,
      devices: devicesConfig,
      state,
      events: this.events,
      security: this.security,
      bus,
      receipt: {
        storeName: config.storeName,
        storeId: config.storeId,
        timeZone: config.tz,
        program,
        memberOf: (memberId) => members.receiptMember(memberId),
      },
      log,
      clock,
    });
    this.hardware = hardware;
    const { printing } = hardware;
    bus.on('event.committed', (event) => {
      // Imported history (a demo store's seeded year) was never at this counter: no receipts.
      if (event.type !== 'sale.completed' || event.occurredAt) return;
      // On the next turn of the event loop, after the answer: rendering and writing a receipt
      // (about 2 ms of CPU) must not delay this sale's acknowledgement, nor those of the other
      // sales committed by the same fsync. setImmediate runs before the next network read, so
      // printOriginal() has registered the job before any request can ask for the receipt.
      const saleId = event.data.saleId;
      setImmediate(() => printing.printOriginal(saleId));
    });
    // Stoppers run after the HTTP server has closed: no new sale can start another print by then.
    this.stoppers.push(() => hardware.stop());
    await hardware.start();

    if (config.demo) {
      const history = newStore && config.demoHistory ? { members, approvals, analytics, vault, program } : null;
      await this.seedDemo(catalog, coupons, history);
    }
    // Staff added before staff were journalled: their names, for sale views and receipts.
    // These writes can wait for the next start if the disk is full now: the hub starts read-only.
    await Promise.all(
      this.security
        .listStaff()
        .filter((staff) => !state.staff.has(staff.id))
        .map((staff) => events.record('staff.added', { staffId: staff.id, name: staff.name, role: staff.role })),
    ).catch((err: unknown) => log.error({ err }, 'cannot record the staff added before staff were journalled'));
    // NTP's verdict for the checks (null where there is no systemd), without delaying the start.
    void ntpSynchronized().then((synchronized) => (this.ntpSynchronized = synchronized));
    // Reads the TLS files (a clear error stops the start) and connects in the background.
    await hqLink.start();
    this.stoppers.push(() => hqLink.stop());

    const health = (this.healthView = (): HealthView => {
      const hq = hqLink.state();
      const problems = this.problems();
      return {
        status: problems.length > 0 ? 'degraded' : 'ok',
        problems,
        storage: storage.view(),
        clock: clockGuard.view(),
        journal: journal.damage(),
        backup: this.backups.view(),
        storeId: config.storeId,
        chainId: config.chainId,
        version: HUB_VERSION,
        epoch: identity.data.epoch,
        wentBackInTime: this.wentBackInTime(),
        lastSeq: this.events.lastSeq,
        undeliveredEvents: hq.backlog,
        hq: hqHealth(hq),
        uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      };
    });

    this.app = await buildHttpApp(
      {
        config,
        bus,
        security: this.security,
        catalog,
        checkout,
        approvals,
        members,
        coupons,
        messaging,
        analytics,
        segments,
        tagRules,
        printing,
        hardware: hardware.routes,
        health,
        onRequestError: (err) => storage.noteWriteFailure(err),
      },
      log,
    );
    await this.app.listen({ port: config.port, host: config.host });
    const address = this.app.server.address() as AddressInfo;
    const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    this.url = `http://${shownHost}:${address.port}`;

    const admin = await startAdminSocket(path.join(config.dataDir, 'ayi.sock'), (command, args) =>
      this.adminCommand(command, args),
    );
    this.stoppers.push(() => admin.close());
    // The checks again every few minutes (cheap ones: no broker round trip, no journal read): HQ's
    // status is published again when what fails or warns has changed.
    let lastSummary = this.checkSummary();
    const recheck = setInterval(() => {
      void ntpSynchronized().then((synchronized) => {
        if (this.stopping) return;
        this.ntpSynchronized = synchronized;
        const summary = this.checkSummary();
        if (!sameSummary(summary, lastSummary)) {
          log.warn({ failing: summary.failing, warning: summary.warning }, 'the box checks changed (ayi doctor)');
          hqLink.refreshStatus();
        }
        lastSummary = summary;
      });
    }, config.checkEverySeconds * 1000).unref();
    this.stoppers.push(() => clearInterval(recheck));
    const nightlyJobs = [
      scheduleNightly({
        name: 'nightly-snapshot',
        cron: config.snapshotCron,
        timeZone: config.tz,
        run: () => this.snapshots.take(),
        onError: (err) => log.error({ err }, 'nightly snapshot failed'),
      }),
      scheduleNightly({
        name: 'loyalty-review',
        cron: LOYALTY_REVIEW_CRON,
        timeZone: config.tz,
        run: () => members.reviewLoyalty(),
        onDone: (result) => log.info(result, 'nightly loyalty review'),
        onError: (err) => log.error({ err }, 'nightly loyalty review failed'),
      }),
      // RFM scores and repurchase intervals from the day's state, then every automatic tag rule for
      // every member (conditions such as "in the last 180 days" change with the date alone).
      scheduleNightly({
        name: 'crm-nightly',
        cron: CRM_NIGHTLY_CRON,
        timeZone: config.tz,
        run: async () => ({ ...analytics.nightly(), ...(await tagRules.runAll()) }),
        onDone: (result) => log.info(result, 'nightly CRM pass'),
        onError: (err) => log.error({ err }, 'nightly CRM pass failed'),
      }),
    ];
    if (config.backupDir !== null) {
      nightlyJobs.push(
        scheduleNightly({
          name: 'nightly-backup',
          cron: config.backupCron,
          timeZone: config.tz,
          run: () => this.backups.create(),
          onDone: (result) => {
            log.info({ file: result.file, seq: result.seq, bytes: result.bytes }, 'nightly backup written');
            this.hqLink.refreshStatus();
          },
          onError: (err) => {
            log.error({ err }, 'nightly backup failed');
            this.hqLink.refreshStatus();
          },
        }),
      );
    }
    for (const job of nightlyJobs) this.stoppers.push(() => job.stop());
    // Tag evaluations still queued write their events before the journal closes; later events are
    // left to the next start-up run.
    this.stoppers.push(() => tagRules.stop());
    this.members = members;
    try {
      const erasuresFinished = await members.finishErasures();
      if (erasuresFinished > 0)
        log.warn({ members: erasuresFinished }, 'destroyed keys of members erased before a crash');
      // The snapshot loaded may still hold the opened data of a member erased after it was taken.
      if (erasedSinceSnapshot || erasuresFinished > 0) await this.snapshots.replaceAll();
    } catch (err) {
      // A full disk: the erasure is finished at the next start (its tombstone is in the journal).
      if (!isDiskFull(err)) throw err;
      log.error({ code: 'storage_full' }, 'cannot finish an erasure now: the data disk is full');
    }

    messaging.start();
    // Tags a crash (or a night the box was off) left out of date are brought up to date now.
    if (tagRules.needsRun()) {
      tagRules.runAll().then(
        (result) => log.info(result, 'automatic tags checked at start-up'),
        (err) => log.error({ err }, 'automatic tags failed at start-up'),
      );
    }
    this.stoppers.push(() => messaging.stop());

    this.pairingCode = this.security.issuePairingCode().code;
    this.startup = {
      snapshotSeq: snapshot?.seq ?? 0,
      replayedEvents: replayed,
      lastSeq,
      tornBytesDropped,
      corruptLines,
      startupMs: Math.round(performance.now() - t0),
    };
    log.info({ ...this.startup, url: this.url, version: HUB_VERSION }, 'hub started');
    log.info({ pairingCode: this.pairingCode, validMinutes: 10 }, 'pairing code for a new tablet');

    // What a start leaves to run once the hub answers (on a later turn of the event loop, after
    // the caller has the hub; not at all if it is already stopping), so the tablets can sell sooner:
    // sales a crash left without a receipt get their original, and a long replay is written down
    // in a snapshot (serialising it takes the CPU for a while), so the next start does not repeat it.
    // The receipt encoder and the route schemas no request has needed yet (half a second of CPU)
    // wait until the backlog to HQ is sent (at most a minute): each loads anyway when first needed.
    const app = this.app;
    const warmUpBy = Date.now() + WARM_UP_WAIT_MS;
    const warmUp = () => {
      if (this.stopping) return;
      const hq = hqLink.state();
      if (hq.link !== 'disabled' && hq.backlog > 0 && Date.now() < warmUpBy) {
        warmUpTimer = setTimeout(warmUp, 1000).unref();
        return;
      }
      hardware.loadReceiptEncoder();
      void compileRouteSchemas(app).catch((err: unknown) => log.error({ err }, 'compiling route schemas failed'));
    };
    let warmUpTimer = setTimeout(warmUp, 0).unref();
    this.stoppers.push(() => clearTimeout(warmUpTimer));
    setImmediate(() => {
      if (this.stopping) return;
      void printing
        .printMissingOriginals()
        .catch((err: unknown) => log.error({ err }, 'printing missing receipts failed'));
      if (replayed > 1000) {
        void this.snapshots.take().catch((err: unknown) => log.error({ err }, 'snapshot after the replay failed'));
      }
    });
  }

  /** What is wrong now (empty: health `ok`), for health and the status to HQ. */
  problems(): HealthProblem[] {
    const problems: HealthProblem[] = [];
    const storage = this.storage?.state();
    if (storage === 'full') problems.push('storage_full');
    if (storage === 'low') problems.push('storage_low');
    if (storage === 'error') problems.push('storage_error');
    if (this.clockGuard?.state() === 'behind') problems.push('clock_behind');
    const damage = this.journalDamage?.();
    if (damage && (damage.missingSeqs.length > 0 || damage.damagedLines.length > 0)) problems.push('journal_damaged');
    if (this.hqLink?.state().backlogAlert) problems.push('hq_backlog');
    if (this.demoHistoryCutShort) problems.push('demo_history_incomplete');
    if (this.backups) problems.push(...this.backups.problems());
    const wentBack = this.wentBackInTime();
    if (wentBack && this.clock().getTime() - Date.parse(wentBack.noticedAt) < WENT_BACK_IN_TIME_SHOWN_MS)
      problems.push('went_back_in_time');
    return problems;
  }

  /** NTP's verdict at the last check (null: not known here). */
  private ntpSynchronized: boolean | null = null;

  /** The checks the hub makes itself (`ayi doctor` adds those only root can make). */
  checks(): DoctorCheck[] {
    const now = this.clock();
    const { config } = this;
    const certificates: CertificateFile[] = [
      ...(config.mqttCaFile ? [{ setting: 'AYI_MQTT_CA_FILE', file: config.mqttCaFile }] : []),
      ...(config.mqttCertFile ? [{ setting: 'AYI_MQTT_CERT_FILE', file: config.mqttCertFile }] : []),
      ...(config.mqttKeyFile ? [{ setting: 'AYI_MQTT_KEY_FILE', file: config.mqttKeyFile, kind: 'key' as const }] : []),
    ];
    const devices = this.hardware ? this.hardware.registry.list() : [];
    return [
      clockCheck(this.clockGuard.view(), this.ntpSynchronized),
      diskCheck(this.storage.view()),
      journalCheck(this.journalDamage?.() ?? { missingSeqs: [], damagedLines: [] }),
      devicesCheck('printer', devices),
      devicesCheck('scanner', devices),
      brokerCheck(this.hqLink.state()),
      certificatesCheck(certificates, now),
      memberKeyCheck(config.memberHashKey),
      backupsCheck(this.backups.view(), this.backups.problems(), now),
    ];
  }

  /**
   * The checks' summary in the status to HQ. Without the broker check: a status HQ receives came
   * over a working link (HQ sees the link itself).
   */
  checkSummary(): CheckSummary {
    return summarize(this.checks().filter((check) => check.id !== 'broker'));
  }

  /** The epoch the store records in now. */
  private epoch: () => string = () => '';
  /** The last time the hub noticed it went back in time (null: never). */
  private wentBackInTime: () => WentBackInTime | null = () => null;

  /** GET /api/health's answer, once the hub has started. */
  private healthView: () => HealthView = () => {
    throw new Error('the hub has not started');
  };
  private journalDamage: (() => JournalDamage) | null = null;
  private journalFlush: ((now?: number) => number | null) | null = null;

  /** How long the journal's running write (fdatasync) has been running (ms), null when none is. */
  journalFlushRunningMs(now?: number): number | null {
    return this.journalFlush?.(now) ?? null;
  }
  /** This demo store's seeded year was cut short (see demo/seeding-mark.ts). */
  private demoHistoryCutShort = false;

  /** The store's printers and scanners: `devices.json` of the data directory (the embedded default when missing). */
  private async loadDevices(): Promise<DevicesConfig> {
    const file = await openSettings<DevicesConfig>(this.config.dataDir, 'devices', () => DEFAULT_DEVICES);
    const problems = [...Value.Errors(DevicesConfig, file.data)].map((e) => `${e.path}: ${e.message}`);
    if (problems.length === 0) problems.push(...checkDevices(file.data));
    if (problems.length > 0) {
      throw new Error(
        `The device file ${path.join(this.config.dataDir, 'devices.json')} is invalid:\n  - ${problems.join('\n  - ')}\n` +
          'See firmware-config/README.md and firmware-config/devices.example.json.',
      );
    }
    return file.data;
  }

  /** The program in `loyalty.json` of the data directory (written with the defaults when missing). */
  private async loadLoyaltyProgram(): Promise<LoyaltyProgram> {
    const file = await openSettings<LoyaltyProgram>(this.config.dataDir, 'loyalty', () => DEFAULT_PROGRAM);
    const problems = [...Value.Errors(LoyaltyProgram, file.data)].map((e) => `${e.path}: ${e.message}`);
    if (problems.length === 0) problems.push(...checkProgram(file.data));
    if (problems.length > 0) {
      throw new Error(
        `The loyalty program in ${path.join(this.config.dataDir, 'loyalty.json')} is invalid:\n  - ${problems.join('\n  - ')}`,
      );
    }
    return file.data;
  }

  /**
   * The owner's discount limits before their first recorded change (later ones are journal
   * events): `discounts.json` of a data directory from an older version, else 20 % each.
   */
  private async loadDiscountPolicy(): Promise<DiscountPolicy> {
    const file = path.join(this.config.dataDir, 'discounts.json');
    const stored = await new DurableJsonFile<DiscountPolicy>(file).read();
    if (stored === null) return { ...DEFAULT_DISCOUNT_POLICY };
    const problems = [...Value.Errors(DiscountPolicy, stored)].map((e) => `${e.path}: ${e.message}`);
    if (problems.length > 0) {
      throw new Error(`The discount limits in ${file} are invalid:\n  - ${problems.join('\n  - ')}`);
    }
    return stored;
  }

  private async seedDemo(
    catalog: CatalogService,
    coupons: CouponsService,
    history: DemoHistoryParts | null,
  ): Promise<void> {
    // Before the catalog: a crash from here on leaves a store that is no longer new, without its year.
    if (history) await markSeeding(this.config.dataDir);
    if (coupons.list().length === 0) {
      const owner = { staff: { id: 'demo', name: 'demo', role: 'owner' as const } };
      const today = businessDate(this.clock(), this.config.tz);
      await coupons.create(
        {
          name: '新會員首購禮',
          discount: { kind: 'amount', value: 50 },
          minSpend: 200,
          validFrom: today,
          validTo: null,
          maxUses: null,
          trigger: 'first_order',
          excludeExistingBuyers: false,
        },
        owner,
      );
      await coupons.create(
        {
          name: '壽星九折',
          code: 'BDAY10',
          discount: { kind: 'percent', value: 10 },
          minSpend: 0,
          validFrom: today,
          validTo: null,
          maxUses: null,
          trigger: 'birthday',
          excludeExistingBuyers: false,
        },
        owner,
      );
    }
    if (catalog.isEmpty()) {
      await catalog.importCsv(demoCatalogCsv(Boolean(history)), { dryRun: false, source: 'demo' });
    }
    if (!this.security.hasStaff()) {
      for (const staff of DEMO_STAFF) await this.security.addStaff(staff.name, staff.role, staff.pin);
    }
    if (history) await this.seedDemoHistory(history);
    // A demo data directory of a version before 6-digit manager PINs: its demo manager and owner
    // get the PINs the banner prints (found by the HMAC of the old demo PIN; nothing else changes).
    for (const { role, oldPin } of OLD_DEMO_PINS) {
      const newPin = DEMO_STAFF.find((s) => s.role === role)!.pin;
      const upgraded = await this.security.replacePin(oldPin, newPin);
      if (upgraded) this.log.info({ staffId: upgraded.id, role }, 'old demo PIN replaced by the current demo PIN');
    }
  }

  /**
   * A new demo store's past year (hub/src/demo/demo-history.ts): recorded through members and
   * checkout services of its own, whose clock is the day being seeded, into the same journal.
   * Then the night's passes run as they would have: the loyalty review and RFM.
   */
  private async seedDemoHistory(parts: DemoHistoryParts): Promise<void> {
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const { seedDemoHistory, historyClocks } = await import('./demo/demo-history.js');
    const clocks = historyClocks(this.config.tz);
    const recorder = this.events.backdated(clocks.occurredAt);
    const members = new MembersService(
      this.state,
      recorder,
      parts.vault,
      parts.program,
      this.config.tz,
      clocks.today,
      new KeyedLock(),
    );
    const checkout = new CheckoutService(this.state, recorder, members, this.config.tz, clocks.today, parts.approvals);
    const staff = this.security.listStaff();
    const actor = (role: Role) => {
      const found = staff.find((s) => s.role === role) ?? staff[0]!;
      return { deviceId: 'demo-counter', staff: found };
    };
    const result = await this.snapshots.during(() =>
      seedDemoHistory(
        {
          members,
          checkout,
          cashier: actor('cashier'),
          manager: actor('manager'),
          createKeys: (memberIds) => parts.vault.createKeys(memberIds),
          newMemberId: () => uuidv7(),
          skus: new Set(this.state.products.keys()),
          storeId: this.config.storeId,
        },
        clocks.clock,
        businessDate(this.clock(), this.config.tz),
        [...this.state.products.values()],
      ),
    );
    const review = await parts.members.reviewLoyalty();
    parts.analytics.nightly();
    // The next start reads the seeded year from this snapshot, not by replaying 45,000 events.
    await this.snapshots.take();
    await clearSeedingMark(this.config.dataDir);
    this.log.info(
      {
        ...result,
        ...review,
        ms: Math.round(performance.now() - started),
        // Without the other work of a busy machine, about what it takes on an idle store box.
        cpuMs: Math.round((process.cpuUsage(cpuBefore).user + process.cpuUsage(cpuBefore).system) / 1000),
      },
      'demo store: a year of history seeded',
    );
  }

  private async adminCommand(command: string, args: string[]): Promise<unknown> {
    switch (command) {
      case 'pair':
        this.security.resetPairingLimits();
        return this.security.issuePairingCode();
      case 'devices':
        return this.security.listDevices();
      case 'revoke':
        await this.security.revokeDevice(requireArg(args, 'deviceId'));
        return { revoked: args[0] };
      case 'unlock': {
        const deviceId = requireArg(args, 'deviceId (or all)');
        if (deviceId === 'all') return this.security.unlockAll();
        const { wasLocked } = await this.security.unlock(deviceId);
        return { unlocked: deviceId, wasLocked };
      }
      case 'add-staff': {
        const [name, role, pin] = args;
        if (!name || !pin || (role !== 'cashier' && role !== 'manager' && role !== 'owner')) {
          throw new Error(
            `usage: add-staff <name> <cashier|manager|owner> <pin> (a cashier's PIN is 4 to 8 digits, a manager's or owner's ${MANAGER_PIN_MIN_DIGITS} to 8)`,
          );
        }
        return this.security.addStaff(name, role, pin);
      }
      case 'staff':
        return this.security.listStaff();
      case 'set-pin': {
        const [staffId, pin] = args;
        if (!staffId || !pin) {
          throw new Error(
            `usage: set-pin <staffId> <pin> (a cashier's PIN is 4 to 8 digits, a manager's or owner's ${MANAGER_PIN_MIN_DIGITS} to 8; ayi staff lists the ids)`,
          );
        }
        return this.security.setPin(staffId, pin);
      }
      case 'remove-staff':
        return { removed: await this.security.removeStaff(requireArg(args, 'staffId')) };
      case 'snapshot':
        await this.snapshots.take();
        return { seq: this.state.lastSeq };
      case 'backup': {
        try {
          const result = await this.backups.create();
          this.log.info({ file: result.file, seq: result.seq, bytes: result.bytes }, 'backup written');
          return result;
        } finally {
          this.hqLink.refreshStatus();
        }
      }
      case 'health':
        // What GET /api/health says (`ayi update` checks its version, provisioning its status and
        // link), plus what only the technician sees: the start-up's figures, the link's whole state.
        return { ...this.healthView(), startup: this.startup, hqLink: this.hqLink.state() };
      case 'pair-print':
        return this.technicianCommands().pairingPage(args[0] ?? null);
      case 'catalog':
        return this.technicianCommands().catalogSummary();
      case 'catalog-import':
        return this.technicianCommands().importCatalog(args[0], args[1] === '--dry-run');
      case 'hardware':
        return this.hardware.registry.list();
      case 'doctor':
        this.ntpSynchronized = await ntpSynchronized();
        return {
          version: HUB_VERSION,
          chainId: this.config.chainId,
          storeId: this.config.storeId,
          checks: this.checks(),
        };
      case 'discover':
        return discoverDevices(await sharedUsbBus(this.log), () => loadSerialPort().list());
      default:
        throw new Error(
          `unknown command ${command}; try pair, pair-print, catalog, catalog-import, devices, revoke, unlock, staff, add-staff, set-pin, remove-staff, snapshot, backup, health, hardware, discover, doctor`,
        );
    }
  }

  private technicianCommands(): TechnicianCommands {
    return new TechnicianCommands({
      config: this.config,
      port: () => (this.app!.server.address() as AddressInfo).port,
      version: HUB_VERSION,
      security: this.security,
      printing: this.hardware.printing,
      catalog: this.catalog,
    });
  }

  /** Every HTTP API route with the role it needs (for tests and docs). */
  apiRoutes(): ApiRoute[] {
    return this.app ? apiRoutesOf(this.app) : [];
  }

  /** Stops taking requests, lets running ones finish, snapshots, closes files. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.app) await this.app.close();
      if (this.snapshots)
        await this.snapshots.take().catch((err: unknown) => this.log.error({ err }, 'final snapshot failed'));
      for (const stop of this.stoppers.reverse()) await stop();
      this.log.info('hub stopped');
    })();
    return this.stopping;
  }
}

function requireArg(args: string[], name: string): string {
  const value = args[0];
  if (!value) throw new Error(`missing ${name}`);
  return value;
}
