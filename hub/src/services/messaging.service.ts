/**
 * Sends the outbound message queue (M2) in the background. Sign-up only records `message.queued`
 * (one fsync) and returns; this dispatcher later picks due messages from the outbox projection,
 * renders each at send time (so a name added since is used, an erased member gets nothing), sends
 * it through the provider and records `message.attempted` with the next retry time from the
 * backoff policy. Nothing here is awaited by a sale or a sign-up, and nothing thrown escapes it.
 *
 * Delivery is at least once: a crash after the provider accepted a message and before its
 * `message.attempted` reached the disk sends it again after the restart (the provider gets the same
 * messageId both times and may drop the repeat).
 */
import type { Logger } from 'pino';
import { DomainError } from '../domain/errors.js';
import {
  manualRetry,
  planAttempt,
  safeErrorCode,
  toMessageView,
  type MessageFilter,
  type MessageOutbox,
  type QueuedMessage,
  type SendOutcome,
} from '../domain/message-outbox.js';
import type { MessageView } from '../protocol/members.js';
import type { EventStore } from '../storage/event-store.js';
import type { SmsProvider } from './sms/sms-provider.js';

export interface Recipient {
  /** E.164 */
  phone: string;
  name: string | null;
}

/** The text of a message for its recipient, rendered when it is sent. */
export type MessageRenderer = (message: QueuedMessage, recipient: Recipient) => string;

export interface MessagingServiceOptions {
  /** The projection, kept up to date by the committed-event listeners (StoreState). */
  outbox: MessageOutbox;
  events: Pick<EventStore, 'record'>;
  /** null when the member was erased or merged away: the message fails as `member_gone`. */
  resolveRecipient: (memberId: string) => Recipient | null;
  provider: SmsProvider;
  clock: () => Date;
  log: Logger;
  render: MessageRenderer;
  /** How often due messages are looked for (retries fall due between kicks). Default 1000 ms. */
  intervalMs?: number;
  /** Sends at the same time. Default 1. */
  concurrency?: number;
  /**
   * False while attempts cannot be recorded (the clock is behind the journal): nothing is sent then,
   * since a message sent without its attempt on record would be sent again and again.
   */
  canRecord?: () => boolean;
}

/** A single SMS segment of Chinese text holds 70 characters (UCS-2). */
export const SMS_SEGMENT_CHARS = 70;

export class MessagingService {
  private state: 'idle' | 'running' | 'stopped' = 'idle';
  private timer: NodeJS.Timeout | null = null;
  private kickScheduled = false;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Messages whose result could not be recorded: left alone until this time (ms). */
  private readonly holdUntil = new Map<string, number>();
  private readonly intervalMs: number;
  private readonly concurrency: number;

  constructor(private readonly options: MessagingServiceOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.concurrency = Math.max(1, options.concurrency ?? 1);
  }

  get providerName(): string {
    return this.options.provider.name;
  }

