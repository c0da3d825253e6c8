/**
 * A store heals from HQ: when a store names seqs its journal lacks (damaged lines) — in its online
 * status (`missingSeqs`) or in its answer to a `cmd/resend` — HQ looks those seqs up in `events` and
 * sends the ones it holds back with `cmd/restore`, each event as the store sent it. The store checks
 * them and answers which it restored and which it refused. `store_restores` keeps one row per seq,
 * so several workers and a restart do not send one seq twice needlessly; a seq not confirmed is sent
 * again with backoff. A seq HQ does not hold either is recorded as lost everywhere and logged.
 */
import { randomUUID } from 'node:crypto';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { RESTORE_MAX_BYTES, RESTORE_MAX_EVENTS, type RestoreCommand } from '../../../hub/src/protocol/event-schemas.js';
import { EVENT_SCHEMA } from '../../../hub/src/protocol/events.js';
import { noteStoreCatalog } from '../catalog/catalogs.js';
import type { Database, Queryable } from '../db/database.js';

export type Publish = (topic: string, payload: string) => Promise<void>;

export interface StoreHealerOptions {
  /** The first wait before a seq not confirmed is sent again (default 30 s), doubling each time. */
  retryMs?: number;
  /** The longest wait between two sends of one seq (default 10 min). */
  maxBackoffMs?: number;
  /** How often due seqs are looked for (default 5 s; a store's report is acted on at once). */
  checkEveryMs?: number;
}

const STATUS_OR_ANSWER = /^ayi\/v1\/([a-z0-9-]+)\/([a-z0-9-]+)\/(status|cmd-result)$/;
/** Seqs looked at in one go. */
const DUE_PAGE = 1000;

interface DueSeq {
  store_id: string;
  chain_id: string;
  epoch: string;
  seq: string | number;
  status: string;
}

interface HeldEvent {
  event_id: string;
  chain_id: string;
  store_id: string;
  epoch: string;
  seq: string | number;
  type: string;
  at: Date | string;
  occurred_at: Date | string | null;
  data: Record<string, unknown>;
  link: Record<string, unknown> | null;
}

type Row = Record<string, unknown>;

