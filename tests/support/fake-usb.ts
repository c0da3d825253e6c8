/// <reference types="w3c-web-usb" />
/**
 * A fake `usb` v3 bus and ESC/POS USB printer, typed against the real `usb` types, for the one
 * thing tests cannot have: USB hardware. Two classes, as with the real thing:
 * - FakeUsbPrinter is the printer on the desk (what it took, what it answers, usblp bound to it or
 *   not, a halted endpoint): the test's handle on it, which outlives unplugging;
 * - FakeUsbDevice is the object `usb` hands out for it. Like the real `usb` 3.1 (a new native
 *   UsbDevice for each device nusb lists), every getDevices() call and every `connect` event gives
 *   a new object; one from before an unplug stays dead after the replug.
 *
 * It reproduces how `usb` v3 (nusb underneath) behaves and fails, with its messages:
 * - open() of a device no longer there: "open error: No such device (os error 19)";
 * - claimInterface() while the kernel driver (usblp) is bound, another program or another handle
 *   holds the interface: "claimInterface error: Device or resource busy (os error 16)";
 *   detachKernelDriver() with no driver bound: "... No data available (os error 61)". usblp binds
 *   again at every plug-in (Linux does), so a replugged printer must be detached and claimed anew;
 * - a transfer on an interface not claimed, or on an endpoint with a transfer in progress (nusb's
 *   endpoints are exclusive): "transferOut error: endpoint not found";
 * - a transfer the printer does not take within its timeout: "transferOut error: Cancelled";
 * - unplugging rejects the transfers in progress ("transferOut error: Disconnected") and emits
 *   `disconnect` on the bus; plugging emits `connect`;
 * - a halted (STALLed) endpoint does not reject: `usb` 3.1 (dist/index.js) resolves transferOut with
 *   `{ status: 'stall', bytesWritten: <the negative count> }` when the native transfer returns a
 *   negative count, and transferIn with `{ status: 'stall', data: undefined }` when it returns null.
 *   The endpoint stays halted until clearHalt() on it, or a replug (the device is reset).
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
  /** usblp bound to the printer interface at every plug-in (Linux). */
  kernelDriver?: boolean;
}

interface Pending {
  reject(err: Error): void;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What the native layer returns for a halted endpoint (any negative count means a stall). */
const STALLED_COUNT = -1;

/** The printer on the desk: its state outlives the objects `usb` hands out for it. */
export class FakeUsbPrinter {
  readonly vendorId: number;
  readonly productId: number;
  readonly serialNumber: string | null;
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
  kernelDriverBound = false;
  /** How many times usblp was detached from it (once per plug-in when the driver does its job). */
  kernelDriverDetaches = 0;
  /** Every object handed out for it since it was last plugged in. */
  handedOut: FakeUsbDevice[] = [];
  /** Bumped at every plug-in: objects handed out before are dead. */
  generation = 0;
  readonly printerInterface: number;
  readonly hasBulkIn: boolean;
  private readonly bindsKernelDriver: boolean;
  /** interface number -> the object that claimed it. */
  readonly claims = new Map<number, FakeUsbDevice>();
  readonly halted = new Set<USBDirection>();
  readonly busyEndpoints = new Set<string>();
  private readonly pending = new Set<Pending>();
  statusAnswers: number[] = [];
  private waitingForData: (() => void)[] = [];
  private stallWaiters: (() => void)[] = [];

  constructor(descriptor: FakePrinterDescriptor) {
    this.vendorId = descriptor.vendorId;
    this.productId = descriptor.productId;
    this.serialNumber = descriptor.serialNumber;
    this.printerInterface = descriptor.interfaceNumber ?? 0;
    this.hasBulkIn = descriptor.bulkIn ?? true;
    this.bindsKernelDriver = descriptor.kernelDriver ?? true;
  }

  /** Its configuration descriptor; `claimed` is whether anyone on this machine claimed it. */
  get configuration(): USBConfiguration {
    return this.describe((interfaceNumber) => this.claims.has(interfaceNumber));
  }

  /** Whether an object handed out since the last plug-in has it open. */
  get opened(): boolean {
    return this.handedOut.some((device) => device.opened);
  }

