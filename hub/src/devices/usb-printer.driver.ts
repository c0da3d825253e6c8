/**
 * An ESC/POS printer on USB, through `usb` v3's WebUSB API. Opening finds the device by vendor and
 * product id (and serial number, when two of one model are plugged in), picks the printer-class
 * interface (class 7) that has a bulk OUT endpoint, detaches the kernel driver (usblp) from it and
 * claims it. A job goes out in chunks (4 KiB), each with its own timeout, so a stalled printer
 * fails the job instead of hanging the queue. Everything that touches the device runs one at a
 * time (the `usb` native layer refuses a second transfer on an endpoint in use): job writes and
 * DLE EOT status requests share one queue. Status answers come back on the bulk IN endpoint, where
 * the printer has one.
 *
 * Failures become PrinterError codes: `unplugged` (not on the bus, gone mid-transfer), `busy` (the
 * interface is claimed by another process or driver), `timeout` (a chunk not taken in time), `io`.
 * Hotplug: with a bus, connect/disconnect events of this printer are reported to onChange()
 * listeners (the spooler resumes its queue on `connected`).
 */
import { PrinterError, type PrinterHardwareStatus, type PrinterTransport } from './device-types.js';
import { queryStatus } from './printer-status.js';
import { sameDevice, type UsbBus, type UsbDevice } from './usb-access.js';

/** What the driver uses of a `usb` v3 device (the real one, or a test's fake). */
export interface UsbPrinterDevice extends Pick<
  UsbDevice,
  | 'vendorId'
  | 'productId'
  | 'serialNumber'
  | 'opened'
  | 'configuration'
  | 'open'
  | 'close'
  | 'claimInterface'
  | 'releaseInterface'
  | 'selectAlternateInterface'
  | 'detachKernelDriver'
  | 'clearHalt'
> {
  /** `usb` v3 takes a timeout (ms, default 1000) after WebUSB's two arguments. */
  transferOut(endpointNumber: number, data: Uint8Array, timeout?: number): Promise<USBOutTransferResult>;
  transferIn(endpointNumber: number, length: number, timeout?: number): Promise<USBInTransferResult>;
}

export interface UsbPrinterOptions {
  vendorId: number;
  productId: number;
  serialNumber: string | null;
  /** Bytes per bulk transfer. */
  chunkBytes?: number;
  /** How long the printer may take to accept one chunk. */
  chunkTimeoutMs?: number;
  /** How long the printer may take to answer one DLE EOT request. */
  statusTimeoutMs?: number;
}

export type PrinterChange = 'connected' | 'disconnected';

export const USB_PRINTER_CLASS = 7;

interface PrinterEndpoints {
  interfaceNumber: number;
  alternateSetting: number;
  out: number;
  in: number | null;
  inPacketSize: number;
}

/** The printer-class interface with a bulk OUT endpoint (and its bulk IN endpoint, if any). */
export function findPrinterInterface(configuration: USBConfiguration | null | undefined): PrinterEndpoints | null {
  for (const iface of configuration?.interfaces ?? []) {
    for (const alternate of iface.alternates.length > 0 ? iface.alternates : [iface.alternate]) {
      if (alternate.interfaceClass !== USB_PRINTER_CLASS) continue;
      const out = alternate.endpoints.find((e) => e.type === 'bulk' && e.direction === 'out');
      if (!out) continue;
      const input = alternate.endpoints.find((e) => e.type === 'bulk' && e.direction === 'in');
      return {
        interfaceNumber: iface.interfaceNumber,
        alternateSetting: alternate.alternateSetting,
        out: out.endpointNumber,
        in: input?.endpointNumber ?? null,
        inPacketSize: input?.packetSize ?? 64,
      };
    }
  }
  return null;
}

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** A `usb` v3 error (messages like "claimInterface error: Device or resource busy") as a PrinterError. */
export function usbError(err: unknown, doing: string): PrinterError {
  if (err instanceof PrinterError) return err;
  const message = text(err);
  if (/busy|EBUSY|os error 16/i.test(message)) {
    return new PrinterError('busy', `the USB printer is in use by another program or driver (${doing}: ${message})`);
  }
  if (/disconnected|no such device|ENODEV|os error 19|not plugged/i.test(message)) {
    return new PrinterError('unplugged', `the USB printer was unplugged (${doing}: ${message})`);
  }
  if (/timed? ?out|cancelled/i.test(message)) {
    return new PrinterError('timeout', `the USB printer did not take the data in time (${doing}: ${message})`);
  }
  if (/permission denied|EACCES|os error 13/i.test(message)) {
    return new PrinterError('io', `no permission for the USB printer: install the udev rule (${doing}: ${message})`);
  }
  return new PrinterError('io', `${doing}: ${message}`);
}

