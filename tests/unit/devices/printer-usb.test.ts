/**
 * The USB printer driver on the fake `usb` bus (the one thing that cannot be real here): interface
 * choice, kernel driver, claiming, chunks, timeouts, unplugging, status, and the guard for
 * machines without a USB bus (this one: no /sys/bus/usb, the real `usb` is tried).
 */
import { describe, expect, it } from 'vitest';
import { openUsbBus } from '../../../hub/src/devices/usb-access.ts';
import { UsbPrinterTransport, findPrinterInterface } from '../../../hub/src/devices/usb-printer.driver.ts';
import { FakeUsbPrinter, FakeWebUsb, until } from '../../support/fake-usb.ts';

const ids = { vendorId: 0x0416, productId: 0x5011, serialNumber: null };

function setup(options: { interfaceNumber?: number; bulkIn?: boolean; kernelDriver?: boolean } = {}) {
  const bus = new FakeWebUsb();
  const device = new FakeUsbPrinter({ ...ids, ...options });
  bus.plug(device);
  const printer = new UsbPrinterTransport(bus, { ...ids, chunkBytes: 16, chunkTimeoutMs: 100, statusTimeoutMs: 50 });
  return { bus, device, printer };
}

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => 0x20 + (i % 90));

describe('the USB printer driver', () => {
  it('picks the printer-class interface with a bulk OUT endpoint, detaches usblp, claims, writes in chunks', async () => {
    const { device, printer } = setup({ interfaceNumber: 1 });
    expect(findPrinterInterface(device.configuration)).toMatchObject({ interfaceNumber: 1, out: 1, in: 2 });
    await printer.write(bytes(100));
    expect(device.kernelDriverBound).toBe(false);
    expect(device.configuration.interfaces.find((i) => i.interfaceNumber === 1)!.claimed).toBe(true);
    expect(device.received).toEqual([...bytes(100)]);
    await printer.close();
    expect(device.opened).toBe(false);
  });

  it('runs concurrent writes one after another (the endpoint takes one transfer at a time)', async () => {
    const { device, printer } = setup();
    await Promise.all([printer.write(bytes(40)), printer.write(Uint8Array.of(1, 2, 3)), printer.status()]);
    expect(device.received).toEqual([...bytes(40), 1, 2, 3]);
  });

  it('is busy when another program holds the interface, and fine once it lets go', async () => {
    const { device, printer } = setup({ kernelDriver: false });
    device.claimedElsewhere = true;
    await expect(printer.open()).rejects.toMatchObject({ code: 'busy' });
    device.claimedElsewhere = false;
    await printer.write(bytes(3));
    expect(device.received).toHaveLength(3);
  });

  it('times out on a stalled printer, and recovers when it takes data again', async () => {
    const { device, printer } = setup();
    device.stallAfterBytes = 20;
    await expect(printer.write(bytes(64))).rejects.toMatchObject({ code: 'timeout' });
    device.release();
    await printer.write(bytes(5));
    expect(device.received.slice(-5)).toEqual([...bytes(5)]);
  });

  it('is unplugged when gone, mid-transfer too (and says so); comes back on replug', async () => {
    const { bus, device, printer } = setup();
    const changes: string[] = [];
    printer.onChange((change) => changes.push(change));
    device.stallAfterBytes = 20;
    const writing = printer.write(bytes(64));
    await until(() => device.transferring);
    bus.unplug(device);
    await expect(writing).rejects.toMatchObject({ code: 'unplugged' });
    await expect(printer.write(bytes(1))).rejects.toMatchObject({ code: 'unplugged' });
    device.release();
    bus.plug(device);
    expect(changes).toEqual(['disconnected', 'connected']);
    await printer.write(bytes(2));
    expect(device.receivedSincePlug).toEqual([...bytes(2)]);
    await printer.close();
    expect(bus.listenerCount()).toBe(0);
  });

  it('asks status on the bulk IN endpoint; null without one', async () => {
    const { device, printer } = setup();
    device.printerStatus = { online: false, coverOpen: false, paper: 'out', error: false };
    expect(await printer.status()).toEqual(device.printerStatus);
    expect(device.received).toEqual([]); // status requests are not printed
    const noIn = setup({ bulkIn: false });
    expect(await noIn.printer.status()).toBeNull();
  });

  it('without a USB bus: every open is `unplugged`, nothing crashes', async () => {
    const printer = new UsbPrinterTransport(null, ids);
    await expect(printer.write(bytes(1))).rejects.toMatchObject({ code: 'unplugged' });
    const bus = new FakeWebUsb();
    bus.noBus = true;
    await expect(new UsbPrinterTransport(bus, ids).open()).rejects.toMatchObject({ code: 'unplugged' });
  });
});

describe('access to the USB bus', () => {
  it('reports no bus where /sys/bus/usb is absent, without touching `usb`', async () => {
    let loaded = false;
    const access = await openUsbBus({
      sysPath: '/nonexistent/sys/bus/usb/devices',
      platform: 'linux',
      load: async () => {
        loaded = true;
        return import('usb');
      },
    });
    expect(access).toMatchObject({ bus: null });
    expect(access.reason).toMatch(/no USB bus/);
    expect(loaded).toBe(false);
  });

  it('reports no bus when `usb` cannot load, or cannot list devices (the real one on this machine)', async () => {
    const broken = await openUsbBus({
      platform: 'darwin',
      load: () => Promise.reject(new Error('no native binding')),
    });
    expect(broken.reason).toMatch(/cannot load: no native binding/);
    // the real package, past the /sys check: getDevices() rejects here, and that is caught
    const real = await openUsbBus({ platform: 'darwin' });
    if (real.bus) {
      expect(real.reason).toBeNull(); // a machine with USB
    } else {
      expect(real.reason).toMatch(/no USB bus/);
    }
  });
});
