/**
 * The link to HQ: publishes every journal event to the chain's MQTT broker (MQTT v5, QoS 1) on
 * `ayi/v1/{chainId}/{storeId}/events`, in seq order, keeps a retained online/offline status and
 * answers HQ's commands (ARCHITECTURE.md, "Events and the MQTT contract").
 *
 * The outbox is the journal. mqtt.js's own store lives in memory and its message-id allocator wraps
 * at 65,535 in flight, so nothing is ever queued in mqtt.js: events are published only while
 * connected, at most `inflightWindow` unacknowledged at a time, from a bounded in-memory tail of
 * recently committed events or, when the backlog is older than the tail, read back from the
 * journal. A PUBACK advances the delivered watermark over a contiguous prefix of seqs only; the
 * watermark is persisted (hq-link.json) a few times a second. After a crash or a reconnect the link
 * publishes again from the watermark: HQ gets every event at least once and dedupes by eventId.
 *
 * Nothing here runs on the commit path: a committed event is pushed onto the tail and publishing
 * happens on a later turn of the event loop.
 */
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { HubConfig } from '../config/config.js';
import { businessDate } from '../domain/time.js';
import type { HubEvent, HqMemberLink } from '../protocol/events.js';
import type { StoreIdentity } from '../storage/event-store.js';
import type { StoredDay } from '../storage/journal.js';
import type { HqCatalogStatus, HqCatalogVerdict } from './catalog.service.js';
import { AckTracker } from '../transport/mqtt/ack-tracker.js';
import { Backoff } from '../transport/mqtt/backoff.js';
import {
  clientOptions,
  readTlsMaterial,
  redactUrl,
  type MqttLinkSettings,
  type TlsMaterial,
} from '../transport/mqtt/client-options.js';
import { storeTopics, type StoreTopics } from '../transport/mqtt/topics.js';
import { RESTORE_MAX_BYTES, RESTORE_MAX_EVENTS } from '../protocol/event-schemas.js';
import { WatermarkFile, type WatermarkData } from '../transport/mqtt/watermark-file.js';

export type LinkState = 'connected' | 'connecting' | 'disconnected' | 'disabled';

export interface HqLinkState {
  link: LinkState;
  /** The broker's URL without credentials (null when no broker is configured). */
  broker: string | null;
  lastSeq: number;
  /** Every event up to this seq was acknowledged by the broker. */
  deliveredSeq: number;
  /** Events committed but not yet acknowledged by the broker. */
  backlog: number;
  inFlight: number;
  /** `at` of the oldest event not yet acknowledged (null without a backlog). */
  oldestUndeliveredAt: string | null;
  /** The oldest undelivered event is older than the configured limit. */
  backlogAlert: boolean;
  backlogAlertSeconds: number;
  /** The latest problem (kept after a reconnect, for diagnosis), and when it happened. */
  lastError: string | null;
  lastErrorAt: string | null;
  /** When the current connection was made (null when not connected). */
  connectedSince: string | null;
}

export interface HqLinkSettings extends Omit<MqttLinkSettings, 'url'> {
  /** null: no broker configured, the link is 'disabled' (events stay in the journal). */
  url: string | null;
  inflightWindow: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  backlogAlertSeconds: number;
  /** Committed events kept in memory for publishing; an older backlog is read from the journal. */
  tailSize: number;
  /** How often the online status is checked against time-based problems and sent again if they changed. */
  statusRecheckMs?: number;
  /** After subscribing to its own status, how long the link waits for the broker's retained copy. */
  retainedStatusGraceMs?: number;
}

/** The broker's retained status of this store showed a later seq of the same epoch than this hub has. */
export interface BrokerStatusAhead {
  /** The epoch the hub records in (and the retained status names). */
  epoch: string;
  /** The highest seq the retained status names (its lastSeq, or deliveredSeq if higher). */
  brokerSeq: number;
  /** When that status was published (its `at`), if it says. */
  brokerStatusAt: string | null;
  /** The new epoch's first seq: the hub's events from there on are published under the new epoch. */
  epochStartSeq: number;
}

/** The part of the journal the link reads. */
export interface JournalReader {
  replay(afterSeq: number, fromDay?: string): AsyncGenerator<HubEvent>;
  /**
   * The same events a day at a time (never an empty array), with each event's JSON as the journal
   * stores it where it has it (`stored[i]`), published as it is instead of serialised again.
   */
  replayStoredDays(afterSeq: number, fromDay?: string): AsyncGenerator<StoredDay>;
  /** Seqs in the range the journal lacks (the damage noted, plus only the day files never read). */
  missingSeqs(fromSeq: number, toSeq: number, fromDay?: string, limit?: number): Promise<number[]>;
}

