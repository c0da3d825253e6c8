/**
 * HQ's durable consumer of the stores' events: MQTT 5, QoS 1, persistent sessions, and a PUBACK
 * only once the event is committed to the database (or kept in quarantine). While the database
 * refuses writes the consumer waits and retries; the broker holds everything unacknowledged.
 *
 * mqtt.js hands a connection's messages over one at a time and sends the PUBACK when its handler
 * is done. The handler therefore takes each message at once, hands it to the batcher and holds its
 * PUBACK (AckQueue) until the transaction storing it has committed: up to `receiveMaximum` messages
 * of a connection are being stored at once, and what all lanes hand in meanwhile goes into one
 * commit (IngestBatcher). A worker opens several connections, its lanes, in one shared subscription.
 */
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { AckQueue, type HeldAck } from './ack-queue.js';
import { readEventMessage } from './event-message.js';
import { IngestBatcher } from './batcher.js';
import { quarantine, type StoreOutcome } from './store-event.js';

export interface ConsumerOptions {
  brokerUrl: string;
  /**
   * The worker's name: its first lane's client id (the broker's session), `{clientId}.lane{n}` the
   * others'. Keep it across restarts.
   */
  clientId: string;
  /** MQTT connections (lanes) this worker stores from at once (default 16). */
  lanes?: number;
  /**
   * Messages the broker may send a lane before their PUBACKs (MQTT 5 Receive Maximum; default
   * 256): how many of a lane's events are being stored at once.
   */
  receiveMaximum?: number;
  /** How long an event waits for others to share its commit when none is running (default 3 ms). */
  batchLingerMs?: number;
  /** The most events in one transaction (default 512). */
  maxBatch?: number;
  /** Only this chain's stores (default: every chain the broker carries). */
  chainId?: string | undefined;
  /**
   * With a group name, the workers of that group share one subscription (`$share/{group}/…`): the
   * broker gives each event to one of them. Correct in any split: storing does not depend on order.
   * Without one, a worker's lanes still share a group of their own (named after `clientId`).
   */
  shareGroup?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  /** How long the broker keeps the session (and queues events) while this worker is away. */
  sessionExpirySeconds?: number;
  reconnectMs?: number;
}

export interface ConsumerCounts {
  stored: number;
  duplicates: number;
  conflicts: number;
  quarantined: number;
  /** Writes the database refused and that were tried again. */
  retries: number;
}

const WEEK_S = 7 * 24 * 3600;
const RETRY_MAX_MS = 5000;

export const DEFAULT_LANES = 16;
export const DEFAULT_RECEIVE_MAXIMUM = 256;

/**
 * Given to mqtt.js's handler callback: it then sends no PUBACK of its own (ours goes from the
 * AckQueue once the event is committed) and goes on to the connection's next message.
 */
const ACK_HELD = new Error('PUBACK held until the event is stored');

/** mqtt.js's packet writer: it has no public call for a PUBACK sent after the handler returned. */
interface PacketWriter {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }): void;
}

export function eventsFilter(
  options: Pick<ConsumerOptions, 'chainId' | 'shareGroup' | 'lanes'> & { clientId?: string },
): string {
  const filter = `ayi/v1/${options.chainId ?? '+'}/+/events`;
  const group = options.shareGroup ?? ((options.lanes ?? DEFAULT_LANES) > 1 ? options.clientId : undefined);
  return group ? `$share/${group}/${filter}` : filter;
}

/** Lane 1 keeps the worker's own client id, so a worker with one lane has the session it always had. */
export const laneClientId = (clientId: string, lane: number): string =>
  lane === 1 ? clientId : `${clientId}.lane${lane}`;

export class EventConsumer {
  readonly counts: ConsumerCounts = { stored: 0, duplicates: 0, conflicts: 0, quarantined: 0, retries: 0 };
  private clients: MqttClient[] = [];
  private stopping = false;
  /** Messages being stored: a stop lets them finish (and be acknowledged) first. */
  private readonly inFlight = new Set<Promise<void>>();
  readonly batcher: IngestBatcher;
  private readonly lanes: number;

  constructor(
    private readonly db: Database,
    private readonly options: ConsumerOptions,
    private readonly log: Logger,
  ) {
    this.lanes = options.lanes ?? DEFAULT_LANES;
    this.batcher = new IngestBatcher(db, {
      lingerMs: options.batchLingerMs,
      maxBatch: options.maxBatch,
      onFallback: (err, size) =>
        this.log.warn({ err: err.message, size }, 'a batch was refused; storing its events one by one'),
    });
  }

