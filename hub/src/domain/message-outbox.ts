/**
 * The outbound message queue (M2) as a projection of the journal: `message.queued` puts a message
 * in it, `message.attempted` records each try. The journal is the durable outbox (no file of its
 * own), so a queued message survives a restart and a crash, and snapshots carry this projection.
 *
 * Pure: no I/O, no clock reads (time comes in as arguments or from the events). The retry policy
 * (`nextRetryDelayMs`, `planAttempt`) lives here too, so it is tested without timers.
 *
 * A manual retry is recorded as a `message.attempted` with `error: 'manual_retry'`, `ok: false`
 * and `retryAt` = now: it is not a send attempt (the attempt count does not move), it makes the
 * message due at once and gives it a fresh round of MAX_ATTEMPTS tries.
 */
import type { MessageView } from '../protocol/members.js';
import type { HubEvent, MessageAttemptedData, MessageQueuedData } from '../protocol/events.js';

/** First retry after 30 s, then doubling: 1, 2, 4, 8, 16 min, capped at 30 min. */
export const FIRST_RETRY_DELAY_MS = 30_000;
export const MAX_RETRY_DELAY_MS = 30 * 60_000;
/** Tries in one round (about 3 hours of retrying) before the message is marked failed. */
export const MAX_ATTEMPTS = 12;
/** The error of a manager's retry (not a send attempt). */
export const MANUAL_RETRY = 'manual_retry';
/** Sent and failed messages stay in memory (and in snapshots) this long; the journal keeps them all. */
export const DEFAULT_MESSAGE_RETENTION_DAYS = 30;

const DAY_MS = 24 * 60 * 60_000;
const PRUNE_EVERY_MS = 60 * 60_000;

export type MessageStatus = MessageView['status'];

export interface QueuedMessage extends MessageQueuedData {
  /** Seq of the message.queued event: the queue's order. */
  seq: number;
  status: MessageStatus;
  /** Send attempts so far (manual retries not counted). */
  attempts: number;
  /** `attempts` when the current round began (0, or the count at the last manual retry). */
  roundStart: number;
  lastError: string | null;
  /** When it is due (queued only). */
  nextAttemptAt: string | null;
  queuedAt: string;
  sentAt: string | null;
  /** When it became sent or failed (for pruning). */
  settledAt: string | null;
}

export interface MessageOutboxData {
  lastSeq: number;
  lastPrunedAt: string | null;
  /** In queue (seq) order. */
  messages: QueuedMessage[];
}

/** What a provider answered, or what the service concluded before asking one. */
export type SendOutcome =
  | { kind: 'ok' }
  /** Worth trying again later: network, timeout, 408, 429, 5xx. */
  | { kind: 'retryable'; error: string; retryAfterMs?: number }
  /** Trying again will not help: other 4xx, no such member, a number the provider refuses. */
  | { kind: 'permanent'; error: string };

export interface MessageFilter {
  status?: MessageStatus;
  memberId?: string;
}

export class MessageOutbox {
  lastSeq = 0;
  private lastPrunedAt: string | null = null;
  /** Insertion order is queue order. */
  private readonly messages = new Map<string, QueuedMessage>();
  /** Ids of the messages with status queued. */
  private readonly queued = new Set<string>();

  constructor(readonly retentionDays: number = DEFAULT_MESSAGE_RETENTION_DAYS) {}

  static fromData(data: MessageOutboxData, retentionDays: number = DEFAULT_MESSAGE_RETENTION_DAYS): MessageOutbox {
    const outbox = new MessageOutbox(retentionDays);
    outbox.lastSeq = data.lastSeq;
    outbox.lastPrunedAt = data.lastPrunedAt;
    for (const message of data.messages) outbox.put({ ...message, params: { ...message.params } });
    return outbox;
  }

  toData(): MessageOutboxData {
    return {
      lastSeq: this.lastSeq,
      lastPrunedAt: this.lastPrunedAt,
      messages: [...this.messages.values()].map((m) => ({ ...m, params: { ...m.params } })),
    };
  }

  get size(): number {
    return this.messages.size;
  }

  apply(event: HubEvent): void {
    if (event.seq <= this.lastSeq) return; // already in the snapshot
    this.lastSeq = event.seq;
    switch (event.type) {
      case 'message.queued':
        this.onQueued(event.data, event.seq, event.at);
        break;
      case 'message.attempted':
        this.onAttempted(event.data, event.at);
        break;
      default:
        break;
    }
    this.maybePrune(event.at);
  }

  get(messageId: string): QueuedMessage | undefined {
    return this.messages.get(messageId);
  }

  /** Queued messages whose time has come, oldest first. */
  due(now: Date, limit: number): QueuedMessage[] {
    const nowMs = now.getTime();
    const due: QueuedMessage[] = [];
    for (const id of this.queued) {
      const message = this.messages.get(id);
      if (!message) continue;
      if (message.nextAttemptAt === null || Date.parse(message.nextAttemptAt) <= nowMs) due.push(message);
    }
    return due.sort((a, b) => a.seq - b.seq).slice(0, Math.max(0, limit));
  }

  /** When the next queued message falls due (null: nothing queued). */
  nextDueAt(): string | null {
    let next: string | null = null;
    for (const id of this.queued) {
      const at = this.messages.get(id)?.nextAttemptAt ?? null;
      if (at !== null && (next === null || Date.parse(at) < Date.parse(next))) next = at;
    }
    return next;
  }

