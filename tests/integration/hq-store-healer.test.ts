/**
 * HQ's store healer against its database, on PGlite and on a PostgreSQL server: a store names seqs
 * its journal lacks (in its status, or a resend's answer); HQ sends back the events it holds, each
 * as the store sent it, in commands of at most 200 events, records the seqs it does not hold as lost
 * everywhere, does not send a seq again before its backoff (whichever worker hears the report), and
 * records the store's answer. The commands are collected as they would be published.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { readEventMessage } from '../../hq/src/ingest/event-message.ts';
import { storeEvents } from '../../hq/src/ingest/store-event.ts';
import { StoreHealer } from '../../hq/src/ingest/store-healer.ts';
import { RESTORE_MAX_EVENTS, type RestoreCommand } from '../../hub/src/protocol/event-schemas.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { completedSale, saleLine } from '../support/member-events.ts';
import { postgresServer, type ServerDatabase } from '../support/postgres-server.ts';

const CHAIN = 'test-chain';
const quiet = pino({ level: 'silent' });
let stores = 0;

/** A store's events as its hub published them, stored by HQ. */
async function storeWithEvents(db: Database, count: number) {
  const storeId = `store-heal-${++stores}`;
  const epoch = randomUUID();
  const events: HubEvent[] = Array.from({ length: count }, (_, i) => {
    const at = new Date(Date.UTC(2026, 11, 1, 2, 0, i)).toISOString();
    return {
      schema: 'ayi.event/1',
      eventId: uuidv7({ msecs: Date.parse(at) }),
      chainId: CHAIN,
      storeId,
      epoch,
      seq: i + 1,
      type: 'sale.completed',
      at,
      data: completedSale({
        saleId: `S-${storeId}-${i + 1}`,
        businessDate: '2026-12-01',
        memberId: null,
        lines: [saleLine(1, 'DRK-001', 35 + i)],
      }),
    } as HubEvent;
  });
  const valid = events.map((event) => {
    const verdict = readEventMessage(`ayi/v1/${CHAIN}/${storeId}/events`, JSON.stringify(event));
    if (!verdict.ok) throw new Error(`refused: ${verdict.reason} ${verdict.detail}`);
    return { event: verdict.event, knownType: verdict.knownType };
  });
  await storeEvents(db, valid);
  return { storeId, epoch, events };
}

interface Sent {
  topic: string;
  command: RestoreCommand;
}

function newHealer(db: Database, sent: Sent[], retryMs = 60_000): StoreHealer {
  return new StoreHealer(
    db,
    async (topic, payload) => void sent.push({ topic, command: JSON.parse(payload) as RestoreCommand }),
    quiet,
    { retryMs },
  );
}

const status = (storeId: string, epoch: string, missingSeqs: number[]) =>
  [
    `ayi/v1/${CHAIN}/${storeId}/status`,
    JSON.stringify({ state: 'online', chainId: CHAIN, storeId, epoch, problems: ['journal_damaged'], missingSeqs }),
  ] as const;

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

let server: ServerDatabase | null = null;
beforeAll(async () => {
  server = await postgresServer();
});
afterAll(async () => {
  await server?.dropAll();
});

const backends: { name: string; open: () => Promise<Database | null> }[] = [
  { name: 'PGlite', open: () => openDatabase({ dataDir: 'memory://' }) },
  {
    name: 'PostgreSQL server',
    open: async () => (server ? openDatabase({ url: await server.createDatabase() }) : null),
  },
];

describe.each(backends)("HQ's store healer on $name", ({ name, open }) => {
  let db: Database | null = null;
  beforeAll(async () => {
    db = await open();
    if (db) await migrate(db);
    else console.warn(`${name}: no server at 127.0.0.1:5432; these tests ran on PGlite only`);
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
});