const hex = (n: number) => n.toString(16).padStart(4, '0');

export class UsbPrinterTransport implements PrinterTransport {
  readonly transport = 'usb' as const;
  private device: UsbPrinterDevice | null = null;
  private endpoints: PrinterEndpoints | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(change: PrinterChange) => void>();
  private watching = false;
  private readonly chunkBytes: number;
  private readonly chunkTimeoutMs: number;
  private readonly statusTimeoutMs: number;

  constructor(
    /** `usb`'s bus (usb-access.ts), or null on a machine without USB: every open is then `unplugged`. */
    private readonly bus: UsbBus<UsbPrinterDevice> | null,
    private readonly options: UsbPrinterOptions,
  ) {
    this.chunkBytes = options.chunkBytes ?? 4096;
    this.chunkTimeoutMs = options.chunkTimeoutMs ?? 5000;
    this.statusTimeoutMs = options.statusTimeoutMs ?? 1000;
  }

  get name(): string {
    const serial = this.options.serialNumber ? ` #${this.options.serialNumber}` : '';
    return `USB ${hex(this.options.vendorId)}:${hex(this.options.productId)}${serial}`;
  }

  /** Hears this printer come and go (USB hotplug). Returns the unsubscribe. */
  onChange(listener: (change: PrinterChange) => void): () => void {
    this.listeners.add(listener);
    this.watch();
    return () => this.listeners.delete(listener);
  }

  open(): Promise<void> {
    return this.exclusive(() => this.openNow());
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.exclusive(async () => {
      await this.openNow();
      const device = this.device!;
      const { out } = this.endpoints!;
      for (let at = 0; at < bytes.length;) {
        const chunk = bytes.subarray(at, Math.min(bytes.length, at + this.chunkBytes));
        const result = await this.transfer(device.transferOut(out, chunk, this.chunkTimeoutMs), 'transferOut');
        if (result.status !== 'ok' || result.bytesWritten <= 0) {
          // A halted endpoint stays halted across close and open: clear it, or every retry stalls too.
          if (result.status === 'stall') await device.clearHalt('out', out).catch(() => undefined);
          await this.drop();
          throw new PrinterError('io', `the USB printer refused the data (${result.status})`);
        }
        at += result.bytesWritten;
      }
    });
  }

  status(): Promise<PrinterHardwareStatus | null> {
    return this.exclusive(async () => {
      await this.openNow();
      const device = this.device!;
      const { out, in: input, inPacketSize } = this.endpoints!;
      if (input === null) return null;
      return queryStatus(async (request) => {
        const sent = await this.transfer(device.transferOut(out, request, this.statusTimeoutMs), 'status request');
        if (sent.status !== 'ok') {
          if (sent.status === 'stall') await device.clearHalt('out', out).catch(() => undefined);
          throw new PrinterError('io', `the USB printer refused a status request (${sent.status})`);
        }
        let answer: USBInTransferResult;
        try {
          answer = await this.transfer(device.transferIn(input, inPacketSize, this.statusTimeoutMs), 'status');
        } catch (err) {
          if (err instanceof PrinterError && err.code === 'timeout') return null;
          throw err;
        }
        const data = answer.data;
        if (answer.status === 'stall') await device.clearHalt('in', input).catch(() => undefined);
        if (answer.status !== 'ok' || !data || data.byteLength === 0) return null;
        // Auto status back bytes may come first: the answer is the last byte.
        return data.getUint8(data.byteLength - 1);
      });
    });
  }

