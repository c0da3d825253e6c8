/**
 * What is plugged in, for the technician writing devices.json (`npm run ayi -- discover`): USB
 * printers (an interface of class 7), USB keyboard devices that may be scanners (class 3, boot
 * keyboard) and serial ports (USB-COM scanners). Each comes with the entry to paste into the file.
 */
import type { PrinterConfig, ScannerConfig } from './device-config.js';
import type { UsbBus } from './usb-access.js';

const PRINTER_CLASS = 7;
const HID_CLASS = 3;
const BOOT_SUBCLASS = 1;
const KEYBOARD_PROTOCOL = 1;

/** What discovery reads of a USB device. */
export type DiscoverableUsbDevice = Pick<
  USBDevice,
  'vendorId' | 'productId' | 'serialNumber' | 'manufacturerName' | 'productName' | 'configuration'
>;

export interface SerialPortInfo {
  path: string;
  vendorId?: string | undefined;
  productId?: string | undefined;
  serialNumber?: string | undefined;
  manufacturer?: string | undefined;
}

export interface DiscoveredDevice {
  kind: 'printer' | 'scanner';
  description: string;
  /** A devices.json entry to start from (ids and names to be chosen by the technician). */
  suggested: PrinterConfig | ScannerConfig;
}

export interface Discovery {
  devices: DiscoveredDevice[];
  /** Why USB could not be looked at (no bus on this machine), if so. */
  usbUnavailable: string | null;
}

const hex = (n: number) => n.toString(16).padStart(4, '0');

function interfaceClasses(device: DiscoverableUsbDevice): { interfaceClass: number; sub: number; protocol: number }[] {
  return (device.configuration?.interfaces ?? []).map((iface) => ({
    interfaceClass: iface.alternate.interfaceClass,
    sub: iface.alternate.interfaceSubclass,
    protocol: iface.alternate.interfaceProtocol,
  }));
}

export async function discoverDevices(
  usb: { bus: UsbBus<DiscoverableUsbDevice> | null; reason: string | null },
  listSerialPorts: () => Promise<SerialPortInfo[]>,
): Promise<Discovery> {
  const devices: DiscoveredDevice[] = [];
  const usbDevices = usb.bus ? await usb.bus.getDevices() : [];
  let printers = 0;
  let scanners = 0;
  for (const device of usbDevices) {
    const classes = interfaceClasses(device);
    const name = [device.manufacturerName, device.productName].filter(Boolean).join(' ') || 'USB device';
    const ids = `${hex(device.vendorId)}:${hex(device.productId)}`;
    const serialNumber = device.serialNumber ?? null;
    if (classes.some((c) => c.interfaceClass === PRINTER_CLASS)) {
      printers += 1;
      devices.push({
        kind: 'printer',
        description: `${name} (USB ${ids}${serialNumber ? `, serial ${serialNumber}` : ''})`,
        suggested: {
          id: `printer-${printers}`,
          name,
          transport: 'usb',
          vendorId: device.vendorId,
          productId: device.productId,
          serialNumber,
          paperWidth: 80,
          encoding: 'cp950',
          default: printers === 1,
          cashDrawer: false,
        },
      });
    } else if (
      classes.some((c) => c.interfaceClass === HID_CLASS && c.sub === BOOT_SUBCLASS && c.protocol === KEYBOARD_PROTOCOL)
    ) {
      scanners += 1;
      devices.push({
        kind: 'scanner',
        description: `${name} (USB keyboard ${ids}: a scanner in keyboard mode, or a keyboard)`,
        suggested: {
          id: `scanner-${scanners}`,
          name,
          transport: 'hid',
          vendorId: device.vendorId,
          productId: device.productId,
          serialNumber,
          assignedTo: null,
        },
      });
    }
  }
  for (const port of await listSerialPorts()) {
    // Only USB serial ports: a Pi's own UART is not a scanner.
    if (!port.vendorId) continue;
    scanners += 1;
    const name = port.manufacturer ? `${port.manufacturer} scanner` : 'USB-COM scanner';
    devices.push({
      kind: 'scanner',
      description: `${name} (USB-COM ${port.vendorId}:${port.productId ?? '????'} at ${port.path}${port.serialNumber ? `, serial ${port.serialNumber}` : ''})`,
      suggested: {
        id: `scanner-${scanners}`,
        name,
        transport: 'serial',
        path: port.serialNumber ? `/dev/ayi-scanner-${port.serialNumber}` : port.path,
        baudRate: 9600,
        assignedTo: null,
      },
    });
  }
  return { devices, usbUnavailable: usb.bus ? null : usb.reason };
}
