/**
 * Each store's link as HQ hears it: the store's retained status (online, or offline by a clean stop
 * or the broker's last will) is kept in `store_status`, newest wins; a store HQ has heard nothing from
 * for a while (no event, no status, no ping answer) gets a `cmd/ping`, and the answer's live figures
 * are kept beside the status. The store healer's connection reads both topics and hands them here.
 * One ping is outstanding per store across workers: the row is locked while it is sent and records
 * it, and an unanswered ping is sent again with backoff.
 */
import { randomUUID } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import type { Logger } from 'pino';
import {
  CommandResultSchema,
  LinkStatusSchema,
  type LinkStatus,
  type PingCommand,
} from '../../../hub/src/protocol/event-schemas.js';
import type { Database } from '../db/database.js';
import { startStreamAt } from './store-event.js';

/** Publishes a command; `expirySeconds` drops it at the broker if the store has not taken it by then. */
export type PublishCommand = (topic: string, payload: string, options?: { expirySeconds?: number }) => Promise<void>;

export interface LinkWatchOptions {
  /** A store heard from by nothing for this long gets a cmd/ping (default 300 s). */
  pingAfterMs?: number;
  /** The longest wait between two pings of a store that does not answer (default 10 min). */
  maxBackoffMs?: number;
  /** How often quiet stores are looked for (default a quarter of pingAfterMs, 0.5 to 15 s). */
  checkEveryMs?: number;
}

export const DEFAULT_PING_AFTER_S = 300;

interface QuietStore {
  store_id: string;
  chain_id: string;
  ping_attempts: number;
}

