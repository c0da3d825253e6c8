/**
 * The USB printer driver on the fake `usb` bus (the one thing that cannot be real here): interface
 * choice, kernel driver, claiming, chunks, timeouts, unplugging, a halted (stalled) endpoint,
 * status, and the guard for machines without a USB bus (the real `usb` is tried where there is none).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PrinterError } from '../../../hub/src/devices/device-types.ts';
import { SYS_BUS_USB, openUsbBus } from '../../../hub/src/devices/usb-access.ts';
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

  it('is unplugged when gone, mid-transfer too (and says so); on replug detaches usblp and claims anew', async () => {
    const { bus, device, printer } = setup();
    const changes: string[] = [];
    printer.onChange((change) => changes.push(change));
    await printer.open();
    expect(device.kernelDriverDetaches).toBe(1);
    const before = device.handedOut.find((d) => d.opened)!;
    device.stallAfterBytes = 20;
    const writing = printer.write(bytes(64));
    await until(() => device.transferring);
    bus.unplug(device);
    await expect(writing).rejects.toMatchObject({ code: 'unplugged' });
    await expect(printer.write(bytes(1))).rejects.toMatchObject({ code: 'unplugged' });
    device.release();
    bus.plug(device);
    expect(changes).toEqual(['disconnected', 'connected']);
    // Plugged back in: usblp bound again, and `usb` hands out a new object; the old one is dead.
    expect(device.kernelDriverBound).toBe(true);
    expect(device.claimed).toBe(false);
    const [listed] = await bus.getDevices();
    expect(listed).not.toBe(before);
    await expect(before.open()).rejects.toThrow(/No such device/);
    await printer.write(bytes(2));
    expect(device.receivedSincePlug).toEqual([...bytes(2)]);
    expect(device.kernelDriverBound).toBe(false);
    expect(device.kernelDriverDetaches).toBe(2);
    const after = device.handedOut.find((d) => d.opened)!;
    expect(after).not.toBe(before);
    expect(after.configuration.interfaces.find((i) => i.interfaceNumber === 0)!.claimed).toBe(true);
    await printer.close();
    expect(bus.listenerCount()).toBe(0);
  });

  it('a halted (stalled) OUT endpoint: `usb` resolves with status stall, the driver fails with an `io` PrinterError and lets go', async () => {
    const { bus, device, printer } = setup();
    await printer.write(bytes(4));
    device.halt('out');
    const error: unknown = await printer.write(bytes(40)).catch((err: unknown) => err);
    // A PrinterError: the spooler holds the job and tries again (any failure is retried, with backoff).
    expect(error).toBeInstanceOf(PrinterError);
    expect(error).toMatchObject({ code: 'io', message: 'the USB printer refused the data (stall)' });
    expect(device.received).toEqual([...bytes(4)]);
    // Dropped: released and closed, so the next try finds, opens and claims the printer afresh.
    expect(device.claimed).toBe(false);
    expect(device.opened).toBe(false);
    // The driver cleared the halt before letting go (a halt survives close and open): the endpoint takes data again.
    const [raw] = await bus.getDevices();
    await raw!.open();
    await raw!.claimInterface(0);
    expect(await raw!.transferOut(1, bytes(8))).toEqual({ status: 'ok', bytesWritten: 8 });
    await raw!.close();
    // A replug resets the printer (no halt any more): the driver prints again.
    bus.unplug(device);
    bus.plug(device);
    await printer.write(bytes(5));
    expect(device.receivedSincePlug).toEqual([...bytes(5)]);
  });

  // Without clearHalt() after a stall a halted OUT endpoint would stall every retry until a replug.
  it('clears a halted OUT endpoint (clearHalt) and prints on the next try, without a replug', async () => {
    const { device, printer } = setup();
    device.halt('out');
    await printer.write(bytes(8)).catch(() => undefined); // the try that meets the stall
    await printer.write(bytes(8)); // the spooler's next try
    expect(device.received.slice(-8)).toEqual([...bytes(8)]);
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

  it('reports no bus when `usb` cannot load', async () => {
    const broken = await openUsbBus({
      platform: 'darwin',
      load: () => Promise.reject(new Error('no native binding')),
    });
    expect(broken).toMatchObject({ bus: null });
    expect(broken.reason).toMatch(/cannot load: no native binding/);
  });

  // The real package past the /sys check, on a machine without a USB bus (CI, containers): its
  // getDevices() rejects ("/sys/bus/usb/devices/ not found"), and that is caught.
  it.skipIf(existsSync(SYS_BUS_USB))('reports no bus when the real `usb` cannot list devices', async () => {
    const real = await openUsbBus({ platform: 'darwin' });
    expect(real.bus).toBeNull();
    expect(real.reason).toMatch(/^no USB bus on this machine \(getDevices error: .*not found/);
  });
});
