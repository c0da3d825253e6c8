/**
 * A USB-COM (CDC-ACM) barcode scanner: a serial port (`/dev/ttyACM0`, or a udev symlink) that sends
 * each code followed by CR, LF or CRLF. Read with `serialport`; AIM identifiers are split off.
 *
 * The port may vanish at any moment (unplugged, USB reset): the driver reports it to the registry
 * (connected false, the reason as lastError) and opens it again with a backoff until it is back.
 */
import { createRequire } from 'node:module';
import type { SerialPort } from 'serialport';
import type { Logger } from 'pino';
import type { ScannerConfig } from './device-config.js';
import type { DeviceRegistry } from './device-registry.js';
import type { ScanEvent } from './device-types.js';
import { parseAim } from './aim-symbology.js';

export type SerialScannerConfig = Extract<ScannerConfig, { transport: 'serial' }>;

/** What a scanner driver needs from the hub: where scans and status go. */
export interface ScannerDriverContext {
  registry: DeviceRegistry;
  onScan: (scan: ScanEvent) => void;
  log: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  /** Reopening after a failure: first wait, doubling up to the longest (ms). */
  backoff?: { minMs: number; maxMs: number };
}

/** One scanner's driver, as the scanning service drives it. */
export interface ScannerDriver {
  readonly scannerId: string;
  start(): void;
  stop(): Promise<void>;
}

/** The part of `serialport`'s SerialPort the driver uses (a test may hand in its own). */
export type SerialPortLike = Pick<SerialPort, 'open' | 'close' | 'on' | 'removeAllListeners' | 'isOpen'>;
export type OpenSerialPort = (path: string, baudRate: number) => SerialPortLike;

let serialPortClass: typeof SerialPort | null = null;
/** `serialport` (about 40 modules and a native binding), loaded when a serial port is first needed. */
export function loadSerialPort(): typeof SerialPort {
  serialPortClass ??= (createRequire(import.meta.url)('serialport') as { SerialPort: typeof SerialPort }).SerialPort;
  return serialPortClass;
}

export const openSerialPort: OpenSerialPort = (path, baudRate) =>
  new (loadSerialPort())({ path, baudRate, autoOpen: false });

export const DEFAULT_BACKOFF = { minMs: 250, maxMs: 5_000 };

/** Doubling delays between attempts, back to the shortest after a success. */
export class Backoff {
  private next: number;

  constructor(private readonly limits: { minMs: number; maxMs: number } = DEFAULT_BACKOFF) {
    this.next = limits.minMs;
  }

  take(): number {
    const delay = this.next;
    this.next = Math.min(this.next * 2, this.limits.maxMs);
    return delay;
  }

  reset(): void {
    this.next = this.limits.minMs;
  }
}

const CR = 0x0d;
const LF = 0x0a;
/** Longest line kept; a scanner sending no terminator is cut off here. */
export const MAX_LINE_BYTES = 4096;

/**
 * Bytes to scans: CR, LF or CRLF ends one (empty lines are skipped, so CRLF is one end). Split on
 * bytes, then decoded as UTF-8 (CR and LF never occur inside a UTF-8 sequence), so a QR code's
 * Chinese text split across two reads stays whole. Control characters around a code (STX/ETX
 * framing some scanners add) are trimmed.
 */
export class ScanLineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private overflow = false;

  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte !== CR && byte !== LF) continue;
      this.keep(chunk.subarray(start, i));
      const line = this.take();
      if (line !== null) lines.push(line);
      start = i + 1;
    }
    this.keep(chunk.subarray(start));
    return lines;
  }

  reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.overflow = false;
  }

  private keep(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.overflow) return;
    if (this.pendingBytes + bytes.length > MAX_LINE_BYTES) {
      this.overflow = true;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    this.pending.push(Buffer.from(bytes));
    this.pendingBytes += bytes.length;
  }

  private take(): string | null {
    const overflow = this.overflow;
    const bytes = Buffer.concat(this.pending);
    this.reset();
    if (overflow) return null;
    // eslint-disable-next-line no-control-regex
    const text = bytes.toString('utf8').replace(/^[\x00-\x1f\x7f]+|[\x00-\x1f\x7f]+$/g, '');
    return text === '' ? null : text;
  }
}

export class SerialScannerDriver implements ScannerDriver {
  readonly scannerId: string;
  private port: SerialPortLike | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private readonly backoff: Backoff;
  private readonly splitter = new ScanLineSplitter();
  /** Last failure logged, so a port that stays missing is logged once, not at every retry. */
  private lastLogged: string | null = null;

  constructor(
    private readonly config: SerialScannerConfig,
    private readonly ctx: ScannerDriverContext,
    private readonly openPort: OpenSerialPort = openSerialPort,
  ) {
    this.scannerId = config.id;
    this.backoff = new Backoff(ctx.backoff ?? DEFAULT_BACKOFF);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const port = this.port;
    this.port = null;
    if (port?.isOpen) {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    }
    port?.removeAllListeners();
    this.ctx.registry.update(this.scannerId, { connected: false });
  }

  private connect(): void {
    if (this.stopped) return;
    const { path, baudRate } = this.config;
    let port: SerialPortLike;
    try {
      port = this.openPort(path, baudRate);
    } catch (err) {
      this.failed(`cannot open ${path}: ${messageOf(err)}`);
      return;
    }
    this.port = port;
    this.splitter.reset();
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    // An error on an open port is followed by 'close' (with the reason when it was unplugged).
    port.on('error', (err: Error) => this.ctx.log.debug({ err, scannerId: this.scannerId }, 'scanner port error'));
    port.on('close', (err?: Error | null) => {
      if (this.port !== port) return;
      this.port = null;
      port.removeAllListeners();
      if (this.stopped) return;
      this.failed(err ? `disconnected: ${messageOf(err)}` : 'port closed');
    });
    port.open((err) => {
      if (this.port !== port) return;
      if (err) {
        this.port = null;
        port.removeAllListeners();
        this.failed(`cannot open ${path}: ${messageOf(err)}`);
        return;
      }
      if (this.stopped) {
        port.close();
        return;
      }
      this.backoff.reset();
      this.lastLogged = null;
      this.ctx.registry.update(this.scannerId, { connected: true, lastError: null });
      this.ctx.log.info({ scannerId: this.scannerId, path }, 'scanner connected');
    });
  }

  private onData(chunk: Buffer): void {
    const receivedAt = performance.now();
    for (const line of this.splitter.push(chunk)) {
      const { code, symbology } = parseAim(line);
      try {
        this.ctx.onScan({ scannerId: this.scannerId, code, symbology, receivedAt });
      } catch (err) {
        this.ctx.log.error({ err, scannerId: this.scannerId }, 'scan handler failed');
      }
    }
  }

  private failed(reason: string): void {
    this.ctx.registry.update(this.scannerId, { connected: false, lastError: reason });
    if (reason !== this.lastLogged) {
      this.ctx.log.warn({ scannerId: this.scannerId, reason }, 'scanner not available; retrying');
      this.lastLogged = reason;
    }
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, this.backoff.take());
    this.retryTimer.unref?.();
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
