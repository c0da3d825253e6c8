/**
 * How many outbound messages (SMS) have failed, for the manager's warning badge in the top bar.
 * Polls GET /api/messages every 30 s while a manager or owner is logged in, and on navigation.
 */
import type { MessageView } from '$protocol/members';
import { adminApi, type MessageCounts } from './AdminApi';

const POLL_MS = 30_000;

class MessageWatch {
  failed = $state(0);
  queued = $state(0);
  /** Last time the hub answered (ms since epoch). */
  checkedAt = $state<number | null>(null);

  #timer: ReturnType<typeof setInterval> | null = null;
  #inflight = false;

  start(): void {
    if (this.#timer) return;
    void this.check();
    this.#timer = setInterval(() => void this.check(), POLL_MS);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.failed = 0;
    this.queued = 0;
    this.checkedAt = null;
  }

  /** Counts from an answer the messages page already has (the hub's totals when it gives them). */
  update(messages: MessageView[], counts?: MessageCounts): void {
    this.failed = counts?.failed ?? messages.filter((m) => m.status === 'failed').length;
    this.queued = counts?.queued ?? messages.filter((m) => m.status === 'queued').length;
    this.checkedAt = Date.now();
  }

  async check(): Promise<void> {
    if (this.#inflight) return;
    this.#inflight = true;
    try {
      const res = await adminApi.messages();
      // Stopped meanwhile (logged out): keep the badge off.
      if (this.#timer) this.update(res.messages, res.counts);
    } catch {
      // Offline or not a manager any more: keep the last count.
    } finally {
      this.#inflight = false;
    }
  }
}

export const messageWatch = new MessageWatch();
