/**
 * The generic HTTP SMS provider against a real local HTTP server (200, 500, 429, 400, a hanging
 * answer, nobody listening), and the MessagingService sending through it with a real journal in a
 * temp directory: the gateway fails twice and recovers; attempts and backoff times are recorded.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MessageOutbox } from '../../../hub/src/domain/message-outbox.ts';
import { MessagingService, messageTemplates } from '../../../hub/src/services/messaging.service.ts';
import { ConsoleSmsProvider } from '../../../hub/src/services/sms/console-sms.provider.ts';
import {
  DEFAULT_SMS_BODY_TEMPLATE,
  HttpSmsProvider,
  bodyTemplateProblem,
  parseAuthHeader,
  renderBody,
} from '../../../hub/src/services/sms/http-sms.provider.ts';
import { EventStore } from '../../../hub/src/storage/event-store.ts';
import { Journal } from '../../../hub/src/storage/journal.ts';
import type { HubEvent, MessageAttemptedData } from '../../../hub/src/protocol/events.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An SMS gateway on 127.0.0.1:<free port> that answers each request with the next scripted reply. */
class FakeGateway {
  readonly received: Received[] = [];
  replies: Reply[] = [];
  fallback: Reply = { status: 200, body: '{"ok":true}' };
  private readonly server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const reply = this.replies.shift() ?? this.fallback;
      if (reply === 'hang') return; // never answers
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.body ?? '{}');
    });
  });
  private readonly sockets = new Set<Socket>();
  url = '';

  async start(): Promise<this> {
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/sms/send`;
    return this;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const silent = pino({ level: 'silent' });
const TO = '+886912345678';
const TEXT = '【阿姨的店】您好，歡迎加入會員！"引號" \\ 換行\n結束';

describe('HttpSmsProvider', () => {
  let gateway: FakeGateway;
  beforeAll(async () => {
    gateway = await new FakeGateway().start();
  });
  afterAll(() => gateway.close());
  afterEach(() => {
    gateway.received.length = 0;
    gateway.replies = [];
  });

  const provider = (overrides: Partial<ConstructorParameters<typeof HttpSmsProvider>[0]> = {}) =>
    new HttpSmsProvider({
      url: gateway.url,
      authHeader: parseAuthHeader('Authorization: Bearer s3cret-token'),
      bodyTemplate: DEFAULT_SMS_BODY_TEMPLATE,
      timeoutMs: 2000,
      ...overrides,
    });

  it('posts the body template with the number and text JSON-escaped, and the auth header (200: ok)', async () => {
    gateway.replies = [{ status: 200 }];
    const result = await provider().send(TO, TEXT, { messageId: 'msg-1', personal: [] });
    expect(result).toEqual({ kind: 'ok' });
    expect(gateway.received).toHaveLength(1);
    const req = gateway.received[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/sms/send');
    expect(req.headers.authorization).toBe('Bearer s3cret-token');
    expect(req.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(req.body)).toEqual({ to: TO, text: TEXT });
  });

  it('fills a custom template with another header name and the messageId', async () => {
    const template =
      '{"messages":[{"destination":"{{to}}","content":"{{ text }}","clientRef":"{{messageId}}"}],"sender":"AYI"}';
    expect(bodyTemplateProblem(template)).toBeNull();
    const result = await provider({ bodyTemplate: template, authHeader: parseAuthHeader('X-Api-Key:  k-123 ') }).send(
      TO,
      TEXT,
      { messageId: 'msg-2', personal: [] },
    );
    expect(result).toEqual({ kind: 'ok' });
    const req = gateway.received[0]!;
    expect(req.headers['x-api-key']).toBe('k-123');
    expect(req.headers.authorization).toBeUndefined();
    expect(JSON.parse(req.body)).toEqual({
      messages: [{ destination: TO, content: TEXT, clientRef: 'msg-2' }],
      sender: 'AYI',
    });
  });

  it('sends no auth header when none is configured', async () => {
    await provider({ authHeader: null }).send(TO, 'hi');
    expect(gateway.received[0]!.headers.authorization).toBeUndefined();
  });

  it.each([
    [500, { kind: 'retryable', error: 'http_500' }],
    [503, { kind: 'retryable', error: 'http_503' }],
    [408, { kind: 'retryable', error: 'http_408' }],
    [400, { kind: 'permanent', error: 'http_400' }],
    [401, { kind: 'permanent', error: 'http_401' }],
    [404, { kind: 'permanent', error: 'http_404' }],
  ])('answers %i as %j, without the body the gateway sent', async (status, expected) => {
    gateway.replies = [{ status, body: `{"error":"bad number ${TO}"}` }];
    const result = await provider().send(TO, TEXT);
    expect(result).toEqual(expected);
    expect(JSON.stringify(result)).not.toContain('912345678');
  });

  it('answers 429 as retryable and passes on Retry-After', async () => {
    gateway.replies = [{ status: 429, headers: { 'retry-after': '120' } }, { status: 429 }];
    expect(await provider().send(TO, TEXT)).toEqual({ kind: 'retryable', error: 'http_429', retryAfterMs: 120_000 });
    expect(await provider().send(TO, TEXT)).toEqual({ kind: 'retryable', error: 'http_429' });
  });

  it('gives up waiting after the timeout (retryable)', async () => {
    gateway.replies = ['hang'];
    const t0 = performance.now();
    const result = await provider({ timeoutMs: 300 }).send(TO, TEXT);
    const elapsed = performance.now() - t0;
    expect(result).toEqual({ kind: 'retryable', error: 'timeout' });
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2000);
  });

  it('reports nobody listening as a retryable network error', async () => {
    const gone = await new FakeGateway().start();
    const url = gone.url;
    await gone.close();
    expect(await provider({ url }).send(TO, TEXT)).toEqual({ kind: 'retryable', error: 'network:ECONNREFUSED' });
  });

  it('refuses a body template that is not JSON once filled in, or lacks a placeholder', () => {
    expect(bodyTemplateProblem('{"to":{{to}},"text":"{{text}}"}')).toMatch(/not JSON/);
    expect(bodyTemplateProblem('{"to":"{{to}}"}')).toMatch(/\{\{text\}\}/);
    expect(() => provider({ bodyTemplate: 'to={{to}}&text={{text}}' })).toThrow(/not JSON/);
    expect(renderBody('"{{to}}|{{text}}"', { to: '+1', text: 'a"b\\c\n', messageId: '' })).toBe('"+1|a\\"b\\\\c\\n"');
  });

  it('reads an auth header as "Name: value"', () => {
    expect(parseAuthHeader('Authorization: Bearer xyz')).toEqual({ name: 'Authorization', value: 'Bearer xyz' });
    expect(() => parseAuthHeader('Bearer xyz')).toThrow(/Name: value/);
    expect(() => parseAuthHeader('Authorization:')).toThrow();
  });
});

describe('ConsoleSmsProvider', () => {
  it('logs the number masked and the name masked, and is always ok', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const result = await new ConsoleSmsProvider(log).send(TO, '【阿姨的店】王小明您好，歡迎加入會員！', {
      messageId: 'msg-1',
      personal: ['王小明'],
    });
    expect(result).toEqual({ kind: 'ok' });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      to: '+886******678',
      messageId: 'msg-1',
      text: '【阿姨的店】王**您好，歡迎加入會員！',
    });
    expect(lines[0]).not.toContain('912345678');
    expect(lines[0]).not.toContain('王小明');
  });
});

describe('messageTemplates', () => {
  const render = messageTemplates({ storeName: '阿姨的店 示範門市' });
  const msg = (params: Record<string, string>) => ({
    messageId: 'm',
    memberId: 'mem',
    channel: 'sms' as const,
    template: 'welcome' as const,
    params,
    seq: 1,
    status: 'queued' as const,
    attempts: 0,
    roundStart: 0,
    lastError: null,
    nextAttemptAt: null,
    queuedAt: '',
    sentAt: null,
    settledAt: null,
  });

  it('welcomes in Traditional Chinese within one SMS, with the coupon code when there is one', () => {
    const plain = render(msg({}), { phone: TO, name: null });
    expect(plain).toBe('【阿姨的店 示範門市】您好，歡迎加入會員！結帳時報手機號碼即可累積點數。');
    const named = render(msg({ couponCode: 'WELCOME-100' }), { phone: TO, name: '王小明' });
    expect(named).toBe('【阿姨的店 示範門市】王小明您好，歡迎加入會員！首購優惠碼 WELCOME-100，下次結帳出示即可使用。');
    for (const text of [plain, named]) expect([...text].length).toBeLessThanOrEqual(70);
  });

  it('drops the greeting before going over 70 characters', () => {
    const long = messageTemplates({ storeName: '很長很長很長很長很長很長很長的店名示範門市' });
    const text = long(msg({ couponCode: 'FIRST-ORDER-2026' }), { phone: TO, name: '歐陽娜娜娜娜' });
    expect([...text].length).toBeLessThanOrEqual(70);
    expect(text).toContain('FIRST-ORDER-2026');
  });
});

describe('MessagingService with a real journal, over HTTP', () => {
  const temp = new TempDirs();
  let gateway: FakeGateway;
  beforeAll(async () => {
    gateway = await new FakeGateway().start();
  });
  afterAll(async () => {
    await gateway.close();
    temp.removeAll();
  });

  it('retries a failing gateway with backoff (30 s, then 1 min) and records the message sent', async () => {
    const clock = new FakeClock('2026-03-01T02:00:00.000Z');
    const { journal } = await Journal.open(path.join(temp.make('ayi-sms-'), 'journal'), 'Asia/Taipei');
    const events = new EventStore(
      journal,
      { chainId: 'demo', storeId: 'store-001', epoch: 'epoch-1' },
      0,
      clock.now,
      (err) => {
        throw err;
      },
      (err) => {
        throw err;
      },
    );
    const outbox = new MessageOutbox();
    const committed: HubEvent[] = [];
    events.onCommitted((event) => outbox.apply(event));
    events.onCommitted((event) => committed.push(event));

    const service = new MessagingService({
      outbox,
      events,
      resolveRecipient: (memberId) => (memberId === 'mem-1' ? { phone: TO, name: null } : null),
      provider: new HttpSmsProvider({
        url: gateway.url,
        authHeader: null,
        bodyTemplate: DEFAULT_SMS_BODY_TEMPLATE,
        timeoutMs: 2000,
      }),
      clock: clock.now,
      log: silent,
      render: messageTemplates({ storeName: '阿姨的店' }),
    });

    gateway.replies = [{ status: 503 }, { status: 500 }, { status: 200 }];
    const t0 = clock.now();
    await events.record('message.queued', {
      messageId: 'msg-1',
      memberId: 'mem-1',
      channel: 'sms',
      template: 'welcome',
      params: { couponCode: 'WELCOME-100' },
    });
    // a message for a member who is gone fails at once, without asking the gateway
    await events.record('message.queued', {
      messageId: 'msg-gone',
      memberId: 'mem-erased',
      channel: 'sms',
      template: 'welcome',
      params: {},
    });

    await service.runDue(); // attempt 1: 503
    expect(outbox.get('msg-1')).toMatchObject({ status: 'queued', attempts: 1, lastError: 'http_503' });
    expect(outbox.get('msg-gone')).toMatchObject({ status: 'failed', attempts: 1, lastError: 'member_gone' });
    expect(gateway.received).toHaveLength(1);

    clock.advance(29_000);
    await service.runDue(); // not due yet
    expect(gateway.received).toHaveLength(1);

    clock.advance(1_000); // t0 + 30 s
    await service.runDue(); // attempt 2: 500
    const t2 = clock.now();
    clock.advance(59_999);
    await service.runDue();
    expect(gateway.received).toHaveLength(2);
    clock.advance(1); // t2 + 60 s
    await service.runDue(); // attempt 3: 200
    expect(gateway.received).toHaveLength(3);

    const attempts = committed
      .filter((e) => e.type === 'message.attempted' && e.data.messageId === 'msg-1')
      .map((e) => e.data as MessageAttemptedData);
    const iso = (date: Date, plusMs: number) => new Date(date.getTime() + plusMs).toISOString();
    expect(attempts).toEqual([
      { messageId: 'msg-1', attempt: 1, ok: false, error: 'http_503', retryAt: iso(t0, 30_000) },
      { messageId: 'msg-1', attempt: 2, ok: false, error: 'http_500', retryAt: iso(t2, 60_000) },
      { messageId: 'msg-1', attempt: 3, ok: true, error: null, retryAt: null },
    ]);
    expect(service.list()[1]).toMatchObject({
      messageId: 'msg-1',
      status: 'sent',
      attempts: 3,
      sentAt: iso(t2, 60_000),
    });
    // each try sent the same text to the same number
    const bodies = gateway.received.map((r) => JSON.parse(r.body) as { to: string; text: string });
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(bodies[0]).toEqual({ to: TO, text: expect.stringContaining('WELCOME-100') as unknown });

    // a manager's retry re-queues the failed one; it fails again as member_gone, attempt 2
    const view = await service.retry('msg-gone');
    expect(view).toMatchObject({ status: 'queued', attempts: 1, lastError: 'member_gone' });
    await service.runDue();
    expect(outbox.get('msg-gone')).toMatchObject({ status: 'failed', attempts: 2 });
    await expect(service.retry('msg-1')).rejects.toMatchObject({ code: 'already_sent' });
    await expect(service.retry('nope')).rejects.toMatchObject({ code: 'not_found' });

    await service.stop();
    await journal.close();
  });

  it('dispatches on its own once started: a kick sends at once, stop() waits for the send under way', async () => {
    const clock = new FakeClock('2026-03-01T02:00:00.000Z');
    const { journal } = await Journal.open(path.join(temp.make('ayi-sms-'), 'journal'), 'Asia/Taipei');
    const events = new EventStore(
      journal,
      { chainId: 'demo', storeId: 'store-001', epoch: 'epoch-1' },
      0,
      clock.now,
      () => undefined,
      () => undefined,
    );
    const outbox = new MessageOutbox();
    events.onCommitted((event) => outbox.apply(event));
    let release: () => void = () => undefined;
    let sends = 0;
    const service = new MessagingService({
      outbox,
      events,
      resolveRecipient: () => ({ phone: TO, name: '王小明' }),
      provider: {
        name: 'slow',
        send: () => {
          sends += 1;
          return new Promise((resolve) => (release = () => resolve({ kind: 'ok' })));
        },
      },
      clock: clock.now,
      log: silent,
      render: messageTemplates({ storeName: '阿姨的店' }),
      intervalMs: 60_000, // only the kick can start it within this test
    });
    service.start();
    await events.record('message.queued', {
      messageId: 'msg-k',
      memberId: 'mem-1',
      channel: 'sms',
      template: 'welcome',
      params: {},
    });
    service.kick();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sends).toBe(1);
    service.kick(); // in flight: not sent twice
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sends).toBe(1);

    let stopped = false;
    const stopping = service.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(outbox.get('msg-k')?.status).toBe('sent');
    await journal.close();
  });
});
