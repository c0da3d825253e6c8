/**
 * HQ feeds its stores the chain's catalog: a real mosquitto, two real hub processes and HQ
 * (ingest, store healer, catalog publisher and the dashboard's API) on PGlite. Operations publish a
 * version through HQ's API; both stores sell HQ's products, store B at its own price, report the
 * version in their status and HQ shows which store runs which. Store B is offline while version 2 is
 * published and gets it (retained) when it returns. An older or invalid version is refused and
 * changes nothing; a local CSV import marks the store's catalog as changed until the next version;
 * the applied catalog survives a restart from the journal alone.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../hq/src/http/server.ts';
import type { ProductView } from '../../hub/src/protocol/api.ts';
import { chainCatalogTopic } from '../../hub/src/transport/mqtt/topics.ts';
import { startHqService, type HqService } from '../support/hq-service.ts';
import { startHubProcess, tempDataDir, type HubProcess } from '../support/hub-process.ts';
import { scanJournal } from '../support/journal-files.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { poll } from '../support/poll.ts';

const CHAIN = 'cat-chain';
const temp = new TempDirs();
const dirs = { a: tempDataDir('ayi-cat-a-'), b: tempDataDir('ayi-cat-b-') };

let broker: Mosquitto;
let hq: HqService;
let watcher: HqSubscriber;
let forger: MqttClient;
const hubs: Record<'a' | 'b', HubProcess | null> = { a: null, b: null };
let cookie = '';

interface Product {
  sku: string;
  barcodes: string[];
  name: string;
  category: string;
  price: number;
  repurchaseDays: number | null;
}

const VERSION_1: Product[] = [
  { sku: 'HQ-TEA', barcodes: ['4710000000011'], name: '總部烏龍茶', category: '飲料', price: 50, repurchaseDays: 14 },
  { sku: 'HQ-COF', barcodes: ['4710000000028'], name: '總部咖啡豆', category: '咖啡', price: 420, repurchaseDays: 30 },
  { sku: 'HQ-CUP', barcodes: [], name: '隨行杯', category: '器具', price: 280, repurchaseDays: null },
];
const VERSION_2: Product[] = [
  { ...VERSION_1[0]!, name: '總部烏龍茶（新包裝）', price: 55 },
  VERSION_1[1]!,
  { sku: 'HQ-MUG', barcodes: ['4710000000035'], name: '馬克杯', category: '器具', price: 350, repurchaseDays: null },
];

function startStore(store: 'a' | 'b', env: Record<string, string> = {}): Promise<HubProcess> {
  return startHubProcess({
    dataDir: dirs[store],
    env: {
      AYI_MQTT_URL: broker.url,
      AYI_CHAIN_ID: CHAIN,
      AYI_STORE_ID: `store-${store}`,
      AYI_MQTT_RECONNECT_MAX_MS: '1000',
      ...env,
    },
  });
}

async function tablet(hub: HubProcess, pin: string): Promise<TabletClient> {
  const client = new TabletClient(hub.url);
  await client.pair(await hub.newPairingCode(), 'Counter');
  await client.login(pin);
  return client;
}

/** The products a tablet of the store sees, by sku: name and price. */
async function storeProducts(hub: HubProcess): Promise<Record<string, { name: string; price: number }>> {
  const client = await tablet(hub, hub.demoPins.cashier);
  const res = await client.request('GET', '/api/products');
  expect(res.status).toBe(200);
  const products = (res.body as unknown as { products: ProductView[] }).products;
  return Object.fromEntries(products.map((p) => [p.sku, { name: p.name, price: p.price }]));
}

function expected(products: Product[], prices: Record<string, number> = {}) {
  return Object.fromEntries(products.map((p) => [p.sku, { name: p.name, price: prices[p.sku] ?? p.price }]));
}

