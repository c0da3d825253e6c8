/// <reference types="w3c-web-usb" />
/**
 * A USB HID keyboard scanner read directly through `usb` v3 (WebUSB API), so its codes reach the
 * hub instead of being typed into whatever has focus: find the device by vendor/product (and serial
 * when two of a model are plugged in), claim its boot keyboard interface (class 3, subclass 1,
 * protocol 1) after detaching the kernel's keyboard driver, read 8-byte boot reports from the
 * interrupt IN endpoint, decode them (hid-keymap.ts); Enter ends a scan.
 *
 * Where the machine has no USB bus (CI, containers: no /sys/bus/usb) the hub starts normally and
 * says so once (the shared bus of usb-access.ts); the scanner shows as not connected with the
 * reason. While the scanner is missing it is looked for again with a backoff.
 *
 * The device access is injectable (`HidUsbAccess`): tests hand in a fake device typed against
 * `usb`'s own types.
 */
import type { Logger } from 'pino';
import type { UsbDevice } from 'usb/index.js';
import { sameDevice, sharedUsbBus } from './usb-access.js';
import type { ScannerConfig } from './device-config.js';
import type { ScanEvent } from './device-types.js';
import { parseAim } from './aim-symbology.js';
import { BootKeyboardDecoder } from './hid-keymap.js';
import {
  Backoff,
  DEFAULT_BACKOFF,
  messageOf,
  type ScannerDriver,
  type ScannerDriverContext,
} from './serial-scanner.driver.js';

export type HidScannerConfig = Extract<ScannerConfig, { transport: 'hid' }>;

/** What the driver uses of a `usb` device (UsbDevice is `usb`'s WebUSB device). */
export type HidUsbDevice = Pick<
  UsbDevice,
  | 'vendorId'
  | 'productId'
  | 'serialNumber'
  | 'opened'
  | 'configuration'
  | 'configurations'
  | 'open'
  | 'close'
  | 'selectConfiguration'
  | 'claimInterface'
  | 'releaseInterface'
  | 'detachKernelDriver'
  | 'controlTransferOut'
  | 'transferIn'
  | 'clearHalt'
>;

/** How the driver finds devices; the real one is the hub's shared `usb` bus, a test's is a fake. */
export interface HidUsbAccess {
  /** Null when there is a USB bus; otherwise why there is none. */
  unavailable(): Promise<string | null>;
  find(vendorId: number, productId: number, serialNumber: string | null): Promise<HidUsbDevice | undefined>;
}

/**
 * The real access: the hub's one guarded `usb` bus (usb-access.ts, shared with the printers; it
 * says once that there is no bus, and never touches `usb` where there is none).
 */
export function sharedHidAccess(log: Pick<Logger, 'info' | 'warn'>): HidUsbAccess {
  return {
    unavailable: async () => (await sharedUsbBus(log)).reason,
    async find(vendorId, productId, serialNumber) {
      const { bus } = await sharedUsbBus(log);
      if (!bus) return undefined;
      const devices = await bus.getDevices();
      return devices.find((d) => sameDevice(d, { vendorId, productId, serialNumber }));
    },
  };
}

const HID_CLASS = 3;
const BOOT_SUBCLASS = 1;
const KEYBOARD_PROTOCOL = 1;
/** HID class request SET_PROTOCOL, value 0 = boot protocol. */
const SET_PROTOCOL = 0x0b;
/** HID class request SET_IDLE, value 0 = report only on change. */
const SET_IDLE = 0x0a;
const BOOT_REPORT_BYTES = 8;

interface BootInterface {
  interfaceNumber: number;
  endpointNumber: number;
  packetSize: number;
}

/** The boot keyboard interface of the active configuration and its interrupt IN endpoint. */
export function findBootKeyboard(configuration: USBConfiguration | undefined): BootInterface | null {
  for (const iface of configuration?.interfaces ?? []) {
    for (const alternate of [iface.alternate, ...iface.alternates]) {
      if (alternate.interfaceClass !== HID_CLASS || alternate.interfaceSubclass !== BOOT_SUBCLASS) continue;
      if (alternate.interfaceProtocol !== KEYBOARD_PROTOCOL) continue;
      const endpoint = alternate.endpoints.find((e) => e.direction === 'in' && e.type === 'interrupt');
      if (endpoint) {
        return {
          interfaceNumber: iface.interfaceNumber,
          endpointNumber: endpoint.endpointNumber,
          packetSize: Math.max(endpoint.packetSize, BOOT_REPORT_BYTES),
        };
      }
    }
  }
  return null;
}

/** An interrupt IN transfer that ended with nothing to read (usb v3 cancels it after its timeout). */
function isIdleTimeout(err: unknown): boolean {
  return /cancel|timed? ?out/i.test(messageOf(err));
}

