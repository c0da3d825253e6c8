/**
 * The store's printers and scanners as a technician sets them up: `devices.json` in the data
 * directory (written with the embedded default, one virtual printer, when missing). Checked at
 * start-up with a message naming each bad field. See firmware-config/README.md.
 */
import { Type, type Static } from '@sinclair/typebox';

const DeviceId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' });
const UsbId = Type.Integer({ minimum: 0, maximum: 0xffff });

const PrinterCommon = {
  id: DeviceId,
  name: Type.String({ minLength: 1, maxLength: 40 }),
  paperWidth: Type.Union([Type.Literal(80), Type.Literal(58)]),
  /** Chinese text: cp950 (Big5, what Taiwan printers expect) or GB18030. */
  encoding: Type.Union([Type.Literal('cp950'), Type.Literal('gb18030')]),
  /** Receipts go to the default printer. */
  default: Type.Boolean(),
  /** Kick the cash drawer wired to this printer on cash sales. */
  cashDrawer: Type.Boolean(),
};

export const PrinterConfig = Type.Union([
  Type.Object({ ...PrinterCommon, transport: Type.Literal('virtual') }, { additionalProperties: false }),
  Type.Object(
    {
      ...PrinterCommon,
      transport: Type.Literal('usb'),
      vendorId: UsbId,
      productId: UsbId,
      /** When two printers of one model are plugged in. */
      serialNumber: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()]),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      ...PrinterCommon,
      transport: Type.Literal('network'),
      host: Type.String({ minLength: 1, maxLength: 253 }),
      port: Type.Integer({ minimum: 1, maximum: 65535 }),
    },
    { additionalProperties: false },
  ),
]);
export type PrinterConfig = Static<typeof PrinterConfig>;

const ScannerCommon = {
  id: DeviceId,
  name: Type.String({ minLength: 1, maxLength: 40 }),
  /** The paired tablet (device id) its scans go to at start; staff can reassign it later. */
  assignedTo: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()]),
};

export const ScannerConfig = Type.Union([
  Type.Object(
    {
      ...ScannerCommon,
      /** USB-COM (CDC-ACM) scanner: /dev/ttyACM0, or a udev symlink such as /dev/ayi-scanner-1. */
      transport: Type.Literal('serial'),
      path: Type.String({ minLength: 1, maxLength: 200 }),
      baudRate: Type.Integer({ minimum: 1200, maximum: 921_600 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      ...ScannerCommon,
      /** USB HID keyboard scanner read directly (boot protocol). */
      transport: Type.Literal('hid'),
      vendorId: UsbId,
      productId: UsbId,
      serialNumber: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()]),
    },
    { additionalProperties: false },
  ),
]);
export type ScannerConfig = Static<typeof ScannerConfig>;

export const DevicesConfig = Type.Object(
  {
    printers: Type.Array(PrinterConfig, { maxItems: 8 }),
    scanners: Type.Array(ScannerConfig, { maxItems: 16 }),
  },
  { additionalProperties: false },
);
export type DevicesConfig = Static<typeof DevicesConfig>;

/** The embedded default: one virtual 80 mm printer, no scanners (keyboard-wedge scanners need none). */
export const DEFAULT_DEVICES: DevicesConfig = {
  printers: [
    {
      id: 'virtual',
      name: '虛擬印表機',
      transport: 'virtual',
      paperWidth: 80,
      encoding: 'cp950',
      default: true,
      cashDrawer: false,
    },
  ],
  scanners: [],
};

/** What the schema cannot check: unique ids, exactly one default printer. */
export function checkDevices(config: DevicesConfig): string[] {
  const problems: string[] = [];
  const ids = [...config.printers, ...config.scanners].map((d) => d.id);
  for (const id of new Set(ids)) {
    if (ids.filter((x) => x === id).length > 1) problems.push(`device id ${id} is used twice`);
  }
  const defaults = config.printers.filter((p) => p.default).length;
  if (config.printers.length > 0 && defaults !== 1) {
    problems.push(`exactly one printer must be the default (found ${defaults})`);
  }
  return problems;
}
