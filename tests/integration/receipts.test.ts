/**
 * Receipts survive crashes: each job file is written to a temporary name and only then given its
 * name (never a half-written receipt that blocks its own retry; an empty one counts as not
 * printed); each job's kind
 * is stored with it (a reprint made while the original is missing stays a copy); and the original
 * of a recent sale that a crash left without one is printed at start-up (printMissingOriginals).
 * Real hubs, real files.
 */
import { existsSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { DEFAULT_DEVICES } from '../../hub/src/devices/device-config.ts';
import { VirtualPrinter, VirtualPrinterTransport } from '../../hub/src/devices/virtual-printer.driver.ts';
import { PrintingService } from '../../hub/src/services/printing.service.ts';
import { TabletClient, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const hubs: Hub[] = [];

async function start(dataDir: string): Promise<Hub> {
  const hub = await startTestHub({ dataDir });
  hubs.push(hub);
  return hub;
}

afterAll(async () => {
  for (const hub of hubs) await hub.stop();
  temp.removeAll();
});

const printerDir = (dataDir: string) => path.join(dataDir, 'printer', 'virtual');
const dayDir = (dataDir: string, sale: SaleView) => path.join(printerDir(dataDir), sale.businessDate);

function moved(tablet: TabletClient, hub: Hub): TabletClient {
  const other = new TabletClient(hub.url);
  other.deviceToken = tablet.deviceToken;
  other.sessionToken = tablet.sessionToken;
  return other;
}

async function receipts(tablet: TabletClient, saleId: string) {
  const res = await tablet.request('GET', `/api/sales/${saleId}/receipt`);
  expect(res.status).toBe(200);
  return res.body.jobs as { jobId: string; kind: string; text: string }[];
}

/** What the hub's own PrintingService would do at start-up, over the restarted hub's projection. */
function recovery(hub: Hub, errors: unknown[] = [], transport = new VirtualPrinterTransport('cp950')): PrintingService {
  return new PrintingService(
    hub.state,
    { dataDir: hub.config.dataDir, printers: [{ config: DEFAULT_DEVICES.printers[0]!, transport }] },
    { storeName: hub.config.storeName, storeId: hub.config.storeId, timeZone: hub.config.tz },
    (_saleId, err) => errors.push(err),
    () => new Date(),
  );
}

const drink = () => checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]);

describe('the virtual printer', () => {
  it('prints a job once; a receipt a power cut left empty is printed again in its place', async () => {
    const dir = temp.make('ayi-printer-');
    const printer = new VirtualPrinter(dir);
    const job = { jobId: '20261122-000001-p1', day: '2026-11-22', kind: 'original' as const, text: 'RECEIPT\n' };
    expect(await printer.print(job)).toBe(true);
    // a retry of the same job prints nothing more
    expect(await printer.print({ ...job, text: 'SOMETHING ELSE\n' })).toBe(false);
    expect(readdirSync(path.join(dir, '2026-11-22'))).toEqual(['20261122-000001-p1.original.txt']);
    expect(await printer.jobsFor('2026-11-22', '20261122-000001-p')).toMatchObject([
      { jobId: '20261122-000001-p1', kind: 'original', text: 'RECEIPT\n' },
    ]);

    // Receipts are not fsync'd (they are rendered again from the journal): after a power cut the
    // name can be there with nothing in it. That counts as not printed, and the next print fills it.
    const cut = { ...job, jobId: '20261122-000002-p1' };
    writeFileSync(path.join(dir, '2026-11-22', '20261122-000002-p1.original.txt'), '');
    expect(await printer.printedOn('2026-11-22')).not.toContain('20261122-000002-p1');
    expect(await printer.print(cut)).toBe(true);
    expect(await printer.jobsFor('2026-11-22', '20261122-000002-p')).toMatchObject([
      { jobId: '20261122-000002-p1', text: 'RECEIPT\n' },
    ]);
  });
});

describe('the virtual printer shows what would print', () => {
  it('keeps the text read back from the same ESC/POS bytes a real printer gets', async () => {
    const hub = await start(temp.make('ayi-receipts-escpos-'));
    const tablet = await pairedTablet(hub, '1111', 'Counter');
    const sale = await sell(tablet, drink());
    const transport = new VirtualPrinterTransport('cp950');
    const printing = recovery(hub, [], transport);
    const copy = await printing.reprint(sale.saleId);
    expect(copy).toMatchObject({ kind: 'copy', queued: false });
    const [printed] = transport.printed;
    expect(printed!.cuts).toBe(1);
    expect(printed!.qrCodes.join(' ')).toContain(sale.saleId);
    expect(printed!.barcodes.map((b) => b.data).join(' ')).toContain(sale.saleId);
    expect(printed!.drawerKicks).toBe(0); // the embedded default has no drawer
    // the archive holds the same lines, laid out on 42 columns
    const jobs = await receipts(tablet, sale.saleId);
    const archived = jobs.find((job) => job.jobId === copy.jobId)!;
    expect(archived.text).toBe(copy.text);
    expect(archived.text).toContain('COPY');
    expect(archived.text).toMatch(/合計 TOTAL +NT\$15/);
  });
});

