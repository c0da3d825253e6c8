/**
 * The store's hardware, composed: the registry of devices, the print spooler over the configured
 * printers and the scanners routed to their tablets. Part of the composition root (hub.ts), kept
 * apart so the hub's start-up reads in one screen.
 */
import type { Logger } from 'pino';
import type { Bus } from './bus/bus.js';
import type { DevicesConfig, ScannerConfig } from './devices/device-config.js';
import { DeviceRegistry } from './devices/device-registry.js';
import { sharedUsbBus } from './devices/usb-access.js';
import { DomainError } from './domain/errors.js';
import type { StoreState } from './domain/store-state.js';
import type { ReceiptContext } from './domain/receipt.js';
import { PrintingService, printerTransport } from './services/printing.service.js';
import { ScanningService } from './services/scanning.service.js';
import { escposPrinterClass } from './devices/escpos/escpos-printer.js';
import type { SecurityService } from './services/security.service.js';
import type { EventStore } from './storage/event-store.js';
import type { HardwareContext } from './transport/http/hardware.routes.js';

export interface HardwareDeps {
  dataDir: string;
  devices: DevicesConfig;
  state: StoreState;
  events: EventStore;
  security: SecurityService;
  bus: Bus;
  receipt: Pick<ReceiptContext, 'storeName' | 'storeId' | 'timeZone' | 'program'> & {
    memberOf: (memberId: string) => ReceiptContext['member'];
  };
  log: Logger;
  clock: () => Date;
}

export interface Hardware {
  registry: DeviceRegistry;
  printing: PrintingService;
  scanning: ScanningService;
  /** What the HTTP routes may do with it. */
  routes: HardwareContext;
  /** Queues the jobs left in the spool, opens the scanners. */
  start(): Promise<void>;
  /** Loads what rendering a receipt needs (slow to load), ahead of the first receipt. */
  loadReceiptEncoder(): void;
  stop(): Promise<void>;
}

export async function buildHardware(deps: HardwareDeps): Promise<Hardware> {
  const { devices, state, bus, log, clock } = deps;
  // Registered before the drivers start, so their first reports land on these entries.
  const registry = new DeviceRegistry(clock);
  for (const printer of devices.printers) {
    registry.register({
      deviceId: printer.id,
      kind: 'printer',
      name: printer.name,
      transport: printer.transport,
      connected: printer.transport === 'virtual',
      paper: printer.transport === 'virtual' ? 'ok' : 'unknown',
      queueLength: 0,
      lastError: null,
      assignedTo: null,
    });
  }
  // A manager's assignment (journalled) wins over the device file's.
  const assignmentOf = (scanner: ScannerConfig) =>
    state.scannerAssignments.has(scanner.id) ? state.scannerAssignments.get(scanner.id)! : scanner.assignedTo;
  for (const scanner of devices.scanners) {
    registry.register({
      deviceId: scanner.id,
      kind: 'scanner',
      name: scanner.name,
      transport: scanner.transport,
      connected: false,
      paper: null,
      queueLength: null,
      lastError: null,
      assignedTo: assignmentOf(scanner),
    });
  }
  registry.onChange((device) => bus.emit('device.status', device));

  // One guarded `usb` bus for printers and scanners; where there is none it says so once.
  const usb =
    devices.printers.some((p) => p.transport === 'usb') || devices.scanners.some((s) => s.transport === 'hid')
      ? (await sharedUsbBus(log.child({ component: 'usb' }))).bus
      : null;
  const printing = new PrintingService(
    state,
    {
      dataDir: deps.dataDir,
      printers: devices.printers.map((printer) => ({ config: printer, transport: printerTransport(printer, usb) })),
      registry,
      log: log.child({ component: 'printing' }),
    },
    deps.receipt,
    (saleId, err) => log.error({ err, saleId }, 'receipt printing failed'),
    clock,
  );
  const scanning = new ScanningService(
    devices.scanners.map((s) => ({ ...s, assignedTo: assignmentOf(s) })),
    { registry, bus, log: log.child({ component: 'scanners' }) },
  );

  const routes: HardwareContext = {
    devices: () => registry.list(),
    defaultPrinterId: devices.printers.find((p) => p.default)?.id ?? null,
    printTestPage: (printerId) => printing.printTestPage(printerId),
    assignScanner: async (scannerId, tabletId, staffId) => {
      if (!devices.scanners.some((s) => s.id === scannerId)) {
        throw new DomainError('not_found', `No scanner ${scannerId}`, undefined, 404);
      }
      if (tabletId !== null && !deps.security.listDevices().some((d) => d.deviceId === tabletId && !d.revokedAt)) {
        throw new DomainError('not_found', `No paired tablet ${tabletId}`, undefined, 404);
      }
      await deps.events.record('scanner.assigned', { scannerId, deviceId: tabletId, staffId });
      scanning.assign(scannerId, tabletId);
      return registry.get(scannerId)!;
    },
  };

  return {
    registry,
    printing,
    scanning,
    routes,
    async start() {
      await printing.start();
      scanning.start();
    },
    loadReceiptEncoder() {
      // Loading `escpos` takes ~150 ms of synchronous work: once the hub answers (not while it
      // starts), and not in the middle of the first sale.
      escposPrinterClass();
    },
    async stop() {
      await scanning.stop();
      await printing.stop();
    },
  };
}
