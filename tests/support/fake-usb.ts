/// <reference types="w3c-web-usb" />
/**
 * A fake `usb` v3 bus and ESC/POS USB printer, typed against the real `usb` types, for the one
 * thing tests cannot have: USB hardware. It reproduces how `usb` v3 (nusb underneath) fails, with
 * its messages:
 * - open() of a device no longer there: "open error: No such device (os error 19)";
 * - claimInterface() while the kernel driver (usblp) is bound or another program holds the
 *   interface: "claimInterface error: Device or resource busy (os error 16)";
 *   detachKernelDriver() with no driver bound: "... No data available (os error 61)";
 * - a transfer on an interface not claimed, or on an endpoint with a transfer in progress (nusb's
 *   endpoints are exclusive): "transferOut error: endpoint not found";
 * - a transfer the printer does not take within its timeout: "transferOut error: Cancelled";
 * - unplugging rejects the transfers in progress ("transferOut error: Disconnected") and emits
 *   `disconnect` on the bus; plugging emits `connect`.
 * The printer answers DLE EOT (a transfer of exactly those 3 bytes) on its bulk IN endpoint.
 */
import type { WebUSB } from 'usb';
import type { PrinterHardwareStatus } from '../../hub/src/devices/device-types.ts';
import { statusBytes } from '../../hub/src/devices/printer-status.ts';
import type { UsbBus, UsbConnectionListener } from '../../hub/src/devices/usb-access.ts';
import type { UsbPrinterDevice } from '../../hub/src/devices/usb-printer.driver.ts';

/** A device as the real `usb` hands it out. */
type RealUsbDevice = Awaited<ReturnType<WebUSB['getDevices']>>[number];

export interface FakePrinterDescriptor {
  vendorId: number;
  productId: number;
  serialNumber: string | null;
  /** The printer interface's number (class 7). A HID interface 0 comes first when this is not 0. */
  interfaceNumber?: number;
  /** Whether the printer has a bulk IN endpoint (status answers). */
  bulkIn?: boolean;
  /** usblp bound to the printer interface at plug-in (Linux). */
  kernelDriver?: boolean;
}