export class StoreHealer {
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private checkAgain = false;
  /** Commands sent by this process, newest last (for tests and logs). */
  readonly sent: { storeId: string; seqs: number[]; requestId: string }[] = [];
  private readonly retryMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly db: Database,
    private readonly publish: Publish,
    private readonly log: Logger,
    private readonly options: StoreHealerOptions = {},
  ) {
    this.retryMs = options.retryMs ?? 30_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 600_000;
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.checkEveryMs ?? 5000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A store's status or command answer (`ayi/v1/{chain}/{store}/status|cmd-result`). */
  async handleMessage(topic: string, payload: Buffer | string): Promise<void> {
    const route = STATUS_OR_ANSWER.exec(topic);
    if (!route) return;
    const [, chainId, storeId, kind] = route as unknown as [string, string, string, string];
    let message: Row;
    try {
      const parsed: unknown = JSON.parse(payload.toString());
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return;
      message = parsed as Row;
    } catch {
      return;
    }
    // Which catalog version the store runs (the dashboard's catalog page), online or offline.
    if (kind === 'status') await noteStoreCatalog(this.db, chainId, storeId, message);
    const epoch = typeof message.epoch === 'string' ? message.epoch : null;
    if (epoch === null) return;
    const reported = seqsOf(message.missingSeqs);
    if (kind === 'status' && message.state !== 'online') return;
    if (kind === 'status' || message.command === 'resend') {
      if (reported.length > 0) await this.noteMissing(chainId, storeId, epoch, reported);
      return;
    }
    if (message.command === 'restore') await this.noteAnswer(storeId, epoch, message);
  }

  /** Seqs a store named missing: recorded, and those HQ can send are sent now. */
  async noteMissing(chainId: string, storeId: string, epoch: string, seqs: number[]): Promise<void> {
    const fresh = await this.db.query<{ seq: string | number }>(
      `INSERT INTO store_restores (store_id, epoch, seq, chain_id, status)
       SELECT $1, $2, s, $3, 'reported' FROM unnest($4::bigint[]) AS s
       ON CONFLICT (store_id, epoch, seq) DO NOTHING
       RETURNING seq`,
      [storeId, epoch, chainId, seqs],
    );
    if (fresh.length > 0) {
      this.log.warn(
        { storeId, epoch, seqs: fresh.map((row) => Number(row.seq)) },
        "a store's journal lacks events (damaged lines); restoring those HQ holds",
      );
    }
    await this.check();
  }

  /** The store's answer to a cmd/restore. */
  private async noteAnswer(storeId: string, epoch: string, answer: Row): Promise<void> {
    const restored = seqsOf(answer.restored);
    const refused = Array.isArray(answer.refused) ? (answer.refused as Row[]) : [];
    // A seq the store refuses as not missing is one its journal holds now (restored before).
    const held = refused.filter((r) => r.reason === 'not_missing').map((r) => r.seq);
    const confirmed = [...restored, ...seqsOf(held)];
    await this.db.transaction(async (tx) => {
      if (confirmed.length > 0) {
        await tx.query(
          `UPDATE store_restores SET status = 'restored', reason = NULL, updated_at = now()
           WHERE store_id = $1 AND epoch = $2 AND seq = ANY($3::bigint[])`,
          [storeId, epoch, confirmed],
        );
      }
      for (const refusal of refused) {
        if (refusal.reason === 'not_missing' || typeof refusal.seq !== 'number') continue;
        await tx.query(
          `UPDATE store_restores SET status = 'refused', reason = $4, updated_at = now()
           WHERE store_id = $1 AND epoch = $2 AND seq = $3`,
          [storeId, epoch, refusal.seq, String(refusal.reason).slice(0, 64)],
        );
      }
    });
    if (restored.length > 0) this.log.info({ storeId, epoch, seqs: restored }, 'the store restored events from HQ');
    const others = refused.filter((r) => r.reason !== 'not_missing');
    if (others.length > 0) {
      this.log.error(
        { storeId, epoch, refused: others.map((r) => ({ seq: r.seq, reason: r.reason })) },
        "the store refused HQ's copy of events it lacks",
      );
    }
  }

  /** Sends what is due: seqs never looked up, and those sent but not confirmed, after their backoff. */
  check(): Promise<void> {
    if (this.checking) {
      this.checkAgain = true;
      return this.checking;
    }
    this.checking = (async () => {
      try {
        do {
          this.checkAgain = false;
          await this.db.transaction((tx) => this.sendDue(tx));
        } while (this.checkAgain);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'could not send restores');
      } finally {
        this.checking = null;
      }
    })();
    return this.checking;
  }

  private async sendDue(tx: Queryable): Promise<void> {
    // Rows another worker is sending right now are skipped (it holds their locks).
    const due = await tx.query<DueSeq>(
      `SELECT store_id, chain_id, epoch, seq, status FROM store_restores
       WHERE status IN ('reported', 'sent', 'lost')
         AND (last_sent_at IS NULL
              OR last_sent_at <= now() - make_interval(secs => LEAST($2, $1 * power(2, GREATEST(attempts - 1, 0)))))
       ORDER BY store_id, epoch, seq
       LIMIT ${DUE_PAGE}
       FOR UPDATE SKIP LOCKED`,
      [this.retryMs / 1000, this.maxBackoffMs / 1000],
    );
    const streams = new Map<string, DueSeq[]>();
    for (const row of due) {
      const key = `${row.store_id}\n${row.epoch}`;
      const rows = streams.get(key);
      if (rows) rows.push(row);
      else streams.set(key, [row]);
    }
    for (const rows of streams.values()) await this.sendStream(tx, rows);
  }

  private async sendStream(tx: Queryable, rows: DueSeq[]): Promise<void> {
    const { store_id: storeId, chain_id: chainId, epoch } = rows[0]!;
    const seqs = rows.map((row) => Number(row.seq));
    // The copy that counts where two events share a seq: the first HQ stored.
    const held = await tx.query<HeldEvent>(
      `SELECT DISTINCT ON (seq) event_id, chain_id, store_id, epoch, seq, type, at, occurred_at, data, link
       FROM events WHERE store_id = $1 AND epoch = $2 AND seq = ANY($3::bigint[])
       ORDER BY seq, received_at, event_id`,
      [storeId, epoch, seqs],
    );
    const heldSeqs = new Set(held.map((event) => Number(event.seq)));
    const lost = rows.filter((row) => !heldSeqs.has(Number(row.seq)));
    if (lost.length > 0) {
      await tx.query(
        `UPDATE store_restores SET status = 'lost', attempts = attempts + 1, last_sent_at = now(), updated_at = now()
         WHERE store_id = $1 AND epoch = $2 AND seq = ANY($3::bigint[])`,
        [storeId, epoch, lost.map((row) => Number(row.seq))],
      );
      const newly = lost.filter((row) => row.status !== 'lost').map((row) => Number(row.seq));
      if (newly.length > 0) {
        this.log.error(
          { storeId, epoch, seqs: newly },
          "events lost everywhere: the store's journal lacks them and HQ does not hold them",
        );
      }
    }
    for (const batch of batches(held.map(envelopeOf))) {
      const command: RestoreCommand = { requestId: `restore-${randomUUID()}`, events: batch };
      await this.publish(`ayi/v1/${chainId}/${storeId}/cmd/restore`, JSON.stringify(command));
      const sentSeqs = batch.map((event) => event.seq as number);
      await tx.query(
        `UPDATE store_restores SET status = 'sent', request_id = $4, attempts = attempts + 1,
           last_sent_at = now(), updated_at = now()
         WHERE store_id = $1 AND epoch = $2 AND seq = ANY($3::bigint[])`,
        [storeId, epoch, sentSeqs, command.requestId],
      );
      this.sent.push({ storeId, seqs: sentSeqs, requestId: command.requestId });
      this.log.info({ storeId, seqs: sentSeqs, requestId: command.requestId }, 'sent a store events to restore');
    }
  }
}

