/**
 * M2 end to end: a sign-up at the counter queues a welcome SMS that goes out through the generic
 * HTTP provider to a local gateway. The sign-up never waits for it; the gateway hangs, fails, goes
 * offline and comes back, with a hub restart in between, and the message is retried with backoff
 * (30 s, 1 min, 2 min on the hub's clock) until it is sent, exactly once successfully.
 * What happened is read from the journal, the way HQ and an auditor see it.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { HubConfig } from '../../hub/src/config/config.ts';
import type { HubEvent, MessageAttemptedData, MessageQueuedData } from '../../hub/src/protocol/events.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { scanJournal } from '../support/journal-files.ts';
import { pairedTablet, startTestHub, type TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

type Reply = { status: number } | 'hang';

/** A local SMS gateway that can go offline and come back on the same port. */
class FakeGateway {
  readonly received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  replies: Reply[] = [];
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/api/sms`;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body });
        const reply = this.replies.shift() ?? { status: 200 };
        if (reply === 'hang') return;
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** The internet link goes down: nobody listens on the port. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const temp = new TempDirs();
const gateway = new FakeGateway();
const hubs: Hub[] = [];
const clock = new FakeClock(new Date());
const PHONE = '0912345678';
const E164 = '+886912345678';

async function startHub(dataDir: string): Promise<Hub> {
  const config: Partial<HubConfig> = {
    smsProvider: 'http',
    smsHttpUrl: gateway.url,
    smsHttpAuthHeader: 'Authorization: Bearer test-token',
    smsHttpTimeoutMs: 1500,
  };
  const hub = await startTestHub({ dataDir, clock: clock.now, config });
  hubs.push(hub);
  return hub;
}

function journalEvents(dataDir: string): HubEvent[] {
  return scanJournal(dataDir).events;
}

function attempts(dataDir: string, messageId: string): (MessageAttemptedData & { at: string })[] {
  return journalEvents(dataDir).flatMap((e) =>
    e.type === 'message.attempted' && e.data.messageId === messageId ? [{ ...e.data, at: e.at }] : [],
  );
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

beforeAll(async () => {
  await gateway.start();
});

afterAll(async () => {
  for (const hub of hubs) await hub.stop();
  await gateway.stop();
  temp.removeAll();
});

describe('the welcome SMS queue', () => {
  const dataDir = temp.make('ayi-sms-queue-');
  let hub: Hub;
  let cashier: TabletClient;
  let messageId: string;

  it('queues the SMS at sign-up without waiting for a gateway that hangs', async () => {
    hub = await startHub(dataDir);
    cashier = await pairedTablet(hub, '1111', 'Counter 1');
    gateway.replies = ['hang', { status: 503 }];

    const t0 = performance.now();
    const res = await cashier.request('POST', '/api/members', { phone: PHONE, consent: { sms: true } });
    const signUpMs = performance.now() - t0;
    expect([200, 201]).toContain(res.status);
    expect(signUpMs).toBeLessThan(1000); // the provider's timeout is 1500 ms

    const events = journalEvents(dataDir);
    const queued = events.find((e): e is HubEvent & { data: MessageQueuedData } => e.type === 'message.queued');
    expect(queued, 'message.queued in the journal').toBeDefined();
    expect(queued!.data).toMatchObject({ channel: 'sms', template: 'welcome' });
    expect(JSON.stringify(queued)).not.toContain('912345678'); // no number in the event
    messageId = queued!.data.messageId;
    // the hanging send has not been recorded: the answer did not wait for it
    expect(attempts(dataDir, messageId)).toEqual([]);
  });

  it('records the timed-out attempt and schedules a retry 30 s later', async () => {
    const [first] = await waitFor('attempt 1', () => {
      const found = attempts(dataDir, messageId);
      return found.length >= 1 ? found : undefined;
    });
    expect(first).toMatchObject({ attempt: 1, ok: false, error: 'timeout' });
    expect(first!.retryAt).toBe(plus(first!.at, 30_000));
    expect(gateway.received).toHaveLength(1);
  });

  it('retries after a restart: the gateway answers 503, the next try is 1 min later', async () => {
    await hub.stop();
    clock.advance(31_000);
    hub = await startHub(dataDir);
    const second = await waitFor('attempt 2', () => attempts(dataDir, messageId)[1]);
    expect(second).toMatchObject({ attempt: 2, ok: false, error: 'http_503' });
    expect(second.retryAt).toBe(plus(second.at, 60_000));
    expect(gateway.received).toHaveLength(2);
  });

  it('keeps retrying while the link is down (2 min later next)', async () => {
    await gateway.stop();
    clock.advance(61_000);
    const third = await waitFor('attempt 3', () => attempts(dataDir, messageId)[2]);
    // Refused for a new connection; a keep-alive socket the gateway dropped fails as UND_ERR_SOCKET
    // when the retry reaches it before the hub has seen the close. Both are the link being down.
    expect(third).toMatchObject({ attempt: 3, ok: false });
    expect(third.error).toMatch(/^network:(ECONNREFUSED|UND_ERR_SOCKET)$/);
    expect(third.retryAt).toBe(plus(third.at, 120_000));
  });

  it('sends it once the gateway is back', async () => {
    await gateway.start(); // same port
    clock.advance(121_000);
    const fourth = await waitFor('attempt 4', () => attempts(dataDir, messageId)[3]);
    expect(fourth).toMatchObject({ attempt: 4, ok: true, error: null, retryAt: null });
    expect(gateway.received).toHaveLength(3); // hang, 503, 200 (the offline try never arrived)
    for (const request of gateway.received) {
      expect(request.headers.authorization).toBe('Bearer test-token');
      const body = JSON.parse(request.body) as { to: string; text: string };
      expect(body.to).toBe(E164);
      expect(body.text).toContain('歡迎加入會員');
      expect([...body.text].length).toBeLessThanOrEqual(70);
    }
  });

  it('does not send it again after another restart', async () => {
    await hub.stop();
    clock.advance(60 * 60_000);
    hub = await startHub(dataDir);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(gateway.received).toHaveLength(3);
    expect(attempts(dataDir, messageId)).toHaveLength(4);
  });
});
