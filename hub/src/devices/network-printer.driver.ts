/**
 * An ESC/POS printer on the network: raw TCP, port 9100 (Epson, Star, Xprinter... all speak it).
 * One connection, opened on first use and again after it drops (the printer was switched off, a
 * cable pulled, the printer closed an idle connection). Connecting, writing and each status answer
 * have their own timeouts, so an unreachable or stalled printer fails the job instead of hanging
 * the queue. Writes and DLE EOT status requests run one at a time (answers are matched to
 * requests by order). Failures: `offline` (cannot connect, connection lost), `timeout` (the
 * printer stopped taking data: paper out with a full buffer, a jam), `io`.
 */
import net from 'node:net';
import { PrinterError, type PrinterHardwareStatus, type PrinterTransport } from './device-types.js';
import { queryStatus } from './printer-status.js';
import type { PrinterChange } from './usb-printer.driver.js';

export interface NetworkPrinterOptions {
  host: string;
  port: number;
  connectTimeoutMs?: number;
  /** How long a whole job may take to be handed over. */
  writeTimeoutMs?: number;
  /** How long the printer may take to answer one DLE EOT request. */
  statusTimeoutMs?: number;
}

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class NetworkPrinterTransport implements PrinterTransport {
  readonly transport = 'network' as const;
  private socket: net.Socket | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private received: number[] = [];
  private wakeReader: (() => void) | null = null;
  private readonly listeners = new Set<(change: PrinterChange) => void>();
  private closing = false;

  constructor(private readonly options: NetworkPrinterOptions) {}

  get name(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  /** Hears the connection drop (`disconnected`). Returns the unsubscribe. */
  onChange(listener: (change: PrinterChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  open(): Promise<void> {
    return this.exclusive(async () => void (await this.connect()));
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.exclusive(async () => {
      const socket = await this.connect();
      await this.send(socket, bytes, this.options.writeTimeoutMs ?? 10_000);
    });
  }

  status(): Promise<PrinterHardwareStatus | null> {
    return this.exclusive(async () => {
      const socket = await this.connect();
      return queryStatus(async (request) => {
        this.received = []; // anything unasked for (auto status back) is not this answer
        await this.send(socket, request, this.options.statusTimeoutMs ?? 1000);
        return this.readByte(socket, this.options.statusTimeoutMs ?? 1000);
      });
    });
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      const socket = this.socket;
      this.socket = null;
      if (!socket) return;
      this.closing = true;
      try {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => socket.destroy(), 1000);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          socket.end();
        });
      } finally {
        this.closing = false;
      }
    });
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private connect(): Promise<net.Socket> {
    const current = this.socket;
    if (current && !current.destroyed && !current.connecting) return Promise.resolve(current);
    const timeoutMs = this.options.connectTimeoutMs ?? 3000;
    return new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: this.options.host, port: this.options.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new PrinterError('offline', `no connection to the printer at ${this.name} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new PrinterError('offline', `cannot connect to the printer at ${this.name}: ${text(err)}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 10_000);
        socket.on('error', () => undefined); // 'close' follows and says it
        socket.on('data', (data: Buffer) => {
          for (const byte of data) this.received.push(byte);
          this.wakeReader?.();
        });
        socket.once('close', () => {
          const wasCurrent = this.socket === socket;
          if (wasCurrent) this.socket = null;
          this.wakeReader?.();
          if (wasCurrent && !this.closing) this.emit('disconnected');
        });
        this.socket = socket;
        this.received = [];
        resolve(socket);
      });
    });
  }

  /** Hands `bytes` to the socket; fails (and drops the connection) when it is not taken in time. */
  private send(socket: net.Socket, bytes: Uint8Array, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (socket.destroyed) {
        reject(new PrinterError('offline', `the connection to ${this.name} was lost`));
        return;
      }
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new PrinterError('timeout', `the printer at ${this.name} did not take the data within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.write(bytes, (err) => {
        clearTimeout(timer);
        if (err) reject(new PrinterError('offline', `the connection to ${this.name} was lost: ${text(err)}`));
        else resolve();
      });
    });
  }

  /** The next byte from the printer, or null if none comes in time; fails if the connection closes. */
  private async readByte(socket: net.Socket, timeoutMs: number): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const byte = this.received.shift();
      if (byte !== undefined) return byte;
      if (socket.destroyed) throw new PrinterError('offline', `the connection to ${this.name} was lost`);
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wakeReader = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeReader = null;
    }
  }

  private emit(change: PrinterChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // a listener's failure is its own
      }
    }
  }
}
