/**
 * Holes heal by themselves: a hole in a store's stream still open after the grace period (most are
 * only late events after a reconnect) gets a `cmd/resend` from its first missing seq, asked again
 * with backoff while it stays open. A hole at the end of the stream counts too: the store's status
 * and ping answers say up to which seq the broker took its events (`deliveredSeq`); when HQ still
 * lacks some of them a grace period after being told, the broker lost them (it restarted without
 * persistence, or dropped HQ's session) and nothing later would ever show the hole. The hub answers by publishing its events again; ingest stores
 * the missing ones and ignores the rest. The requests are kept in the database, so several workers
 * and a restart never ask for one hole twice; times are the database's, like `gap_since`.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ResendCommand } from '../../../hub/src/protocol/event-schemas.js';
import type { Database } from '../db/database.js';

export interface GapHealerOptions {
  /** How long a hole may stay open before HQ asks for it (default 60 s). */
  graceMs?: number;
  /** How often the streams are looked at (default 1 s). */
  checkEveryMs?: number;
  /** The longest wait between two requests for one hole (default 10 min). */
  maxBackoffMs?: number;
}

export type Publish = (topic: string, payload: string) => Promise<void>;

interface DueGap {
  store_id: string;
  chain_id: string;
  epoch: string;
  from_seq: string | number;
  attempts: number;
}

/** Up to where the store's newest status says the broker took its events, in this stream's epoch. */
const DELIVERED_BY_STATUS = 'CASE WHEN st.epoch = s.epoch THEN st.delivered_seq END';
/** The same, from the store's newest answer to a ping. */
const DELIVERED_BY_PING = `CASE WHEN st.ping_answer->>'epoch' = s.epoch::text THEN (st.ping_answer->>'deliveredSeq')::bigint END`;
/** No request for this hole yet, or the last one is older than its backoff ($1 grace, $2 most). */
const NOT_ASKED_LATELY = (fromSeq: string) =>
  `(r.from_seq IS DISTINCT FROM ${fromSeq}
    OR r.last_sent_at <= now() - make_interval(secs => LEAST($2, $1 * power(2, r.attempts))))`;

export class GapHealer {
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  /** Requests sent by this process, newest last (for health and tests). */
  readonly sent: { storeId: string; fromSeq: number; requestId: string }[] = [];
  private readonly graceMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly db: Database,
    private readonly publish: Publish,
    private readonly log: Logger,
    private readonly options: GapHealerOptions = {},
  ) {
    this.graceMs = options.graceMs ?? 60_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 600_000;
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.checkEveryMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at every stream with a hole; asks for those that are due. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      // The requests are recorded first and sent once that is committed: a publish waits for the
      // broker's PUBACK, which comes on a connection whose next message may be waiting for the
      // rows this transaction locks (a deadlock). A request recorded but not sent (a crash, a
      // failed publish) is simply asked again after its backoff.
      const asked = await this.db.transaction(async (tx) => {
        // Holes of each store's current epoch only (a resend covers the current epoch), open for
        // longer than the grace period, not asked for lately; rows another worker is asking for
        // right now are skipped.
        const due = await tx.query<DueGap>(
          `SELECT s.store_id, s.chain_id, s.epoch, s.contiguous_seq + 1 AS from_seq,
                  CASE WHEN r.from_seq = s.contiguous_seq + 1 THEN r.attempts ELSE 0 END AS attempts
           FROM store_streams s
           LEFT JOIN resend_requests r ON r.store_id = s.store_id AND r.epoch = s.epoch
           LEFT JOIN store_status st ON st.store_id = s.store_id
           WHERE (
               (s.gap_since IS NOT NULL AND s.gap_since <= now() - make_interval(secs => $1))
               OR (${DELIVERED_BY_STATUS} > s.contiguous_seq
                   AND st.received_at <= now() - make_interval(secs => $1))
               OR (${DELIVERED_BY_PING} > s.contiguous_seq
                   AND st.ping_answered_at <= now() - make_interval(secs => $1))
             )
             AND s.epoch = (SELECT c.epoch FROM store_streams c WHERE c.store_id = s.store_id
                            ORDER BY c.first_seen_at DESC LIMIT 1)
             AND ${NOT_ASKED_LATELY('s.contiguous_seq + 1')}
           FOR UPDATE OF s SKIP LOCKED`,
          [this.graceMs / 1000, this.maxBackoffMs / 1000],
        );
        // A store whose every event of its epoch the broker lost has no stream row at all yet.
        const unseen = await tx.query<DueGap>(
          `SELECT st.store_id, st.chain_id, st.epoch, 1 AS from_seq,
                  CASE WHEN r.from_seq = 1 THEN r.attempts ELSE 0 END AS attempts
           FROM store_status st
           LEFT JOIN resend_requests r ON r.store_id = st.store_id AND r.epoch = st.epoch
           WHERE st.delivered_seq > 0 AND st.received_at <= now() - make_interval(secs => $1)
             AND NOT EXISTS (SELECT 1 FROM store_streams s WHERE s.store_id = st.store_id AND s.epoch = st.epoch)
             AND ${NOT_ASKED_LATELY('1')}
           FOR UPDATE OF st SKIP LOCKED`,
          [this.graceMs / 1000, this.maxBackoffMs / 1000],
        );
        const requests: { gap: DueGap; command: ResendCommand }[] = [];
        for (const gap of [...due, ...unseen]) {
          const fromSeq = Number(gap.from_seq);
          const command: ResendCommand = { requestId: `heal-${randomUUID()}`, fromSeq };
          await tx.query(
            `INSERT INTO resend_requests (store_id, epoch, from_seq, request_id, last_sent_at, attempts)
             VALUES ($1, $2, $3, $4, now(), $5)
             ON CONFLICT (store_id, epoch) DO UPDATE SET from_seq = EXCLUDED.from_seq,
               request_id = EXCLUDED.request_id, last_sent_at = EXCLUDED.last_sent_at, attempts = EXCLUDED.attempts`,
            [gap.store_id, gap.epoch, fromSeq, command.requestId, Number(gap.attempts) + 1],
          );
          requests.push({ gap, command });
        }
        return requests;
      });
      for (const { gap, command } of asked) {
        await this.publish(`ayi/v1/${gap.chain_id}/${gap.store_id}/cmd/resend`, JSON.stringify(command));
        this.sent.push({ storeId: gap.store_id, fromSeq: command.fromSeq, requestId: command.requestId });
        this.log.info(
          { storeId: gap.store_id, fromSeq: command.fromSeq, requestId: command.requestId },
          'asked a store to resend',
        );
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not look for holes');
    } finally {
      this.checking = false;
    }
  }
}
