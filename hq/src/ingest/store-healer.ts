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
import { seqsAlteredByErasure } from './erasure.js';
import { LinkWatch, type LinkWatchOptions, type PublishCommand } from './link-watch.js';

export type Publish = PublishCommand;

export interface StoreHealerOptions {
  /** The first wait before a seq not confirmed is sent again (default 30 s), doubling each time. */
  retryMs?: number;
  /** The longest wait between two sends of one seq (default 10 min). */
  maxBackoffMs?: number;
  /** How often due seqs are looked for (default 5 s; a store's report is acted on at once). */
  checkEveryMs?: number;
  /** How long one publish may take before it counts as failed (default 10 s); sent again later. */
  publishTimeoutMs?: number;
  /** The stores' link: statuses kept and quiet stores pinged (link-watch.ts). */
  link?: LinkWatchOptions;
}

const STATUS_OR_ANSWER = /^ayi\/v1\/([a-z0-9-]+)\/([a-z0-9-]+)\/(status|cmd-result)$/;
/** Seqs looked at in one go. */
const DUE_PAGE = 1000;
/** The longest text kept from a hub's error answer. */
const ERROR_TEXT_MAX = 200;

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

/** A command whose rows are claimed (status `sending`), to publish once the claim is committed. */
interface Claimed {
  storeId: string;
  epoch: string;
  topic: string;
  command: RestoreCommand;
  seqs: number[];
}

export class StoreHealer {
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private checkAgain = false;
  /** Commands sent by this process, newest last (for tests and logs). */
  readonly sent: { storeId: string; seqs: number[]; requestId: string }[] = [];
  private readonly retryMs: number;
  private readonly maxBackoffMs: number;
  private readonly publishTimeoutMs: number;
  /** Ends the publishes waited for when the healer stops. */
  private readonly stopping = new AbortController();
  /** Every status and ping answer this healer reads is kept there too. */
  readonly link: LinkWatch;