export class LinkWatch {
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  /** Pings sent by this process, newest last (for tests and logs). */
  readonly pings: { storeId: string; requestId: string }[] = [];
  private readonly pingAfterMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly db: Database,
    private readonly publish: PublishCommand,
    private readonly log: Logger,
    private readonly options: LinkWatchOptions = {},
  ) {
    this.pingAfterMs = options.pingAfterMs ?? DEFAULT_PING_AFTER_S * 1000;
    this.maxBackoffMs = Math.max(options.maxBackoffMs ?? 600_000, this.pingAfterMs);
  }

  start(): void {
    const every = this.options.checkEveryMs ?? Math.min(15_000, Math.max(500, this.pingAfterMs / 4));
    this.timer = setInterval(() => void this.pingQuiet(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * A store's status, from `ayi/v1/{chainId}/{storeId}/status`. Kept when it is newer than the one
   * held: by the connection it belongs to (`connectedAt`), then offline after online (a last will
   * carries its connection's opening time as `at`, older than that connection's online statuses,
   * yet ends it), then its own `at`. A copy seen again (a retained status on reconnect, another
   * worker) changes nothing, not even when HQ last heard from the store.
   */
  async noteStatus(chainId: string, storeId: string, message: unknown): Promise<void> {
    if (!Value.Check(LinkStatusSchema, message)) {
      this.log.warn({ storeId }, 'a store status that is not the contract’s; ignored');
      return;
    }
    const status: LinkStatus = message;
    if (status.storeId !== storeId || status.chainId !== chainId) {
      this.log.warn({ storeId, named: status.storeId }, 'a store status naming another store; ignored');
      return;
    }
    const online = status.state === 'online';
    const problems = online ? (status.problems ?? []) : null;
    const health = problems === null ? null : problems.length === 0 ? 'ok' : 'degraded';
    const stored = await this.db.query(
      `INSERT INTO store_status AS s (store_id, chain_id, online, status, status_at, connected_at, received_at,
         epoch, last_seq, delivered_seq, version, health, problems)
       VALUES ($1, $2, $3, $4, $5, $6, now(), $7, $8, $9, $10, $11, $12)
       ON CONFLICT (store_id) DO UPDATE SET chain_id = EXCLUDED.chain_id, online = EXCLUDED.online,
         status = EXCLUDED.status, status_at = EXCLUDED.status_at, connected_at = EXCLUDED.connected_at,
         received_at = EXCLUDED.received_at, epoch = EXCLUDED.epoch, last_seq = EXCLUDED.last_seq,
         delivered_seq = EXCLUDED.delivered_seq, version = EXCLUDED.version, health = EXCLUDED.health,
         problems = EXCLUDED.problems, ping_attempts = 0
       WHERE (s.connected_at, CASE WHEN s.online THEN 0 ELSE 1 END, s.status_at)
           < (EXCLUDED.connected_at, CASE WHEN EXCLUDED.online THEN 0 ELSE 1 END, EXCLUDED.status_at)
       RETURNING store_id`,
      [
        storeId,
        chainId,
        online,
        JSON.stringify(status),
        status.at,
        status.connectedAt ?? status.at,
        status.epoch,
        status.lastSeq,
        status.deliveredSeq,
        status.version,
        health,
        problems,
      ],
    );
    if (stored.length > 0 && online && status.epochStartSeq !== undefined) {
      await startStreamAt(this.db, { chainId, storeId, epoch: status.epoch }, status.epochStartSeq);
    }
    if (stored.length > 0 && !online) {
      this.log.warn({ storeId, reason: status.reason ?? null }, 'a store went offline');
    }
  }

  /** A store's answer to a cmd/ping (any, also another tool's): its live figures, newest kept. */
  async notePingAnswer(chainId: string, storeId: string, message: unknown): Promise<void> {
    if (!Value.Check(CommandResultSchema, message) || message.command !== 'ping' || !message.ok) return;
    if (message.storeId !== storeId || message.chainId !== chainId) return;
    await this.db.query(
      `UPDATE store_status SET ping_answered_at = now(), ping_answer = $2, ping_attempts = 0
       WHERE store_id = $1 AND (ping_answer IS NULL OR (ping_answer->>'at')::timestamptz < $3::timestamptz)`,
      [storeId, JSON.stringify(message), message.at],
    );
  }

  /**
   * Pings the stores that said they are online and that HQ has heard nothing from for pingAfterMs
   * (no event, no status, no ping answer). A ping not answered is sent again after pingAfterMs,
   * then twice as long each time, up to maxBackoffMs. Rows another worker is pinging are skipped.
   */
  async pingQuiet(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      // Recorded first, sent once committed (see GapHealer.check: a publish inside the transaction
      // can deadlock with the message handler waiting for these rows); a ping recorded but not
      // sent is sent again after its backoff.
      const pings = await this.db.transaction(async (tx) => {
        const quiet = await tx.query<QuietStore>(
          `SELECT s.store_id, s.chain_id, s.ping_attempts
           FROM store_status s
           LEFT JOIN (SELECT store_id, max(last_received_at) AS at FROM store_streams GROUP BY store_id) e
             ON e.store_id = s.store_id
           WHERE s.online
             AND GREATEST(s.received_at, s.ping_answered_at, e.at) <= now() - make_interval(secs => $1)
             AND (s.ping_sent_at IS NULL
                  OR s.ping_answered_at >= s.ping_sent_at
                  OR s.ping_sent_at <= now() - make_interval(secs => LEAST($2, $1 * power(2, GREATEST(s.ping_attempts - 1, 0)))))
           ORDER BY s.store_id
           FOR UPDATE OF s SKIP LOCKED`,
          [this.pingAfterMs / 1000, this.maxBackoffMs / 1000],
        );
        const recorded: { store: QuietStore; command: PingCommand }[] = [];
        for (const store of quiet) {
          const command: PingCommand = { requestId: `ping-${randomUUID()}` };
          await tx.query(
            `UPDATE store_status SET ping_request_id = $2, ping_sent_at = now(), ping_attempts = ping_attempts + 1
             WHERE store_id = $1`,
            [store.store_id, command.requestId],
          );
          recorded.push({ store, command });
        }
        return recorded;
      });
      for (const { store, command } of pings) {
        // A ping the store has not taken within the interval is stale: the next one replaces it.
        await this.publish(`ayi/v1/${store.chain_id}/${store.store_id}/cmd/ping`, JSON.stringify(command), {
          expirySeconds: Math.max(1, Math.round(this.pingAfterMs / 1000)),
        });
        this.pings.push({ storeId: store.store_id, requestId: command.requestId });
        this.log.info(
          { storeId: store.store_id, requestId: command.requestId, attempt: Number(store.ping_attempts) + 1 },
          'pinged a quiet store',
        );
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not ping quiet stores');
    } finally {
      this.checking = false;
    }
  }
}
