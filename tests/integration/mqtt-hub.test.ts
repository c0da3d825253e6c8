/**
 * The hub's link to HQ end to end: the real hub in this process with AYI_MQTT_URL pointing at a real
 * mosquitto started for this file, tablets selling over HTTP, and an HQ subscriber that validates
 * every message against the contract (hub/src/protocol/event-schemas.ts).
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { CommandResultSchema, LinkStatusSchema, eventSchema } from '../../hub/src/protocol/event-schemas.ts';
import type { HqHealthView } from '../../hub/src/transport/http/app.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { pairedTablet, startTestHub, type TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const CHAIN = 'test-chain';
const STORE = 'store-mqtt';
let broker: Mosquitto;
let hub: Hub;
let hq: HqSubscriber;
let tablets: TabletClient[];
let root: string;

interface Health {
  epoch: string;
  lastSeq: number;
  undeliveredEvents: number;
  hq?: HqHealthView;
}

async function health(): Promise<Health> {
  return (await (await fetch(`${hub.url}/api/health`)).json()) as Health;
}

async function link(): Promise<HqHealthView> {
  const view = await health();
  if (!view.hq) throw new Error('the hub does not report the HQ link in /api/health');
  return view.hq;
}

async function waitForLink(check: (state: HqHealthView) => boolean, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await link();
    if (check(state)) return state;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(state)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `count` sales from each tablet at once; the sale ids acknowledged to the tablets. */
async function sellFromAll(count: number): Promise<string[]> {
  const perTablet = await Promise.all(
    tablets.map(async (tablet, i) => {
      const ids: string[] = [];
      for (let n = 0; n < count; n++) {
        const sale = await sell(
          tablet,
          checkoutRequest(
            [{ sku: i % 2 === 0 ? 'DRK-001' : 'DRK-003', qty: 1 + (n % 3) }],
            [{ type: 'cash', amount: 100 }],
          ),
        );
        ids.push(sale.saleId);
      }
      return ids;
    }),
  );
  return perTablet.flat();
}