  constructor(
    private readonly db: Database,
    private readonly publish: Publish,
    private readonly log: Logger,
    private readonly options: StoreHealerOptions = {},
  ) {
    this.retryMs = options.retryMs ?? 30_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 600_000;
    this.publishTimeoutMs = options.publishTimeoutMs ?? 10_000;
    this.link = new LinkWatch(db, publish, log, options.link);
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.checkEveryMs ?? 5000);
    this.timer.unref();
    this.link.start();
  }

  /** Stops looking for due seqs; a publish under way is given up (its rows are sent again later). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopping.abort();
    await this.checking;
    this.link.stop();
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
    if (kind === 'status') {
      // Keeping the status (link health, the catalog version it runs) must not hold back restoring
      // what it names missing.
      await this.link.noteStatus(chainId, storeId, message).catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message, storeId }, 'could not keep a store status');
      });
      await noteStoreCatalog(this.db, chainId, storeId, message).catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message, storeId }, 'could not keep the catalog version of a store');
      });
    } else if (message.command === 'ping') return this.link.notePingAnswer(chainId, storeId, message);
    const epoch = typeof message.epoch === 'string' ? message.epoch : null;
    if (epoch === null) return;
    const reported = seqsOf(message.missingSeqs);
    if (kind === 'status' && message.state !== 'online') return;
    if (kind === 'status' || message.command === 'resend') {
      if (reported.length > 0) await this.noteMissing(chainId, storeId, epoch, reported, timeOf(message.at));
      return;
    }
    if (message.command === 'restore') await this.noteAnswer(storeId, epoch, message);
  }

  /**
   * Seqs a store named missing: recorded, and those HQ can send are sent now. A seq restored or
   * refused before is looked at afresh when the store names it missing in a report written after
   * that (`reportedAt`, the store's clock): the restored line damaged again on a failing card, or a
   * hub upgraded since it refused. An older report (a retained status delivered again) changes
   * nothing, and a refused seq waits the longest backoff first: a store that still lacks it names it
   * in every status it publishes, and the same copy would mostly be refused again.
   */
  async noteMissing(
    chainId: string,
    storeId: string,
    epoch: string,
    seqs: number[],
    reportedAt: Date | null = null,
  ): Promise<void> {
    const fresh = await this.db.query<{ seq: string | number }>(
      `INSERT INTO store_restores (store_id, epoch, seq, chain_id, status)
       SELECT $1, $2, s, $3, 'reported' FROM unnest($4::bigint[]) AS s
       ON CONFLICT (store_id, epoch, seq) DO UPDATE
         SET status = 'reported', reason = NULL, request_id = NULL, attempts = 0, last_sent_at = NULL,
             reported_at = now(), updated_at = now()
         WHERE $5::timestamptz > store_restores.updated_at
           AND (store_restores.status = 'restored'
                OR (store_restores.status = 'refused'
                    AND store_restores.updated_at <= now() - make_interval(secs => $6)))
       RETURNING seq`,
      [storeId, epoch, chainId, seqs, reportedAt?.toISOString() ?? null, this.maxBackoffMs / 1000],
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
    if (answer.ok === false && !Array.isArray(answer.restored) && !Array.isArray(answer.refused)) {
      await this.noteCommandRefused(storeId, epoch, answer);
      return;
    }
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

  /**
   * A hub that refused the whole command (`ok: false` with an `error`, no per-event answer): an older
   * hub that does not know cmd/restore, or a command over its size limit. Sending the same again would
   * be refused again, so its seqs are `refused` with the hub's words, until the store names them
   * missing in a newer report (a hub upgraded since).
   */
  private async noteCommandRefused(storeId: string, epoch: string, answer: Row): Promise<void> {
    const requestId = typeof answer.requestId === 'string' ? answer.requestId : null;
    if (requestId === null) return;
    const error = typeof answer.error === 'string' && answer.error !== '' ? answer.error : 'refused';
    const refused = await this.db.query<{ seq: string | number }>(
      `UPDATE store_restores SET status = 'refused', reason = $4, updated_at = now()
       WHERE store_id = $1 AND epoch = $2 AND request_id = $3 AND status IN ('sending', 'sent')
       RETURNING seq`,
      [storeId, epoch, requestId, error.slice(0, ERROR_TEXT_MAX)],
    );
    if (refused.length > 0) {
      this.log.error(
        {
          storeId,
          epoch,
          requestId,
          seqs: refused.map((row) => Number(row.seq)),
          error: error.slice(0, ERROR_TEXT_MAX),
        },
        'the store refused the restore command as a whole',
      );
    }
  }

  /** Sends what is due: seqs never looked up, and those sent but not confirmed, after their backoff. */
  check(): Promise<void> {
    if (this.stopping.signal.aborted) return Promise.resolve();
    if (this.checking) {
      this.checkAgain = true;
      return this.checking;
    }
    this.checking = (async () => {
      try {
        do {
          this.checkAgain = false;
          // Claimed in one short transaction; published after it commits.
          const claimed = await this.db.transaction((tx) => this.claimDue(tx));
          for (const command of claimed) await this.publishClaimed(command);
        } while (this.checkAgain && !this.stopping.signal.aborted);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'could not send restores');
      } finally {
        this.checking = null;
      }
    })();
    return this.checking;
  }

  /**
   * Looks up what is due and claims it: seqs HQ does not hold are `lost`, those an erasure changed
   * `not_restorable`, the others `sending` with the time and attempt counted, so no other worker
   * takes them before their backoff, even if this one stops before it publishes.
   */
  private async claimDue(tx: Queryable): Promise<Claimed[]> {
    // Rows another worker is claiming right now are skipped (it holds their locks).
    const due = await tx.query<DueSeq>(
      `SELECT store_id, chain_id, epoch, seq, status FROM store_restores
       WHERE status IN ('reported', 'sending', 'sent', 'lost')
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
    const claimed: Claimed[] = [];
    for (const rows of streams.values()) claimed.push(...(await this.claimStream(tx, rows)));
    return claimed;
  }

  private async claimStream(tx: Queryable, rows: DueSeq[]): Promise<Claimed[]> {
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
    // HQ's copy of an erased member's event is anonymised: not what the store sent, and where the
    // damaged line shows no checksum the store would take it, the anonymous id and all.
    const altered = await seqsAlteredByErasure(tx, held);
    if (altered.size > 0) {
      const seqsAltered = [...altered];
      const newly = await tx.query<{ seq: string | number }>(
        `UPDATE store_restores SET status = 'not_restorable', reason = 'altered_by_erasure', updated_at = now()
         WHERE store_id = $1 AND epoch = $2 AND seq = ANY($3::bigint[])
         RETURNING seq`,
        [storeId, epoch, seqsAltered],
      );
      this.log.warn(
        { storeId, epoch, seqs: newly.map((row) => Number(row.seq)) },
        "not restored: HQ's copy of these events was anonymised by a member's erasure",
      );
    }
    const claimed: Claimed[] = [];
    const sendable = held.filter((event) => !altered.has(Number(event.seq)));
    for (const batch of batches(sendable.map(envelopeOf))) {
      const command: RestoreCommand = { requestId: `restore-${randomUUID()}`, events: batch };
      const sendingSeqs = batch.map((event) => event.seq as number);
      await tx.query(
        `UPDATE store_restores SET status = 'sending', request_id = $4, attempts = attempts + 1,
           last_sent_at = now(), updated_at = now()
         WHERE store_id = $1 AND epoch = $2 AND seq = ANY($3::bigint[])`,
        [storeId, epoch, sendingSeqs, command.requestId],
      );
      claimed.push({ storeId, epoch, topic: `ayi/v1/${chainId}/${storeId}/cmd/restore`, command, seqs: sendingSeqs });
    }
    return claimed;
  }

  /**
   * Publishes a claimed command, outside any transaction, and records the outcome: `sent`, or, when
   * the broker did not take it in time, back to how it was, its attempt not counted, to be sent again
   * after the backoff. A store that answered already is not touched.
   */
  private async publishClaimed(claim: Claimed): Promise<void> {
    const { storeId, epoch, command, seqs } = claim;
    try {
      await this.withinPublishTimeout(this.publish(claim.topic, JSON.stringify(command)));
    } catch (err) {
      await this.db.query(
        `UPDATE store_restores SET status = CASE WHEN attempts > 1 THEN 'sent' ELSE 'reported' END,
           attempts = attempts - 1, updated_at = now()
         WHERE store_id = $1 AND epoch = $2 AND request_id = $3 AND status = 'sending'`,
        [storeId, epoch, command.requestId],
      );
      this.log.warn(
        { storeId, seqs, requestId: command.requestId, err: (err as Error).message },
        'could not send a store events to restore; sent again later',
      );
      return;
    }
    await this.db.query(
      `UPDATE store_restores SET status = 'sent', updated_at = now()
       WHERE store_id = $1 AND epoch = $2 AND request_id = $3 AND status = 'sending'`,
      [storeId, epoch, command.requestId],
    );
    this.sent.push({ storeId, seqs, requestId: command.requestId });
    this.log.info({ storeId, seqs, requestId: command.requestId }, 'sent a store events to restore');
  }

  /** The publish, or an error once the timeout passes or the healer stops. */
  private withinPublishTimeout(publishing: Promise<void>): Promise<void> {
    const signal = this.stopping.signal;
    if (signal.aborted) return Promise.reject(new Error('the store healer stopped'));
    return new Promise<void>((resolve, reject) => {
      const onStop = () => finish(new Error('the store healer stopped'));
      const timer = setTimeout(
        () => finish(new Error(`not published within ${this.publishTimeoutMs} ms`)),
        this.publishTimeoutMs,
      );
      const finish = (err?: Error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onStop);
        if (err) reject(err);
        else resolve();
      };
      signal.addEventListener('abort', onStop);
      publishing.then(
        () => finish(),
        (err: unknown) => finish(err as Error),
      );
    });
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

/** A report's time (`at`), or null when it has none the healer can read. */
function timeOf(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? null : time;
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
    async (topic, payload, publishOptions) =>
      void (await client.publishAsync(topic, payload, {
        qos: 1,
        ...(publishOptions?.expirySeconds
          ? { properties: { messageExpiryInterval: publishOptions.expirySeconds } }
          : {}),
      })),
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
      await healer.stop();
      // Forced, and not waited for past a moment: with the broker gone an orderly end never comes.
      await Promise.race([client.endAsync(true), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    },
  };
}