  async start(): Promise<void> {
    // All lanes at once: a lane's SUBACK comes only after the events its session queued, so lanes
    // connected one after the other would drain a backlog one after the other.
    const lanes = await Promise.allSettled(
      Array.from({ length: this.lanes }, (_, i) => this.connectLane(i + 1, (client) => (this.clients[i] = client))),
    );
    const failed = lanes.find((lane) => lane.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
  }

  private async connectLane(lane: number, opened: (client: MqttClient) => void): Promise<void> {
    const { connect } = await import('mqtt');
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId: laneClientId(this.options.clientId, lane),
      clean: false,
      properties: {
        sessionExpiryInterval: this.options.sessionExpirySeconds ?? WEEK_S,
        receiveMaximum: this.options.receiveMaximum ?? DEFAULT_RECEIVE_MAXIMUM,
      },
      reconnectPeriod: this.options.reconnectMs ?? 1000,
      username: this.options.username,
      password: this.options.password,
      // The handler must be in place before connecting: a persistent session's queued events
      // arrive right after the CONNACK, before our SUBSCRIBE is answered.
      manualConnect: true,
    };
    const client = connect(this.options.brokerUrl, options);
    opened(client);
    const acks = new AckQueue((messageId) => {
      if (client.connected) (client as unknown as PacketWriter)._sendPacket({ cmd: 'puback', messageId });
    });
    client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => {
      // Stopping: taken no more; the broker sends it again to the session's next run.
      if (this.stopping) return done(ACK_HELD);
      const held = packet.qos > 0 && packet.messageId !== undefined ? acks.hold(packet.messageId) : null;
      this.track(packet, held);
      done(ACK_HELD);
    };
    client.on('close', () => acks.clear());
    client.on('error', (err) => this.log.warn({ err: err.message }, 'broker connection error'));
    client.on('connect', (connack) =>
      this.log.info({ lane, sessionPresent: connack.sessionPresent }, 'connected to the broker'),
    );
    const connected = new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    client.connect();
    await connected;
    await client.subscribeAsync(eventsFilter(this.options), { qos: 1 });
  }

  /** Publishes a command to a store (QoS 1) over this worker's first lane. */
  async publish(topic: string, payload: string): Promise<void> {
    const client = this.clients[0];
    if (!client) throw new Error('the consumer is not connected');
    await client.publishAsync(topic, payload, { qos: 1 });
  }

  /** Stores the message, then acknowledges it (or, not stored, holds the lane's acknowledgements back). */
  private track(packet: IPublishPacket, held: HeldAck | null): void {
    const storing = this.handle(packet).then(
      () => held?.ack(),
      () => held?.refuse(),
    );
    this.inFlight.add(storing);
    void storing.finally(() => this.inFlight.delete(storing));
  }

  /** Messages taken from the broker and not yet stored: up to `receiveMaximum` a lane. */
  get storing(): number {
    return this.inFlight.size;
  }

  /** Takes no more messages, lets those being stored commit and be acknowledged, then disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    const clients = this.clients;
    this.clients = [];
    await Promise.all(clients.map((client) => client.endAsync()));
  }

  private async handle(packet: IPublishPacket): Promise<void> {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const verdict = readEventMessage(packet.topic, payload);
    for (let attempt = 0; ; attempt += 1) {
      try {
        if (verdict.ok) this.count(await this.batcher.store(verdict.event, verdict.knownType));
        else {
          await quarantine(this.db, packet.topic, verdict.storeId, verdict.reason, verdict.detail, payload);
          this.counts.quarantined += 1;
          this.log.warn({ topic: packet.topic, reason: verdict.reason }, 'message quarantined');
        }
        return;
      } catch (err) {
        // Never acknowledged unstored: stop here (the broker redelivers to the next session) or retry.
        if (this.stopping) throw err;
        // PostgreSQL's "data exception" class (22…) is about this event's data, not the database's
        // health: trying again would block this lane for ever. Kept in quarantine instead.
        const sqlState = (err as { code?: unknown }).code;
        if (verdict.ok && typeof sqlState === 'string' && sqlState.startsWith('22')) {
          try {
            const detail = `${sqlState}: ${(err as Error).message}`;
            await quarantine(this.db, packet.topic, verdict.event.storeId, 'refused_by_database', detail, payload);
            this.counts.quarantined += 1;
            this.log.warn({ topic: packet.topic, sqlState }, 'event refused by the database; quarantined');
            return;
          } catch {
            // the database takes nothing at all right now: tried again below like any failure
          }
        }
        this.counts.retries += 1;
        const waitMs = Math.min(RETRY_MAX_MS, 100 * 2 ** attempt);
        this.log.error({ err: (err as Error).message, waitMs }, 'database refused an event; trying again');
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  private count(outcome: StoreOutcome): void {
    if (outcome === 'stored') this.counts.stored += 1;
    else if (outcome === 'duplicate') this.counts.duplicates += 1;
    else this.counts.conflicts += 1;
  }
}