/** A JSON body, or a string sent as it is (a CSV file). */
async function hqRequest(method: 'GET' | 'POST', url: string, body?: unknown, contentType = 'application/json') {
  const res = await fetch(hq.url + url, {
    method,
    headers: {
      cookie,
      ...(method === 'POST' ? { origin: hq.url, 'content-type': contentType } : {}),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface StoreRow {
  storeId: string;
  catalogVersion: number | null;
  behind: boolean;
  localChanges: boolean;
  refused: { version: number | null; reason: string } | null;
  linkState: string;
}
interface ChainView {
  chainId: string;
  latest: { version: number; products: number; publishedBy: string } | null;
  stores: StoreRow[];
}

async function hqCatalog(): Promise<ChainView> {
  const res = await hqRequest('GET', '/api/catalog');
  expect(res.status).toBe(200);
  return (res.body.chains as ChainView[]).find((chain) => chain.chainId === CHAIN)!;
}

const storeRow = (view: ChainView, store: 'a' | 'b') => view?.stores.find((s) => s.storeId === `store-${store}`);

/** The store's last retained status as HQ reads it. */
const status = (store: 'a' | 'b') => watcher.last(`/store-${store}/status`);

/** Catalog events (source hq) in the store's journal, read from its files. */
const hqCatalogEvents = (store: 'a' | 'b') =>
  scanJournal(dirs[store]).events.filter((e) => e.type === 'catalog.imported' && e.data.source === 'hq');

beforeAll(async () => {
  broker = await startMosquitto();
  hq = await startHqService({ brokerUrl: broker.url, chainId: CHAIN, dataDir: temp.make('ayi-cat-hq-') });
  watcher = await hqSubscriber(broker.url, `ayi/v1/${CHAIN}/#`);
  forger = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
  [hubs.a, hubs.b] = await Promise.all([startStore('a'), startStore('b')]);
  const password = await hq.addUser('olivia', 'operations', true);
  const signIn = await fetch(`${hq.url}/api/session`, {
    method: 'POST',
    headers: { origin: hq.url, 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'olivia', password }),
  });
  expect(signIn.status).toBe(200);
  const token = signIn.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${SESSION_COOKIE}=`))!
    .split(';')[0]!;
  cookie = token;
}, 120_000);

afterAll(async () => {
  await Promise.all([hubs.a?.stop(), hubs.b?.stop()]);
  await forger?.endAsync(true);
  await watcher?.close();
  await hq?.stop();
  await broker?.kill();
  for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
  temp.removeAll();
});

describe("HQ's catalog reaches every store", () => {
  it('refuses a catalog from an analyst, and bad input with a 400 that says what is wrong', async () => {
    const analyst = await hq.addUser('ana', 'analyst', true);
    const res = await fetch(`${hq.url}/api/session`, {
      method: 'POST',
      headers: { origin: hq.url, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'ana', password: analyst }),
    });
    const analystCookie = res.headers.getSetCookie()[0]!.split(';')[0]!;
    const refused = await fetch(`${hq.url}/api/catalog`, {
      method: 'POST',
      headers: { cookie: analystCookie, origin: hq.url, 'content-type': 'application/json' },
      body: JSON.stringify({ products: VERSION_1 }),
    });
    expect(refused.status).toBe(403);
    const duplicate = await hqRequest('POST', '/api/catalog', { products: [VERSION_1[0], VERSION_1[0]] });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.message).toMatch(/HQ-TEA appears twice/);
    const badPrice = await hqRequest('POST', '/api/catalog', { products: [{ ...VERSION_1[0], price: -1 }] });
    expect(badPrice.status).toBe(400);
    expect(badPrice.body.message).toMatch(/price/);
    const unknownSku = await hqRequest('POST', '/api/catalog', {
      products: VERSION_1,
      storePrices: { 'store-b': { 'NO-SUCH': 10 } },
    });
    expect(unknownSku.status).toBe(400);
    expect(unknownSku.body.message).toMatch(/NO-SUCH is not a product/);
    // A CSV file with bad rows: each named by its line with its reasons, the good rows not published.
    const badRows = await hqRequest(
      'POST',
      '/api/catalog',
      [
        'sku,barcodes,name,category,price,repurchase_days,price@store-b',
        'HQ-TEA,4710000000011,總部烏龍茶,飲料,50,14,45',
        'HQ-COF,,總部咖啡豆,咖啡,四百,30,',
        'HQ-CUP,4710000000011,隨行杯,器具,280,,2.5',
        'HQ-TEA,,重複,飲料,50,,',
        `HQ-BOX,${Array.from({ length: 33 }, (_, i) => `BOX-${i}`).join('|')},禮盒,器具,900,,`,
      ].join('\n'),
      'text/csv',
    );
    expect(badRows.status).toBe(400);
    expect(badRows.body.error).toBe('invalid_catalog');
    expect(badRows.body.message).toMatch(/4 row\(s\).*line 3: price/);
    const rejected = (badRows.body.details as { rejected: { line: number; errors: string[] }[] }).rejected;
    expect(rejected.map((row) => row.line)).toEqual([3, 4, 5, 6]);
    // A store's import takes 33 barcodes; a version does not (the stores would refuse it).
    expect(rejected[3]!.errors.join(' ')).toMatch(/barcodes/);
    expect(rejected[1]!.errors.join(' ')).toMatch(/4710000000011 already belongs to HQ-TEA.*price@store-b/);
    expect(rejected[2]!.errors.join(' ')).toMatch(/HQ-TEA already appears on line 2/);
    const noPrice = await hqRequest('POST', '/api/catalog', 'sku,name,category\nHQ-TEA,茶,飲料\n', 'text/csv');
    expect(noPrice).toMatchObject({ status: 400, body: { error: 'invalid_csv' } });
    expect(noPrice.body.message).toMatch(/Missing column\(s\): price/);
    const badStore = await hqRequest(
      'POST',
      '/api/catalog',
      'sku,name,category,price,price@Store B\nHQ-TEA,茶,飲料,50,45\n',
      'text/csv',
    );
    expect(badStore).toMatchObject({ status: 400, body: { error: 'invalid_csv' } });
    expect(badStore.body.message).toMatch(/price@store b/);
    const tooMany = Array.from({ length: 20_001 }, (_, i) => `MANY-${i},,商品 ${i},類別,10,`);
    const huge = await hqRequest(
      'POST',
      '/api/catalog',
      ['sku,barcodes,name,category,price,repurchase_days', ...tooMany].join('\n'),
      'text/csv',
    );
    expect(huge).toMatchObject({ status: 400, body: { error: 'invalid_csv' } });
    expect(huge.body.message).toMatch(/20001 products; .* at most 20000/);
    // None of them made a version.
    expect((await hqCatalog())?.latest ?? null).toBeNull();
  });

  it('publishes version 1: both stores sell its products, store B at its own price, and report it', async () => {
    const res = await hqRequest('POST', '/api/catalog', {
      products: VERSION_1,
      storePrices: { 'store-b': { 'HQ-TEA': 45 } },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ chainId: CHAIN, version: 1, products: 3, published: true });

    // HQ's catalog replaces the demo catalog the stores started with.
    await poll(
      () => storeProducts(hubs.a!),
      (p) => JSON.stringify(p) === JSON.stringify(expected(VERSION_1)),
      'store A on version 1',
    );
    expect(await storeProducts(hubs.a!)).toEqual(expected(VERSION_1));
    await poll(
      () => storeProducts(hubs.b!),
      (p) => p['HQ-TEA']?.price === 45,
      'store B on version 1',
    );
    expect(await storeProducts(hubs.b!)).toEqual(expected(VERSION_1, { 'HQ-TEA': 45 }));

    await watcher.waitFor(
      () => status('a')?.catalogVersion === 1 && status('b')?.catalogVersion === 1,
      20_000,
      'statuses at 1',
    );
    const view = await poll(
      hqCatalog,
      (v) => v?.stores.filter((s) => s.catalogVersion === 1).length === 2,
      'HQ to see both stores at 1',
    );
    expect(view.latest).toMatchObject({ version: 1, products: 3, publishedBy: 'olivia' });
    expect(view.stores.map((s) => [s.storeId, s.catalogVersion, s.behind])).toEqual([
      ['store-a', 1, false],
      ['store-b', 1, false],
    ]);
    // One event in each journal, with the store's own prices.
    const [eventB] = hqCatalogEvents('b');
    expect(eventB?.data).toMatchObject({ source: 'hq', version: 1 });
    expect((eventB?.data as { products: Product[] }).products.find((p) => p.sku === 'HQ-TEA')?.price).toBe(45);
    expect(hqCatalogEvents('a')).toHaveLength(1);
  }, 90_000);

  it('gets version 2 to store B, offline while it was published, when it comes back', async () => {
    await hubs.b!.stop();
    hubs.b = null;
    await watcher.waitFor(() => status('b')?.state === 'offline', 10_000, 'store B offline');
    const res = await hqRequest('POST', '/api/catalog', {
      products: VERSION_2,
      storePrices: { 'store-b': { 'HQ-MUG': 300 } },
    });
    expect(res.status).toBe(201);
    expect(res.body.version).toBe(2);
    await poll(
      () => storeProducts(hubs.a!),
      (p) => p['HQ-MUG'] !== undefined,
      'store A on version 2',
    );
    expect(await storeProducts(hubs.a!)).toEqual(expected(VERSION_2));
    const meanwhile = await poll(hqCatalog, (v) => storeRow(v, 'a')?.catalogVersion === 2, 'HQ to see store A at 2');
    expect(storeRow(meanwhile, 'b')).toMatchObject({ catalogVersion: 1, behind: true, linkState: 'offline' });

    hubs.b = await startStore('b');
    await poll(
      () => storeProducts(hubs.b!),
      (p) => p['HQ-MUG'] !== undefined,
      'store B on version 2',
    );
    expect(await storeProducts(hubs.b!)).toEqual(expected(VERSION_2, { 'HQ-MUG': 300 }));
    await watcher.waitFor(() => status('b')?.catalogVersion === 2, 20_000, 'store B status at 2');
    const view = await poll(hqCatalog, (v) => storeRow(v, 'b')?.catalogVersion === 2, 'HQ to see store B at 2');
    expect(view.stores.every((s) => !s.behind)).toBe(true);
    expect(hqCatalogEvents('b').map((e) => (e.data as { version?: number }).version)).toEqual([1, 2]);
  }, 90_000);

  it('refuses an older version, retained on the topic, and it changes nothing', async () => {
    const before = { a: await storeProducts(hubs.a!), b: await storeProducts(hubs.b!) };
    const older = {
      schema: 'ayi.catalog/1',
      chainId: CHAIN,
      version: 1,
      publishedAt: new Date().toISOString(),
      products: [{ ...VERSION_1[0]!, name: '舊版', price: 1 }],
      storePrices: {},
    };
    await forger.publishAsync(chainCatalogTopic(CHAIN), JSON.stringify(older), { qos: 1, retain: true });
    await watcher.waitFor(
      () =>
        (status('a')?.catalogRefused as { version?: number } | null)?.version === 1 &&
        (status('b')?.catalogRefused as { version?: number } | null)?.version === 1,
      20_000,
      'both stores to refuse version 1',
    );
    expect((status('a')!.catalogRefused as { reason: string }).reason).toMatch(/older than version 2/);
    expect(status('a')!.catalogVersion).toBe(2);
    expect(await storeProducts(hubs.a!)).toEqual(before.a);
    expect(await storeProducts(hubs.b!)).toEqual(before.b);
    expect(hqCatalogEvents('a')).toHaveLength(2);
    const view = await poll(hqCatalog, (v) => storeRow(v, 'a')?.refused !== null, 'HQ to see the refusal');
    expect(storeRow(view, 'a')).toMatchObject({ catalogVersion: 2, refused: { version: 1 } });
  }, 60_000);

  it('refuses an invalid version with its reason, and it changes nothing', async () => {
    const before = await storeProducts(hubs.a!);
    const invalid = {
      schema: 'ayi.catalog/1',
      chainId: CHAIN,
      version: 9,
      publishedAt: new Date().toISOString(),
      products: [VERSION_2[0], { ...VERSION_2[1], barcodes: VERSION_2[0]!.barcodes }],
      storePrices: {},
    };
    await forger.publishAsync(chainCatalogTopic(CHAIN), JSON.stringify(invalid), { qos: 1 });
    await watcher.waitFor(
      () => (status('a')?.catalogRefused as { version?: number } | null)?.version === 9,
      20_000,
      'store A to refuse version 9',
    );
    expect((status('a')!.catalogRefused as { reason: string }).reason).toMatch(
      /barcode 4710000000011 already belongs to HQ-TEA/,
    );
    const wrongShape = { ...invalid, version: 10, products: [{ sku: 'X', name: 'no price' }] };
    await forger.publishAsync(chainCatalogTopic(CHAIN), JSON.stringify(wrongShape), { qos: 1 });
    await watcher.waitFor(
      () => (status('a')?.catalogRefused as { version?: number } | null)?.version === 10,
      20_000,
      'store A to refuse version 10',
    );
    expect((status('a')!.catalogRefused as { reason: string }).reason).toMatch(/^invalid: \/products\/0/);
    await forger.publishAsync(chainCatalogTopic(CHAIN), 'not json', { qos: 1 });
    await watcher.waitFor(
      () => /not JSON/.test((status('a')?.catalogRefused as { reason?: string } | null)?.reason ?? ''),
      20_000,
      'store A to refuse a message that is not JSON',
    );
    expect(status('a')!.catalogVersion).toBe(2);
    expect(await storeProducts(hubs.a!)).toEqual(before);
    expect(hqCatalogEvents('a')).toHaveLength(2);
  }, 60_000);

  it('marks a local CSV import as a local change, which the next version replaces', async () => {
    const manager = await tablet(hubs.a!, hubs.a!.demoPins.manager);
    const csv = 'sku,barcodes,name,category,price,repurchase_days\nLOCAL-1,,本店自選,雜貨,99,\n';
    const res = await manager.request('POST', '/api/catalog/import', csv, 'text/csv');
    expect(res.status).toBe(200);
    expect((await storeProducts(hubs.a!))['LOCAL-1']).toEqual({ name: '本店自選', price: 99 });
    await watcher.waitFor(() => status('a')?.catalogLocalChanges === true, 20_000, 'the local change in the status');
    const view = await poll(hqCatalog, (v) => storeRow(v, 'a')?.localChanges === true, 'HQ to see the local change');
    expect(storeRow(view, 'a')!.catalogVersion).toBe(2);

    const next = await hqRequest('POST', '/api/catalog', {
      products: VERSION_2,
      storePrices: { 'store-b': { 'HQ-MUG': 300 } },
    });
    expect(next.body.version).toBe(3);
    await watcher.waitFor(
      () => status('a')?.catalogVersion === 3 && status('a')?.catalogLocalChanges === false,
      20_000,
      'store A on version 3',
    );
    expect(await storeProducts(hubs.a!)).toEqual(expected(VERSION_2));
  }, 60_000);

  it('keeps the applied catalog across a restart, from the journal alone, and does not apply it twice', async () => {
    const events = hqCatalogEvents('a').length;
    await hubs.a!.stop();
    // No snapshot: the products come from replaying the journal; no broker: nothing comes from HQ.
    rmSync(path.join(dirs.a, 'snapshots'), { recursive: true, force: true });
    hubs.a = await startStore('a', { AYI_MQTT_URL: '' });
    expect(await storeProducts(hubs.a)).toEqual(expected(VERSION_2));
    await hubs.a.stop();
    // Back on the broker: the retained version 3 is the one it runs; it says so and records nothing.
    hubs.a = await startStore('a');
    await watcher.waitFor(
      () => status('a')?.state === 'online' && status('a')?.catalogVersion === 3,
      20_000,
      'store A online at 3',
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hqCatalogEvents('a')).toHaveLength(events);
    expect(await storeProducts(hubs.a)).toEqual(expected(VERSION_2));
  }, 90_000);

  it('carries a 5,000-product catalog to both stores', async () => {
    const products: Product[] = Array.from({ length: 5000 }, (_, i) => ({
      sku: `BIG-${String(i).padStart(5, '0')}`,
      barcodes: [`47200${String(i).padStart(8, '0')}`],
      name: `大目錄商品 ${i} 有機無糖高纖營養穀物飲品`,
      category: `類別 ${i % 40}`,
      price: 10 + (i % 500),
      repurchaseDays: i % 3 === 0 ? null : 30,
    }));
    const storePrices = { 'store-b': Object.fromEntries(products.slice(0, 1000).map((p) => [p.sku, p.price + 1])) };
    const body = JSON.stringify({ products, storePrices });
    // About 1 MB, as a real chain's 5,000 products are.
    expect(Buffer.byteLength(body)).toBeGreaterThan(800_000);
    const res = await hqRequest('POST', '/api/catalog', { products, storePrices });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ version: 4, products: 5000, published: true });
    for (const store of ['a', 'b'] as const) {
      const shown = await poll(
        () => storeProducts(hubs[store]!),
        (p) => Object.keys(p).length === 5000,
        `store ${store.toUpperCase()} on the big catalog`,
      );
      expect(shown['BIG-00999']!.price).toBe(products[999]!.price + (store === 'b' ? 1 : 0));
      expect(shown['BIG-01000']!.price).toBe(products[1000]!.price);
    }
    await poll(hqCatalog, (v) => v.stores.every((s) => s.catalogVersion === 4), 'HQ to see both stores at 4');
  }, 90_000);

  it('publishes a CSV file (UTF-8 with BOM, as Excel saves it), with store B’s own prices in its column', async () => {
    const csv = [
      'SKU,barcodes,name,category,price,repurchase_days,price@store-b',
      'HQ-TEA,4710000000011|4710000000042,"總部烏龍茶, 大瓶",飲料,60,14,55',
      'HQ-CUP,,隨行杯,器具,280,,',
    ].join('\r\n');
    const res = await hqRequest('POST', '/api/catalog', `\uFEFF${csv}\r\n`, 'text/csv; charset=utf-8');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ version: 5, products: 2, published: true });
    const sold = {
      'HQ-TEA': { name: '總部烏龍茶, 大瓶', price: 60 },
      'HQ-CUP': { name: '隨行杯', price: 280 },
    };
    for (const store of ['a', 'b'] as const) {
      const shown = await poll(
        () => storeProducts(hubs[store]!),
        (p) => Object.keys(p).length === 2,
        `store ${store.toUpperCase()} on the CSV's version`,
      );
      expect(shown).toEqual(store === 'b' ? { ...sold, 'HQ-TEA': { ...sold['HQ-TEA'], price: 55 } } : sold);
    }
    await poll(hqCatalog, (v) => v.stores.every((s) => s.catalogVersion === 5), 'HQ to see both stores at 5');
  }, 60_000);
});
