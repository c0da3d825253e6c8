/**
 * The print spooler with real printers' transports: a TCP 9100 printer (a real socket server that
 * answers DLE EOT) and a USB printer (the fake `usb` bus, the one thing that cannot be real here).
 * Real receipts of real sales (a hub in this process), decoded back from the bytes the printer got.
 * The spooler is built here over the hub's projection; the hub's own wiring of non-virtual
 * printers is tested at the end.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import type { PrinterConfig } from '../../hub/src/devices/device-config.ts';
import { DeviceRegistry } from '../../hub/src/devices/device-registry.ts';
import { decodeEscPos } from '../../hub/src/devices/escpos/escpos-decoder.ts';
import { NetworkPrinterTransport } from '../../hub/src/devices/network-printer.driver.ts';
import { UsbPrinterTransport } from '../../hub/src/devices/usb-printer.driver.ts';
import { displayWidth } from '../../hub/src/domain/receipt.ts';
import { PrintingService, type SpoolPrinter } from '../../hub/src/services/printing.service.ts';
import { FakeUsbPrinter, FakeWebUsb, until } from '../support/fake-usb.ts';
import { pairedTablet, startTestHub, type TabletClient } from '../support/test-hub.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { Virtual9100Printer } from '../support/virtual-9100-printer.ts';

const temp = new TempDirs();
let hub: Hub;
let tablet: TabletClient;
const services: PrintingService[] = [];
const printers: Virtual9100Printer[] = [];
const hubs: Hub[] = [];

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make('ayi-printers-hub-') });
  tablet = await pairedTablet(hub, '1111', 'Counter');
});

afterAll(async () => {
  for (const service of services) await service.stop();
  for (const printer of printers) await printer.close();
  for (const other of hubs) await other.stop();
  await hub.stop();
  temp.removeAll();
});

const common = { encoding: 'cp950' as const, default: true, cashDrawer: true };
const networkConfig = (printer: Virtual9100Printer, paperWidth: 80 | 58 = 80): PrinterConfig => ({
  id: 'counter',
  name: '櫃台印表機',
  transport: 'network',
  host: printer.host,
  port: printer.port,
  paperWidth,
  ...common,
});
const usbConfig = (paperWidth: 80 | 58 = 58): PrinterConfig => ({
  id: 'usb-printer',
  name: 'USB 印表機',
  transport: 'usb',
  vendorId: 0x04b8,
  productId: 0x0202,
  serialNumber: 'TM-T20-1',
  paperWidth,
  ...common,
});

/** A hub of its own, for tests that recover missing originals (every recent sale of its store). */
async function ownHub(): Promise<{ hub: Hub; tablet: TabletClient }> {
  const own = await startTestHub({ dataDir: temp.make('ayi-printers-own-') });
  hubs.push(own);
  return { hub: own, tablet: await pairedTablet(own, '1111', 'Counter') };
}

async function startPrinter(): Promise<Virtual9100Printer> {
  const printer = await Virtual9100Printer.start();
  printers.push(printer);
  return printer;
}

function spooler(
  dataDir: string,
  printerSetups: SpoolPrinter[],
  registry = new DeviceRegistry(),
  on: Hub = hub,
): PrintingService {
  const service = new PrintingService(
    on.state,
    { dataDir, printers: printerSetups, registry, retry: { firstMs: 20, maxMs: 200 }, waitMs: 2000, drainMs: 200 },
    { storeName: hub.config.storeName, storeId: hub.config.storeId, timeZone: hub.config.tz },
    (saleId, err) => {
      throw new Error(`printing ${saleId} failed: ${String(err)}`);
    },
    () => new Date(),
  );
  services.push(service);
  return service;
}

const network = (config: PrinterConfig): SpoolPrinter => {
  if (config.transport !== 'network') throw new Error('not a network printer');
  return {
    config,
    transport: new NetworkPrinterTransport({
      host: config.host,
      port: config.port,
      connectTimeoutMs: 500,
      statusTimeoutMs: 300,
    }),
  };
};

const usb = (config: PrinterConfig, bus: FakeWebUsb, chunkBytes = 4096): SpoolPrinter => {
  if (config.transport !== 'usb') throw new Error('not a USB printer');
  return {
    config,
    transport: new UsbPrinterTransport(bus, { ...config, chunkBytes, chunkTimeoutMs: 500, statusTimeoutMs: 200 }),
  };
};

const chineseCart = () =>
  checkoutRequest(
    [
      { sku: 'SNK-004', qty: 2 },
      { sku: 'DRK-001', qty: 1 },
    ],
    [{ type: 'cash', amount: 100 }],
  );