  /** Starts the dispatcher: sends what is already due (e.g. queued before a restart), then polls. */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.timer = setInterval(() => this.fill(), this.intervalMs);
    this.timer.unref();
    this.fill();
  }

  /** Looks for due messages on the next turn of the event loop (call after a message.queued commits). */
  kick(): void {
    if (this.state !== 'running' || this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.fill();
    });
  }

  /** Stops taking due messages and waits for the sends under way (their results are recorded). */
  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.values());
  }

  /**
   * Sends everything due now and waits until it is recorded; for tests and the admin socket.
   * Works whether or not the dispatcher is started (not after stop()).
   */
  async runDue(): Promise<void> {
    for (;;) {
      this.fill(true);
      if (this.inFlight.size === 0) return;
      await Promise.race(this.inFlight.values());
    }
  }

  list(limit = 50, filter: MessageFilter = {}): MessageView[] {
    return this.options.outbox.view(limit, filter);
  }

  counts(): Record<MessageView['status'], number> {
    return this.options.outbox.counts();
  }

  /**
   * A manager's retry: a failed (or waiting) message becomes due now with a fresh round of tries.
   * A message being sent right now is left to finish.
   */
  async retry(messageId: string): Promise<MessageView> {
    const { outbox, events, clock } = this.options;
    const message = outbox.get(messageId);
    if (!message) throw new DomainError('not_found', `No message ${messageId}`, undefined, 404);
    if (message.status === 'sent') {
      throw new DomainError('already_sent', 'This message was sent already', undefined, 409);
    }
    if (!this.inFlight.has(messageId)) {
      this.holdUntil.delete(messageId);
      await events.record('message.attempted', manualRetry(message, clock()));
      this.kick();
    }
    return toMessageView(outbox.get(messageId) ?? message);
  }

  /** Starts sends for due messages while there is room. */
  private fill(force = false): void {
    if (this.state === 'stopped' || (this.state === 'idle' && !force)) return;
    if (this.options.canRecord && !this.options.canRecord()) return;
    const free = this.concurrency - this.inFlight.size;
    if (free <= 0) return;
    const nowMs = this.options.clock().getTime();
    const candidates = this.options.outbox.due(new Date(nowMs), free + this.inFlight.size + this.holdUntil.size);
    let started = 0;
    for (const message of candidates) {
      if (started >= free) break;
      if (this.inFlight.has(message.messageId)) continue;
      const hold = this.holdUntil.get(message.messageId);
      if (hold !== undefined && hold > nowMs) continue;
      this.holdUntil.delete(message.messageId);
      const job = this.attempt(message).finally(() => {
        this.inFlight.delete(message.messageId);
        if (this.state === 'running') this.fill();
      });
      this.inFlight.set(message.messageId, job);
      started += 1;
    }
  }

  /** One try of one message; never rejects. */
  private async attempt(message: QueuedMessage): Promise<void> {
    const { events, clock, log } = this.options;
    const outcome = await this.send(message);
    const data = planAttempt(message, outcome, clock());
    try {
      await events.record('message.attempted', data);
    } catch (err) {
      // The journal refused the write (the hub stops itself for that). Do not hammer the provider.
      this.holdUntil.set(message.messageId, clock().getTime() + 30_000);
      log.error({ err, messageId: message.messageId }, 'could not record a message attempt');
      return;
    }
    const fields = { messageId: message.messageId, template: message.template, attempt: data.attempt };
    if (data.ok) log.info({ ...fields, provider: this.providerName }, 'message sent');
    else if (data.retryAt)
      log.warn({ ...fields, error: data.error, retryAt: data.retryAt }, 'message not sent; will retry');
    else log.error({ ...fields, error: data.error }, 'message failed; a manager can retry it');
  }

  private async send(message: QueuedMessage): Promise<SendOutcome> {
    const { resolveRecipient, render, provider, log } = this.options;
    let recipient: Recipient | null;
    try {
      recipient = resolveRecipient(message.memberId);
    } catch (err) {
      log.error({ err, messageId: message.messageId }, 'could not look up the recipient');
      return { kind: 'retryable', error: 'recipient_lookup' };
    }
    if (recipient === null) return { kind: 'permanent', error: 'member_gone' };
    let text: string;
    try {
      text = render(message, recipient);
    } catch (err) {
      log.error({ err, messageId: message.messageId, template: message.template }, 'could not render a message');
      return { kind: 'permanent', error: 'template_error' };
    }
    try {
      return await provider.send(recipient.phone, text, {
        messageId: message.messageId,
        personal: recipient.name ? [recipient.name] : [],
      });
    } catch (err) {
      // A provider should answer, not throw; its error text may hold the number, so only the class.
      return { kind: 'retryable', error: safeErrorCode(`provider_error:${(err as Error)?.name ?? 'Error'}`) };
    }
  }
}

/**
 * Message texts in Traditional Chinese. The first variant that fits one SMS (70 characters) is
 * used; the last is sent even if longer (it then goes as two segments).
 */
export function messageTemplates(store: { storeName: string }): MessageRenderer {
  return (message, recipient) => {
    switch (message.template) {
      case 'welcome':
        return fitSegment(welcomeVariants(store.storeName, recipient.name, message.params.couponCode ?? null));
      default: {
        const unknown: never = message.template;
        throw new Error(`unknown message template ${String(unknown)}`);
      }
    }
  };
}

function welcomeVariants(storeName: string, name: string | null, couponCode: string | null): string[] {
  const store = `【${storeName}】`;
  const greeting = name ? `${name}您好` : '您好';
  if (couponCode) {
    return [
      `${store}${greeting}，歡迎加入會員！首購優惠碼 ${couponCode}，下次結帳出示即可使用。`,
      `${store}您好，歡迎加入會員！首購優惠碼 ${couponCode}，結帳出示即可使用。`,
      `${store}歡迎加入會員！首購優惠碼 ${couponCode}`,
    ];
  }
  return [
    `${store}${greeting}，歡迎加入會員！結帳時報手機號碼即可累積點數。`,
    `${store}您好，歡迎加入會員！結帳報手機即可累積點數。`,
    `${store}歡迎加入會員！`,
  ];
}

function fitSegment(variants: string[]): string {
  return variants.find((text) => [...text].length <= SMS_SEGMENT_CHARS) ?? variants.at(-1)!;
}
