/**
 * Discovery for the technician: printer-class USB devices become printer entries, boot-keyboard USB
 * devices scanner (HID) entries, USB serial ports scanner (serial) entries; the rest is left out.
 */
import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { discoverDevices, type DiscoverableUsbDevice } from '../../../hub/src/devices/discovery.ts';
import { DevicesConfig, checkDevices } from '../../../hub/src/devices/device-config.ts';
import type { PrinterConfig, ScannerConfig } from '../../../hub/src/devices/device-config.ts';

function usbDevice(
  vendorId: number,
  productId: number,
  interfaces: [number, number, number][],
  extra: Partial<DiscoverableUsbDevice> = {},
): DiscoverableUsbDevice {
  return {
    vendorId,
    productId,
    serialNumber: null,
    manufacturerName: null,
    productName: null,
    configuration: {
      interfaces: interfaces.map(([interfaceClass, interfaceSubclass, interfaceProtocol], interfaceNumber) => ({
        interfaceNumber,
        alternate: { interfaceClass, interfaceSubclass, interfaceProtocol },
      })),
    } as unknown as USBConfiguration,
    ...extra,
  };
}

const bus = (devices: DiscoverableUsbDevice[]) => ({
  bus: {
    getDevices: async () => devices,
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
  },
  reason: null,
});

describe('discoverDevices', () => {
  it('suggests entries for a USB printer, a keyboard-mode scanner and a USB-COM scanner, and nothing else', async () => {
    const epson = usbDevice(0x04b8, 0x0202, [[7, 1, 2]], {
      manufacturerName: 'EPSON',
      productName: 'TM-T88V',
      serialNumber: 'X5E1234',
    });
    const honeywell = usbDevice(0x0c2e, 0x0900, [[3, 1, 1]], { productName: 'Voyager 1250g' });
    const mouse = usbDevice(0x046d, 0xc077, [[3, 1, 2]]); // boot mouse: not a scanner
    const hub = usbDevice(0x1d6b, 0x0002, [[9, 0, 0]]);
    const found = await discoverDevices(bus([epson, honeywell, mouse, hub]), async () => [
      { path: '/dev/ttyAMA0' }, // the Pi's own UART
      { path: '/dev/ttyACM0', vendorId: '05e0', productId: '1200', serialNumber: 'S123', manufacturer: 'Zebra' },
    ]);

    expect(found.usbUnavailable).toBeNull();
    expect(found.devices.map((d) => [d.kind, d.suggested.transport])).toEqual([
      ['printer', 'usb'],
      ['scanner', 'hid'],
      ['scanner', 'serial'],
    ]);
    expect(found.devices[0]!.description).toBe('EPSON TM-T88V (USB 04b8:0202, serial X5E1234)');
    expect(found.devices[0]!.suggested).toMatchObject({
      vendorId: 1208,
      productId: 514,
      serialNumber: 'X5E1234',
      default: true,
    });
    expect(found.devices[2]!.suggested).toMatchObject({ path: '/dev/ayi-scanner-S123', baudRate: 9600 });

    // The suggestions make a valid device file as they are.
    const config = {
      printers: found.devices.filter((d) => d.kind === 'printer').map((d) => d.suggested as PrinterConfig),
      scanners: found.devices.filter((d) => d.kind === 'scanner').map((d) => d.suggested as ScannerConfig),
    };
    expect([...Value.Errors(DevicesConfig, config)]).toEqual([]);
    expect(checkDevices(config)).toEqual([]);
  });

  it('says why USB was not looked at on a machine without a USB bus, and still lists serial ports', async () => {
    const found = await discoverDevices({ bus: null, reason: 'no USB bus on this machine' }, async () => [
      { path: '/dev/ttyUSB0', vendorId: '1a86', productId: '7523' },
    ]);
    expect(found.usbUnavailable).toBe('no USB bus on this machine');
    expect(found.devices).toHaveLength(1);
    expect(found.devices[0]!.suggested).toMatchObject({ transport: 'serial', path: '/dev/ttyUSB0' });
  });
});