export class HidScannerDriver implements ScannerDriver {
  readonly scannerId: string;
  private device: HidUsbDevice | null = null;
  private iface: BootInterface | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private loop: Promise<void> | null = null;
  private readonly backoff: Backoff;
  private readonly decoder = new BootKeyboardDecoder();
  private lastLogged: string | null = null;

  constructor(
    private readonly config: HidScannerConfig,
    private readonly ctx: ScannerDriverContext,
    private readonly access: HidUsbAccess = sharedHidAccess(ctx.log),
  ) {
    this.scannerId = config.id;
    this.backoff = new Backoff(ctx.backoff ?? DEFAULT_BACKOFF);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.access.unavailable().then(
      (reason) => {
        if (reason === null) return this.attempt();
        // Logged once for all USB devices by the shared bus; the admin page shows it per scanner.
        this.ctx.registry.update(this.scannerId, { connected: false, lastError: reason });
      },
      (err: unknown) => this.failed(messageOf(err)),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.release();
    await this.loop?.catch(() => undefined);
    this.ctx.registry.update(this.scannerId, { connected: false });
  }

  private attempt(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.loop = this.connectAndRead().catch(async (err: unknown) => {
      await this.release();
      this.failed(messageOf(err));
    });
    return this.loop;
  }

  private async connectAndRead(): Promise<void> {
    const { vendorId, productId, serialNumber } = this.config;
    const device = await this.access.find(vendorId, productId, serialNumber);
    if (this.stopped) return;
    if (!device) throw new Error(`not found (${hex(vendorId)}:${hex(productId)})`);
    this.device = device;
    if (!device.opened) await device.open();
    if (!device.configuration) await device.selectConfiguration(device.configurations[0]?.configurationValue ?? 1);
    const iface = findBootKeyboard(device.configuration);
    if (!iface) throw new Error('no boot keyboard interface (HID class 3, subclass 1, protocol 1)');
    // The kernel's keyboard driver holds the interface; without one bound this fails harmlessly.
    await device.detachKernelDriver(iface.interfaceNumber).catch(() => undefined);
    await device.claimInterface(iface.interfaceNumber);
    this.iface = iface;
    const setup = (request: number): USBControlTransferParameters => ({
      requestType: 'class',
      recipient: 'interface',
      request,
      value: 0,
      index: iface.interfaceNumber,
    });
    // Boot protocol (fixed 8-byte reports) and no repeats; a scanner that refuses still sends reports.
    await device.controlTransferOut(setup(SET_PROTOCOL)).catch(() => undefined);
    await device.controlTransferOut(setup(SET_IDLE)).catch(() => undefined);
    if (this.stopped) return;

    this.decoder.reset();
    this.backoff.reset();
    this.lastLogged = null;
    this.ctx.registry.update(this.scannerId, { connected: true, lastError: null });
    this.ctx.log.info({ scannerId: this.scannerId }, 'scanner connected');
    await this.read(device, iface);
  }

  /** The transfer loop: one report per transfer until the device goes or the driver stops. */
  private async read(device: HidUsbDevice, iface: BootInterface): Promise<void> {
    while (!this.stopped && this.device === device) {
      let result: USBInTransferResult;
      try {
        result = await device.transferIn(iface.endpointNumber, iface.packetSize);
      } catch (err) {
        if (this.stopped || this.device !== device) return;
        if (isIdleTimeout(err)) continue;
        throw new Error(`disconnected: ${messageOf(err)}`);
      }
      if (result.status === 'stall') {
        await device.clearHalt('in', iface.endpointNumber);
        continue;
      }
      const data = result.data;
      if (result.status !== 'ok' || !data) continue;
      const receivedAt = performance.now();
      const report = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      for (const text of this.decoder.push(report)) {
        const { code, symbology } = parseAim(text);
        this.emit({ scannerId: this.scannerId, code, symbology, receivedAt });
      }
    }
  }

  private emit(scan: ScanEvent): void {
    try {
      this.ctx.onScan(scan);
    } catch (err) {
      this.ctx.log.error({ err, scannerId: this.scannerId }, 'scan handler failed');
    }
  }

  /** Lets go of the device (closing it ends a pending transfer). Never throws. */
  private async release(): Promise<void> {
    const device = this.device;
    const iface = this.iface;
    this.device = null;
    this.iface = null;
    if (!device) return;
    if (iface) await device.releaseInterface(iface.interfaceNumber).catch(() => undefined);
    await device.close().catch(() => undefined);
  }

  private failed(reason: string): void {
    if (this.stopped) return;
    this.ctx.registry.update(this.scannerId, { connected: false, lastError: reason });
    if (reason !== this.lastLogged) {
      this.ctx.log.warn({ scannerId: this.scannerId, reason }, 'scanner not available; retrying');
      this.lastLogged = reason;
    }
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.attempt();
    }, this.backoff.take());
    this.retryTimer.unref?.();
  }
}

function hex(id: number): string {
  return id.toString(16).padStart(4, '0');
}