  /** Whether the printer interface is claimed through `usb` (by any object handed out). */
  get claimed(): boolean {
    return this.claims.has(this.printerInterface);
  }

  /** A new object for it, as `usb` creates one per listing and per connect event. */
  handOut(): FakeUsbDevice {
    const device = new FakeUsbDevice(this, this.generation);
    this.handedOut.push(device);
    return device;
  }

  /** The printer halts an endpoint (answers STALL) until the host clears it or it is replugged. */
  halt(direction: USBDirection): void {
    this.halted.add(direction);
    // a transfer waiting on the printer ends now, with the stall
    this.wakeWriters();
    this.wakeReaders();
  }

  /** The printer takes data again (after stallAfterBytes). */
  release(): void {
    this.stallAfterBytes = Number.POSITIVE_INFINITY;
    this.wakeWriters();
  }

  /** Whether a transfer is waiting on the printer right now. */
  get transferring(): boolean {
    return this.pending.size > 0;
  }

  /** Called by the bus: powered up and enumerated again (reset), usblp binds. */
  plugIn(): void {
    this.plugged = true;
    this.generation += 1;
    this.handedOut = [];
    this.claims.clear();
    this.halted.clear();
    this.busyEndpoints.clear();
    this.kernelDriverBound = this.bindsKernelDriver;
    this.receivedSincePlug = [];
    this.statusAnswers = [];
  }

  /** Called by the bus: transfers in progress fail, every handle is dead. */
  unplug(): void {
    this.plugged = false;
    this.claims.clear();
    for (const device of this.handedOut) device.die();
    for (const pending of [...this.pending]) pending.reject(new Error('transferOut error: Disconnected'));
  }

  describe(claimed: (interfaceNumber: number) => boolean): USBConfiguration {
    const endpoint = (endpointNumber: number, direction: USBDirection): USBEndpoint => ({
      endpointNumber,
      direction,
      type: 'bulk',
      packetSize: 64,
    });
    const printer = {
      interfaceNumber: this.printerInterface,
      claimed: claimed(this.printerInterface),
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
      interfaces.push({ interfaceNumber: 0, claimed: claimed(0), alternate: hid, alternates: [hid] });
    }
    interfaces.push({ ...printer, alternates: [printer.alternate] });
    return { configurationValue: 1, configurationName: null, interfaces };
  }

  /** The bytes of a transfer out, as the printer takes them; a stall result if the endpoint halts. */
  async takeOut(bytes: number[], timeout: number): Promise<USBOutTransferResult> {
    if (this.halted.has('out')) return { status: 'stall', bytesWritten: STALLED_COUNT };
    if (bytes.length === 3 && bytes[0] === 0x10 && bytes[1] === 0x04 && [1, 2, 4].includes(bytes[2]!)) {
      this.statusAnswers.push(statusBytes(this.printerStatus)[bytes[2] as 1 | 2 | 4]);
      this.wakeReaders();
      return { status: 'ok', bytesWritten: 3 };
    }
    let written = 0;
    for (const byte of bytes) {
      while (this.received.length >= this.stallAfterBytes && !this.halted.has('out')) {
        await this.pendingWhile('transferOut', timeout, (wake) => this.stallWaiters.push(wake));
      }
      if (this.halted.has('out')) return { status: 'stall', bytesWritten: STALLED_COUNT };
      this.received.push(byte);
      this.receivedSincePlug.push(byte);
      written += 1;
    }
    return { status: 'ok', bytesWritten: written };
  }

