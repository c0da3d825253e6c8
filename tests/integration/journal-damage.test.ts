/**
 * A damaged journal line is found, named and told, never skipped in silence: 8 zero bytes written
 * into one sale's line of a stopped hub's journal (a bad SD card), then the hub starts on it. Health
 * turns degraded naming the seq, the hub still serves and sells, the retained status to HQ says
 * `journal_damaged`, and HQ's `resend` from an earlier seq answers with the seq it cannot send
 * instead of `ok: true`. A real mosquitto, the real hub, real files.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { CommandResultSchema, LinkStatusSchema } from '../../hub/src/protocol/event-schemas.ts';
import type { HealthView } from '../../hub/src/transport/http/app.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { journalDays, journalDir } from '../support/journal-files.ts';
import { checkoutRequest, listSales, sell } from '../support/sales.ts';
import { TabletClient, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const CHAIN = 'test-chain';
const STORE = 'store-damaged';
const dataDir = temp.make('ayi-journal-damage-');
let broker: Mosquitto;
let hub: Hub;
let hq: HqSubscriber;
let root: string;
let cashier: TabletClient;
let damagedSeq: number;

const start = () =>
  startTestHub({
    dataDir,
    config: { chainId: CHAIN, storeId: STORE, mqttUrl: broker.url, mqttReconnectMaxMs: 1000 },
  });

async function health(): Promise<HealthView> {
  return (await (await fetch(`${hub.url}/api/health`)).json()) as HealthView;
}

beforeAll(async () => {
  broker = await startMosquitto();
  root = storeTopics(CHAIN, STORE).root;
  hub = await start();
  cashier = await pairedTablet(hub, '1111', 'Counter');
  const sales: SaleView[] = [];
  for (let i = 0; i < 3; i++) {
    sales.push(await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 1 + i }], [{ type: 'cash', amount: 100 }])));
  }
  await hub.stop();

  // 8 zero bytes into the middle of the second sale's line.
  const file = path.join(journalDir(dataDir), `${journalDays(dataDir).at(-1)}.jsonl`);
  const bytes = readFileSync(file);
  const lines = bytes.toString('utf8').split('\n');
  const index = lines.findIndex((line) => line.includes(`"saleId":"${sales[1]!.saleId}"`));
  damagedSeq = (JSON.parse(lines[index]!) as { seq: number }).seq;
  const lineStart = Buffer.byteLength(
    lines
      .slice(0, index)
      .map((line) => `${line}\n`)
      .join(''),
  );
  bytes.fill(0, lineStart + 200, lineStart + 208);
  writeFileSync(file, bytes);

  hq = await hqSubscriber(broker.url, `${root}/#`);
  hub = await start();
  const moved = new TabletClient(hub.url);
  moved.deviceToken = cashier.deviceToken;
  moved.sessionToken = cashier.sessionToken;
  moved.deviceId = cashier.deviceId;
  cashier = moved;
});

afterAll(async () => {
  await hq?.close();
  await hub?.stop();
  await broker?.kill();
  temp.removeAll();
});

describe('a damaged journal line', () => {
  it('makes health degraded, naming the seq, while the hub serves and sells', async () => {
    const view = await health();
    expect(view.status).toBe('degraded');
    expect(view.problems).toContain('journal_damaged');
    expect(view.journal.missingSeqs).toEqual([damagedSeq]);
    expect(view.journal.damagedLines).toHaveLength(1);
    expect(hub.startup?.corruptLines).toBe(1);
    expect((await cashier.request('GET', '/api/products')).status).toBe(200);
    expect((await listSales(cashier)).length).toBeGreaterThanOrEqual(2);
    await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 100 }]));
  });

  it('is in the retained status to HQ', async () => {
    await hq.waitFor(() => hq.last('/status')?.state === 'online', 10_000, 'the online status');
    const status = hq.last('/status')!;
    expect(Value.Check(LinkStatusSchema, status)).toBe(true);
    expect(status.problems).toEqual(['journal_damaged']);
  });

  it("answers HQ's resend from an earlier seq with the seq it cannot send, and sends the others", async () => {
    const lastSeq = (await health()).lastSeq;
    const fromSeq = damagedSeq - 2;
    const before = hq.events.length;
    const answer = await hq.command(root, 'resend', { fromSeq });
    expect(Value.Check(CommandResultSchema, answer)).toBe(true);
    expect(answer).toMatchObject({ command: 'resend', ok: false, fromSeq, toSeq: lastSeq, missingSeqs: [damagedSeq] });
    expect(answer.error).toContain(String(damagedSeq));
    const expected = Array.from({ length: lastSeq - fromSeq + 1 }, (_, i) => fromSeq + i).filter(
      (seq) => seq !== damagedSeq,
    );
    await hq.waitFor(
      () => expected.every((seq) => hq.events.slice(before).some((e) => e.seq === seq)),
      10_000,
      'the resent events',
    );
  });

  it('answers ok: true for a resend after the damage', async () => {
    const answer = await hq.command(root, 'resend', { fromSeq: damagedSeq + 1 });
    expect(answer).toMatchObject({ command: 'resend', ok: true });
  });
});

describe('a damaged last journal line, with no snapshot after it (a crash)', () => {
  const lastDir = temp.make('ayi-journal-last-');
  const startLast = () =>
    startTestHub({ dataDir: lastDir, config: { chainId: CHAIN, storeId: 'store-last', mqttUrl: null } });

  it('is kept and named, and its seq (and any seq HQ acknowledged) is never given to a new sale', async () => {
    let last = await startLast();
    let tablet = await pairedTablet(last, '1111', 'Counter');
    const sales: SaleView[] = [];
    for (let i = 0; i < 3; i++) {
      sales.push(await sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 100 }])));
    }
    const lastSeq = last.events.lastSeq;
    await last.stop();
    rmSync(path.join(lastDir, 'snapshots'), { recursive: true, force: true });
    const file = path.join(journalDir(lastDir), `${journalDays(lastDir).at(-1)}.jsonl`);
    const bytes = readFileSync(file);
    const lastLineStart = bytes.lastIndexOf(0x0a, bytes.length - 2) + 1;
    bytes.fill(0, lastLineStart + 200, lastLineStart + 208);
    writeFileSync(file, bytes);

    last = await startLast();
    const view = (await (await fetch(`${last.url}/api/health`)).json()) as HealthView;
    expect(view.status).toBe('degraded');
    expect(view.problems).toContain('journal_damaged');
    expect(view.journal.missingSeqs).toEqual([lastSeq]);
    expect(view.lastSeq).toBe(lastSeq);
    // The damaged line is still in the file, byte for byte.
    expect(readFileSync(file).subarray(0, bytes.length).equals(bytes)).toBe(true);

    tablet = Object.assign(new TabletClient(last.url), {
      deviceToken: tablet.deviceToken,
      deviceId: tablet.deviceId,
      sessionToken: tablet.sessionToken,
    });
    const next = await sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 100 }]));
    expect(last.events.lastSeq).toBe(lastSeq + 1);
    expect(next.saleId).not.toBe(sales[2]!.saleId);
    await last.stop();

    // HQ had acknowledged 5 seqs more than the journal holds (the card lost them): none is reused.
    rmSync(path.join(lastDir, 'snapshots'), { recursive: true, force: true });
    const { epoch } = JSON.parse(readFileSync(path.join(lastDir, 'store.json'), 'utf8')) as { epoch: string };
    writeFileSync(
      path.join(lastDir, 'hq-link.json'),
      JSON.stringify({ epoch, deliveredSeq: lastSeq + 6, deliveredAt: null, updatedAt: new Date().toISOString() }),
    );
    last = await startLast();
    expect(last.events.lastSeq).toBe(lastSeq + 6);
    const health2 = (await (await fetch(`${last.url}/api/health`)).json()) as HealthView;
    expect(health2.journal.missingSeqs).toEqual([
      lastSeq,
      lastSeq + 2,
      lastSeq + 3,
      lastSeq + 4,
      lastSeq + 5,
      lastSeq + 6,
    ]);
    await last.stop();
  });
});