interface Pending {
  reject(err: Error): void;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class FakeUsbPrinter implements UsbPrinterDevice {
  readonly vendorId: number;
  readonly productId: number;
  readonly serialNumber: string | null;
  opened = false;
  /** Another program (CUPS, a second hub) holds the printer interface. */
  claimedElsewhere = false;
  /** What the printer says to DLE EOT. */
  printerStatus: PrinterHardwareStatus = { online: true, coverOpen: false, paper: 'ok', error: false };
  /** The printer stops taking data after this many bytes (a stalled printer) until release(). */
  stallAfterBytes = Number.POSITIVE_INFINITY;
  /** Everything the printer took (status requests excluded). */
  received: number[] = [];
  /** Bytes taken since the last plug-in. */
  receivedSincePlug: number[] = [];
  plugged = false;
  kernelDriverBound: boolean;
  private readonly printerInterface: number;
  private readonly hasBulkIn: boolean;
  private readonly claimed = new Set<number>();
  private readonly busyEndpoints = new Set<string>();
  private readonly pending = new Set<Pending>();
  private statusAnswers: number[] = [];
  private waitingForData: (() => void)[] = [];
  private stallWaiters: (() => void)[] = [];

  constructor(descriptor: FakePrinterDescriptor) {
    this.vendorId = descriptor.vendorId;
    this.productId = descriptor.productId;
    this.serialNumber = descriptor.serialNumber;
    this.printerInterface = descriptor.interfaceNumber ?? 0;
    this.hasBulkIn = descriptor.bulkIn ?? true;
    this.kernelDriverBound = descriptor.kernelDriver ?? true;
  }

  get configuration(): USBConfiguration {
    const endpoint = (endpointNumber: number, direction: USBDirection): USBEndpoint => ({
      endpointNumber,
      direction,
      type: 'bulk',
      packetSize: 64,
    });
    const printer = {
      interfaceNumber: this.printerInterface,
      claimed: this.claimed.has(this.printerInterface),
      alternate: {
        alternateSetting: 0,
        interfaceClass: 7,
        interfaceSubclass: 1,
        interfaceProtocol: this.hasBulkIn ? 2 : 1,
        interfaceName: null,
        endpoints: [endpoint(1, 'out'), ...(this.hasBulkIn ? [endpoint(2, 'in')] : [])],
      },
    };
    const interfaces: USBInterface[] = [];
    if (this.printerInterface !== 0) {
      const hid = {
        alternateSetting: 0,
        interfaceClass: 3,
        interfaceSubclass: 0,
        interfaceProtocol: 0,
        interfaceName: null,
        endpoints: [{ endpointNumber: 3, direction: 'in' as const, type: 'interrupt' as const, packetSize: 8 }],
      };
      interfaces.push({ interfaceNumber: 0, claimed: this.claimed.has(0), alternate: hid, alternates: [hid] });
    }
    interfaces.push({ ...printer, alternates: [printer.alternate] });
    return { configurationValue: 1, configurationName: null, interfaces };
  }

  async open(): Promise<void> {
    if (!this.plugged) throw new Error('open error: No such device (os error 19)');
    this.opened = true;
  }

  async close(): Promise<void> {
    this.opened = false;
    this.claimed.clear();
  }

  async detachKernelDriver(interfaceNumber: number): Promise<void> {
    if (!this.opened) throw new Error('detachKernelDriver error: invalid state');
    if (interfaceNumber !== this.printerInterface || !this.kernelDriverBound) {
      throw new Error('detachKernelDriver error: No data available (os error 61)');
    }
    this.kernelDriverBound = false;
  }

  async claimInterface(interfaceNumber: number): Promise<void> {
    if (!this.opened) throw new Error('claimInterface error: invalid state');
    if (!this.plugged) throw new Error('claimInterface error: No such device (os error 19)');
    const busy = interfaceNumber === this.printerInterface && (this.kernelDriverBound || this.claimedElsewhere);
    if (busy) throw new Error('claimInterface error: Device or resource busy (os error 16)');
    this.claimed.add(interfaceNumber);
  }

  async releaseInterface(interfaceNumber: number): Promise<void> {
    if (!this.opened) throw new Error('releaseInterface error: invalid state');
    if (!this.claimed.delete(interfaceNumber)) throw new Error('releaseInterface error: not claimed');
  }

  async selectAlternateInterface(interfaceNumber: number, alternateSetting: number): Promise<void> {
    if (!this.claimed.has(interfaceNumber) || alternateSetting !== 0) {
      throw new Error('selectAlternateInterface error: invalid state');
    }
  }

  async transferOut(endpointNumber: number, data: Uint8Array, timeout = 1000): Promise<USBOutTransferResult> {
    const key = this.endpointKey(endpointNumber, 'out', 'transferOut');
    try {
      const bytes = [...data];
      if (bytes.length === 3 && bytes[0] === 0x10 && bytes[1] === 0x04 && [1, 2, 4].includes(bytes[2]!)) {
        this.statusAnswers.push(statusBytes(this.printerStatus)[bytes[2] as 1 | 2 | 4]);
        this.wakeReaders();
        return { status: 'ok', bytesWritten: 3 };
      }
      let written = 0;
      for (const byte of bytes) {
        while (this.received.length >= this.stallAfterBytes) {
          await this.pendingWhile('transferOut', timeout, (wake) => this.stallWaiters.push(wake));
        }
        this.received.push(byte);
        this.receivedSincePlug.push(byte);
        written += 1;
      }
      return { status: 'ok', bytesWritten: written };
    } finally {
      this.busyEndpoints.delete(key);
    }
  }

  async transferIn(endpointNumber: number, length: number, timeout = 1000): Promise<USBInTransferResult> {
    const key = this.endpointKey(endpointNumber, 'in', 'transferIn');
    try {
      while (this.statusAnswers.length === 0) {
        await this.pendingWhile('transferIn', timeout, (wake) => this.waitingForData.push(wake));
      }
      const answer = this.statusAnswers.splice(0, length);
      return { status: 'ok', data: new DataView(Uint8Array.from(answer).buffer) };
    } finally {
      this.busyEndpoints.delete(key);
    }
  }

  /** The printer takes data again (after stallAfterBytes). */
  release(): void {
    this.stallAfterBytes = Number.POSITIVE_INFINITY;
    for (const wake of this.stallWaiters.splice(0)) wake();
  }

  /** Whether a transfer is waiting on the printer right now. */
  get transferring(): boolean {
    return this.pending.size > 0;
  }

  /** Called by the bus. */
  plugIn(): void {
    this.plugged = true;
    this.receivedSincePlug = [];
    this.statusAnswers = [];
  }

  /** Called by the bus: transfers in progress fail, the handle is dead. */
  unplug(): void {
    this.plugged = false;
    this.opened = false;
    this.claimed.clear();
    for (const pending of [...this.pending]) pending.reject(new Error('transferOut error: Disconnected'));
  }

  private endpointKey(endpointNumber: number, direction: USBDirection, doing: string): string {
    if (!this.plugged) throw new Error(`${doing} error: Disconnected`);
    const owned =
      this.claimed.has(this.printerInterface) &&
      (endpointNumber === 1 ? direction === 'out' : endpointNumber === 2 && direction === 'in' && this.hasBulkIn);
    const key = `${direction}${endpointNumber}`;
    if (!owned || this.busyEndpoints.has(key)) throw new Error(`${doing} error: endpoint not found`);
    this.busyEndpoints.add(key);
    return key;
  }

  /** Waits for a wake-up, the timeout (Cancelled, as nusb reports it) or an unplug (Disconnected). */
  private pendingWhile(doing: string, timeout: number, register: (wake: () => void) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = {
        reject: (err) => {
          clearTimeout(timer);
          this.pending.delete(entry);
          reject(err.message.startsWith(doing) ? err : new Error(err.message.replace('transferOut', doing)));
        },
      };
      const timer = setTimeout(() => entry.reject(new Error(`${doing} error: Cancelled`)), timeout);
      this.pending.add(entry);
      register(() => {
        clearTimeout(timer);
        this.pending.delete(entry);
        resolve();
      });
    });
  }

  private wakeReaders(): void {
    for (const wake of this.waitingForData.splice(0)) wake();
  }
}

