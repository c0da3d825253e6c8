/**
 * A store heals from HQ: a real hub sells, HQ's consumer stores its events (PGlite, a real
 * mosquitto), then one sale's journal line is damaged on disk (8 zero bytes, a bad SD card) and the
 * hub starts again without a snapshot holding it. Forged restores (another event's content or id,
 * another store's event, a seq the journal holds) are refused and change nothing; then HQ's store
 * healer, told the missing seq by the store, sends its copy back with cmd/restore, and the hub
 * restores it: health ok, the sale back in the sales list with its total and in its member's points
 * and purchases, still there after a
 * restart, and sent again by a later cmd/resend.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { EventConsumer } from '../../hq/src/ingest/consumer.ts';
import { startStoreHealer, type StoreHealer } from '../../hq/src/ingest/store-healer.ts';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { CommandResultSchema } from '../../hub/src/protocol/event-schemas.ts';
import type { HealthView } from '../../hub/src/transport/http/app.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { journalDays, journalDir } from '../support/journal-files.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { checkoutRequest, listSales, sell } from '../support/sales.ts';
import { demoPin, pairedTablet, signUpMember, startTestHub, TabletClient } from '../support/test-hub.ts';
import type { MemberCard } from '../../hub/src/protocol/members.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { poll } from '../support/poll.ts';

const temp = new TempDirs();
const CHAIN = 'test-chain';
const STORE = 'store-heal';
const quiet = pino({ level: 'silent' });
const dataDir = temp.make('ayi-hq-store-heal-');
const root = storeTopics(CHAIN, STORE).root;

let broker: Mosquitto;
let db: Database;
let consumer: EventConsumer;
let hub: Hub;
let hq: HqSubscriber;
let cashier: TabletClient;
let healer: { healer: StoreHealer; stop: () => Promise<void> } | null = null;
const sales: SaleView[] = [];
let damaged: SaleView;
let damagedSeq: number;
/** The damaged line as it was written, before the damage. */
let originalLine: string;
let memberId: string;
/** The member's points and purchases as the store showed them before the damage. */
let memberBefore: MemberFigures;

interface MemberFigures {
  points: number;
  pointsOwed: number;
  purchaseCount: number;
  cumulativeSpend: number;
}

async function memberFigures(): Promise<MemberFigures> {
  const res = await cashier.request('GET', `/api/members/${memberId}/card`);
  const card = res.body as unknown as MemberCard;
  return {
    points: card.points,
    pointsOwed: card.pointsOwed,
    purchaseCount: card.stats.purchaseCount,
    cumulativeSpend: card.stats.cumulativeSpend,
  };
}

const start = () =>
  startTestHub({ dataDir, config: { chainId: CHAIN, storeId: STORE, mqttUrl: broker.url, mqttReconnectMaxMs: 1000 } });

async function health(): Promise<HealthView> {
  return (await (await fetch(`${hub.url}/api/health`)).json()) as HealthView;
}

async function contiguousSeq(): Promise<number> {
  const rows = await db.query<{ contiguous_seq: string }>(
    'SELECT contiguous_seq FROM store_streams WHERE store_id = $1',
    [STORE],
  );
  return rows.length === 0 ? 0 : Number(rows[0]!.contiguous_seq);
}

/** HQ's copy of one event, as the store sent it (built from the events table). */
async function hqCopy(seq: number): Promise<Record<string, unknown>> {
  const [row] = await db.query<{
    event_id: string;
    epoch: string;
    type: string;
    at: Date;
    data: Record<string, unknown>;
  }>('SELECT event_id, epoch, type, at, data FROM events WHERE store_id = $1 AND seq = $2', [STORE, seq]);
  return {
    schema: 'ayi.event/1',
    eventId: row!.event_id,
    chainId: CHAIN,
    storeId: STORE,
    epoch: row!.epoch,
    seq,
    type: row!.type,
    at: new Date(row!.at).toISOString(),
    data: row!.data,
  };
}

/** The store's sales as a tablet sees them, by id: total and whether voided. */
async function salesById(): Promise<Map<string, number>> {
  return new Map((await listSales(cashier)).map((sale) => [sale.saleId, sale.total]));
}

const restoredFile = () => path.join(journalDir(dataDir), 'restored.jsonl');

async function restartWithoutSnapshots(): Promise<void> {
  await hub.stop();
  await startWithoutSnapshots();
}

