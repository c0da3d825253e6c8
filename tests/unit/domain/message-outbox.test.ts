/**
 * The outbound message queue as a projection of message.queued / message.attempted, and its retry
 * policy: 30 s, 1, 2, 4, 8, 16 min, then 30 min; failed after 12 tries; a manual retry re-queues.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_ATTEMPTS,
  MANUAL_RETRY,
  MessageOutbox,
  manualRetry,
  nextRetryDelayMs,
  planAttempt,
  safeErrorCode,
  type QueuedMessage,
} from '../../../hub/src/domain/message-outbox.ts';
import {
  type EventPayloads,
  type EventType,
  type HubEvent,
  type MessageAttemptedData,
  type MessageQueuedData,
} from '../../../hub/src/protocol/events.ts';
import { journalEvent } from '../../support/journal-events.ts';

let seq = 0;
function envelope<K extends EventType>(type: K, data: EventPayloads[K], at: string): HubEvent {
  seq += 1;
  return journalEvent(seq, at, type, data);
}

const queued = (messageId: string, at: string, params: Record<string, string> = {}): HubEvent =>
  envelope(
    'message.queued',
    {
      messageId,
      memberId: `mem-${messageId}`,
      channel: 'sms',
      template: 'welcome',
      params,
    } satisfies MessageQueuedData,
    at,
  );
const attempted = (data: MessageAttemptedData, at: string): HubEvent => envelope('message.attempted', data, at);

const T0 = '2026-03-01T02:00:00.000Z';
const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();
const S = 1000;
const M = 60 * S;

describe('nextRetryDelayMs', () => {
  it('doubles from 30 s and stops at 30 min', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 40].map(nextRetryDelayMs)).toEqual([
      30 * S,
      1 * M,
      2 * M,
      4 * M,
      8 * M,
      16 * M,
      30 * M, // 32 min capped
      30 * M,
      30 * M,
      30 * M,
      30 * M,
    ]);
    expect(nextRetryDelayMs(0)).toBe(30 * S);
  });
});

describe('MessageOutbox', () => {
  it('queues a message due at once and lists it', () => {
    const outbox = new MessageOutbox();
    outbox.apply(queued('m1', T0, { couponCode: 'WELCOME-1' }));
    expect(outbox.due(new Date(T0), 10).map((m) => m.messageId)).toEqual(['m1']);
    expect(outbox.get('m1')).toMatchObject({ status: 'queued', attempts: 0, params: { couponCode: 'WELCOME-1' } });
    expect(outbox.view()).toEqual([
      {
        messageId: 'm1',
        memberId: 'mem-m1',
        channel: 'sms',
        template: 'welcome',
        status: 'queued',
        attempts: 0,
        lastError: null,
        nextAttemptAt: T0,
        queuedAt: T0,
        sentAt: null,
      },
    ]);
  });

  it('ignores other events and events already applied (a snapshot followed by a replay)', () => {
    const outbox = new MessageOutbox();
    outbox.apply(envelope('device.paired', { deviceId: 'tab-1', name: 'Tablet' }, T0));
    const event = queued('m1', T0);
    outbox.apply(event);
    outbox.apply(event);
    expect(outbox.size).toBe(1);
    expect(outbox.lastSeq).toBe(event.seq);
  });

  it('follows a failed attempt, its retry time, and a success', () => {
    const outbox = new MessageOutbox();
    outbox.apply(queued('m1', T0));
    const retryAt = plus(T0, 30 * S);
    outbox.apply(attempted({ messageId: 'm1', attempt: 1, ok: false, error: 'http_503', retryAt }, plus(T0, 1 * S)));
    expect(outbox.get('m1')).toMatchObject({
      status: 'queued',
      attempts: 1,
      lastError: 'http_503',
      nextAttemptAt: retryAt,
    });
    expect(outbox.due(new Date(plus(T0, 29 * S)), 10)).toEqual([]);
    expect(outbox.due(new Date(retryAt), 10).map((m) => m.messageId)).toEqual(['m1']);
    expect(outbox.nextDueAt()).toBe(retryAt);

    const sentAt = plus(T0, 31 * S);
    outbox.apply(attempted({ messageId: 'm1', attempt: 2, ok: true, error: null, retryAt: null }, sentAt));
    expect(outbox.view()[0]).toMatchObject({ status: 'sent', attempts: 2, sentAt, nextAttemptAt: null });
    expect(outbox.due(new Date(plus(T0, 1 * 60 * M)), 10)).toEqual([]);
    expect(outbox.nextDueAt()).toBeNull();
    expect(outbox.counts()).toEqual({ queued: 0, sent: 1, failed: 0 });
  });

  it('gives the due messages oldest first, up to the limit, and the view newest first', () => {
    const outbox = new MessageOutbox();
    outbox.apply(queued('a', T0));
    outbox.apply(queued('b', plus(T0, 1 * S)));
    outbox.apply(queued('c', plus(T0, 2 * S)));
    // a failed once and waits until T0 + 30 s; b and c are due
    outbox.apply(attempted({ messageId: 'a', attempt: 1, ok: false, error: 'timeout', retryAt: plus(T0, 30 * S) }, T0));
    const now = new Date(plus(T0, 5 * S));
    expect(outbox.due(now, 10).map((m) => m.messageId)).toEqual(['b', 'c']);
    expect(outbox.due(now, 1).map((m) => m.messageId)).toEqual(['b']);
    expect(outbox.due(new Date(plus(T0, 30 * S)), 10).map((m) => m.messageId)).toEqual(['a', 'b', 'c']);
    expect(outbox.view().map((m) => m.messageId)).toEqual(['c', 'b', 'a']);
    expect(outbox.view(2).map((m) => m.messageId)).toEqual(['c', 'b']);
    expect(outbox.view(10, { memberId: 'mem-b' }).map((m) => m.messageId)).toEqual(['b']);
  });

  it('marks a message failed when an attempt has no retry time, and a manual retry re-queues it', () => {
    const outbox = new MessageOutbox();
    outbox.apply(queued('m1', T0));
    outbox.apply(attempted({ messageId: 'm1', attempt: 1, ok: false, error: 'http_400', retryAt: null }, T0));
    expect(outbox.view(10, { status: 'failed' })).toHaveLength(1);
    expect(outbox.due(new Date(plus(T0, 60 * M)), 10)).toEqual([]);

    const at = plus(T0, 5 * M);
    const retry = manualRetry(outbox.get('m1')!, new Date(at));
    expect(retry).toEqual({ messageId: 'm1', attempt: 1, ok: false, error: MANUAL_RETRY, retryAt: at });
    outbox.apply(attempted(retry, at));
    // not a send attempt: the count stays, the last real error stays visible
    expect(outbox.get('m1')).toMatchObject({
      status: 'queued',
      attempts: 1,
      roundStart: 1,
      lastError: 'http_400',
      nextAttemptAt: at,
    });
    expect(outbox.due(new Date(at), 10).map((m) => m.messageId)).toEqual(['m1']);
  });

  it('leaves a sent message alone when a manual retry arrives late', () => {
    const outbox = new MessageOutbox();
    outbox.apply(queued('m1', T0));
    outbox.apply(attempted({ messageId: 'm1', attempt: 1, ok: true, error: null, retryAt: null }, T0));
    outbox.apply(attempted({ messageId: 'm1', attempt: 1, ok: false, error: MANUAL_RETRY, retryAt: T0 }, T0));
    expect(outbox.get('m1')?.status).toBe('sent');
  });

  it('survives toData / fromData as plain JSON, and carries on the same', () => {
    const outbox = new MessageOutbox();
    outbox.apply(queued('m1', T0, { couponCode: 'C-1' }));
    outbox.apply(queued('m2', T0));
    outbox.apply(
      attempted({ messageId: 'm1', attempt: 1, ok: false, error: 'http_500', retryAt: plus(T0, 30 * S) }, T0),
    );
    outbox.apply(attempted({ messageId: 'm2', attempt: 1, ok: false, error: 'http_401', retryAt: null }, T0));
    const data = JSON.parse(JSON.stringify(outbox.toData())) as ReturnType<MessageOutbox['toData']>;
    const restored = MessageOutbox.fromData(data);
    expect(restored.toData()).toEqual(outbox.toData());
    expect(restored.view()).toEqual(outbox.view());
    expect(restored.due(new Date(plus(T0, 30 * S)), 10).map((m) => m.messageId)).toEqual(['m1']);
    // an event already in the snapshot is not applied twice
    restored.apply({ ...attempted({ messageId: 'm1', attempt: 2, ok: true, error: null, retryAt: null }, T0), seq: 1 });
    expect(restored.get('m1')?.status).toBe('queued');
  });

  it('forgets sent and failed messages settled more than retentionDays ago, never queued ones', () => {
    const outbox = new MessageOutbox(30);
    outbox.apply(queued('old-sent', T0));
    outbox.apply(queued('old-failed', T0));
    outbox.apply(queued('old-queued', T0));
    outbox.apply(attempted({ messageId: 'old-sent', attempt: 1, ok: true, error: null, retryAt: null }, T0));
    outbox.apply(attempted({ messageId: 'old-failed', attempt: 1, ok: false, error: 'http_400', retryAt: null }, T0));
    // 29 days later all are kept
    outbox.apply(queued('new', plus(T0, 29 * 24 * 60 * M)));
    expect(outbox.size).toBe(4);
    // 31 days later the settled ones go
    outbox.apply(queued('newer', plus(T0, 31 * 24 * 60 * M)));
    expect(outbox.view(10).map((m) => m.messageId)).toEqual(['newer', 'new', 'old-queued']);
    // an attempt for a forgotten message is ignored
    outbox.apply(attempted({ messageId: 'old-sent', attempt: 2, ok: true, error: null, retryAt: null }, T0));
    expect(outbox.size).toBe(3);
  });
});

describe('planAttempt', () => {
  const message = (attempts: number, roundStart = 0): QueuedMessage => ({
    messageId: 'm1',
    memberId: 'mem-1',
    channel: 'sms',
    template: 'welcome',
    params: {},
    seq: 1,
    status: 'queued',
    attempts,
    roundStart,
    lastError: null,
    nextAttemptAt: T0,
    queuedAt: T0,
    sentAt: null,
    settledAt: null,
  });
  const now = new Date(T0);

  it('records a success', () => {
    expect(planAttempt(message(2), { kind: 'ok' }, now)).toEqual({
      messageId: 'm1',
      attempt: 3,
      ok: true,
      error: null,
      retryAt: null,
    });
  });

  it('schedules retries by the attempt in the round', () => {
    const retryable = { kind: 'retryable', error: 'http_503' } as const;
    expect(planAttempt(message(0), retryable, now).retryAt).toBe(plus(T0, 30 * S));
    expect(planAttempt(message(1), retryable, now).retryAt).toBe(plus(T0, 1 * M));
    expect(planAttempt(message(2), retryable, now).retryAt).toBe(plus(T0, 2 * M));
    expect(planAttempt(message(6), retryable, now).retryAt).toBe(plus(T0, 30 * M));
    // after a manual retry at 12 attempts, the round starts again at 30 s
    expect(planAttempt(message(12, 12), retryable, now)).toMatchObject({ attempt: 13, retryAt: plus(T0, 30 * S) });
  });

  it('gives up on the 12th failed attempt of a round, and at once on a permanent failure', () => {
    const retryable = { kind: 'retryable', error: 'timeout' } as const;
    expect(planAttempt(message(MAX_ATTEMPTS - 2), retryable, now).retryAt).toBe(plus(T0, 30 * M));
    expect(planAttempt(message(MAX_ATTEMPTS - 1), retryable, now)).toEqual({
      messageId: 'm1',
      attempt: 12,
      ok: false,
      error: 'timeout',
      retryAt: null,
    });
    expect(planAttempt(message(0), { kind: 'permanent', error: 'member_gone' }, now)).toMatchObject({
      attempt: 1,
      ok: false,
      error: 'member_gone',
      retryAt: null,
    });
  });

  it("honours a provider's Retry-After when it is longer, up to 30 min", () => {
    const ask = (ms: number) =>
      planAttempt(message(0), { kind: 'retryable', error: 'http_429', retryAfterMs: ms }, now);
    expect(ask(5 * S).retryAt).toBe(plus(T0, 30 * S));
    expect(ask(2 * M).retryAt).toBe(plus(T0, 2 * M));
    expect(ask(5 * 60 * M).retryAt).toBe(plus(T0, 30 * M));
  });

  it('never lets a number or text through an error code', () => {
    expect(safeErrorCode('http_503')).toBe('http_503');
    expect(safeErrorCode('network:ECONNREFUSED')).toBe('network:ECONNREFUSED');
    expect(safeErrorCode('bad number +886912345678 歡迎')).toBe('bad_number_#_');
    expect(safeErrorCode('')).toBe('error');
    expect(safeErrorCode('x'.repeat(100))).toHaveLength(60);
    expect(planAttempt(message(0), { kind: 'permanent', error: 'invalid to=0912345678' }, now).error).not.toMatch(
      /\d{6}/,
    );
  });
});