/** The assignment the driver relies on: a real `usb` device is what the driver takes. */
export const realDeviceFits = (device: RealUsbDevice): UsbPrinterDevice => device;

class FakeConnectionEvent extends Event {
  constructor(
    type: 'connect' | 'disconnect',
    readonly device: FakeUsbPrinter,
  ) {
    super(type);
  }
}

/** The bus: `usb`'s WebUSB object (getDevices, requestDevice, connect/disconnect events). */
export class FakeWebUsb implements UsbBus<FakeUsbPrinter> {
  private readonly devices = new Set<FakeUsbPrinter>();
  private readonly listeners = {
    connect: new Set<UsbConnectionListener>(),
    disconnect: new Set<UsbConnectionListener>(),
  };
  /** A machine without /sys/bus/usb. */
  noBus = false;

  async getDevices(): Promise<FakeUsbPrinter[]> {
    if (this.noBus) throw new Error('getDevices error: /sys/bus/usb/devices/ not found (errno 2)');
    return [...this.devices];
  }

  async requestDevice(options: USBDeviceRequestOptions): Promise<FakeUsbPrinter> {
    const found = (await this.getDevices()).find((device) =>
      options.filters.some(
        (f) =>
          (f.vendorId === undefined || f.vendorId === device.vendorId) &&
          (f.productId === undefined || f.productId === device.productId) &&
          (f.serialNumber === undefined || f.serialNumber === device.serialNumber),
      ),
    );
    if (!found) {
      throw Object.assign(new Error("Failed to execute 'requestDevice' on 'USB': No device selected."), {
        name: 'NotFoundError',
      });
    }
    return found;
  }

  addEventListener(type: 'connect' | 'disconnect', listener: UsbConnectionListener): void {
    this.listeners[type].add(listener);
  }

  removeEventListener(type: 'connect' | 'disconnect', listener: UsbConnectionListener): void {
    this.listeners[type].delete(listener);
  }

  /** Listeners registered now (the driver must not leave any behind after close()). */
  listenerCount(): number {
    return this.listeners.connect.size + this.listeners.disconnect.size;
  }

  private dispatch(type: 'connect' | 'disconnect', device: FakeUsbPrinter): void {
    // The real event's device is a USBDevice; the driver reads only its ids.
    const event = new FakeConnectionEvent(type, device) as unknown as USBConnectionEvent;
    for (const listener of [...this.listeners[type]]) listener(event);
  }

  plug(device: FakeUsbPrinter): void {
    device.plugIn();
    this.devices.add(device);
    this.dispatch('connect', device);
  }

  unplug(device: FakeUsbPrinter): void {
    this.devices.delete(device);
    device.unplug();
    this.dispatch('disconnect', device);
  }
}

/** Waits until `condition` holds (polling), or fails after `ms`. */
export async function until(condition: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}
