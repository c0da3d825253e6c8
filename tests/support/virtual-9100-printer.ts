/**
 * A network receipt printer for tests: a TCP server on a free port of 127.0.0.1 (raw port 9100
 * style) that keeps the bytes it is sent and answers DLE EOT requests (1, 2, 4) with the status
 * the test sets (paper out, cover open, offline...), as Epson printers do: real-time requests are
 * answered at once, wherever they appear in the data. A printer that cannot print (paper out,
 * cover open, offline) keeps what it is sent in its buffer and prints it when it can again.
 * It can be switched off (stops accepting, drops its connections) and on again on the same port.
 */
import net from 'node:net';
import type { PrinterHardwareStatus } from '../../hub/src/devices/device-types.ts';
import { statusBytes, statusProblem } from '../../hub/src/devices/printer-status.ts';

export interface Virtual9100Options {
  /** Whether DLE EOT is answered (some cheap printers never answer). */
  answersStatus?: boolean;
}

export class Virtual9100Printer {
  status: PrinterHardwareStatus = { online: true, coverOpen: false, paper: 'ok', error: false };
  /** The bytes printed (status requests excluded), in order. */
  printed: number[] = [];
  /** DLE EOT requests seen. */
  statusRequests = 0;
  /** Connections accepted so far. */
  connectionsAccepted = 0;
  private buffered: number[] = [];
  private server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private carry: number[] = [];

  private constructor(
    readonly port: number,
    private readonly options: Virtual9100Options,
  ) {
    this.server = this.makeServer();
  }

  static async start(options: Virtual9100Options = {}): Promise<Virtual9100Printer> {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const printer = new Virtual9100Printer(port, options);
    await printer.listen();
    return printer;
  }

  get host(): string {
    return '127.0.0.1';
  }

  /** Changes the status; a printer that can print again prints what it kept. */
  setStatus(patch: Partial<PrinterHardwareStatus>): void {
    this.status = { ...this.status, ...patch };
    this.flush();
  }

  /** Bytes waiting in the printer's buffer (it cannot print now). */
  get waiting(): number {
    return this.buffered.length;
  }

  /** Switched off: no new connections, the open ones dropped. */
  async switchOff(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropConnections();
    await closed;
  }

  /** Switched on again, on the same port. */
  async switchOn(): Promise<void> {
    this.server = this.makeServer();
    await this.listen();
  }

  /** Drops the open connections (the printer closed them), still accepting new ones. */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.carry = [];
  }

  async close(): Promise<void> {
    this.dropConnections();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private listen(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  private makeServer(): net.Server {
    return net.createServer((socket) => {
      this.connectionsAccepted += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      socket.on('data', (data: Buffer) => this.receive(socket, data));
    });
  }

  private receive(socket: net.Socket, data: Buffer): void {
    const bytes = [...this.carry, ...data];
    this.carry = [];
    const job: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0x10 && (i + 1 >= bytes.length || bytes[i + 1] === 0x04)) {
        if (i + 2 >= bytes.length) {
          this.carry = bytes.slice(i); // a request split across packets
          break;
        }
        const n = bytes[i + 2]!;
        if (n === 1 || n === 2 || n === 4) {
          this.statusRequests += 1;
          if (this.options.answersStatus !== false) socket.write(Uint8Array.of(statusBytes(this.status)[n]));
          i += 2;
          continue;
        }
      }
      job.push(bytes[i]!);
    }
    this.buffered.push(...job);
    this.flush();
  }

  private flush(): void {
    if (statusProblem(this.status) || this.buffered.length === 0) return;
    this.printed.push(...this.buffered.splice(0));
  }
}
