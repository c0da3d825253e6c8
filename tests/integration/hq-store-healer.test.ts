/**
 * HQ's store healer against its database, on PGlite and on a PostgreSQL server: a store names seqs
 * its journal lacks (in its status, or a resend's answer); HQ sends back the events it holds, each
 * as the store sent it, in commands of at most 200 events, records the seqs it does not hold as lost
 * everywhere, does not send a seq again before its backoff (whichever worker hears the report), and
 * records the store's answer: a seq restored or refused is looked at again when a newer report names
 * it missing, and a command the hub refuses as a whole is not sent again and again. An event an
 * erasure changed is not sent back, and the erasure leaves no trace of the member in quarantine. The
 * commands are collected as they would be published; with a real broker gone, the database stays
 * free while a publish waits, and the healer stops at once.
 */
import { createHash, randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { readEventMessage } from '../../hq/src/ingest/event-message.ts';
import { quarantine, storeEvents } from '../../hq/src/ingest/store-event.ts';
import { startStoreHealer, StoreHealer } from '../../hq/src/ingest/store-healer.ts';
import { RESTORE_MAX_EVENTS, type RestoreCommand } from '../../hub/src/protocol/event-schemas.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { completedSale, memberProfile, registration, saleLine } from '../support/member-events.ts';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { hqTestDatabases } from '../support/postgres-server.ts';

const CHAIN = 'test-chain';
const quiet = pino({ level: 'silent' });
let stores = 0;

type EventSpec = Pick<HubEvent, 'type' | 'data'> & { link?: Record<string, unknown> };

const saleOf = (storeId: string, seq: number, memberId: string | null = null): EventSpec => ({
  type: 'sale.completed',
  data: completedSale({
    saleId: `S-${storeId}-${seq}`,
    businessDate: '2026-12-01',
    memberId,
    lines: [saleLine(1, 'DRK-001', 35 + seq)],
  }),
});

/** A store's events as its hub published them, stored by HQ: `count` sales, or these events. */
async function storeWithEvents(db: Database, count: number, specsOf?: (storeId: string) => EventSpec[]) {
  const storeId = `store-heal-${++stores}`;
  const epoch = randomUUID();
  const specs = specsOf?.(storeId) ?? Array.from({ length: count }, (_, i) => saleOf(storeId, i + 1));
  const events: HubEvent[] = specs.map((spec, i) => {
    const at = new Date(Date.UTC(2026, 11, 1, 2, 0, i)).toISOString();
    return {
      schema: 'ayi.event/1',
      eventId: uuidv7({ msecs: Date.parse(at) }),
      chainId: CHAIN,
      storeId,
      epoch,
      seq: i + 1,
      at,
      ...spec,
    } as HubEvent;
  });
  await storeAll(db, storeId, events);
  return { storeId, epoch, events };
}

async function storeAll(db: Database, storeId: string, events: HubEvent[]) {
  const valid = events.map((event) => {
    const verdict = readEventMessage(`ayi/v1/${CHAIN}/${storeId}/events`, JSON.stringify(event));
    if (!verdict.ok) throw new Error(`refused: ${verdict.reason} ${verdict.detail}`);
    return { event: verdict.event, knownType: verdict.knownType };
  });
  await storeEvents(db, valid);
}

interface Sent {
  topic: string;
  command: RestoreCommand;
}

function newHealer(db: Database, sent: Sent[], retryMs = 60_000, maxBackoffMs?: number): StoreHealer {
  return new StoreHealer(
    db,
    async (topic, payload) => void sent.push({ topic, command: JSON.parse(payload) as RestoreCommand }),
    quiet,
    { retryMs, ...(maxBackoffMs === undefined ? {} : { maxBackoffMs }) },
  );
}

const status = (storeId: string, epoch: string, missingSeqs: number[], at = new Date().toISOString()) =>
  [
    `ayi/v1/${CHAIN}/${storeId}/status`,
    JSON.stringify({ state: 'online', chainId: CHAIN, storeId, epoch, at, problems: ['journal_damaged'], missingSeqs }),
  ] as const;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const answer = (storeId: string, epoch: string, body: Record<string, unknown>) =>
  [`ayi/v1/${CHAIN}/${storeId}/cmd-result`, JSON.stringify({ chainId: CHAIN, storeId, epoch, ...body })] as const;

async function rows(db: Database, storeId: string) {
  return (
    await db.query<{ seq: string; status: string; reason: string | null; attempts: number }>(
      'SELECT seq, status, reason, attempts FROM store_restores WHERE store_id = $1 ORDER BY seq',
      [storeId],
    )
  ).map((row) => ({ seq: Number(row.seq), status: row.status, reason: row.reason, attempts: Number(row.attempts) }));
}

const backends = hqTestDatabases();

describe.each(backends)("HQ's store healer on $name", ({ open }) => {
  let db: Database | null = null;
  beforeAll(async () => {
    db = await open();
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  it('sends back the events it holds, each as the store sent it, and records the others as lost everywhere', async () => {
    if (!db) return;
    const { storeId, epoch, events } = await storeWithEvents(db, 5);
    const sent: Sent[] = [];
    await newHealer(db, sent).handleMessage(...status(storeId, epoch, [2, 4, 9]));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.topic).toBe(`ayi/v1/${CHAIN}/${storeId}/cmd/restore`);
    // The same events, field for field (HQ's jsonb may order keys its own way).
    expect(sent[0]!.command.events).toEqual([events[1], events[3]]);
    expect(await rows(db, storeId)).toEqual([
      { seq: 2, status: 'sent', reason: null, attempts: 1 },
      { seq: 4, status: 'sent', reason: null, attempts: 1 },
      { seq: 9, status: 'lost', reason: null, attempts: 1 },
    ]);
  });

  it('does not send a seq again before its backoff, whichever worker hears the report', async () => {
    if (!db) return;
    const { storeId, epoch } = await storeWithEvents(db, 3);
    const first: Sent[] = [];
    const second: Sent[] = [];
    await newHealer(db, first).handleMessage(...status(storeId, epoch, [2]));
    await newHealer(db, second).handleMessage(
      ...answer(storeId, epoch, { command: 'resend', ok: false, fromSeq: 1, missingSeqs: [2] }),
    );
    expect(first).toHaveLength(1);
    expect(second).toHaveLength(0);
  });

  it('sends again, with backoff, while the store does not confirm; records what the store answers', async () => {
    if (!db) return;
    const { storeId, epoch } = await storeWithEvents(db, 4);
    const all: Sent[] = [];
    // The other tests' seqs come due too with this short backoff: only this store's are looked at.
    const mine = () => all.filter((s) => s.topic.includes(`/${storeId}/`));
    const healer = newHealer(db, all, 300);
    await healer.handleMessage(...status(storeId, epoch, [1, 2, 3]));
    expect(mine()).toHaveLength(1);
    await healer.check();
    expect(mine()).toHaveLength(1);
    const deadline = Date.now() + 30_000;
    while (mine().length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await healer.check();
    }
    expect(mine().map((s) => s.command.events.map((e) => e.seq))).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ]);
    await healer.handleMessage(
      ...answer(storeId, epoch, {
        command: 'restore',
        ok: false,
        restored: [1],
        refused: [
          { seq: 2, reason: 'not_missing' },
          { seq: 3, reason: 'content_mismatch' },
        ],
      }),
    );
    expect(await rows(db, storeId)).toEqual([
      { seq: 1, status: 'restored', reason: null, attempts: 2 },
      // Not missing: the store's journal holds it (restored before).
      { seq: 2, status: 'restored', reason: null, attempts: 2 },
      { seq: 3, status: 'refused', reason: 'content_mismatch', attempts: 2 },
    ]);
    // Confirmed or refused: never sent again.
    await new Promise((resolve) => setTimeout(resolve, 700));
    await healer.check();
    expect(mine()).toHaveLength(2);
  });

  it(`sends at most ${RESTORE_MAX_EVENTS} events a command`, async () => {
    if (!db) return;
    const { storeId, epoch, events } = await storeWithEvents(db, RESTORE_MAX_EVENTS + 20);
    const sent: Sent[] = [];
    await newHealer(db, sent).handleMessage(...status(storeId, epoch, events.map((event) => event.seq).slice(0, 100)));
    await newHealer(db, sent).handleMessage(
      ...answer(storeId, epoch, {
        command: 'resend',
        ok: false,
        missingSeqs: events.map((event) => event.seq),
      }),
    );
    const seqs = sent.flatMap((s) => s.command.events.map((event) => event.seq as number));
    expect(seqs.sort((a, b) => a - b)).toEqual(events.map((event) => event.seq));
    expect(Math.max(...sent.map((s) => s.command.events.length))).toBeLessThanOrEqual(RESTORE_MAX_EVENTS);
  });

  it('looks again at a seq restored or refused when a newer report names it missing; an older one changes nothing', async () => {
    if (!db) return;
    const { storeId, epoch, events } = await storeWithEvents(db, 3);
    const sent: Sent[] = [];
    const healer = newHealer(db, sent);
    const firstReport = new Date().toISOString();
    await healer.handleMessage(...status(storeId, epoch, [1, 2], firstReport));
    await healer.handleMessage(
      ...answer(storeId, epoch, {
        command: 'restore',
        ok: false,
        requestId: sent[0]!.command.requestId,
        restored: [1],
        refused: [{ seq: 2, reason: 'content_mismatch' }],
      }),
    );
    // The retained status from before the answer, delivered again (a reconnect): nothing changes.
    await healer.handleMessage(...status(storeId, epoch, [1, 2], firstReport));
    expect(sent).toHaveLength(1);
    expect((await rows(db, storeId)).map((row) => row.status)).toEqual(['restored', 'refused']);

    // Later, the restored line is damaged again: it is sent again. The refusal is too recent to try
    // the same copy again.
    await pause(20);
    await healer.handleMessage(...status(storeId, epoch, [1, 2]));
    expect(sent.map((s) => s.command.events)).toEqual([[events[0], events[1]], [events[0]]]);
    expect(await rows(db, storeId)).toEqual([
      { seq: 1, status: 'sent', reason: null, attempts: 1 },
      { seq: 2, status: 'refused', reason: 'content_mismatch', attempts: 1 },
    ]);

    await healer.handleMessage(
      ...answer(storeId, epoch, { command: 'restore', ok: true, requestId: sent[1]!.command.requestId, restored: [1] }),
    );

    // Once the longest backoff has passed since the refusal (a hub upgraded since), it is tried again.
    const all: Sent[] = [];
    const patient = newHealer(db, all, 60_000, 50);
    await pause(100);
    await patient.handleMessage(...status(storeId, epoch, [2]));
    expect(all.filter((s) => s.topic.includes(`/${storeId}/`)).map((s) => s.command.events)).toEqual([[events[1]]]);
    expect((await rows(db, storeId))[1]).toEqual({ seq: 2, status: 'sent', reason: null, attempts: 1 });
  });

  it('records a command the hub refuses as a whole (an older hub) as refused, with its words, and does not send it again', async () => {
    if (!db) return;
    const { storeId, epoch } = await storeWithEvents(db, 2);
    const all: Sent[] = [];
    const mine = () => all.filter((s) => s.topic.includes(`/${storeId}/`));
    const healer = newHealer(db, all, 200);
    await healer.handleMessage(...status(storeId, epoch, [1, 2]));
    expect(mine()).toHaveLength(1);
    const error = 'unknown command restore; try ping or resend';
    await healer.handleMessage(
      ...answer(storeId, epoch, { command: 'restore', ok: false, requestId: mine()[0]!.command.requestId, error }),
    );
    expect(await rows(db, storeId)).toEqual([
      { seq: 1, status: 'refused', reason: error, attempts: 1 },
      { seq: 2, status: 'refused', reason: error, attempts: 1 },
    ]);
    // Well past the backoff: not sent again.
    await pause(600);
    await healer.check();
    expect(mine()).toHaveLength(1);
  });

  it('does not send back an event an erasure changed, and leaves no trace of the erased member in quarantine', async () => {
    if (!db) return;
    const memberId = randomUUID();
    const phoneHash = createHash('sha256').update(`phone of ${memberId}`).digest('hex');
    const { storeId, epoch, events } = await storeWithEvents(db, 0, (storeId) => [
      {
        type: 'member.registered',
        data: {
          ...registration(memberId, memberProfile(memberId)),
          memberCode: 'AYI-1234ABCD',
          // Opaque to HQ, as a store's sealed profile is.
          sealed: { iv: 'aXY=', tag: 'dGFn', data: 'c2VhbGVk' },
        },
        link: { phoneHash },
      },
      saleOf(storeId, 2, memberId),
      saleOf(storeId, 3),
    ]);
    // Refused messages that name the member: by id, by phone hash; and one that does not.
    const topic = `ayi/v1/${CHAIN}/${storeId}/events`;
    const byId = JSON.stringify({ ...events[1], seq: 'two' });
    const byHash = JSON.stringify({ type: 'member.registered', link: { phoneHash }, sealed: 'opaque' });
    const unrelated = JSON.stringify({ ...events[2], seq: 'three' });
    await quarantine(db, topic, storeId, 'bad_envelope', `/data/memberId ${memberId}: seq must be an integer`, byId);
    await quarantine(db, topic, storeId, 'bad_envelope', 'no envelope', byHash);
    await quarantine(db, topic, storeId, 'bad_envelope', '/seq must be an integer', unrelated);
    const quarantined = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM quarantine'))[0]!.n;

    const erasedAt = new Date(Date.UTC(2026, 11, 1, 3)).toISOString();
    await storeAll(db, storeId, [
      {
        schema: 'ayi.event/1',
        eventId: uuidv7({ msecs: Date.parse(erasedAt) }),
        chainId: CHAIN,
        storeId,
        epoch,
        seq: 4,
        type: 'member.erased',
        at: erasedAt,
        data: { memberId, staffId: 'staff-1' },
      } as HubEvent,
    ]);

    // A late message of the erased member, refused after the erasure: kept without a trace too.
    await quarantine(db, topic, storeId, 'bad_envelope', `/data/memberId ${memberId}: late`, byId);
    const dump = JSON.stringify(await db.query('SELECT * FROM quarantine'));
    expect(dump).not.toContain(memberId);
    expect(dump).not.toContain(phoneHash);
    // The rows stay (the link's health counts them); the one that named nobody is as it was.
    expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM quarantine'))[0]!.n).toBe(quarantined + 1);
    expect(await db.query('SELECT payload FROM quarantine WHERE payload = $1', [unrelated])).toHaveLength(1);

    const sent: Sent[] = [];
    await newHealer(db, sent).handleMessage(...status(storeId, epoch, [1, 2, 3]));
    expect(sent.map((s) => s.command.events)).toEqual([[events[2]]]);
    expect(JSON.stringify(sent)).not.toContain('erased-');
    expect(await rows(db, storeId)).toEqual([
      { seq: 1, status: 'not_restorable', reason: 'altered_by_erasure', attempts: 0 },
      { seq: 2, status: 'not_restorable', reason: 'altered_by_erasure', attempts: 0 },
      { seq: 3, status: 'sent', reason: null, attempts: 1 },
    ]);
  });
});