async function startWithoutSnapshots(): Promise<void> {
  // No snapshot holds the sale: what the hub shows comes from the journal alone.
  rmSync(path.join(dataDir, 'snapshots'), { recursive: true, force: true });
  hub = await start();
  const moved = new TabletClient(hub.url);
  moved.deviceToken = cashier.deviceToken;
  moved.sessionToken = cashier.sessionToken;
  moved.deviceId = cashier.deviceId;
  cashier = moved;
}

beforeAll(async () => {
  broker = await startMosquitto();
  db = await openDatabase({ dataDir: 'memory://' });
  await migrate(db);
  consumer = new EventConsumer(db, { brokerUrl: broker.url, clientId: 'hq-heal-test', chainId: CHAIN }, quiet);
  await consumer.start();
  hub = await start();
  cashier = await pairedTablet(hub, demoPin('cashier'), 'Counter');
  memberId = await signUpMember(cashier, '0912000444');
  for (let i = 0; i < 6; i++) {
    // The member buys twice: the sale damaged later is theirs, and so is one after it.
    const member = i === 3 || i === 5 ? { memberId } : {};
    sales.push(
      await sell(
        cashier,
        checkoutRequest(
          // The member's baskets are big enough to earn points.
          [{ sku: i % 2 ? 'DRK-001' : 'FOD-001', qty: i === 3 || i === 5 ? 30 : 1 + i }],
          [{ type: 'cash', amount: 50_000 }],
          member,
        ),
      ),
    );
  }
  memberBefore = await memberFigures();
  expect(memberBefore.purchaseCount).toBe(2);
  expect(memberBefore.points).toBeGreaterThan(0);
  const lastSeq = (await health()).lastSeq;
  await poll(contiguousSeq, (seq) => seq >= lastSeq, 'HQ to hold every event');
  await hub.stop();

  // 8 zero bytes into the middle of the fourth sale's line.
  damaged = sales[3]!;
  const file = path.join(journalDir(dataDir), `${journalDays(dataDir).at(-1)}.jsonl`);
  const bytes = readFileSync(file);
  const lines = bytes.toString('utf8').split('\n');
  const index = lines.findIndex((line) => line.includes(`"saleId":"${damaged.saleId}"`));
  damagedSeq = (JSON.parse(lines[index]!) as { seq: number }).seq;
  originalLine = lines[index]!;
  const lineStart = Buffer.byteLength(
    lines
      .slice(0, index)
      .map((line) => `${line}\n`)
      .join(''),
  );
  bytes.fill(0, lineStart + 200, lineStart + 208);
  writeFileSync(file, bytes);

  hq = await hqSubscriber(broker.url, `${root}/#`);
  await startWithoutSnapshots();
}, 120_000);

afterAll(async () => {
  await healer?.stop();
  await hq?.close();
  await consumer?.stop();
  await hub?.stop();
  await db?.close();
  await broker?.kill();
  temp.removeAll();
});

