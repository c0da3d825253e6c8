/// <reference types="w3c-web-usb" />
/**
 * Guarded access to the USB bus through `usb` v3 (a WebUSB-style API over nusb: no libusb calls, no
 * getDeviceList). Where the machine has no USB bus (CI, containers: no /sys/bus/usb), `getDevices()`
 * rejects and hotplug listeners crash Node (the native emitter throws from a timer), so nothing here
 * touches the bus before checking that it is there: the hub then runs without USB and says so once.
 *
 * One bus object for the whole hub (printers and scanners share its connect/disconnect events).
 */
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { WebUSB } from 'usb';

/** A device as `usb` v3 hands it out (its WebUSB USBDevice plus detachKernelDriver and friends). */
export type UsbDevice = Awaited<ReturnType<WebUSB['getDevices']>>[number];

export type UsbConnectionListener = (event: USBConnectionEvent) => void;

/** What the drivers use of `usb`'s WebUSB object; tests pass a fake with the same shape. */
export interface UsbBus<Device = UsbDevice> {
  getDevices(): Promise<Device[]>;
  addEventListener(type: 'connect' | 'disconnect', listener: UsbConnectionListener): void;
  removeEventListener(type: 'connect' | 'disconnect', listener: UsbConnectionListener): void;
}

export interface UsbAccess {
  /** The bus, or null when this machine has none or `usb` cannot load. */
  bus: UsbBus | null;
  /** Why there is no bus (null when there is one). */
  reason: string | null;
}

export interface UsbAccessOptions {
  /** Where Linux lists USB devices; absent means no USB bus. */
  sysPath?: string;
  platform?: NodeJS.Platform;
  /** Loads `usb` (its native part may be missing for this platform). */
  load?: () => Promise<{ WebUSB: typeof WebUSB }>;
}

export const SYS_BUS_USB = '/sys/bus/usb/devices';

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Opens the bus if there is one; never throws. */
export async function openUsbBus(options: UsbAccessOptions = {}): Promise<UsbAccess> {
  const platform = options.platform ?? process.platform;
  const sysPath = options.sysPath ?? SYS_BUS_USB;
  if (platform === 'linux' && !existsSync(sysPath)) {
    return { bus: null, reason: `no USB bus on this machine (${sysPath} is absent)` };
  }
  let WebUsbClass: typeof WebUSB;
  try {
    WebUsbClass = (await (options.load ?? (() => import('usb')))()).WebUSB;
  } catch (err) {
    return { bus: null, reason: `the usb package cannot load: ${message(err)}` };
  }
  try {
    const bus = new WebUsbClass({ allowAllDevices: true });
    // The same call the hotplug listener makes unguarded: if it fails here, listening would crash.
    await bus.getDevices();
    return { bus, reason: null };
  } catch (err) {
    return { bus: null, reason: `no USB bus on this machine (${message(err)})` };
  }
}

let shared: Promise<UsbAccess> | null = null;

/**
 * The hub's one bus (opened on first use), logging once when there is none. Printers and scanners
 * both call this; every caller gets the same object.
 */
export function sharedUsbBus(log: Pick<Logger, 'info' | 'warn'>, options: UsbAccessOptions = {}): Promise<UsbAccess> {
  shared ??= openUsbBus(options).then((access) => {
    if (access.bus) log.info('USB bus found: USB printers and scanners are watched (hotplug)');
    else log.warn({ reason: access.reason }, 'no USB bus: USB printers and scanners are unavailable');
    return access;
  });
  return shared;
}

/** Whether a device is the one configured (vendor, product, and serial number when one is set). */
export function sameDevice(
  device: { vendorId: number; productId: number; serialNumber: string | null },
  wanted: { vendorId: number; productId: number; serialNumber: string | null },
): boolean {
  if (device.vendorId !== wanted.vendorId || device.productId !== wanted.productId) return false;
  if (wanted.serialNumber === null) return true;
  try {
    return device.serialNumber === wanted.serialNumber;
  } catch {
    // A device already gone may fail to read its serial: the ids match, so it may be ours.
    return true;
  }
}