  /** A transfer in: the waiting status answers, or a stall result if the endpoint halts. */
  async giveIn(length: number, timeout: number): Promise<USBInTransferResult> {
    while (this.statusAnswers.length === 0 && !this.halted.has('in')) {
      await this.pendingWhile('transferIn', timeout, (wake) => this.waitingForData.push(wake));
    }
    if (this.halted.has('in')) return { status: 'stall', data: undefined };
    const answer = this.statusAnswers.splice(0, length);
    return { status: 'ok', data: new DataView(Uint8Array.from(answer).buffer) };
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

  private wakeWriters(): void {
    for (const wake of this.stallWaiters.splice(0)) wake();
  }

  private wakeReaders(): void {
    for (const wake of this.waitingForData.splice(0)) wake();
  }
}

/**
 * The object `usb` hands out for a printer: open/claim/transfer state of its own (as one native
 * handle), dead once the printer is unplugged, even after it is plugged back in.
 */
export class FakeUsbDevice implements UsbPrinterDevice, Pick<RealUsbDevice, 'clearHalt' | 'attachKernelDriver'> {
  readonly vendorId: number;
  readonly productId: number;
  readonly serialNumber: string | null;
  opened = false;
  private dead = false;

  constructor(
    readonly printer: FakeUsbPrinter,
    private readonly generation: number,
  ) {
    this.vendorId = printer.vendorId;
    this.productId = printer.productId;
    this.serialNumber = printer.serialNumber;
  }

  /** Whether this object still stands for a plugged-in printer. */
  get alive(): boolean {
    return !this.dead && this.printer.plugged && this.printer.generation === this.generation;
  }

  get configuration(): USBConfiguration {
    return this.printer.describe((interfaceNumber) => this.printer.claims.get(interfaceNumber) === this);
  }

  async open(): Promise<void> {
    if (!this.alive) throw new Error('open error: No such device (os error 19)');
    this.opened = true;
  }

  /** Closing the handle lets go of its interfaces (the kernel releases them with the file). */
  async close(): Promise<void> {
    this.opened = false;
    this.releaseAll();
  }

  async detachKernelDriver(interfaceNumber: number): Promise<void> {
    if (!this.opened) throw new Error('detachKernelDriver error: invalid state');
    if (!this.alive) throw new Error('detachKernelDriver error: No such device (os error 19)');
    if (interfaceNumber !== this.printer.printerInterface || !this.printer.kernelDriverBound) {
      throw new Error('detachKernelDriver error: No data available (os error 61)');
    }
    this.printer.kernelDriverBound = false;
    this.printer.kernelDriverDetaches += 1;
  }

  async attachKernelDriver(interfaceNumber: number): Promise<void> {
    if (!this.opened) throw new Error('attachKernelDriver error: invalid state');
    if (!this.alive) throw new Error('attachKernelDriver error: No such device (os error 19)');
    if (interfaceNumber !== this.printer.printerInterface) {
      throw new Error('attachKernelDriver error: No data available (os error 61)');
    }
    if (this.printer.claims.has(interfaceNumber)) {
      throw new Error('attachKernelDriver error: Device or resource busy (os error 16)');
    }
    this.printer.kernelDriverBound = true;
  }

  async claimInterface(interfaceNumber: number): Promise<void> {
    if (!this.opened) throw new Error('claimInterface error: invalid state');
    if (!this.alive) throw new Error('claimInterface error: No such device (os error 19)');
    const owner = this.printer.claims.get(interfaceNumber);
    const busy =
      (owner !== undefined && owner !== this) ||
      (interfaceNumber === this.printer.printerInterface &&
        (this.printer.kernelDriverBound || this.printer.claimedElsewhere));
    if (busy) throw new Error('claimInterface error: Device or resource busy (os error 16)');
    this.printer.claims.set(interfaceNumber, this);
  }

  async releaseInterface(interfaceNumber: number): Promise<void> {
    if (!this.opened) throw new Error('releaseInterface error: invalid state');
    if (this.printer.claims.get(interfaceNumber) !== this) throw new Error('releaseInterface error: not claimed');
    this.printer.claims.delete(interfaceNumber);
  }

  async selectAlternateInterface(interfaceNumber: number, alternateSetting: number): Promise<void> {
    if (this.printer.claims.get(interfaceNumber) !== this || alternateSetting !== 0) {
      throw new Error('selectAlternateInterface error: invalid state');
    }
  }

  /** CLEAR_FEATURE(ENDPOINT_HALT): the endpoint takes transfers again. */
  async clearHalt(direction: USBDirection, endpointNumber: number): Promise<void> {
    if (!this.opened) throw new Error('clearHalt error: invalid state');
    if (!this.alive) throw new Error('clearHalt error: No such device (os error 19)');
    if (!this.owns(endpointNumber, direction)) throw new Error('clearHalt error: endpoint not found');
    this.printer.halted.delete(direction);
  }

