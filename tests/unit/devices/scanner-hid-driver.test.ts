/// <reference types="w3c-web-usb" />
/**
 * The HID scanner driver against a fake `usb` device (typed against `usb`'s own types): the claim
 * sequence, the transfer loop, idle timeouts, unplug and replug, and a machine without a USB bus.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceRegistry } from '../../../hub/src/devices/device-registry.ts';
import type { ScanEvent } from '../../../hub/src/devices/device-types.ts';
import {
  HidScannerDriver,
  findBootKeyboard,
  type HidScannerConfig,
  type HidUsbAccess,
  type HidUsbDevice,
} from '../../../hub/src/devices/hid-scanner.driver.ts';

const ENTER = 0x28;

function report(modifiers: number, ...keys: number[]): Uint8Array {
  const bytes = new Uint8Array(8);
  bytes[0] = modifiers;
  keys.forEach((k, i) => (bytes[2 + i] = k));
  return bytes;
}

/** Reports for a string of digits and upper-case letters, then Enter. */
function typed(text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of text) {
    if (c >= '1' && c <= '9') out.push(report(0, 0x1e + Number(c) - 1));
    else if (c === '0') out.push(report(0, 0x27));
    else if (c === ']') out.push(report(0, 0x30));
    else out.push(report(0x02, 0x04 + c.charCodeAt(0) - 65));
    out.push(report(0));
  }
  out.push(report(0, ENTER), report(0));
  return out;
}

function endpoint(endpointNumber: number, direction: USBDirection, type: USBEndpointType): USBEndpoint {
  return { endpointNumber, direction, type, packetSize: 8 };
}

function alternate(cls: number, sub: number, proto: number, endpoints: USBEndpoint[]): USBAlternateInterface {
  return {
    alternateSetting: 0,
    interfaceClass: cls,
    interfaceSubclass: sub,
    interfaceProtocol: proto,
    interfaceName: null,
    endpoints,
  };
}

function iface(interfaceNumber: number, alt: USBAlternateInterface): USBInterface {
  return { interfaceNumber, alternate: alt, alternates: [alt], claimed: false };
}

/** A scanner with a vendor interface 0 and its boot keyboard on interface 1 (endpoint 2 IN). */
function scannerConfiguration(): USBConfiguration {
  return {
    configurationValue: 1,
    configurationName: null,
    interfaces: [
      iface(0, alternate(0xff, 0, 0, [endpoint(1, 'out', 'bulk')])),
      iface(1, alternate(3, 1, 1, [endpoint(2, 'in', 'interrupt')])),
    ],
  };
}

/** A fake keyboard-mode scanner: reports queued by the test, idle transfers time out, unplug fails them. */
class FakeHidScanner implements HidUsbDevice {
  vendorId = 0x0c2e;
  productId = 0x0b61;
  serialNumber: string | null = 'SN1';
  opened = false;
  configurations = [scannerConfiguration()];
  configuration: USBConfiguration = this.configurations[0]!;
  plugged = true;
  calls: string[] = [];
  private queue: Uint8Array[] = [];
  private waiting: { resolve: (r: USBInTransferResult) => void; reject: (e: Error) => void } | null = null;

  constructor(private readonly idleMs = 20) {}

  feed(reports: Uint8Array[]): void {
    this.queue.push(...reports);
    this.wake();
  }

  unplug(): void {
    this.plugged = false;
    this.opened = false;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(new Error('transferIn error: device disconnected'));
  }

  async open(): Promise<void> {
    if (!this.plugged) throw new Error('failed to open device');
    this.calls.push('open');
    this.opened = true;
  }
  async close(): Promise<void> {
    this.calls.push('close');
    this.opened = false;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(new Error('transferIn error: transfer was cancelled'));
  }
  async selectConfiguration(value: number): Promise<void> {
    this.calls.push(`selectConfiguration ${value}`);
  }
  async claimInterface(n: number): Promise<void> {
    this.calls.push(`claim ${n}`);
  }
  async releaseInterface(n: number): Promise<void> {
    this.calls.push(`release ${n}`);
  }
  async detachKernelDriver(n: number): Promise<void> {
    this.calls.push(`detach ${n}`);
  }
  async controlTransferOut(setup: USBControlTransferParameters): Promise<USBOutTransferResult> {
    this.calls.push(`control ${setup.requestType} ${setup.request} ${setup.index}`);
    return { bytesWritten: 0, status: 'ok' };
  }
  async clearHalt(): Promise<void> {}
  transferIn(endpointNumber: number, length: number): Promise<USBInTransferResult> {
    if (!this.plugged || !this.opened) return Promise.reject(new Error('transferIn error: device disconnected'));
    if (endpointNumber !== 2 || length < 8) return Promise.reject(new Error('transferIn error: endpoint not found'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.waiting?.resolve !== done) return;
        this.waiting = null;
        reject(new Error('transferIn error: transfer was cancelled')); // usb v3's timeout
      }, this.idleMs);
      const done = (r: USBInTransferResult) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiting = {
        resolve: done,
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiting;
    const next = this.queue[0];
    if (!w || !next) return;
    this.queue.shift();
    this.waiting = null;
    w.resolve({ status: 'ok', data: new DataView(next.buffer, next.byteOffset, next.byteLength) });
  }
}

class FakeUsb implements HidUsbAccess {
  finds = 0;
  constructor(
    public device: FakeHidScanner | undefined,
    private readonly bus = true,
  ) {}
  async unavailable(): Promise<string | null> {
    return this.bus ? null : 'no USB bus on this machine (/sys/bus/usb/devices is absent)';
  }
  async find(vendorId: number, productId: number): Promise<HidUsbDevice | undefined> {
    this.finds += 1;
    const d = this.device;
    return d?.plugged && d.vendorId === vendorId && d.productId === productId ? d : undefined;
  }
}