export interface HqLinkDeps {
  settings: HqLinkSettings;
  identity: StoreIdentity;
  version: string;
  /** The store's time zone (the journal's day files are store-local days). */
  timeZone: string;
  dataDir: string;
  journal: JournalReader;
  /** The last committed seq (EventStore.lastSeq): nothing after it is read from the journal. */
  lastSeq: () => number;
  log: Logger;
  /**
   * The first seq of this epoch when it is not 1: a store restored from a backup records from the
   * backup's seq + 1 on under a new epoch (its seqs before are the old epoch's). In the status.
   */
  epochStartSeq?: number;
  /** Used when there is no hq-link.json yet (`deliveredSeq` of store.json). */
  initialDeliveredSeq?: number;
  /** A summary of the store's devices for the online status. */
  devices?: () => unknown;
  /** Tablets locked by wrong PINs, for the online status. */
  lockedTablets?: () => unknown[];
  /** The store-wide block of PIN tries (null when there is none), for the online status. */
  storePinBlock?: () => unknown;
  clock?: () => Date;
  /** For tests: how a client is made. */
  connect?: (url: string, options: IClientOptions) => MqttClient;
  /** What HQ is entitled to beyond the journal's event (the cross-store link of a member), if anything. */
  linkFor?: (event: HubEvent) => HqMemberLink | null;
  /** What makes the hub's health degraded (e.g. `storage_full`), for the online status. */
  problems?: () => string[];
  /** Which of the box's checks (`ayi doctor`) fail and warn, by id, for the online status. */
  checks?: () => { failing: string[]; warning: string[] };
  /** Seqs the journal lacks (damaged lines), for the online status: HQ restores those it holds. */
  missingSeqs?: () => number[];
  /**
   * The journal's last seq when the hub started (before this run recorded anything): the seqs
   * after it are this run's own. Absent: `lastSeq()` when the link starts.
   */
  lastSeqAtStart?: number;
  /**
   * The hub went back in time (a data directory or SD card image of an earlier day put back): starts
   * a new epoch from `ahead.epochStartSeq`, durably, and resolves with it. Absent: only logged.
   */
  startNewEpoch?: (ahead: BrokerStatusAhead) => Promise<{ epoch: string }>;
  /** What the status tells HQ of the last time the hub went back in time (null: never). */
  wentBackInTime?: () => unknown;
  /** Checks and restores events HQ sends back for missing seqs (cmd/restore). */
  restore?: (events: unknown[]) => Promise<CommandResult>;
  /** Applies HQ's catalog versions (the chain's retained catalog topic) and says what the store runs. */
  catalog?: HqCatalogHandler;
}

export interface HqCatalogHandler {
  /** Resolves once a newer version is on disk (the message is acknowledged only then). */
  receive(payload: Buffer): Promise<HqCatalogVerdict>;
  status(): HqCatalogStatus;
}

export const DEFAULT_TAIL_SIZE = 4096;
/** A resend's answer names at most this many missing seqs. */
const MISSING_SEQS_NAMED = 1000;

/** The link's settings from the hub configuration. */
export function hqLinkSettings(config: HubConfig): HqLinkSettings {
  return {
    url: config.mqttUrl,
    username: config.mqttUsername,
    password: config.mqttPassword,
    caFile: config.mqttCaFile,
    certFile: config.mqttCertFile,
    keyFile: config.mqttKeyFile,
    keepaliveSeconds: config.mqttKeepaliveSeconds,
    inflightWindow: config.mqttInflightWindow,
    reconnectMinMs: Math.min(1000, config.mqttReconnectMaxMs),
    reconnectMaxMs: config.mqttReconnectMaxMs,
    backlogAlertSeconds: config.mqttBacklogAlertSeconds,
    tailSize: DEFAULT_TAIL_SIZE,
    statusRecheckMs: config.mqttStatusRecheckSeconds * 1000,
    retainedStatusGraceMs: RETAINED_STATUS_GRACE_MS,
  };
}

interface Reader {
  /** A day file at a time: the events of one are taken without an await each. */
  iterator: AsyncGenerator<StoredDay>;
  /** The day's events read and not yet taken, from `index` on. */
  events: HubEvent[];
  /** Their JSON as stored (null, or an entry undefined: serialised when published). */
  stored: StoredDay['stored'];
  index: number;
  /** The seq the next event read should have. */
  nextSeq: number;
}

export type CommandResult = Record<string, unknown> & { ok: boolean };

/** The online status names at most this many missing seqs. */
const STATUS_MISSING_SEQS = 100;

const STOP_TIMEOUT_MS = 2000;
/** A broker sends a retained message right after the SUBACK: this covers its way through the socket. */
export const RETAINED_STATUS_GRACE_MS = 500;
/** The latest of them is what the broker retains; a few more cover publishes still on their way. */
const OWN_STATUSES_KEPT = 8;

export class HqLinkService {
  private readonly settings: HqLinkSettings;
  private readonly topics: StoreTopics;
  private readonly clock: () => Date;
  private readonly log: Logger;
  private readonly watermarkFile: WatermarkFile;
  private readonly backoff: Backoff;
  private acks: AckTracker;
  private tls: TlsMaterial = {};
  private link: LinkState;
  private client: MqttClient | null = null;
  private mqttConnect: ((url: string, options: IClientOptions) => MqttClient) | null = null;
  /** Bumped for every connection: callbacks of an older one are ignored. */
  private generation = 0;
  private started = false;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private connectedSince: string | null = null;
  /**
   * When this connection was opened: the last will's `at`, and `connectedAt` in every status of the
   * connection, so HQ can order a will after the online statuses of the connection it ends.
   */
  private connectionOpenedAt: string | null = null;
  private lastErrorValue: string | null = null;
  private lastErrorAt: string | null = null;
  private errorOnThisConnection = false;
  /** Who the store is and the epoch it records in (a new one when the hub went back in time). */
  private identity: StoreIdentity;
  private epochStartSeq: number | undefined;
  private lastSeqAtStart = 0;
  /** The highest seq published on any connection of this run (under the current epoch). */
  private publishedThrough = 0;
  /**
   * The statuses this run published last (online ones and last wills, as sent): a retained status
   * that is one of them is this run's own. The retained one is always among the newest.
   */
  private readonly ownStatuses: string[] = [];
  /**
   * While the retained status is being read at the start of a connection: what came. Nothing is
   * published on the connection until it is read (events wait in the outbox, the journal).
   */
  private statusCheck: { retained: string[] } | null = null;
  private recheckTimer: NodeJS.Timeout | null = null;
  /** This run has read the broker's retained status once (or cannot: no broker, an ACL refusal). */
  private epochCheckedValue = false;
  /** The problems of the online status last published (JSON), to send it again when they change. */
  private publishedProblems: string | null = null;