  async transferOut(endpointNumber: number, data: Uint8Array, timeout = 1000): Promise<USBOutTransferResult> {
    const key = this.endpointKey(endpointNumber, 'out', 'transferOut');
    try {
      return await this.printer.takeOut([...data], timeout);
    } finally {
      this.printer.busyEndpoints.delete(key);
    }
  }

  async transferIn(endpointNumber: number, length: number, timeout = 1000): Promise<USBInTransferResult> {
    const key = this.endpointKey(endpointNumber, 'in', 'transferIn');
    try {
      return await this.printer.giveIn(length, timeout);
    } finally {
      this.printer.busyEndpoints.delete(key);
    }
  }

  /** Called by the printer when it is unplugged: this object never works again. */
  die(): void {
    this.dead = true;
    this.opened = false;
  }

  private releaseAll(): void {
    for (const [interfaceNumber, owner] of [...this.printer.claims]) {
      if (owner === this) this.printer.claims.delete(interfaceNumber);
    }
  }

  private owns(endpointNumber: number, direction: USBDirection): boolean {
    return (
      this.printer.claims.get(this.printer.printerInterface) === this &&
      (endpointNumber === 1
        ? direction === 'out'
        : endpointNumber === 2 && direction === 'in' && this.printer.hasBulkIn)
    );
  }

  private endpointKey(endpointNumber: number, direction: USBDirection, doing: string): string {
    if (!this.alive) throw new Error(`${doing} error: Disconnected`);
    const key = `${direction}${endpointNumber}`;
    if (!this.opened || !this.owns(endpointNumber, direction) || this.printer.busyEndpoints.has(key)) {
      throw new Error(`${doing} error: endpoint not found`);
    }
    this.printer.busyEndpoints.add(key);
    return key;
  }
}

/** The assignment the driver relies on: a real `usb` device is what the driver takes. */
export const realDeviceFits = (device: RealUsbDevice): UsbPrinterDevice => device;

class FakeConnectionEvent extends Event {
  constructor(
    type: 'connect' | 'disconnect',
    readonly device: FakeUsbDevice,
  ) {
    super(type);
  }
}

/** The bus: `usb`'s WebUSB object (getDevices, requestDevice, connect/disconnect events). */
export class FakeWebUsb implements UsbBus<FakeUsbDevice> {
  private readonly printers = new Set<FakeUsbPrinter>();
  /** The object each `connect` event carried: `usb` sends the same one with `disconnect`. */
  private readonly known = new Map<FakeUsbPrinter, FakeUsbDevice>();
  private readonly listeners = {
    connect: new Set<UsbConnectionListener>(),
    disconnect: new Set<UsbConnectionListener>(),
  };
  /** A machine without /sys/bus/usb. */
  noBus = false;

  /** New objects at every call, as `usb` lists devices afresh. */
  async getDevices(): Promise<FakeUsbDevice[]> {
    if (this.noBus) throw new Error('getDevices error: /sys/bus/usb/devices/ not found (errno 2)');
    return [...this.printers].map((printer) => printer.handOut());
  }

  async requestDevice(options: USBDeviceRequestOptions): Promise<FakeUsbDevice> {
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

  private dispatch(type: 'connect' | 'disconnect', device: FakeUsbDevice): void {
    // The real event's device is a USBDevice; the driver reads only its ids.
    const event = new FakeConnectionEvent(type, device) as unknown as USBConnectionEvent;
    for (const listener of [...this.listeners[type]]) listener(event);
  }

  plug(printer: FakeUsbPrinter): void {
    printer.plugIn();
    this.printers.add(printer);
    const device = printer.handOut();
    this.known.set(printer, device);
    this.dispatch('connect', device);
  }

  unplug(printer: FakeUsbPrinter): void {
    this.printers.delete(printer);
    const device = this.known.get(printer) ?? printer.handOut();
    this.known.delete(printer);
    printer.unplug();
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
