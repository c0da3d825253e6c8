/**
 * A manager uploads the catalog as CSV: a dry run only reports, good rows are applied, bad rows
 * come back with their line numbers, and new products can be scanned at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { ProductView } from '../../hub/src/protocol/api.ts';
import { type TabletClient, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { checkoutRequest, lastSeq, sell } from '../support/sales.ts';
import { openTabletSocket } from '../support/ws-client.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
let hub: Hub;
let manager: TabletClient;

const HEADER = 'sku,barcodes,name,category,price,repurchase_days';

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make() });
  manager = await pairedTablet(hub, '222222', 'Back office');
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

const importCsv = (csv: string, dryRun = false) =>
  manager.request('POST', `/api/catalog/import${dryRun ? '?dryRun=true' : ''}`, csv, 'text/csv');

describe('POST /api/catalog/import', () => {
  it('reports without applying on a dry run', async () => {
    const before = await lastSeq(hub.url);
    const csv = [
      HEADER,
      'DRY-001,4718888000001,試賣品,測試,45,',
      'DRK-001,4710000010003|4710009990016,統一麥香紅茶 300ml,飲料,16,',
    ].join('\n');
    const res = await importCsv(csv, true);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ applied: false, created: 1, updated: 1, rejected: [] });
    expect(await lastSeq(hub.url)).toBe(before);
    expect((await manager.request('GET', '/api/products/barcode/4718888000001')).status).toBe(404);
    expect(
      ((await manager.request('GET', '/api/products/barcode/4710000010003')).body as unknown as ProductView).price,
    ).toBe(15);
  });

  it('applies the good rows and reports each bad one with its line number', async () => {
    const csv = [
      HEADER, // line 1
      'NEW-001,4717777000001,新品咖啡,飲料,65,14', // 2: good
      'NEW-002,,新品餅乾,零食,12.5,', // 3: price with cents
      ',4717777000003,無SKU,零食,10,', // 4: no SKU
      'NEW-004,4710000010003,搶條碼,零食,10,', // 5: barcode of DRK-001
      'NEW-005,4717777000005,新品茶,飲料,30,', // 6: good
      'NEW-001,4717777000006,重複,飲料,10,', // 7: SKU already on line 2
      'NEW-007,4717777000007,,飲料,10,', // 8: no name
    ].join('\r\n');
    const res = await importCsv(csv);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ applied: true, created: 2, updated: 0 });
    const rejected = res.body.rejected as { line: number; sku: string | null; errors: string[] }[];
    expect(rejected.map((r) => r.line)).toEqual([3, 4, 5, 7, 8]);
    expect(rejected.find((r) => r.line === 3)!.errors[0]).toMatch(/^price/);
    expect(rejected.find((r) => r.line === 4)!.sku).toBeNull();
    expect(rejected.find((r) => r.line === 5)!.errors[0]).toContain('DRK-001');
    expect(rejected.find((r) => r.line === 7)!.errors[0]).toContain('line 2');
    expect(rejected.find((r) => r.line === 8)!.errors[0]).toMatch(/^name/);

    const coffee = await manager.request('GET', '/api/products/barcode/4717777000001');
    expect(coffee.body).toEqual({
      sku: 'NEW-001',
      barcodes: ['4717777000001'],
      name: '新品咖啡',
      category: '飲料',
      price: 65,
      repurchaseDays: 14,
    });
    expect((await manager.request('GET', '/api/products/barcode/4717777000005')).status).toBe(200);
    expect((await manager.request('GET', '/api/products/barcode/4717777000003')).status).toBe(404);
  });

  it('makes new products sellable by barcode at once, at the imported price', async () => {
    const socket = await openTabletSocket(manager);
    await socket.next('hello');
    const res = await importCsv(`\uFEFF${HEADER}\nGFT-100,4716666000001|4716666000002,"禮盒, 大",禮品,1280,\n`);
    expect(res.body).toMatchObject({ applied: true, created: 1 });
    // the tablets are told to reload the catalog
    await socket.next('catalog.changed');
    await socket.close();

    const byBarcode = await manager.request('GET', '/api/products/barcode/4716666000002');
    expect(byBarcode.status).toBe(200);
    expect(byBarcode.body).toMatchObject({ sku: 'GFT-100', name: '禮盒, 大', price: 1280 });
    // 2 x 1280 = 2560, cash 3000 -> change 440
    const sale = await sell(manager, checkoutRequest([{ sku: 'GFT-100', qty: 2 }], [{ type: 'cash', amount: 3000 }]));
    expect(sale).toMatchObject({ total: 2560, change: 440 });
    expect(sale.lines[0]).toMatchObject({ name: '禮盒, 大', unitPrice: 1280 });
  });

  it('updates an existing product, and a price change applies to the next sale only', async () => {
    const earlier = await sell(manager, checkoutRequest([{ sku: 'DRK-005', qty: 1 }], [{ type: 'cash', amount: 20 }]));
    const res = await importCsv(`${HEADER}\nDRK-005,4710000011482,悅氏礦泉水 600ml,飲料,22,\n`);
    expect(res.body).toMatchObject({ applied: true, created: 0, updated: 1 });
    const later = await sell(manager, checkoutRequest([{ sku: 'DRK-005', qty: 1 }], [{ type: 'cash', amount: 22 }]));
    expect(later.total).toBe(22);
    expect((await manager.request('GET', `/api/sales/${earlier.saleId}`)).body.total).toBe(20);
  });

  it('counts blank lines when it reports a line number', async () => {
    const res = await importCsv(
      [HEADER, 'BLK-001,,空行前,測試,10,', '', 'BLK-002,,空行後,測試,ten,', ''].join('\n'),
      true,
    );
    expect(res.body.rejected).toEqual([{ line: 4, sku: 'BLK-002', errors: [expect.stringMatching(/^price/)] }]);
  });

  it('refuses a CSV without the price column (400 invalid_csv), applying nothing', async () => {
    const before = await lastSeq(hub.url);
    const res = await importCsv('sku,barcodes,name,category\nX-1,,x,y\n');
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_csv');
    expect(res.body.error?.message).toContain('price');
    expect(await lastSeq(hub.url)).toBe(before);
  });

  it('refuses a file with only a header, and a catalog sent as JSON', async () => {
    expect((await importCsv(`${HEADER}\n`)).body.error?.code).toBe('invalid_csv');
    const json = await manager.request('POST', '/api/catalog/import', { sku: 'X' });
    expect(json.status).toBe(400);
  });

  it('applies nothing when every row is bad', async () => {
    const before = await lastSeq(hub.url);
    const res = await importCsv(`${HEADER}\nBAD-1,,,,abc,\n`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ applied: false, created: 0, updated: 0 });
    expect(await lastSeq(hub.url)).toBe(before);
  });
});