const cardCart = () => checkoutRequest([{ sku: 'SNK-002', qty: 1 }], [{ type: 'card', amount: 30 }]);

/** Occurrences of GS V (cut) in raw bytes: complete receipts on the paper. */
function cutsIn(bytes: number[]): number {
  let count = 0;
  for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 0x1d && bytes[i + 1] === 0x56) count += 1;
  return count;
}

const decode = (bytes: number[], columns: number) =>
  decodeEscPos(Uint8Array.from(bytes), { encoding: 'cp950', columns });

function expectReceipt(bytes: number[], sale: SaleView, columns: number) {
  const printed = decode(bytes, columns);
  const text = printed.lines.join('\n');
  expect(text).toContain(hub.config.storeName);
  expect(text).toContain(sale.saleId);
  expect(text).toContain('張君雅小妹妹');
  expect(text).toContain('統一麥香紅茶');
  expect(text).toMatch(/合計 TOTAL +NT\$55/);
  expect(text).toMatch(/找零 CHANGE +45/);
  for (const line of printed.lines) expect(displayWidth(line)).toBeLessThanOrEqual(columns);
  expect(printed.qrCodes.join(' ')).toContain(sale.saleId);
  expect(printed.barcodes.map((b) => b.data).join(' ')).toContain(sale.saleId);
  expect(printed.cuts).toBe(1);
  return printed;
}

