/**
 * `ayi catalog-import <file.csv>` and `ayi catalog` as provisioning runs them, against a real hub
 * process with no demo catalog and a real broker: a file with a bad row loads nothing and names each
 * bad line, a file that is not UTF-8 or not a catalog is refused, a good file is loaded and sells,
 * and `ayi catalog` tells "empty" from "loaded" and says when HQ's catalog is the one applied.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogSummary } from '../../hub/src/services/technician-commands.ts';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { chainCatalogTopic } from '../../hub/src/transport/mqtt/topics.ts';
import { runAyi } from '../support/ayi-cli.ts';
import { startHubProcess, tempDataDir, type HubProcess } from '../support/hub-process.ts';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { poll } from '../support/poll.ts';
import { TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const CHAIN = 'cli-chain';
const HEADER = 'sku,barcodes,name,category,price,repurchase_days';
const temp = new TempDirs();
const files = temp.make('ayi-catalog-files-');
const dataDir = tempDataDir('ayi-catalog-cli-');
let broker: Mosquitto;
let hub: HubProcess;

function csvFile(name: string, text: string | Buffer): string {
  const file = path.join(files, name);
  writeFileSync(file, text);
  return file;
}

const lastSeq = async () => (await adminRequest<{ lastSeq: number }>(path.join(dataDir, 'ayi.sock'), 'health')).lastSeq;

async function summary(): Promise<CatalogSummary> {
  const run = await runAyi(['catalog', '--json'], dataDir);
  return JSON.parse(run.stdout) as CatalogSummary;
}

beforeAll(async () => {
  broker = await startMosquitto();
  hub = await startHubProcess({
    dataDir,
    env: {
      AYI_DEMO: 'false',
      AYI_MQTT_URL: broker.url,
      AYI_CHAIN_ID: CHAIN,
      AYI_STORE_ID: 'store-cli',
      AYI_MQTT_RECONNECT_MAX_MS: '1000',
    },
  });
}, 60_000);

afterAll(async () => {
  await hub?.stop();
  await broker?.kill();
  temp.removeAll();
});

describe('ayi catalog and ayi catalog-import', () => {
  it('says a new store’s catalog is empty, with a failing exit status', async () => {
    const run = await runAyi(['catalog'], dataDir);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Products: 0');
    expect(run.stdout).toContain('The catalog is empty: load one with `ayi catalog-import <file.csv>`');
  });

  it('loads nothing from a file with bad rows and names each bad line', async () => {
    const before = await lastSeq();
    const file = csvFile(
      'bad.csv',
      [
        HEADER, // 1
        'TEA-1,4712345000011,烏龍茶,飲料,50,14', // 2: good
        'TEA-2,,綠茶,飲料,12.5,', // 3: cents
        ',4712345000028,無貨號,飲料,20,', // 4: no SKU
        'TEA-1,4712345000035,重複,飲料,20,', // 5: SKU of line 2
      ].join('\n'),
    );
    const run = await runAyi(['catalog-import', file], dataDir);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('3 rows with errors. Nothing was loaded');
    expect(run.stdout).toMatch(/line 3 \(TEA-2\): price: /);
    expect(run.stdout).toMatch(/line 4: sku: required/);
    expect(run.stdout).toMatch(/line 5 \(TEA-1\): sku: TEA-1 already appears on line 2/);
    expect(await lastSeq()).toBe(before);
    expect((await summary()).products).toBe(0);
  });

  it('refuses a file that is not UTF-8, one that is not a catalog, and one that is not there', async () => {
    const before = await lastSeq();
    const big5 = csvFile('big5.csv', iconv.encode(`${HEADER}\nTEA-1,4712345000011,烏龍茶,飲料,50,14\n`, 'cp950'));
    const notUtf8 = await runAyi(['catalog-import', big5], dataDir);
    expect(notUtf8.code).toBe(1);
    expect(notUtf8.stderr).toContain('is not UTF-8 text: save it from the spreadsheet as "CSV UTF-8"');

    const noPrice = await runAyi(['catalog-import', csvFile('columns.csv', 'sku,name,category\nA,甲,乙\n')], dataDir);
    expect(noPrice.code).toBe(1);
    expect(noPrice.stderr).toContain('Missing column(s): price');

    const missing = await runAyi(['catalog-import', path.join(files, 'nope.csv')], dataDir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No such file');

    const usage = await runAyi(['catalog-import'], dataDir);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: ayi catalog');
    expect(await lastSeq()).toBe(before);
  });

  it('changes nothing on a dry run, then loads a good file the counter sells from', async () => {
    const file = csvFile(
      'good.csv',
      [
        HEADER,
        'TEA-1,4712345000011,烏龍茶,飲料,50,14',
        'TEA-2,4712345000028|4712345000035,綠茶,飲料,45,',
        '"CUP-1",,"隨行杯, 大",器具,280,',
      ].join('\r\n'),
    );
    const before = await lastSeq();
    const dry = await runAyi(['catalog-import', file, '--dry-run'], dataDir);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('3 products would be loaded (3 new, 0 updated). Dry run: nothing changed.');
    expect(await lastSeq()).toBe(before);

    const run = await runAyi(['catalog-import', file], dataDir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`Loaded 3 products from ${file} (3 new, 0 updated). The store has 3 products.\n`);

    const status = await runAyi(['catalog'], dataDir);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('Products: 3');
    expect(status.stdout).toContain("HQ's catalog: none applied");

    const tablet = new TabletClient(hub.url);
    await tablet.pair(await hub.newPairingCode(), 'Counter');
    // No demo staff in a store set up for real: the technician adds the first (the PIN is asked for).
    await adminRequest(path.join(dataDir, 'ayi.sock'), 'add-staff', ['小美', 'cashier', '583920']);
    await tablet.login('583920');
    const scanned = await tablet.request('GET', '/api/products/barcode/4712345000035');
    expect(scanned.body).toMatchObject({ sku: 'TEA-2', name: '綠茶', price: 45 });
  });

  it('loads a catalog of thousands of products through the admin socket', async () => {
    const rows = Array.from(
      { length: 4000 },
      (_, i) =>
        `BULK-${String(i).padStart(5, '0')},47199${String(i).padStart(8, '0')},散裝商品 ${i} 號,雜貨,${10 + (i % 90)},`,
    );
    const file = csvFile('bulk.csv', [HEADER, ...rows].join('\n'));
    const run = await runAyi(['catalog-import', file], dataDir);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(`Loaded 4000 products from ${file} (4000 new, 0 updated). The store has 4003 products.\n`);
  });

  it('says when HQ’s catalog version is the one applied', async () => {
    const hq = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const version = {
        schema: 'ayi.catalog/1',
        chainId: CHAIN,
        version: 4,
        publishedAt: new Date().toISOString(),
        products: [
          {
            sku: 'HQ-TEA',
            barcodes: ['4710000000011'],
            name: '總部烏龍茶',
            category: '飲料',
            price: 50,
            repurchaseDays: 14,
          },
          { sku: 'HQ-CUP', barcodes: [], name: '隨行杯', category: '器具', price: 280, repurchaseDays: null },
        ],
        storePrices: { 'store-cli': { 'HQ-TEA': 48 } },
      };
      await hq.publishAsync(chainCatalogTopic(CHAIN), JSON.stringify(version), { qos: 1, retain: true });
    } finally {
      await hq.endAsync(true);
    }
    const applied = await poll(summary, (s) => s.hqCatalogVersion === 4, "HQ's catalog version 4 applied", 20_000);
    expect(applied).toMatchObject({ products: 2, hqCatalogVersion: 4, localChanges: false });
    const status = await runAyi(['catalog'], dataDir);
    expect(status.stdout).toContain("HQ's catalog: version 4 applied\n");

    // A CSV on top of HQ's version is a local change until HQ's next version.
    const file = csvFile('local.csv', `${HEADER}\nHQ-TEA,4710000000011,總部烏龍茶,飲料,45,14\n`);
    expect((await runAyi(['catalog-import', file], dataDir)).code).toBe(0);
    expect((await runAyi(['catalog'], dataDir)).stdout).toContain(
      "HQ's catalog: version 4 applied, changed since by a CSV import",
    );
    // A CSV adds and updates: HQ's product it does not list stays.
    expect((await summary()).products).toBe(2);
  });
});