  /** The next seq to publish on this connection. */
  private nextSeq = 1;
  private inFlight = 0;
  /** `at` of events published on this connection and not yet acknowledged. */
  private readonly inFlightAt = new Map<number, string>();
  /** Recently committed events, contiguous seqs from tail[tailHead]. */
  private tail: HubEvent[] = [];
  private tailHead = 0;
  private reader: Reader | null = null;
  /** The JSON as stored of the event the reader gave last (take()), null when it has none. */
  private takenStored: Buffer | null = null;
  private pumping = false;
  private pumpAgain = false;
  private pumpScheduled = false;
  /** The oldest undelivered event, as far as it is known. */
  private oldest: { seq: number; at: string } | null = null;
  private oldestLookup: Promise<void> | null = null;

  constructor(private readonly deps: HqLinkDeps) {
    this.settings = deps.settings;
    this.topics = storeTopics(deps.identity.chainId, deps.identity.storeId);
    this.identity = { ...deps.identity };
    this.epochStartSeq = deps.epochStartSeq;
    this.clock = deps.clock ?? (() => new Date());
    this.log = deps.log;
    this.link = deps.settings.url === null ? 'disabled' : 'disconnected';
    this.backoff = new Backoff(deps.settings.reconnectMinMs, deps.settings.reconnectMaxMs);
    this.acks = new AckTracker(0, null);
    this.watermarkFile = new WatermarkFile(deps.dataDir, (err) => {
      this.lastError = `cannot write the delivered watermark: ${err.message}`;
      this.log.error({ err }, 'HQ link: cannot write the delivered watermark');
    });
  }

  /**
   * Loads the watermark and, with a broker configured, reads the TLS files (throws a clear error if
   * one cannot be read) and starts connecting. Resolves without waiting for the broker.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const stored = await this.watermarkFile.load();
    const lastSeq = this.deps.lastSeq();
    let delivered = this.deps.initialDeliveredSeq ?? 0;
    let deliveredAt: string | null = null;
    this.lastSeqAtStart = this.deps.lastSeqAtStart ?? lastSeq;
    if (stored && stored.epoch === this.identity.epoch) {
      delivered = stored.deliveredSeq;
      deliveredAt = stored.deliveredAt;
    } else if (stored) {
      this.log.warn(
        { fileEpoch: stored.epoch, epoch: this.identity.epoch },
        'HQ link: the delivered watermark belongs to another epoch; publishing the journal again',
      );
      delivered = 0;
    }
    if (delivered > lastSeq) {
      this.log.warn(
        { deliveredSeq: delivered, lastSeq },
        'HQ link: the delivered watermark is past the journal; starting from the journal end',
      );
      delivered = lastSeq;
      deliveredAt = null;
    }
    this.acks = new AckTracker(delivered, deliveredAt);
    this.nextSeq = delivered + 1;
    await this.lookUpOldest();
    if (this.settings.url === null) {
      this.epochCheckedValue = true;
      return;
    }
    this.tls = readTlsMaterial({ ...this.settings, url: this.settings.url });
    // mqtt.js (about 130 modules) is loaded only by a hub that has a broker to talk to.
    this.mqttConnect = this.deps.connect ?? (await import('mqtt')).connect;
    this.log.info(
      { broker: redactUrl(this.settings.url), deliveredSeq: delivered, backlog: lastSeq - delivered },
      'HQ link starting',
    );
    // Problems that come or go with time alone (a backup growing old) reach HQ without another change.
    this.recheckTimer = setInterval(() => {
      if (this.link !== 'connected' || this.statusCheck !== null || !this.deps.problems) return;
      if (JSON.stringify(this.deps.problems()) !== this.publishedProblems) this.refreshStatus();
    }, this.settings.statusRecheckMs ?? 60_000);
    this.recheckTimer.unref();
    this.connect();
  }

  /** A committed event (EventStore.onCommitted): O(1), publishing happens later. */
  noteCommitted(event: HubEvent): void {
    if (this.oldest === null && event.seq === this.acks.deliveredSeq + 1) {
      this.oldest = { seq: event.seq, at: event.at };
    }
    if (this.link === 'disabled' || this.stopped) return;
    const size = this.tail.length - this.tailHead;
    const last = size > 0 ? this.tail[this.tail.length - 1]! : null;
    if (last && last.seq + 1 !== event.seq) {
      this.tail = [];
      this.tailHead = 0;
    }
    this.tail.push(event);
    if (this.tail.length - this.tailHead > this.settings.tailSize) this.dropTailHead(1);
    if (this.link === 'connected') this.schedulePump();
  }

  /**
   * Whether this run has compared its epoch with the broker's retained status yet. Until then the
   * hub cannot know whether its data went back in time, so sale ids carry a code of the run.
   */
  epochChecked(): boolean {
    return this.epochCheckedValue;
  }