const spoolFiles = (dataDir: string, printerId: string) => {
  const dir = path.join(dataDir, 'spool', printerId);
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe('receipts on real printers', () => {
  it('prints a Chinese receipt on an 80 mm network printer, kicks the drawer for cash, keeps the text', async () => {
    const printer = await startPrinter();
    const dataDir = temp.make('ayi-printers-');
    const registry = new DeviceRegistry();
    const printing = spooler(dataDir, [network(networkConfig(printer, 80))], registry);
    const sale = await sell(tablet, chineseCart());
    printing.printOriginal(sale.saleId);
    await until(() => cutsIn(printer.printed) === 1, 5000, 'the receipt');
    const printed = expectReceipt(printer.printed, sale, 42);
    expect(printed.drawerKicks).toBe(1);
    expect(printer.statusRequests).toBeGreaterThanOrEqual(3); // asked before printing

    const [job] = await printing.receipts(sale.saleId);
    expect(job).toMatchObject({ jobId: `${sale.saleId}-p1`, kind: 'original' });
    expect(job!.text).toBe(`${printed.lines.join('\n')}\n`);
    // The printer has the bytes a moment before the spooler hears the write finish and drops the job.
    await until(() => registry.get('counter')?.queueLength === 0, 5000, 'the queue to empty');
    expect(registry.get('counter')).toMatchObject({ connected: true, paper: 'ok', queueLength: 0, lastError: null });
    expect(spoolFiles(dataDir, 'counter')).toEqual([]);

    // a card sale opens no drawer; a reprint says COPY and opens none either
    const card = await sell(tablet, cardCart());
    printing.printOriginal(card.saleId);
    const copy = await printing.reprint(sale.saleId);
    expect(copy).toMatchObject({ jobId: `${sale.saleId}-p2`, kind: 'copy', queued: false });
    expect(copy.text).toContain('COPY');
    await until(() => cutsIn(printer.printed) === 3, 5000, 'three receipts');
    expect(decode(printer.printed, 42).drawerKicks).toBe(1);
  });

  it('prints a Chinese receipt on a 58 mm USB printer: detaches usblp, claims, writes in chunks', async () => {
    const bus = new FakeWebUsb();
    const device = new FakeUsbPrinter({
      vendorId: 0x04b8,
      productId: 0x0202,
      serialNumber: 'TM-T20-1',
      interfaceNumber: 1,
    });
    const other = new FakeUsbPrinter({ vendorId: 0x04b8, productId: 0x0202, serialNumber: 'TM-T20-2' });
    bus.plug(other);
    bus.plug(device);
    const printing = spooler(temp.make('ayi-printers-usb-'), [usb(usbConfig(58), bus, 256)]);
    const sale = await sell(tablet, chineseCart());
    printing.printOriginal(sale.saleId);
    await until(() => cutsIn(device.received) === 1, 5000, 'the receipt');
    expectReceipt(device.received, sale, 32);
    expect(device.kernelDriverBound).toBe(false);
    expect(other.received).toEqual([]); // the serial number picked the right one
  });
});

describe('a printer that cannot print holds its queue; the sale is never blocked or lost', () => {
  it('unplugged mid-job and plugged back: the queue resumes by itself and the receipt prints once', async () => {
    const bus = new FakeWebUsb();
    const device = new FakeUsbPrinter({ vendorId: 0x04b8, productId: 0x0202, serialNumber: 'TM-T20-1' });
    bus.plug(device);
    const registry = new DeviceRegistry();
    const dataDir = temp.make('ayi-printers-unplug-');
    // long waits between tries: only the replug can bring the queue back this fast
    const printing = new PrintingService(
      hub.state,
      { dataDir, printers: [usb(usbConfig(80), bus, 64)], registry, retry: { firstMs: 60_000, maxMs: 60_000 } },
      { storeName: hub.config.storeName, storeId: hub.config.storeId, timeZone: hub.config.tz },
      () => undefined,
      () => new Date(),
    );
    services.push(printing);
    device.stallAfterBytes = 200; // the printer stops taking data partway through the job
    const sale = await sell(tablet, chineseCart());
    printing.printOriginal(sale.saleId);
    await until(() => device.transferring, 5000, 'the job to be in the middle of a transfer');
    expect(spoolFiles(dataDir, 'usb-printer')).toHaveLength(1);

    bus.unplug(device);
    await until(() => registry.get('usb-printer')?.connected === false, 2000, 'unplugged status');
    expect(registry.get('usb-printer')).toMatchObject({ queueLength: 1 });
    expect(cutsIn(device.received)).toBe(0); // a partial receipt, no cut

    device.release();
    bus.plug(device); // usblp binds again: the driver must detach it and claim anew
    expect(device.kernelDriverBound).toBe(true);
    await until(() => cutsIn(device.received) === 1, 5000, 'the receipt after the replug');
    expectReceipt(device.receivedSincePlug, sale, 42);
    expect(device.kernelDriverDetaches).toBe(2);
    expect(device.claimed).toBe(true);
    expect(cutsIn(device.received)).toBe(1);
    const jobs = await printing.receipts(sale.saleId);
    expect(jobs.map((j) => j.jobId)).toEqual([`${sale.saleId}-p1`]);
    expect(registry.get('usb-printer')).toMatchObject({ connected: true, queueLength: 0, lastError: null });
    expect(spoolFiles(dataDir, 'usb-printer')).toEqual([]);
  });

  it('out of paper (DLE EOT): holds the queue, prints when paper is back', async () => {
    const printer = await startPrinter();
    printer.setStatus({ paper: 'out' });
    const registry = new DeviceRegistry();
    const dataDir = temp.make('ayi-printers-paper-');
    const printing = spooler(dataDir, [network(networkConfig(printer))], registry);
    const first = await sell(tablet, chineseCart());
    const second = await sell(tablet, cardCart());
    printing.printOriginal(first.saleId);
    printing.printOriginal(second.saleId);
    await until(() => registry.get('counter')?.paper === 'out', 2000, 'paper out reported');
    await until(() => registry.get('counter')?.queueLength === 2, 2000, 'both jobs queued');
    expect(registry.get('counter')).toMatchObject({ connected: true });
    expect(registry.get('counter')!.lastError).toMatch(/paper/);
    expect(printer.printed).toEqual([]);
    expect(printer.waiting).toBe(0); // nothing was sent to a printer without paper
    expect(spoolFiles(dataDir, 'counter')).toHaveLength(2);
    // the receipt list answers at once, without the held jobs
    const started = Date.now();
    expect(await printing.receipts(first.saleId)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(1000);

    printer.setStatus({ paper: 'ok' });
    await until(() => cutsIn(printer.printed) === 2, 5000, 'both receipts');
    const text = decode(printer.printed, 42).lines.join('\n');
    expect(text.indexOf(first.saleId)).toBeLessThan(text.indexOf(second.saleId)); // in order
    await until(() => registry.get('counter')?.queueLength === 0, 2000, 'the queue to empty');
    expect(registry.get('counter')).toMatchObject({ paper: 'ok', lastError: null });
  });

  it('a switched-off printer: the jobs survive a hub restart and print after it, once, in order', async () => {
    const printer = await startPrinter();
    await printer.switchOff();
    const dataDir = temp.make('ayi-printers-restart-');
    const config = networkConfig(printer);
    const own = await ownHub();
    const before = spooler(dataDir, [network(config)], new DeviceRegistry(), own.hub);
    const first = await sell(own.tablet, chineseCart());
    const second = await sell(own.tablet, cardCart());
    before.printOriginal(first.saleId);
    before.printOriginal(second.saleId);
    await until(() => spoolFiles(dataDir, 'counter').length === 2, 2000, 'two spooled jobs');
    await before.stop();
    expect(spoolFiles(dataDir, 'counter')).toHaveLength(2);

    await printer.switchOn();
    const registry = new DeviceRegistry();
    const after = spooler(dataDir, [network(config)], registry, own.hub);
    await after.start();
    await until(() => cutsIn(printer.printed) === 2, 5000, 'the two receipts after the restart');
    const text = decode(printer.printed, 42).lines.join('\n');
    expect(text.indexOf(first.saleId)).toBeLessThan(text.indexOf(second.saleId));
    await until(() => spoolFiles(dataDir, 'counter').length === 0, 2000, 'the spool to empty');
    // a retry after the restart finds them printed
    after.printOriginal(first.saleId);
    expect(await after.printMissingOriginals()).toBe(0);
    await after.drain();
    expect(cutsIn(printer.printed)).toBe(2);
    expect((await after.receipts(first.saleId)).map((j) => j.jobId)).toEqual([`${first.saleId}-p1`]);
  });

  it('a retried job id prints once; reprints take the next numbers', async () => {
    const printer = await startPrinter();
    const own = await ownHub();
    const printing = spooler(temp.make('ayi-printers-retry-'), [network(networkConfig(printer))], undefined, own.hub);
    const sale = await sell(own.tablet, cardCart());
    printing.printOriginal(sale.saleId);
    printing.printOriginal(sale.saleId);
    await printing.printMissingOriginals();
    printing.printOriginal(sale.saleId);
    const [a, b] = await Promise.all([printing.reprint(sale.saleId), printing.reprint(sale.saleId)]);
    expect([a.jobId, b.jobId]).toEqual([`${sale.saleId}-p2`, `${sale.saleId}-p3`]);
    await printing.drain();
    expect(cutsIn(printer.printed)).toBe(3);
    expect((await printing.receipts(sale.saleId)).map((j) => [j.jobId, j.kind])).toEqual([
      [`${sale.saleId}-p1`, 'original'],
      [`${sale.saleId}-p2`, 'copy'],
      [`${sale.saleId}-p3`, 'copy'],
    ]);
  });

  it('a printer that drops the connection is reconnected; a reprint on an offline printer is accepted, queued', async () => {
    const printer = await startPrinter();
    const printing = spooler(temp.make('ayi-printers-drop-'), [network(networkConfig(printer))]);
    const sale = await sell(tablet, cardCart());
    printing.printOriginal(sale.saleId);
    await until(() => cutsIn(printer.printed) === 1, 5000, 'the original');
    printer.dropConnections();
    await printing.reprint(sale.saleId);
    expect(cutsIn(printer.printed)).toBe(2);
    expect(printer.connectionsAccepted).toBe(2);

    await printer.switchOff();
    const started = Date.now();
    const copy = await printing.reprint(sale.saleId);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(copy).toMatchObject({ jobId: `${sale.saleId}-p3`, queued: true });
    await printer.switchOn();
    await until(() => cutsIn(printer.printed) === 3, 5000, 'the held copy');
  });
});

describe('what the tablets learn without printing, and a printed job stays printed', () => {
  it('asks an idle printer how it is: connected at start, paper out noticed before any receipt', async () => {
    const printer = await startPrinter();
    const registry = new DeviceRegistry();
    const dataDir = temp.make('ayi-printers-idle-');
    const service = new PrintingService(
      hub.state,
      { dataDir, printers: [network(networkConfig(printer))], registry, idleProbeMs: 50, drainMs: 200 },
      { storeName: hub.config.storeName, storeId: hub.config.storeId, timeZone: hub.config.tz },
      () => undefined,
      () => new Date(),
    );
    services.push(service);
    await service.start();
    await until(() => registry.get('counter')?.connected === true, 2000, 'connected at start');
    expect(registry.get('counter')).toMatchObject({ paper: 'ok', lastError: null, queueLength: 0 });
    printer.setStatus({ paper: 'out' });
    await until(() => registry.get('counter')?.paper === 'out', 2000, 'paper out noticed while idle');
    expect(registry.get('counter')!.lastError).toMatch(/paper/);
    printer.setStatus({ paper: 'ok' });
    await until(() => registry.get('counter')?.lastError === null, 2000, 'paper back noticed');
    expect(printer.printed).toEqual([]);
  });

  it('a receipt the printer took is not sent again when its text copy cannot be saved', async () => {
    const printer = await startPrinter();
    const dataDir = temp.make('ayi-printers-archive-');
    const printing = spooler(dataDir, [network(networkConfig(printer))]);
    const sale = await sell(tablet, cardCart());
    // Where the day's copies go there is a file: every save of a copy fails (ENOTDIR).
    mkdirSync(path.join(dataDir, 'printer', 'counter'), { recursive: true });
    writeFileSync(path.join(dataDir, 'printer', 'counter', sale.businessDate), 'not a directory');
    printing.printOriginal(sale.saleId);
    await until(() => cutsIn(printer.printed) === 1, 3000, 'the receipt');
    await until(() => spoolFiles(dataDir, 'counter').length === 0, 2000, 'the job done');
    await new Promise((resolve) => setTimeout(resolve, 300)); // backoff would retry within 20-200 ms
    expect(cutsIn(printer.printed)).toBe(1);
  });
});

describe('receipts when the disk refuses their text copy (full) and then has room again', () => {
  it('prints nothing twice and opens no drawer for an original printed late', async () => {
    const { hub: own, tablet: counter } = await ownHub();
    const printer = await startPrinter();
    const dataDir = temp.make('ayi-printers-late-');
    const printing = spooler(dataDir, [network(networkConfig(printer))], new DeviceRegistry(), own);
    const sale = await sell(counter, chineseCart());
    // Every save of a copy for the day fails (as on a full disk), while the printer prints.
    mkdirSync(path.join(dataDir, 'printer', 'counter'), { recursive: true });
    writeFileSync(path.join(dataDir, 'printer', 'counter', sale.businessDate), 'not a directory');
    printing.printOriginal(sale.saleId);
    await until(() => cutsIn(printer.printed) === 1, 3000, 'the receipt');
    await until(() => spoolFiles(dataDir, 'counter').length === 0, 2000, 'the job done');
    expect(decode(printer.printed, 42).drawerKicks).toBe(1);

    // A cash sale whose receipt never printed (its spool file was refused); then space is back and
    // the hub prints the originals that are missing: that one, once, and no drawer.
    const late = await sell(counter, chineseCart());
    expect(await printing.printMissingOriginals()).toBe(1);
    await until(() => cutsIn(printer.printed) === 2, 3000, 'the late receipt');
    expect(await printing.printMissingOriginals()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const printed = decode(printer.printed, 42);
    expect(printed.cuts).toBe(2);
    expect(printed.drawerKicks).toBe(1);
    expect(printed.lines.join('\n')).toContain(late.saleId);
  });
});

describe('the hub with a network printer (devices.json)', () => {
  it('answers a sale while the printer is off, and prints it when the printer is back', async () => {
    const printer = await startPrinter();
    await printer.switchOff();
    const dataDir = temp.make('ayi-printers-hubwired-');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      path.join(dataDir, 'devices.json'),
      JSON.stringify({ printers: [networkConfig(printer)], scanners: [] }),
      { mode: 0o600 },
    );
    const wired = await startTestHub({ dataDir });
    try {
      const counter = await pairedTablet(wired, '1111', 'Counter');
      const started = Date.now();
      const sale = await sell(counter, chineseCart());
      expect(Date.now() - started).toBeLessThan(2000);
      await until(() => spoolFiles(dataDir, 'counter').length === 1, 3000, 'the spooled receipt');
      await printer.switchOn();
      await until(() => cutsIn(printer.printed) === 1, 20_000, 'the receipt');
      expectReceipt(printer.printed, sale, 42);
    } finally {
      await wired.stop();
    }
  });

  it.skipIf(existsSync('/sys/bus/usb/devices'))(
    'starts on a machine without a USB bus with a USB printer and scanner configured, sells, and says why they are off',
    async () => {
      const dataDir = temp.make('ayi-printers-nousb-');
      writeFileSync(
        path.join(dataDir, 'devices.json'),
        JSON.stringify({
          printers: [usbConfig(80)],
          scanners: [
            {
              id: 'hid-1',
              name: 'HID scanner',
              transport: 'hid',
              vendorId: 0x0c2e,
              productId: 0x0900,
              serialNumber: null,
              assignedTo: null,
            },
          ],
        }),
        { mode: 0o600 },
      );
      const wired = await startTestHub({ dataDir });
      try {
        const counter = await pairedTablet(wired, '1111', 'Counter');
        const sale = await sell(counter, cardCart());
        expect(sale.total).toBe(30);
        await until(
          () => wired.hardware.registry.get('usb-printer')?.lastError !== null,
          3000,
          'the printer to say why it is off',
        );
        expect(wired.hardware.registry.get('usb-printer')).toMatchObject({ connected: false });
        expect(wired.hardware.registry.get('usb-printer')!.lastError).toMatch(/USB/i);
        await until(() => wired.hardware.registry.get('hid-1')?.lastError !== null, 3000, 'the scanner to say why');
        expect(wired.hardware.registry.get('hid-1')!.lastError).toMatch(/USB/i);
      } finally {
        await wired.stop();
      }
    },
  );
});