  close(): Promise<void> {
    this.unwatch();
    return this.exclusive(() => this.drop());
  }

  /** Runs `task` after everything queued before it (one user of the device at a time). */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async openNow(): Promise<void> {
    this.watch();
    if (this.device && this.endpoints) return;
    if (!this.bus) throw new PrinterError('unplugged', 'no USB bus on this machine');
    let devices: UsbPrinterDevice[];
    try {
      devices = await this.bus.getDevices();
    } catch (err) {
      throw new PrinterError('unplugged', `cannot list USB devices: ${text(err)}`);
    }
    const device = devices.find((d) => sameDevice(d, this.options));
    if (!device) throw new PrinterError('unplugged', `${this.name} is not plugged in`);
    try {
      if (!device.opened) await device.open();
    } catch (err) {
      throw usbError(err, 'open');
    }
    const endpoints = findPrinterInterface(device.configuration);
    if (!endpoints) {
      await device.close().catch(() => undefined);
      throw new PrinterError('io', `${this.name} has no printer interface (class 7) with a bulk OUT endpoint`);
    }
    try {
      await device.detachKernelDriver(endpoints.interfaceNumber);
    } catch {
      // No kernel driver bound (usblp not loaded or already detached), or not Linux: nothing to do.
    }
    try {
      await device.claimInterface(endpoints.interfaceNumber);
      if (endpoints.alternateSetting !== 0) {
        await device.selectAlternateInterface(endpoints.interfaceNumber, endpoints.alternateSetting);
      }
    } catch (err) {
      await device.close().catch(() => undefined);
      throw usbError(err, 'claimInterface');
    }
    this.device = device;
    this.endpoints = endpoints;
  }

  /**
   * One transfer, with a guard above `usb`'s own timeout (in case the native layer never returns).
   * A failed transfer drops the device: the next use finds it, claims it and starts clean.
   */
  private async transfer<T>(operation: Promise<T>, doing: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new PrinterError('timeout', `${this.name}: ${doing} did not finish`)),
        this.chunkTimeoutMs + 2000,
      );
    });
    try {
      return await Promise.race([operation, guard]);
    } catch (err) {
      const error = usbError(err, doing);
      // A status answer that does not come is not a broken link; anything else is.
      if (!(doing === 'status' && error.code === 'timeout')) await this.drop();
      throw error;
    } finally {
      clearTimeout(timer);
      operation.catch(() => undefined);
    }
  }

  /** Forgets the device, releasing what can be released (nothing, when it is gone). */
  private async drop(): Promise<void> {
    const device = this.device;
    const endpoints = this.endpoints;
    this.device = null;
    this.endpoints = null;
    if (!device) return;
    if (endpoints) await device.releaseInterface(endpoints.interfaceNumber).catch(() => undefined);
    await device.close().catch(() => undefined);
  }

  private readonly onConnect = (event: USBConnectionEvent) => {
    if (!sameDevice(event.device, this.options)) return;
    this.emit('connected');
  };

  private readonly onDisconnect = (event: USBConnectionEvent) => {
    if (!sameDevice(event.device, this.options)) return;
    // Not through the queue: a transfer in progress is failing right now and must not wait for this.
    const device = this.device;
    this.device = null;
    this.endpoints = null;
    void device?.close().catch(() => undefined);
    this.emit('disconnected');
  };

  private emit(change: PrinterChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  private watch(): void {
    if (this.watching || !this.bus) return;
    this.bus.addEventListener('connect', this.onConnect);
    this.bus.addEventListener('disconnect', this.onDisconnect);
    this.watching = true;
  }

  private unwatch(): void {
    if (!this.watching || !this.bus) return;
    this.bus.removeEventListener('connect', this.onConnect);
    this.bus.removeEventListener('disconnect', this.onDisconnect);
    this.watching = false;
  }
}