const CONFIG: HidScannerConfig = {
  id: 'hid-1',
  name: 'Counter HID',
  transport: 'hid',
  vendorId: 0x0c2e,
  productId: 0x0b61,
  serialNumber: null,
  assignedTo: null,
};

interface LogLine {
  level: string;
  args: unknown[];
}

function setup(access: FakeUsb) {
  const registry = new DeviceRegistry();
  registry.register({
    deviceId: CONFIG.id,
    kind: 'scanner',
    name: CONFIG.name,
    transport: 'hid',
    connected: false,
    paper: null,
    queueLength: null,
    lastError: null,
    assignedTo: null,
  });
  const scans: ScanEvent[] = [];
  const logs: LogLine[] = [];
  const log = {
    info: (...args: unknown[]) => logs.push({ level: 'info', args }),
    warn: (...args: unknown[]) => logs.push({ level: 'warn', args }),
    error: (...args: unknown[]) => logs.push({ level: 'error', args }),
    debug: (...args: unknown[]) => logs.push({ level: 'debug', args }),
  };
  const driver = new HidScannerDriver(
    CONFIG,
    { registry, onScan: (s) => scans.push(s), log: log as never, backoff: { minMs: 10, maxMs: 40 } },
    access,
  );
  drivers.push(driver);
  return { registry, scans, logs, driver, status: () => registry.get(CONFIG.id)! };
}

const drivers: HidScannerDriver[] = [];
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.stop()));
});

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('HID scanner driver', () => {
  it('finds the boot keyboard interface and its interrupt IN endpoint', () => {
    expect(findBootKeyboard(scannerConfiguration())).toEqual({ interfaceNumber: 1, endpointNumber: 2, packetSize: 8 });
    const mouse = scannerConfiguration();
    mouse.interfaces[1] = iface(1, alternate(3, 1, 2, [endpoint(2, 'in', 'interrupt')]));
    expect(findBootKeyboard(mouse)).toBeNull();
    expect(findBootKeyboard(undefined)).toBeNull();
  });

  it('claims the interface (kernel driver detached, boot protocol) and reads scans, AIM prefix split off', async () => {
    const device = new FakeHidScanner();
    const { scans, status, driver } = setup(new FakeUsb(device));
    driver.start();
    await until(() => status().connected);
    expect(device.calls.slice(0, 5)).toEqual([
      'open',
      'detach 1',
      'claim 1',
      'control class 11 1',
      'control class 10 1',
    ]);
    device.feed([...typed(']E04710000000001'), ...typed('AYI0000000042')]);
    await until(() => scans.length === 2);
    expect(scans.map(({ code, symbology }) => ({ code, symbology }))).toEqual([
      { code: '4710000000001', symbology: ']E0' },
      { code: 'AYI0000000042', symbology: null },
    ]);
    expect(scans[0]!.scannerId).toBe('hid-1');
    expect(typeof scans[0]!.receivedAt).toBe('number');
  });

  it('stays connected through idle timeouts', async () => {
    const device = new FakeHidScanner(5);
    const { scans, status, driver } = setup(new FakeUsb(device));
    driver.start();
    await until(() => status().connected);
    await new Promise((r) => setTimeout(r, 60)); // several cancelled (timed out) transfers
    expect(status().connected).toBe(true);
    device.feed(typed('12345678'));
    await until(() => scans.length === 1);
    expect(scans[0]!.code).toBe('12345678');
  });

  it('reports an unplug, looks for the scanner again, and reads it once it is back', async () => {
    const device = new FakeHidScanner();
    const access = new FakeUsb(device);
    const { scans, status, driver, logs } = setup(access);
    driver.start();
    await until(() => status().connected);
    device.feed(typed('1').slice(0, 2)); // half a scan, then the cable goes
    await new Promise((r) => setTimeout(r, 10));
    device.unplug();
    await until(() => !status().connected);
    expect(status().lastError).toMatch(/disconnected/);
    const findsWhileGone = access.finds;
    await until(() => access.finds > findsWhileGone + 1); // keeps looking, with a backoff
    expect(status().lastError).toMatch(/not found/);

    const replugged = new FakeHidScanner();
    access.device = replugged;
    await until(() => status().connected);
    expect(status().lastError).toBeNull();
    replugged.feed(typed('9876'));
    await until(() => scans.length === 1);
    expect(scans[0]!.code).toBe('9876'); // the half scan from before the unplug is forgotten
    // One warning per distinct reason, not one per retry.
    const warnings = logs.filter((l) => l.level === 'warn');
    expect(warnings.length).toBeLessThanOrEqual(3);
  });

  it('releases and closes the device on stop', async () => {
    const device = new FakeHidScanner();
    const { status, driver } = setup(new FakeUsb(device));
    driver.start();
    await until(() => status().connected);
    await driver.stop();
    expect(device.calls).toContain('release 1');
    expect(device.calls.at(-1)).toBe('close');
    expect(status().connected).toBe(false);
  });

  it('where there is no USB bus: never touches usb, stays offline with the reason', async () => {
    const access = new FakeUsb(new FakeHidScanner(), false);
    const { status, driver, logs } = setup(access);
    driver.start();
    await new Promise((r) => setTimeout(r, 30));
    expect(access.finds).toBe(0);
    expect(status()).toMatchObject({ connected: false, lastError: expect.stringMatching(/no USB bus/) });
    // The shared bus (usb-access.ts) says it once for every USB device; the driver adds nothing.
    expect(logs).toEqual([]);
    await driver.stop();
  });
});
