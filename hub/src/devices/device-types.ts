/**
 * The contract between the hub and its hardware (D1, D2). Drivers talk to one device each and never
 * call services: they report through these interfaces (and the bus); the printing and scanning
 * services drive them.
 */

/** What an ESC/POS printer said about itself (DLE EOT), where it answers. */
export interface PrinterHardwareStatus {
  online: boolean;
  coverOpen: boolean;
  paper: 'ok' | 'near_end' | 'out';
  /** An error the printer reports (cutter jam, head overheated...): printing stops until cleared. */
  error: boolean;
}

/**
 * One printer's connection: raw ESC/POS bytes in, status out. Implementations: USB (`usb` v3),
 * network (raw TCP 9100), virtual (the embedded default: keeps what it prints).
 */
export interface PrinterTransport {
  readonly transport: 'usb' | 'network' | 'virtual';
  /** Opens the connection (claims the interface, connects the socket). Safe to call when open. */
  open(): Promise<void>;
  /**
   * Sends one whole job. Rejects with PrinterError when the printer is gone, refuses, or does not take
   * the bytes within the timeout; the caller decides about retrying.
   */
  write(bytes: Uint8Array): Promise<void>;
  /** DLE EOT status, or null when this printer does not answer status requests. */
  status(): Promise<PrinterHardwareStatus | null>;
  close(): Promise<void>;
}

export type PrinterErrorCode = 'offline' | 'timeout' | 'busy' | 'unplugged' | 'paper_out' | 'cover_open' | 'io';

export class PrinterError extends Error {
  constructor(
    readonly code: PrinterErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PrinterError';
  }
}

/** Paper widths and their columns in Font A. */
export const PAPER_COLUMNS = { 80: 42, 58: 32 } as const;
export type PaperWidth = keyof typeof PAPER_COLUMNS;

/** A scan as a scanner driver reports it. */
export interface ScanEvent {
  /** The configured scanner it came from. */
  scannerId: string;
  /** The code with any AIM symbology prefix removed. */
  code: string;
  /** AIM symbology identifier (e.g. "]E0" EAN-13, "]Q1" QR), when the scanner sends one. */
  symbology: string | null;
  /** performance.now() when the scan's last character arrived (for latency measurements). */
  receivedAt: number;
}

/** What the admin page and the tablets see of a device. */
export interface DeviceStatusView {
  deviceId: string;
  kind: 'printer' | 'scanner';
  name: string;
  transport: 'usb' | 'network' | 'virtual' | 'serial' | 'hid';
  connected: boolean;
  /** Printers: from DLE EOT where the printer answers, else 'unknown'. */
  paper: 'ok' | 'near_end' | 'out' | 'unknown' | null;
  /** Printers: jobs waiting. */
  queueLength: number | null;
  lastError: string | null;
  /** Scanners: the tablet (paired device id) its scans go to. */
  assignedTo: string | null;
  updatedAt: string;
}