  /** Newest first. */
  view(limit = 50, filter: MessageFilter = {}): MessageView[] {
    const out: MessageView[] = [];
    const all = [...this.messages.values()];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const message = all[i]!;
      if (filter.status !== undefined && message.status !== filter.status) continue;
      if (filter.memberId !== undefined && message.memberId !== filter.memberId) continue;
      out.push(toMessageView(message));
    }
    return out;
  }

  counts(): Record<MessageStatus, number> {
    const counts: Record<MessageStatus, number> = { queued: 0, sent: 0, failed: 0 };
    for (const message of this.messages.values()) counts[message.status] += 1;
    return counts;
  }

  private onQueued(data: MessageQueuedData, seq: number, at: string): void {
    if (this.messages.has(data.messageId)) return;
    this.put({
      ...data,
      params: { ...data.params },
      seq,
      status: 'queued',
      attempts: 0,
      roundStart: 0,
      lastError: null,
      nextAttemptAt: at,
      queuedAt: at,
      sentAt: null,
      settledAt: null,
    });
  }

  private onAttempted(data: MessageAttemptedData, at: string): void {
    const message = this.messages.get(data.messageId);
    if (!message) return; // pruned long ago
    if (!data.ok && data.error === MANUAL_RETRY) {
      if (message.status === 'sent') return;
      message.status = 'queued';
      message.roundStart = message.attempts;
      message.nextAttemptAt = data.retryAt ?? at;
      message.settledAt = null;
      this.queued.add(message.messageId);
      return;
    }
    message.attempts = Math.max(message.attempts + 1, data.attempt);
    if (data.ok) {
      message.status = 'sent';
      message.sentAt = at;
      message.nextAttemptAt = null;
      message.settledAt = at;
      this.queued.delete(message.messageId);
    } else if (data.retryAt !== null) {
      message.status = 'queued';
      message.lastError = data.error;
      message.nextAttemptAt = data.retryAt;
      this.queued.add(message.messageId);
    } else {
      message.status = 'failed';
      message.lastError = data.error;
      message.nextAttemptAt = null;
      message.settledAt = at;
      this.queued.delete(message.messageId);
    }
  }

  private put(message: QueuedMessage): void {
    this.messages.set(message.messageId, message);
    if (message.status === 'queued') this.queued.add(message.messageId);
  }

  /** Drops sent and failed messages settled more than retentionDays before `at` (event time). */
  private maybePrune(at: string): void {
    const atMs = Date.parse(at);
    if (this.lastPrunedAt !== null && atMs - Date.parse(this.lastPrunedAt) < PRUNE_EVERY_MS) return;
    this.lastPrunedAt = at;
    const cutoff = atMs - this.retentionDays * DAY_MS;
    for (const message of this.messages.values()) {
      if (message.settledAt !== null && Date.parse(message.settledAt) < cutoff) {
        this.messages.delete(message.messageId);
      }
    }
  }
}

export function toMessageView(message: QueuedMessage): MessageView {
  return {
    messageId: message.messageId,
    memberId: message.memberId,
    channel: message.channel,
    template: message.template,
    status: message.status,
    attempts: message.attempts,
    lastError: message.lastError,
    nextAttemptAt: message.nextAttemptAt,
    queuedAt: message.queuedAt,
    sentAt: message.sentAt,
  };
}

/**
 * How long to wait after the n-th failed attempt of a round (n from 1): 30 s, 1, 2, 4, 8, 16 min,
 * then 30 min.
 */
export function nextRetryDelayMs(attempt: number): number {
  const n = Math.max(1, Math.floor(attempt));
  if (n > 16) return MAX_RETRY_DELAY_MS;
  return Math.min(FIRST_RETRY_DELAY_MS * 2 ** (n - 1), MAX_RETRY_DELAY_MS);
}

/**
 * A short error code safe for the journal, logs and HQ: letters, digits and `_:.-` only, at most 60
 * characters, and no run of 6 or more digits (so no phone number can slip through a provider's text).
 */
export function safeErrorCode(error: string): string {
  const cleaned = error
    .replace(/[^A-Za-z0-9_:.-]+/g, '_')
    .replace(/\d{6,}/g, '#')
    .slice(0, 60);
  return cleaned === '' ? 'error' : cleaned;
}

/** The `message.attempted` to record after trying to send `message` at `now`. */
export function planAttempt(message: QueuedMessage, outcome: SendOutcome, now: Date): MessageAttemptedData {
  const attempt = message.attempts + 1;
  if (outcome.kind === 'ok') {
    return { messageId: message.messageId, attempt, ok: true, error: null, retryAt: null };
  }
  const error = safeErrorCode(outcome.error);
  const inRound = attempt - message.roundStart;
  if (outcome.kind === 'permanent' || inRound >= MAX_ATTEMPTS) {
    return { messageId: message.messageId, attempt, ok: false, error, retryAt: null };
  }
  const asked = Math.min(Math.max(0, outcome.retryAfterMs ?? 0), MAX_RETRY_DELAY_MS);
  const delay = Math.max(nextRetryDelayMs(inRound), asked);
  return {
    messageId: message.messageId,
    attempt,
    ok: false,
    error,
    retryAt: new Date(now.getTime() + delay).toISOString(),
  };
}

/** The `message.attempted` a manager's retry records: due at once, a fresh round of tries. */
export function manualRetry(message: QueuedMessage, now: Date): MessageAttemptedData {
  return {
    messageId: message.messageId,
    attempt: message.attempts,
    ok: false,
    error: MANUAL_RETRY,
    retryAt: now.toISOString(),
  };
}