/** An event as the store sent it: its envelope, its payload and, where it had one, its link. */
function envelopeOf(row: HeldEvent): Record<string, unknown> {
  return {
    schema: EVENT_SCHEMA,
    eventId: row.event_id,
    chainId: row.chain_id,
    storeId: row.store_id,
    epoch: row.epoch,
    seq: Number(row.seq),
    type: row.type,
    at: isoOf(row.at),
    ...(row.occurred_at === null ? {} : { occurredAt: isoOf(row.occurred_at) }),
    data: row.data,
    ...(row.link === null ? {} : { link: row.link }),
  };
}

function isoOf(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

/** Events in commands of at most RESTORE_MAX_EVENTS events and RESTORE_MAX_BYTES of JSON. */
function batches(events: Record<string, unknown>[]): Record<string, unknown>[][] {
  const out: Record<string, unknown>[][] = [];
  let batch: Record<string, unknown>[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = Buffer.byteLength(JSON.stringify(event)) + 1;
    if (batch.length > 0 && (batch.length >= RESTORE_MAX_EVENTS || bytes + size > RESTORE_MAX_BYTES - 1024)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(event);
    bytes += size;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

function seqsOf(value: unknown): number[] {
  return Array.isArray(value) ? value.filter((seq): seq is number => Number.isInteger(seq) && seq > 0) : [];
}

export interface StoreHealerLink {
  brokerUrl: string;
  /** This worker's name: the healer's connection is `{workerId}.healer`. */
  workerId: string;
  chainId?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
}

/**
 * Starts the healer on a connection of its own: it reads every store's status and command answers
 * (not shared between workers: each sees every report, and the table decides who sends), and
 * publishes the restores. Resolves once subscribed; the result stops it.
 */
export async function startStoreHealer(
  db: Database,
  link: StoreHealerLink,
  log: Logger,
  options: StoreHealerOptions = {},
): Promise<{ healer: StoreHealer; stop: () => Promise<void> }> {
  const { connect } = await import('mqtt');
  const clientOptions: IClientOptions = {
    protocolVersion: 5,
    clientId: `${link.workerId}.healer`,
    clean: true,
    reconnectPeriod: 1000,
    username: link.username,
    password: link.password,
  };
  const client: MqttClient = connect(link.brokerUrl, clientOptions);
  const healer = new StoreHealer(
    db,
    async (topic, payload) => void (await client.publishAsync(topic, payload, { qos: 1 })),
    log,
    options,
  );
  client.on('message', (topic, payload) => {
    healer.handleMessage(topic, payload).catch((err: unknown) => {
      log.warn({ err: (err as Error).message, topic }, 'could not handle a store report');
    });
  });
  client.on('error', (err) => log.warn({ err: err.message }, 'healer: broker connection error'));
  const chain = link.chainId ?? '+';
  // Subscribed again on every reconnect (clean session): the retained statuses come again too.
  client.on('connect', () => {
    client.subscribe([`ayi/v1/${chain}/+/status`, `ayi/v1/${chain}/+/cmd-result`], { qos: 1 }, (err) => {
      if (err) log.warn({ err: err.message }, 'healer: cannot subscribe to store reports');
    });
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  healer.start();
  return {
    healer,
    stop: async () => {
      healer.stop();
      await client.endAsync();
    },
  };
}