  state(): HqLinkState {
    const lastSeq = this.deps.lastSeq();
    const deliveredSeq = this.acks.deliveredSeq;
    const backlog = Math.max(0, lastSeq - deliveredSeq);
    const oldestAt = backlog === 0 ? null : (this.oldestFor(deliveredSeq + 1) ?? this.oldest?.at ?? null);
    const ageMs = oldestAt === null ? 0 : this.clock().getTime() - Date.parse(oldestAt);
    return {
      link: this.link,
      broker: this.settings.url === null ? null : redactUrl(this.settings.url),
      lastSeq,
      deliveredSeq,
      backlog,
      inFlight: this.inFlight,
      oldestUndeliveredAt: oldestAt,
      // Without a broker configured there is no one to deliver to: nothing to alert about.
      backlogAlert: this.link !== 'disabled' && ageMs > this.settings.backlogAlertSeconds * 1000,
      backlogAlertSeconds: this.settings.backlogAlertSeconds,
      lastError: this.lastErrorValue,
      lastErrorAt: this.lastErrorAt,
      connectedSince: this.connectedSince,
    };
  }

  /** Publishes the offline status (retained), disconnects cleanly and writes the watermark. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.recheckTimer) clearInterval(this.recheckTimer);
    this.recheckTimer = null;
    const client = this.client;
    const wasConnected = this.link === 'connected';
    this.generation += 1;
    this.client = null;
    if (client) {
      if (wasConnected) {
        await withTimeout(
          client.publishAsync(this.topics.status, JSON.stringify(this.statusPayload('offline', 'stopped')), {
            qos: 1,
            retain: true,
          }),
          STOP_TIMEOUT_MS,
        ).catch((err: unknown) => this.log.warn({ err }, 'HQ link: could not publish the offline status'));
        await withTimeout(client.endAsync(false, { reasonCode: 0 }), STOP_TIMEOUT_MS).catch(() => client.end(true));
      } else {
        client.end(true);
      }
    }
    if (this.link !== 'disabled') this.link = 'disconnected';
    this.connectedSince = null;
    await this.closeReader();
    await this.watermarkFile.flush();
  }

  // ---- connection -------------------------------------------------------------------------

  private connect(): void {
    if (this.stopped || this.settings.url === null) return;
    const generation = ++this.generation;
    this.link = 'connecting';
    const clientId = `ayi-${this.identity.chainId}-${this.identity.storeId}`;
    this.connectionOpenedAt = this.clock().toISOString();
    const will = JSON.stringify(this.statusPayload('offline', 'connection-lost'));
    this.noteOwnStatus(will);
    const options = clientOptions({ ...this.settings, url: this.settings.url }, this.tls, clientId, {
      topic: this.topics.status,
      payload: will,
    });
    const client = this.mqttConnect!(this.settings.url, options);
    this.client = client;
    // A catalog version is acknowledged (PUBACK) only once it is in the journal; everything else at once.
    client.handleMessage = (packet, done) => {
      if (packet.topic !== this.topics.catalog || generation !== this.generation) return done();
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      this.onCatalog(client, payload).then(
        () => done(),
        () => undefined,
      );
    };
    client.on('connect', () => {
      if (generation === this.generation) this.onConnected(client, generation);
    });
    client.on('message', (topic, payload, packet) => {
      if (generation !== this.generation) return;
      if (topic === this.topics.status) {
        if (packet.retain && this.statusCheck) this.statusCheck.retained.push(payload.toString('utf8'));
        return;
      }
      this.onCommand(client, topic, payload, packet);
    });
    client.on('error', (err) => {
      if (generation !== this.generation) return;
      this.lastError = err.message;
      this.log.warn({ err: err.message }, 'HQ link error');
    });
    client.on('close', () => {
      if (generation === this.generation) this.onClosed(client);
    });
  }

  private set lastError(message: string) {
    this.lastErrorValue = message;
    this.lastErrorAt = this.clock().toISOString();
    this.errorOnThisConnection = true;
  }

  private onConnected(client: MqttClient, generation: number): void {
    this.link = 'connected';
    this.errorOnThisConnection = false;
    this.connectedSince = this.clock().toISOString();
    this.backoff.reset();
    this.inFlight = 0;
    this.inFlightAt.clear();
    // Everything not acknowledged is published again, from the journal if need be.
    this.nextSeq = this.acks.deliveredSeq + 1;
    this.log.info(
      { deliveredSeq: this.acks.deliveredSeq, backlog: this.deps.lastSeq() - this.acks.deliveredSeq },
      'HQ link connected',
    );
    this.checkRetainedStatus(client, generation);
    client.subscribe(this.topics.commands, { qos: 1 }, (err) => {
      if (err && generation === this.generation) {
        this.lastError = `cannot subscribe to HQ commands: ${err.message}`;
        this.log.warn({ err: err.message }, 'HQ link: cannot subscribe to commands');
      }
    });
    // Retained: the chain's latest catalog version arrives at every connection, so a store that was
    // away gets it when it is back.
    if (this.deps.catalog) {
      client.subscribe(this.topics.catalog, { qos: 1 }, (err) => {
        if (err && generation === this.generation) {
          this.lastError = `cannot subscribe to HQ's catalog: ${err.message}`;
          this.log.warn({ err: err.message }, "HQ link: cannot subscribe to HQ's catalog");
        }
      });
    }
  }

  /**
   * Reads the broker's retained status of this store before anything of this connection is
   * published (retain handling 0: the broker sends it with the SUBACK, or there is none). A status
   * of the same epoch naming a later seq than this hub had when it started, and not published by
   * this run, means the data directory went back in time (an old copy or SD card image put back):
   * those seqs are already taken at HQ, so the hub starts a new epoch before publishing. Then the
   * online status goes out and publishing starts. Selling never waits for this.
   */
  private checkRetainedStatus(client: MqttClient, generation: number): void {
    const check = { retained: [] as string[] };
    this.statusCheck = check;
    const finish = (ahead: BrokerStatusAhead | null) => {
      void this.afterStatusCheck(client, generation, ahead).catch((err: unknown) => {
        if (generation !== this.generation) return;
        this.lastError = `cannot start a new epoch: ${(err as Error).message}`;
        this.log.error({ err }, 'HQ link: the hub went back in time but cannot start a new epoch; not publishing');
        // Nothing is published under seqs HQ already holds: the next connection tries again.
        this.onClosed(client);
      });
    };
    client.subscribe(this.topics.status, { qos: 1, rh: 0 }, (err) => {
      if (generation !== this.generation) return;
      if (err) {
        // An ACL that lets the store only write its status: the check cannot be made, publishing goes on.
        this.log.warn(
          { err: err.message },
          'HQ link: cannot read its own retained status (the broker refuses); a data directory put back from an earlier day would not be noticed',
        );
        finish(null);
        return;
      }
      setTimeout(() => {
        if (generation !== this.generation) return;
        client.unsubscribe(this.topics.status, () => undefined);
        const ahead = check.retained.map((status) => this.aheadOf(status)).find((found) => found !== null) ?? null;
        finish(ahead);
      }, this.settings.retainedStatusGraceMs ?? RETAINED_STATUS_GRACE_MS);
    });
  }