describe('a store whose journal lost a sale HQ holds', () => {
  it('starts degraded, without the sale', async () => {
    const view = await health();
    expect(view.problems).toContain('journal_damaged');
    expect(view.journal.missingSeqs).toEqual([damagedSeq]);
    const shown = await salesById();
    expect(shown.has(damaged.saleId)).toBe(false);
    expect(shown.size).toBe(sales.length - 1);
    const member = await memberFigures();
    expect(member.purchaseCount).toBe(1);
    expect(member.points).toBeLessThan(memberBefore.points);
    expect(member.cumulativeSpend).toBe(memberBefore.cumulativeSpend - damaged.total);
    await hq.waitFor(() => Array.isArray(hq.last('/status')?.missingSeqs), 20_000, 'the status naming the seq');
    expect(hq.last('/status')!.missingSeqs).toEqual([damagedSeq]);
  });

  it('refuses forged restores, and they change nothing', async () => {
    const genuine = await hqCopy(damagedSeq);
    const data = genuine.data as { total: number };
    const forgeries: [Record<string, unknown>, string][] = [
      [{ ...genuine, data: { ...data, total: data.total + 100 } }, 'content_mismatch'],
      // Another event's id (the one before it): the damaged line still shows the real one.
      [
        { ...genuine, eventId: (await hqCopy(damagedSeq - 1)).eventId, at: (await hqCopy(damagedSeq - 1)).at },
        'id_mismatch',
      ],
      [{ ...genuine, storeId: 'store-other' }, 'other_store'],
      [await hqCopy(damagedSeq - 1), 'not_missing'],
    ];
    for (const [event, reason] of forgeries) {
      const answer = await hq.command(root, 'restore', { events: [event] });
      expect(Value.Check(CommandResultSchema, answer)).toBe(true);
      expect(answer).toMatchObject({
        command: 'restore',
        ok: false,
        restored: [],
        refused: [{ seq: event.seq, reason }],
      });
    }
    expect(existsSync(restoredFile()) ? readFileSync(restoredFile(), 'utf8') : '').toBe('');
    expect((await health()).journal.missingSeqs).toEqual([damagedSeq]);
    expect((await salesById()).has(damaged.saleId)).toBe(false);
  });

  it("is healed by HQ's store healer from a resend's answer: the sale is back with its total, health ok", async () => {
    // The retained status (which names the seq too) is cleared first: the healer learns the seq from
    // the resend's answer alone.
    await hq.client.publishAsync(`${root}/status`, '', { qos: 1, retain: true });
    healer = await startStoreHealer(db, { brokerUrl: broker.url, workerId: 'hq-heal-test', chainId: CHAIN }, quiet, {
      retryMs: 2000,
      checkEveryMs: 200,
    });
    // The resend path too: the answer names the seq the store cannot send.
    const answer = await hq.command(root, 'resend', { fromSeq: damagedSeq - 1 });
    expect(answer).toMatchObject({ ok: false, missingSeqs: [damagedSeq] });

    const view = await poll(health, (h) => h.status === 'ok', 'health ok');
    expect(view.journal).toEqual({ missingSeqs: [], damagedLines: [] });
    expect(healer.healer.sent.some((sent) => sent.seqs.includes(damagedSeq))).toBe(true);
    const shown = await salesById();
    expect(shown.get(damaged.saleId)).toBe(damaged.total);
    expect([...shown.keys()].sort()).toEqual(sales.map((sale) => sale.saleId).sort());
    expect(await memberFigures()).toEqual(memberBefore);
    // HQ's copy (its payload kept as jsonb, keys reordered) is written back byte for byte as it was.
    expect(readFileSync(restoredFile(), 'utf8')).toBe(`${originalLine}\n`);
    const [row] = await poll(
      () =>
        db.query<{ status: string }>('SELECT status FROM store_restores WHERE store_id = $1 AND seq = $2', [
          STORE,
          damagedSeq,
        ]),
      (rows) => rows[0]?.status === 'restored',
      'HQ to record the restore',
    );
    expect(row!.status).toBe('restored');
    await hq.waitFor(
      () => hq.last('/status')?.state === 'online' && hq.last('/status')?.missingSeqs === undefined,
      20_000,
      'a status without missing seqs',
    );
    expect(hq.last('/status')!.problems).toEqual([]);
  });

  it('restores the same event twice without a change', async () => {
    const before = readFileSync(restoredFile(), 'utf8');
    const answer = await hq.command(root, 'restore', { events: [await hqCopy(damagedSeq)] });
    expect(answer).toMatchObject({ ok: true, restored: [damagedSeq], refused: [] });
    expect(readFileSync(restoredFile(), 'utf8')).toBe(before);
    // And another event for that seq is refused: the journal holds it now.
    const genuine = await hqCopy(damagedSeq);
    const forged = { ...genuine, data: { ...(genuine.data as object), total: 1 } };
    expect(await hq.command(root, 'restore', { events: [forged] })).toMatchObject({
      ok: false,
      refused: [{ seq: damagedSeq, reason: 'not_missing' }],
    });
  });

  it('keeps the sale across a restart (on disk), and sends it again on a resend', async () => {
    await restartWithoutSnapshots();
    expect((await health()).status).toBe('ok');
    expect((await salesById()).get(damaged.saleId)).toBe(damaged.total);
    expect(await memberFigures()).toEqual(memberBefore);
    const before = hq.events.length;
    const answer = await hq.command(root, 'resend', { fromSeq: damagedSeq });
    expect(answer).toMatchObject({ command: 'resend', ok: true });
    const eventId = (await hqCopy(damagedSeq)).eventId;
    await hq.waitFor(
      () => hq.events.slice(before).some((event) => event.seq === damagedSeq && event.eventId === eventId),
      20_000,
      'the restored event sent again',
    );
  });
});