/** Every event of the journal, 1..lastSeq, once, in seq order, each valid for its type. */
function expectCompleteStream(events: HubEvent[], lastSeq: number): void {
  expect(events.map((e) => e.seq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
  for (const event of events) {
    const schema = eventSchema(event.type);
    const message: unknown = event;
    if (!Value.Check(schema, message)) {
      const problems = [...Value.Errors(schema, message)].slice(0, 3).map((e) => `${e.path}: ${e.message}`);
      throw new Error(`event ${event.seq} (${event.type}) does not match the contract: ${problems.join('; ')}`);
    }
  }
}

beforeAll(async () => {
  broker = await startMosquitto({ persistence: true });
  root = storeTopics(CHAIN, STORE).root;
  // HQ subscribes before the hub starts (it publishes its first events at once); its session
  // outlives a broker restart (persistence on), as a real HQ consumer's does.
  hq = await hqSubscriber(broker.url, `${root}/#`, true);
  hub = await startTestHub({
    dataDir: temp.make('ayi-mqtt-hub-'),
    config: { chainId: CHAIN, storeId: STORE, mqttUrl: broker.url, mqttReconnectMaxMs: 1000 },
  });
  await link(); // fails at once, with the reason, when hub.ts does not wire the link
  tablets = [];
  for (let i = 0; i < 4; i++) tablets.push(await pairedTablet(hub, '1111', `Tablet ${i + 1}`));
});

afterAll(async () => {
  await hq?.close();
  await hub?.stop();
  await broker?.kill();
  temp.removeAll();
});

describe('the link to HQ', () => {
  it('is connected and says so in the health view and the retained status', async () => {
    await waitForLink((s) => s.link === 'connected', 'the link to connect');
    await hq.waitFor(() => hq.last('/status') !== null, 5000, 'the retained status');
    const status = hq.last('/status')!;
    expect(Value.Check(LinkStatusSchema, status)).toBe(true);
    expect(status).toMatchObject({ state: 'online', storeId: hub.config.storeId, chainId: hub.config.chainId });
    expect(status.epoch).toBe((await health()).epoch);
  });

  it('delivers 1,000 sales from 4 tablets: all of them, in seq order, valid', async () => {
    const saleIds = await sellFromAll(250);
    expect(saleIds).toHaveLength(1000);
    const lastSeq = (await health()).lastSeq;
    await hq.waitFor(() => hq.unique().length >= lastSeq, 30_000, `${lastSeq} events`);
    const events = hq.unique();
    expectCompleteStream(events, lastSeq);
    const sold = new Set(
      events.filter((e) => e.type === 'sale.completed').map((e) => (e.data as { saleId: string }).saleId),
    );
    for (const id of saleIds) expect(sold.has(id)).toBe(true);
    const state = await waitForLink((s) => s.backlog === 0, 'the backlog to empty');
    expect(state).toMatchObject({ deliveredSeq: lastSeq, oldestUndeliveredAt: null, alert: false });
  });

  it('keeps selling while the broker is down, then delivers all 500 sales in order', async () => {
    await broker.stop();
    await waitForLink((s) => s.link !== 'connected', 'the link to notice the outage');
    const saleIds = await sellFromAll(125);
    const down = await link();
    expect(down.backlog).toBeGreaterThanOrEqual(500);
    expect(down.oldestUndeliveredAt).not.toBeNull();
    expect((await health()).undeliveredEvents).toBe(down.backlog);

    await broker.start();
    const lastSeq = (await health()).lastSeq;
    await hq.waitFor(() => hq.unique().length >= lastSeq, 30_000, `${lastSeq} events after the outage`);
    expectCompleteStream(hq.unique(), lastSeq);
    const sold = new Set(
      hq
        .unique()
        .filter((e) => e.type === 'sale.completed')
        .map((e) => (e.data as { saleId: string }).saleId),
    );
    for (const id of saleIds) expect(sold.has(id)).toBe(true);
    await waitForLink((s) => s.link === 'connected' && s.backlog === 0, 'the backlog to drain');
  });

  it('answers ping', async () => {
    const answer = await hq.command(root, 'ping');
    expect(Value.Check(CommandResultSchema, answer)).toBe(true);
    expect(answer).toMatchObject({ command: 'ping', ok: true, lastSeq: (await health()).lastSeq });
  });

  it('resend publishes the events again from a seq, in order', async () => {
    const lastSeq = (await health()).lastSeq;
    const fromSeq = lastSeq - 300;
    const before = hq.events.length;
    const answer = await hq.command(root, 'resend', { fromSeq });
    expect(Value.Check(CommandResultSchema, answer)).toBe(true);
    expect(answer).toMatchObject({ command: 'resend', ok: true, fromSeq, toSeq: lastSeq });
    await hq.waitFor(() => hq.events.length >= before + 301, 10_000, 'the resent events');
    expect(hq.events.slice(before, before + 301).map((e) => e.seq)).toEqual(
      Array.from({ length: 301 }, (_, i) => fromSeq + i),
    );
    expect(hq.unique()).toHaveLength(lastSeq);
  });

  it('links a member across stores by the keyed hash of the number on the wire only, and not after an erasure', async () => {
    const manager = await pairedTablet(hub, '222222', 'Office');
    const signUp = await tablets[0]!.request('POST', '/api/members', { phone: '0912000777' });
    expect(signUp.status).toBe(201);
    const { memberId, memberCode } = (signUp.body as { member: { memberId: string; memberCode: string } }).member;
    const registeredOnWire = () =>
      hq.events.filter((e) => e.type === 'member.registered' && (e.data as { memberId: string }).memberId === memberId);
    await hq.waitFor(() => registeredOnWire().length === 1, 10_000, 'the member.registered event');
    const sent = registeredOnWire()[0]!;
    expect(sent.link?.phoneHash).toMatch(/^[0-9a-f]{64}$/);
    expect(Value.Check(eventSchema('member.registered'), sent)).toBe(true);
    // Sales carry no link, and the journal never holds one.
    expect(hq.events.filter((e) => e.type === 'sale.completed').every((e) => e.link === undefined)).toBe(true);
    const journalLine = readdirSync(path.join(hub.config.dataDir, 'journal'))
      .map((f) => readFileSync(path.join(hub.config.dataDir, 'journal', f), 'utf8'))
      .join('')
      .split('\n')
      .find((line) => line.includes(memberId) && line.includes('member.registered'))!;
    expect(JSON.parse(journalLine)).not.toHaveProperty('link');

    // Erased: a re-publish of the same event has no link any more.
    const erased = await manager.request('POST', `/api/members/${memberId}/erase`, { confirmMemberCode: memberCode });
    expect(erased.status).toBe(204);
    await hq.command(root, 'resend', { fromSeq: sent.seq });
    await hq.waitFor(() => registeredOnWire().length === 2, 10_000, 'the re-published member.registered');
    expect(registeredOnWire()[1]!.link).toBeUndefined();
  });
});