  /** The retained `status` when it shows the hub went back in time (see checkRetainedStatus), else null. */
  private aheadOf(retained: string): BrokerStatusAhead | null {
    if (this.ownStatuses.includes(retained)) return null;
    const status = parseJson(retained);
    if (typeof status !== 'object' || status === null) return null;
    const fields = status as Record<string, unknown>;
    if (
      fields.chainId !== this.identity.chainId ||
      fields.storeId !== this.identity.storeId ||
      fields.epoch !== this.identity.epoch
    )
      return null;
    const seqs = [fields.lastSeq, fields.deliveredSeq].filter((seq): seq is number => Number.isInteger(seq));
    const brokerSeq = Math.max(0, ...seqs);
    if (brokerSeq <= this.lastSeqAtStart) return null;
    return {
      epoch: this.identity.epoch,
      brokerSeq,
      brokerStatusAt: typeof fields.at === 'string' ? fields.at : null,
      // This run's events after its start are the ones HQ does not have under these seqs; those it
      // already published (an earlier connection of this run) stay where they are.
      epochStartSeq: Math.max(this.lastSeqAtStart, this.publishedThrough) + 1,
    };
  }

  private async afterStatusCheck(
    client: MqttClient,
    generation: number,
    ahead: BrokerStatusAhead | null,
  ): Promise<void> {
    if (ahead) {
      this.log.error(
        { epoch: ahead.epoch, brokerSeq: ahead.brokerSeq, lastSeqAtStart: this.lastSeqAtStart },
        'HQ link: the hub went back in time (its data is older than what the broker has of this store); starting a new epoch',
      );
      if (!this.deps.startNewEpoch) throw new Error('this hub cannot start a new epoch');
      const { epoch } = await this.deps.startNewEpoch(ahead);
      this.identity = { ...this.identity, epoch };
      this.epochStartSeq = ahead.epochStartSeq;
      this.publishedThrough = 0;
      // The acknowledged prefix is the old epoch's events, as HQ holds them: kept under the new epoch.
      this.watermarkFile.update(this.watermarkData(), 1);
      await this.watermarkFile.flush();
      this.log.warn(
        { previousEpoch: ahead.epoch, epoch, epochStartSeq: ahead.epochStartSeq },
        'HQ link: new epoch started; publishing goes on',
      );
    }
    this.epochCheckedValue = true;
    if (generation !== this.generation || this.client !== client) return;
    this.statusCheck = null;
    this.publishOnlineStatus(client, generation);
    this.schedulePump();
  }

