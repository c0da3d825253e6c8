/**
 * No SMS goes out while the hub's clock is behind its journal: the attempt could not be recorded,
 * so the message would be sent again at every retry. A real journal, a real local HTTP gateway.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageOutbox } from '../../../hub/src/domain/message-outbox.ts';
import type { HubEvent } from '../../../hub/src/protocol/events.ts';
import { MessagingService, messageTemplates } from '../../../hub/src/services/messaging.service.ts';
import { DEFAULT_SMS_BODY_TEMPLATE, HttpSmsProvider } from '../../../hub/src/services/sms/http-sms.provider.ts';
import { ClockGuard } from '../../../hub/src/storage/clock-guard.ts';
import { EventStore } from '../../../hub/src/storage/event-store.ts';
import { Journal } from '../../../hub/src/storage/journal.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const temp = new TempDirs();
const received: string[] = [];
let server: http.Server;
let url: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  temp.removeAll();
});

describe('MessagingService with the clock behind the journal', () => {
  it('sends nothing while behind, and sends the message once when the clock catches up', async () => {
    const clock = new FakeClock('2026-03-01T02:00:00.000Z');
    const { journal } = await Journal.open(path.join(temp.make('ayi-sms-clock-'), 'journal'), 'Asia/Taipei');
    const guard = new ClockGuard(clock.now, null);
    const fail = (err: Error) => {
      throw err;
    };
    const events = new EventStore(
      journal,
      { chainId: 'demo', storeId: 'store-001', epoch: 'e1' },
      0,
      clock.now,
      fail,
      fail,
      (at) => guard.check(at),
    );
    const outbox = new MessageOutbox();
    const committed: HubEvent[] = [];
    events.onCommitted((event) => guard.noteEvent(event.at));
    events.onCommitted((event) => outbox.apply(event));
    events.onCommitted((event) => committed.push(event));
    const service = new MessagingService({
      outbox,
      events,
      resolveRecipient: () => ({ phone: '+886912345678', name: null }),
      provider: new HttpSmsProvider({
        url,
        authHeader: null,
        bodyTemplate: DEFAULT_SMS_BODY_TEMPLATE,
        timeoutMs: 2000,
      }),
      clock: clock.now,
      log: pino({ level: 'silent' }),
      render: messageTemplates({ storeName: '阿姨的店' }),
      canRecord: () => guard.state() === 'ok',
    });

    // Queued, then (before any send) a later event: the box lost power ten minutes after.
    await events.record('message.queued', {
      messageId: 'msg-1',
      memberId: 'mem-1',
      channel: 'sms',
      template: 'welcome',
      params: {},
    });
    clock.advance(10 * 60_000);
    await events.record('device.paired', { deviceId: 'tablet-1', name: 'Counter' });
    const lastEventAt = clock.now().getTime();

    // Back at a time after the message fell due, but nine minutes behind the journal.
    clock.set(new Date(lastEventAt - 9 * 60_000));
    await service.runDue();
    await service.runDue();
    expect(received).toEqual([]);

    clock.set(new Date(lastEventAt + 1000));
    await service.runDue();
    expect(received).toHaveLength(1);
    expect(outbox.get('msg-1')).toMatchObject({ status: 'sent', attempts: 1 });
    expect(committed.filter((event) => event.type === 'message.attempted')).toHaveLength(1);
    guard.stop();
    await service.stop();
  });
});