describe("HQ's store healer with its broker gone (PGlite)", () => {
  let broker: Mosquitto;
  let db: Database;
  beforeAll(async () => {
    broker = await startMosquitto();
    db = await openDatabase({ dataDir: 'memory://' });
    await migrate(db);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await broker?.kill();
  });

  it('keeps the database free while a restore waits for the broker, and stops at once', async () => {
    const { storeId, epoch } = await storeWithEvents(db, 3);
    const healer = await startStoreHealer(
      db,
      { brokerUrl: broker.url, workerId: 'hq-healer-outage', chainId: CHAIN },
      quiet,
    );
    await broker.stop();
    const handling = healer.healer.handleMessage(...status(storeId, epoch, [2]));
    // The row is claimed and the publish waits for a broker that is not there.
    const deadline = Date.now() + 10_000;
    while ((await rows(db, storeId))[0]?.status !== 'sending' && Date.now() < deadline) await pause(50);
    expect((await rows(db, storeId))[0]?.status).toBe('sending');

    // Sign-in, the dashboard and ingest query meanwhile: answered at once.
    const started = Date.now();
    const answered = await Promise.race([
      db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE store_id = $1', [storeId]),
      pause(1000).then(() => null),
    ]);
    expect(answered).toEqual([{ n: 3 }]);
    expect(Date.now() - started).toBeLessThan(1000);

    const stopping = Date.now();
    await healer.stop();
    expect(Date.now() - stopping).toBeLessThan(3000);
    await handling;
    // Not published: not counted as sent, to be sent again after the backoff.
    expect(await rows(db, storeId)).toEqual([{ seq: 2, status: 'reported', reason: null, attempts: 0 }]);
  }, 30_000);
});