  private onClosed(client: MqttClient): void {
    this.generation += 1;
    this.statusCheck = null;
    const was = this.link;
    if (was === 'connected' && !this.errorOnThisConnection) this.lastError = 'the broker closed the connection';
    this.link = 'disconnected';
    this.connectedSince = null;
    this.inFlight = 0;
    this.inFlightAt.clear();
    this.client = null;
    client.removeAllListeners('connect');
    client.removeAllListeners('message');
    client.on('error', () => undefined);
    client.end(true);
    if (this.stopped) return;
    const delay = this.backoff.next();
    if (was === 'connected') this.log.warn({ retryInMs: delay }, 'HQ link lost; reconnecting');
    else this.log.debug({ retryInMs: delay, lastError: this.lastError }, 'HQ link: connection attempt failed');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  // ---- publishing -------------------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const generation = this.generation;
        const client = this.client;
        while (
          client &&
          this.link === 'connected' &&
          this.statusCheck === null &&
          generation === this.generation &&
          this.inFlight < this.settings.inflightWindow &&
          this.nextSeq <= this.deps.lastSeq()
        ) {
          const seq = this.nextSeq;
          this.takenStored = null;
          const event = this.fromTail(seq) ?? this.fromDayRead(seq) ?? (await this.fromJournal(seq));
          const stored = this.takenStored;
          if (event === null || generation !== this.generation || this.link !== 'connected' || this.statusCheck) break;
          // A resend moved the cursor while the journal was being read: read from there.
          if (this.nextSeq !== seq) continue;
          this.publish(client, event, generation, stored);
          this.nextSeq = event.seq + 1;
        }
      } while (this.pumpAgain);
    } catch (err) {
      this.lastError = `reading the journal: ${(err as Error).message}`;
      this.log.error({ err }, 'HQ link: reading the journal failed');
      await this.closeReader();
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Publishes an event: the journal's own bytes for it when the reader has them (`stored`), so a
   * backlog is not serialised again event by event; an event that HQ gets with a field added (a
   * member's link) is serialised.
   */
  private publish(client: MqttClient, event: HubEvent, generation: number, stored: Buffer | null): void {
    this.inFlight += 1;
    this.inFlightAt.set(event.seq, event.at);
    this.publishedThrough = Math.max(this.publishedThrough, event.seq);
    const link = this.deps.linkFor?.(event) ?? null;
    // Recorded under the old epoch before the hub noticed it went back in time: HQ holds other
    // events under those seqs of it, so this run's are HQ's under the new epoch (same eventId).
    const relabel =
      this.epochStartSeq !== undefined && event.seq >= this.epochStartSeq && event.epoch !== this.identity.epoch;
    const sent = relabel ? { ...event, epoch: this.identity.epoch } : event;
    const payload =
      link || relabel ? JSON.stringify(link ? { ...sent, link } : sent) : (stored ?? JSON.stringify(event));
    client.publish(this.topics.events, payload, { qos: 1 }, (err) => {
      if (generation !== this.generation) {
        // That connection is gone (its in-flight messages are published again); a PUBACK that
        // made it before the end still counts.
        if (!err) this.onAcked(event.seq, event.at);
        return;
      }
      this.inFlight -= 1;
      this.inFlightAt.delete(event.seq);
      if (err) {
        // The broker refused it (e.g. not authorised) or the connection ended: start again from
        // the watermark on a new connection, after the backoff.
        this.lastError = `publishing seq ${event.seq}: ${err.message}`;
        this.log.warn({ seq: event.seq, err: err.message }, 'HQ link: publish failed; reconnecting');
        this.onClosed(client);
        return;
      }
      this.onAcked(event.seq, event.at);
      this.schedulePump();
    });
  }

  private onAcked(seq: number, at: string): void {
    const moved = this.acks.ack(seq, at);
    if (moved > 0) this.watermarkMoved(moved);
  }

  private watermarkMoved(moved: number): void {
    const deliveredSeq = this.acks.deliveredSeq;
    this.watermarkFile.update(this.watermarkData(), moved);
    // Events below both the watermark and the publishing cursor are not needed in memory again.
    const head = this.tail[this.tailHead];
    if (head) {
      const drop = Math.min(deliveredSeq, this.nextSeq - 1) - head.seq + 1;
      if (drop > 0) this.dropTailHead(drop);
    }
    if (this.oldest && this.oldest.seq <= deliveredSeq) this.oldest = null;
    if (deliveredSeq < this.deps.lastSeq()) {
      const at = this.oldestFor(deliveredSeq + 1);
      if (at !== null) this.oldest = { seq: deliveredSeq + 1, at };
      else void this.lookUpOldest();
    }
  }

  private watermarkData(): WatermarkData {
    return {
      epoch: this.identity.epoch,
      deliveredSeq: this.acks.deliveredSeq,
      deliveredAt: this.acks.deliveredAt,
      updatedAt: this.clock().toISOString(),
    };
  }

  private fromTail(seq: number): HubEvent | null {
    const head = this.tail[this.tailHead];
    if (!head || seq < head.seq) return null;
    return this.tail[this.tailHead + (seq - head.seq)] ?? null;
  }

  private dropTailHead(count: number): void {
    this.tailHead = Math.min(this.tail.length, this.tailHead + count);
    if (this.tailHead >= 1024 && this.tailHead * 2 >= this.tail.length) {
      this.tail = this.tail.slice(this.tailHead);
      this.tailHead = 0;
    }
  }

  /** Event `seq` from the day the journal reader holds, without an await; null when it needs one. */
  private fromDayRead(seq: number): HubEvent | null {
    const reader = this.reader;
    if (!reader || reader.nextSeq !== seq || reader.index >= reader.events.length) return null;
    const event = reader.events[reader.index]!;
    return event.seq > this.deps.lastSeq() ? null : this.take(reader, seq, event);
  }

  /** Reads event `seq` from the journal (null when it is not there yet: it will come by the tail). */
  private async fromJournal(seq: number): Promise<HubEvent | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      let fresh = false;
      if (!this.reader || this.reader.nextSeq !== seq) {
        await this.closeReader();
        this.reader = {
          iterator: this.deps.journal.replayStoredDays(seq - 1, this.dayToReadFrom(seq)),
          events: [],
          stored: null,
          index: 0,
          nextSeq: seq,
        };
        fresh = true;
      }
      const reader = this.reader;
      if (reader.index >= reader.events.length) {
        const next = await reader.iterator.next();
        if (next.done) {
          // A reader ends at the day files it saw when it began: after midnight, begin again once.
          this.reader = null;
          if (fresh) return null;
          continue;
        }
        reader.events = next.value.events;
        reader.stored = next.value.stored;
        reader.index = 0;
      }
      const event = reader.events[reader.index]!;
      if (event.seq > this.deps.lastSeq()) {
        // Appended but not yet on disk: the committed-event listener brings it to the tail.
        await this.closeReader();
        return null;
      }
      return this.take(reader, seq, event);
    }
    return null;
  }

  /** Seqs from `fromSeq` to `toSeq` that are not in the journal (without reading it again where it was read). */
  private missingSeqs(fromSeq: number, toSeq: number): Promise<number[]> {
    return this.deps.journal.missingSeqs(fromSeq, toSeq, this.dayToReadFrom(fromSeq), MISSING_SEQS_NAMED);
  }

  /** Takes the reader's next event, which should be `seq`: seqs the journal lacks are skipped. */
  private take(reader: Reader, seq: number, event: HubEvent): HubEvent {
    if (event.seq > seq) {
      this.log.error(
        { from: seq, to: event.seq - 1 },
        'HQ link: the journal lacks these seqs (corrupt lines); HQ will see a gap',
      );
      const moved = this.acks.skip(seq, event.seq - 1);
      if (moved > 0) this.watermarkMoved(moved);
    }
    this.takenStored = reader.stored?.[reader.index] ?? null;
    reader.index += 1;
    reader.nextSeq = event.seq + 1;
    return event;
  }

  /** The first journal day that can hold `seq`: the day of the watermark's event, if it is before. */
  private dayToReadFrom(seq: number): string {
    const at = this.acks.deliveredAt;
    if (at === null || seq <= this.acks.deliveredSeq) return '';
    return businessDate(new Date(at), this.deps.timeZone);
  }

  private async closeReader(): Promise<void> {
    const reader = this.reader;
    this.reader = null;
    if (reader) await reader.iterator.return(undefined);
  }

  /** `at` of event `seq` if it is in memory. */
  private oldestFor(seq: number): string | null {
    if (this.oldest?.seq === seq) return this.oldest.at;
    return this.inFlightAt.get(seq) ?? this.fromTail(seq)?.at ?? null;
  }

  /** Finds `at` of the oldest undelivered event in the journal (for the health view). */
  private lookUpOldest(): Promise<void> {
    this.oldestLookup ??= (async () => {
      try {
        const seq = this.acks.deliveredSeq + 1;
        if (seq > this.deps.lastSeq()) return;
        const iterator = this.deps.journal.replay(seq - 1, this.dayToReadFrom(seq));
        const first = await iterator.next();
        await iterator.return(undefined);
        if (!first.done && first.value.seq <= this.deps.lastSeq()) {
          const current = this.acks.deliveredSeq + 1;
          if (first.value.seq >= current) this.oldest = { seq: current, at: first.value.at };
        }
      } catch (err) {
        this.log.warn({ err }, 'HQ link: cannot read the oldest undelivered event');
      } finally {
        this.oldestLookup = null;
      }
    })();
    return this.oldestLookup;
  }

  // ---- status and commands ----------------------------------------------------------------

  /** Publishes the online status again (retained) when something it shows has changed (a problem, a lock). */
  refreshStatus(): void {
    const client = this.client;
    // While the retained status is read, nothing goes out: the status follows the check.
    if (!client || this.link !== 'connected' || this.statusCheck !== null) return;
    this.publishOnlineStatus(client, this.generation);
  }

  /** Retained, so HQ sees the store's current state even when it subscribes later. */
  private publishOnlineStatus(client: MqttClient, generation: number): void {
    const payload = this.statusPayload('online');
    this.publishedProblems = JSON.stringify(payload.problems ?? null);
    const text = JSON.stringify(payload);
    this.noteOwnStatus(text);
    client.publish(this.topics.status, text, { qos: 1, retain: true }, (err) => {
      // A failure of an older connection's publish is not this connection's error.
      if (err && generation === this.generation) this.lastError = `online status: ${err.message}`;
    });
  }

  private noteOwnStatus(text: string): void {
    this.ownStatuses.push(text);
    if (this.ownStatuses.length > OWN_STATUSES_KEPT) this.ownStatuses.shift();
  }

  private statusPayload(state: 'online' | 'offline', reason?: string): Record<string, unknown> {
    const payload: Record<string, unknown> = {
      state,
      chainId: this.identity.chainId,
      storeId: this.identity.storeId,
      epoch: this.identity.epoch,
      lastSeq: this.deps.lastSeq(),
      deliveredSeq: this.acks.deliveredSeq,
      version: this.deps.version,
      at: this.clock().toISOString(),
    };
    if (this.connectionOpenedAt !== null) payload.connectedAt = this.connectionOpenedAt;
    if (this.epochStartSeq !== undefined && this.epochStartSeq > 1) payload.epochStartSeq = this.epochStartSeq;
    const wentBackInTime = this.deps.wentBackInTime?.() ?? null;
    if (wentBackInTime !== null) payload.wentBackInTime = wentBackInTime;
    if (reason) payload.reason = reason;
    if (this.deps.catalog) {
      const catalog = this.deps.catalog.status();
      payload.catalogVersion = catalog.catalogVersion;
      payload.catalogLocalChanges = catalog.catalogLocalChanges;
      if (state === 'online') payload.catalogRefused = catalog.catalogRefused;
    }
    if (state === 'online' && this.deps.problems) payload.problems = this.deps.problems();
    if (state === 'online' && this.deps.checks) {
      try {
        payload.checks = this.deps.checks();
      } catch (err) {
        this.log.warn({ err }, 'HQ link: cannot run the checks for the status');
      }
    }
    const missing = state === 'online' ? (this.deps.missingSeqs?.() ?? []) : [];
    if (missing.length > 0) payload.missingSeqs = missing.slice(0, STATUS_MISSING_SEQS);
    if (state === 'online' && this.deps.devices) {
      try {
        payload.devices = this.deps.devices();
      } catch (err) {
        this.log.warn({ err }, 'HQ link: cannot list devices for the status');
      }
    }
    if (state === 'online' && this.deps.lockedTablets) payload.lockedTablets = this.deps.lockedTablets();
    if (state === 'online' && this.deps.storePinBlock) payload.storePinBlock = this.deps.storePinBlock();
    return payload;
  }

  /**
   * A catalog version from HQ. When it cannot be recorded (a full disk), the message is not
   * acknowledged and the connection is dropped: the retained version comes again on the next one.
   */
  private async onCatalog(client: MqttClient, payload: Buffer): Promise<void> {
    const catalog = this.deps.catalog;
    if (!catalog) return;
    let verdict: HqCatalogVerdict;
    try {
      verdict = await catalog.receive(payload);
    } catch (err) {
      this.lastError = `cannot record HQ's catalog: ${(err as Error).message}`;
      this.log.error({ err }, "HQ link: cannot record HQ's catalog version; it comes again at the next connection");
      if (this.client === client) this.onClosed(client);
      throw err;
    }
    if (verdict.outcome === 'applied') {
      this.log.info({ version: verdict.version, products: verdict.products }, "HQ's catalog version applied");
    } else if (verdict.outcome === 'refused') {
      this.log.warn({ version: verdict.version, reason: verdict.reason }, "HQ's catalog version refused");
    }
    // An applied version's event refreshes the status when it is committed (see hub.ts).
    if (verdict.outcome === 'refused') this.refreshStatus();
  }

  private onCommand(client: MqttClient, topic: string, payload: Buffer, packet: IPublishPacket): void {
    void this.answerCommand(client, topic, payload, packet);
  }

  private async answerCommand(
    client: MqttClient,
    topic: string,
    payload: Buffer,
    packet: IPublishPacket,
  ): Promise<void> {
    const command = this.topics.commandName(topic);
    if (command === null) return;
    let request: Record<string, unknown> = {};
    let result: CommandResult;
    try {
      const text = payload.toString('utf8').trim();
      const parsed: unknown = text === '' ? {} : JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error('the payload must be a JSON object');
      }
      request = parsed as Record<string, unknown>;
      result = await this.runCommand(command, request);
    } catch (err) {
      result = { ok: false, error: (err as Error).message };
    }
    const requestId = typeof request.requestId === 'string' ? request.requestId : null;
    const answer = {
      command,
      requestId,
      chainId: this.identity.chainId,
      storeId: this.identity.storeId,
      epoch: this.identity.epoch,
      at: this.clock().toISOString(),
      ...result,
    };
    const correlationData = packet.properties?.correlationData;
    this.log.info({ command, requestId, ok: result.ok }, 'HQ command');
    client.publish(
      this.topics.commandResult,
      JSON.stringify(answer),
      { qos: 1, ...(correlationData ? { properties: { correlationData } } : {}) },
      (err) => {
        if (err) this.log.warn({ command, err: err.message }, 'HQ link: cannot answer a command');
      },
    );
  }

  private async runCommand(command: string, request: Record<string, unknown>): Promise<CommandResult> {
    const lastSeq = this.deps.lastSeq();
    switch (command) {
      case 'ping':
        return {
          ok: true,
          pong: true,
          lastSeq,
          deliveredSeq: this.acks.deliveredSeq,
          backlog: lastSeq - this.acks.deliveredSeq,
          version: this.deps.version,
        };
      case 'resend': {
        const fromSeq = request.fromSeq;
        if (typeof fromSeq !== 'number' || !Number.isInteger(fromSeq) || fromSeq < 1) {
          return { ok: false, error: 'fromSeq must be an integer of at least 1' };
        }
        if (fromSeq > lastSeq) {
          return { ok: false, error: `fromSeq ${fromSeq} is after the last event (${lastSeq})`, lastSeq };
        }
        // Publishing goes on from fromSeq; the events after it come again, in order.
        if (fromSeq < this.nextSeq) this.nextSeq = fromSeq;
        this.schedulePump();
        // Seqs the journal lacks (damaged or lost lines) cannot come again: HQ is told which.
        const missingSeqs = await this.missingSeqs(fromSeq, lastSeq);
        if (missingSeqs.length > 0) {
          return {
            ok: false,
            fromSeq,
            toSeq: lastSeq,
            lastSeq,
            missingSeqs,
            error: `the journal lacks ${missingSeqs.length === 1 ? 'seq' : 'seqs'} ${missingSeqs.join(', ')} (damaged); the others are sent again`,
          };
        }
        return { ok: true, fromSeq, toSeq: lastSeq, lastSeq };
      }
      case 'restore': {
        const events = request.events;
        if (!Array.isArray(events) || events.length === 0)
          return { ok: false, error: 'events must be a non-empty array' };
        if (events.length > RESTORE_MAX_EVENTS || JSON.stringify(events).length > RESTORE_MAX_BYTES) {
          return {
            ok: false,
            error: `at most ${RESTORE_MAX_EVENTS} events and ${RESTORE_MAX_BYTES / 1024} KB in one restore`,
          };
        }
        if (!this.deps.restore) return { ok: false, error: 'this hub cannot restore events' };
        const result = await this.deps.restore(events);
        // The status no longer names what was restored (nor journal_damaged once all is).
        this.refreshStatus();
        return result;
      }
      default:
        return { ok: false, error: `unknown command ${command}; try ping, resend or restore` };
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}
