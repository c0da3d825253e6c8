/**
 * Hardware scanners (D2): starts a driver per configured scanner, and sends each scan to the
 * tablet the scanner is assigned to (a technician's `assignedTo` at start, changed by `assign`).
 * The WebSocket hears of it on the bus (`scanner.scan`) and tells that tablet's socket(s) only.
 *
 * A scan from an unassigned scanner goes nowhere: it is dropped with a log line that names the
 * scanner, never the code (a member code or a carrier barcode is personal data), and counted in the
 * scanner's lastError so the admin page shows why the scans vanish.
 *
 * Keyboard-wedge scanners plugged into a tablet need none of this: the page reads them.
 */
import type { Logger } from 'pino';
import { DomainError } from '../domain/errors.js';
import type { ScannerConfig } from '../devices/device-config.js';
import type { DeviceRegistry } from '../devices/device-registry.js';
import type { ScanEvent } from '../devices/device-types.js';
import { HidScannerDriver } from '../devices/hid-scanner.driver.js';
import {
  SerialScannerDriver,
  type ScannerDriver,
  type ScannerDriverContext,
} from '../devices/serial-scanner.driver.js';
import type { Bus } from '../bus/bus.js';

/** A scan on its way to one tablet. */
export interface ScanDelivery extends ScanEvent {
  /** The paired tablet (device id) the scanner is assigned to. */
  deviceId: string;
}

/** lastError of a scanner whose scans are dropped (counted after it). */
const DROPPED_PREFIX = 'not assigned to a tablet';

export type ScannerDriverFactory = (config: ScannerConfig, ctx: ScannerDriverContext) => ScannerDriver;

export const defaultScannerDrivers: ScannerDriverFactory = (config, ctx) =>
  config.transport === 'serial' ? new SerialScannerDriver(config, ctx) : new HidScannerDriver(config, ctx);

export interface ScanningOptions {
  registry: DeviceRegistry;
  bus: Bus;
  log: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  drivers?: ScannerDriverFactory;
  /** Reopening a scanner that failed: first wait, doubling up to the longest (ms). */
  backoff?: { minMs: number; maxMs: number };
}

export class ScanningService {
  private readonly assignments = new Map<string, string | null>();
  private readonly dropped = new Map<string, number>();
  private readonly drivers: ScannerDriver[] = [];
  private started = false;

  constructor(
    private readonly scanners: readonly ScannerConfig[],
    private readonly options: ScanningOptions,
  ) {
    for (const scanner of scanners) this.assignments.set(scanner.id, scanner.assignedTo);
  }

  /** Registers every scanner with the registry (unless the hub did) and starts its driver. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const { registry, log, backoff } = this.options;
    const factory = this.options.drivers ?? defaultScannerDrivers;
    for (const config of this.scanners) {
      // The hub may have registered it already (it lists devices before drivers start).
      if (registry.get(config.id)) registry.update(config.id, { assignedTo: this.assignments.get(config.id) ?? null });
      else
        registry.register({
          deviceId: config.id,
          kind: 'scanner',
          name: config.name,
          transport: config.transport,
          connected: false,
          paper: null,
          queueLength: null,
          lastError: null,
          assignedTo: this.assignments.get(config.id) ?? null,
        });
      const driver = factory(config, {
        registry,
        log,
        onScan: (scan) => this.handleScan(scan),
        ...(backoff ? { backoff } : {}),
      });
      this.drivers.push(driver);
      driver.start();
    }
  }

  async stop(): Promise<void> {
    const drivers = this.drivers.splice(0);
    this.started = false;
    await Promise.all(drivers.map((d) => d.stop().catch(() => undefined)));
  }

  /** The tablet a scanner's scans go to (null: nowhere). */
  assignmentOf(scannerId: string): string | null {
    this.requireScanner(scannerId);
    return this.assignments.get(scannerId) ?? null;
  }

  /** Sends a scanner's scans to another tablet (null: to none), from now on. */
  assign(scannerId: string, deviceId: string | null): void {
    this.requireScanner(scannerId);
    this.assignments.set(scannerId, deviceId);
    this.dropped.delete(scannerId);
    const current = this.options.registry.get(scannerId);
    this.options.registry.update(scannerId, {
      assignedTo: deviceId,
      // The "scans dropped" note was about the old assignment.
      ...(current?.lastError?.startsWith(DROPPED_PREFIX) ? { lastError: null } : {}),
    });
    this.options.log.info({ scannerId, deviceId }, 'scanner assigned');
  }

  /** A scan from a driver: to its tablet, or dropped (and counted) when the scanner serves none. */
  handleScan(scan: ScanEvent): void {
    const deviceId = this.assignments.get(scan.scannerId);
    if (deviceId === undefined) return; // not a configured scanner
    if (deviceId === null) {
      const count = (this.dropped.get(scan.scannerId) ?? 0) + 1;
      this.dropped.set(scan.scannerId, count);
      // Never the code: it may be a member code or an e-invoice carrier.
      this.options.log.warn({ scannerId: scan.scannerId, dropped: count }, 'scan dropped: scanner not assigned');
      this.options.registry.update(scan.scannerId, {
        lastError: `${DROPPED_PREFIX}: ${count} scan${count === 1 ? '' : 's'} dropped`,
      });
      return;
    }
    this.options.bus.emit('scanner.scan', { ...scan, deviceId });
  }

  private requireScanner(scannerId: string): void {
    if (!this.assignments.has(scannerId)) {
      throw new DomainError('not_found', `No scanner ${scannerId} is configured`, { scannerId }, 404);
    }
  }
}