describe('after a crash between a sale and its receipt', () => {
  it('prints, at start-up, the original of each recent sale that has none (empty files and leftovers too)', async () => {
    const dataDir = temp.make('ayi-receipts-');
    const first = await start(dataDir);
    const tablet = await pairedTablet(first, '1111', 'Counter');
    const [lost, empty, kept] = [await sell(tablet, drink()), await sell(tablet, drink()), await sell(tablet, drink())];
    await first.stop();

    // The crash, as it could leave the printer's directory:
    // - no receipt at all (killed before the print ran);
    rmSync(path.join(dayDir(dataDir, lost), `${lost.saleId}-p1.original.txt`));
    // - the old driver's empty file ('wx' open done, write not);
    rmSync(path.join(dayDir(dataDir, empty), `${empty.saleId}-p1.original.txt`));
    writeFileSync(path.join(dayDir(dataDir, empty), `${empty.saleId}-p1.txt`), '');
    // - a temporary file of a print cut short.
    const leftover = path.join(dayDir(dataDir, kept), `.${kept.saleId}-p2.0badc0de.tmp`);
    writeFileSync(leftover, 'half a rec');
    const anHourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(leftover, anHourAgo, anHourAgo);

    const second = await start(dataDir);
    const errors: unknown[] = [];
    // (the hub may be doing the same by itself right now: each original is printed once either way)
    expect(await recovery(second, errors).printMissingOriginals()).toBeLessThanOrEqual(2);
    expect(errors).toEqual([]);

    const again = moved(tablet, second);
    for (const sale of [lost, empty, kept]) {
      const jobs = await receipts(again, sale.saleId);
      expect(jobs.map((j) => [j.jobId, j.kind])).toEqual([[`${sale.saleId}-p1`, 'original']]);
      expect(jobs[0]!.text).toMatch(/合計 TOTAL +NT\$15/);
      expect(jobs[0]!.text).not.toContain('COPY');
    }
    expect(readdirSync(dayDir(dataDir, kept)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    // nothing more to do the next time
    expect(await recovery(second).printMissingOriginals()).toBe(0);
  });

  it('leaves older sales alone', async () => {
    const dataDir = temp.make('ayi-receipts-old-');
    const hub = await start(dataDir);
    const tablet = await pairedTablet(hub, '1111', 'Counter');
    const sale = await sell(tablet, drink());
    await new Promise((resolve) => setTimeout(resolve, 50));
    rmSync(path.join(dayDir(dataDir, sale), `${sale.saleId}-p1.original.txt`), { force: true });
    expect(await recovery(hub).printMissingOriginals(0)).toBe(0);
    expect(existsSync(path.join(dayDir(dataDir, sale), `${sale.saleId}-p1.original.txt`))).toBe(false);
  });

  it('keeps a reprint made while the original is missing a copy, and prints the original beside it', async () => {
    const dataDir = temp.make('ayi-receipts-copy-');
    const first = await start(dataDir);
    const tablet = await pairedTablet(first, '1111', 'Counter');
    const sale = await sell(tablet, drink());
    await receipts(tablet, sale.saleId); // (waits for the original to be out of the printer)
    rmSync(path.join(dayDir(dataDir, sale), `${sale.saleId}-p1.original.txt`));

    const reprint = await tablet.request('POST', `/api/sales/${sale.saleId}/reprint`);
    expect(reprint.status).toBe(200);
    expect(reprint.body).toMatchObject({ jobId: `${sale.saleId}-p2`, kind: 'copy' });
    expect(reprint.body.text).toContain('COPY');
    expect((await receipts(tablet, sale.saleId)).map((j) => [j.jobId, j.kind])).toEqual([
      [`${sale.saleId}-p2`, 'copy'],
    ]);
    await first.stop();

    // Restarted (the hub itself may print the missing original at start-up as well).
    const second = await start(dataDir);
    const again = moved(tablet, second);
    expect(await recovery(second).printMissingOriginals()).toBeLessThanOrEqual(1);
    const jobs = await receipts(again, sale.saleId);
    expect(Object.fromEntries(jobs.map((j) => [j.jobId, j.kind]))).toEqual({
      [`${sale.saleId}-p1`]: 'original',
      [`${sale.saleId}-p2`]: 'copy',
    });
    expect(jobs.find((j) => j.kind === 'original')!.text).not.toContain('COPY');
  });
});
