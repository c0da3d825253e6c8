/**
 * HQ's durable consumer of the stores' events: MQTT 5, QoS 1, a persistent session, and a PUBACK
 * only once the event is committed to the database (or kept in quarantine). While the database
 * refuses writes the consumer waits and retries; the broker holds everything unacknowledged.
 */
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { readEventMessage } from './event-message.js';
import { quarantine, storeEvent, type StoreOutcome } from './store-event.js';

export interface ConsumerOptions {
  brokerUrl: string;
  /** The client id: the name of the broker's session for this worker. Keep it across restarts. */
  clientId: string;
  /** Only this chain's stores (default: every chain the broker carries). */
  chainId?: string | undefined;
  /**
   * With a group name, the workers of that group share one subscription (`$share/{group}/…`): the
   * broker gives each event to one of them. Correct in any split: storing does not depend on order.
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

export function eventsFilter(options: Pick<ConsumerOptions, 'chainId' | 'shareGroup'>): string {
  const filter = `ayi/v1/${options.chainId ?? '+'}/+/events`;
  return options.shareGroup ? `$share/${options.shareGroup}/${filter}` : filter;
}

export class EventConsumer {
  readonly counts: ConsumerCounts = { stored: 0, duplicates: 0, conflicts: 0, quarantined: 0, retries: 0 };
  private client: MqttClient | null = null;
  private stopping = false;

  constructor(
    private readonly db: Database,
    private readonly options: ConsumerOptions,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const { connect } = await import('mqtt');
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId: this.options.clientId,
      clean: false,
      properties: { sessionExpiryInterval: this.options.sessionExpirySeconds ?? WEEK_S },
      reconnectPeriod: this.options.reconnectMs ?? 1000,
      username: this.options.username,
      password: this.options.password,
      // The handler must be in place before connecting: a persistent session's queued events
      // arrive right after the CONNACK, before our SUBSCRIBE is answered.
      manualConnect: true,
    };
    const client = connect(this.options.brokerUrl, options);
    // One message at a time per connection, acknowledged only when its transaction has committed.
    client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => {
      this.handle(packet).then(
        () => done(),
        (err: unknown) => done(err as Error),
      );
    };
    client.on('error', (err) => this.log.warn({ err: err.message }, 'broker connection error'));
    client.on('connect', (connack) =>
      this.log.info({ sessionPresent: connack.sessionPresent }, 'connected to the broker'),
    );
    this.client = client;
    const connected = new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    client.connect();
    await connected;
    await client.subscribeAsync(eventsFilter(this.options), { qos: 1 });
  }

  /** Publishes a command to a store (QoS 1) over this worker's connection. */
  async publish(topic: string, payload: string): Promise<void> {
    if (!this.client) throw new Error('the consumer is not connected');
    await this.client.publishAsync(topic, payload, { qos: 1 });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const client = this.client;
    this.client = null;
    await client?.endAsync();
  }

  private async handle(packet: IPublishPacket): Promise<void> {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const verdict = readEventMessage(packet.topic, payload);
    for (let attempt = 0; ; attempt += 1) {
      try {
        if (verdict.ok) this.count(await storeEvent(this.db, verdict.event, verdict.knownType));
        else {
          await quarantine(this.db, packet.topic, verdict.storeId, verdict.reason, verdict.detail, payload);
          this.counts.quarantined += 1;
          this.log.warn({ topic: packet.topic, reason: verdict.reason }, 'message quarantined');
        }
        return;
      } catch (err) {
        // Never acknowledged unstored: stop here (the broker redelivers to the next session) or retry.
        if (this.stopping) throw err;
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
