/**
 * The `escpos` package's Printer, used for what it does right for Epson: initialise (ESC @),
 * alignment (ESC a n), line feeds and the cut (n x LF, then GS V 1), and as the byte buffer the
 * project's own commands (commands.ts) are written into.
 *
 * How it loads: `escpos` 2.5.2 is CommonJS without types, and its index requires every adapter
 * (USB, serial, bluetooth...). We load only `escpos/printer.js` with createRequire, lazily (it pulls
 * in qr-image and get-pixels, about 100 ms), typed by the few methods used here, and give it an
 * in-memory adapter: flush() hands the buffer to adapter.write synchronously. If it cannot be
 * loaded (its optional dependencies missing), a built-in writer produces the same bytes, so
 * receipts never depend on an optional install (tests check the two agree).
 */
import { createRequire } from 'node:module';

/** The part of escpos' Printer this project uses. */
interface EscposPrinterApi {
  hardware(name: 'init'): EscposPrinterApi;
  align(align: 'lt' | 'ct' | 'rt'): EscposPrinterApi;
  feed(lines: number): EscposPrinterApi;
  cut(partial: boolean, feed: number): EscposPrinterApi;
  print(content: Buffer): EscposPrinterApi;
  flush(callback?: () => void): EscposPrinterApi;
}
type EscposPrinterCtor = new (adapter: { write(data: Buffer, callback?: () => void): void }) => EscposPrinterApi;

export type Alignment = 'left' | 'center' | 'right';

/** What the receipt encoder writes through. */
export interface ReceiptWriter {
  init(): void;
  align(align: Alignment): void;
  /** n line feeds (n >= 1). */
  feed(lines: number): void;
  /** `feed` line feeds, then a partial cut (GS V 1). */
  cut(feed: number): void;
  raw(bytes: Uint8Array): void;
  bytes(): Uint8Array;
}

let printerCtor: EscposPrinterCtor | null | undefined;
/** Why escpos could not be loaded, when it could not. */
export let escposLoadError: string | null = null;

/** escpos' Printer class, or null when it cannot be loaded here (the reason in `escposLoadError`). */
export function escposPrinterClass(): EscposPrinterCtor | null {
  if (printerCtor === undefined) {
    try {
      printerCtor = createRequire(import.meta.url)('escpos/printer.js') as EscposPrinterCtor;
    } catch (err) {
      escposLoadError = err instanceof Error ? err.message : String(err);
      printerCtor = null;
    }
  }
  return printerCtor;
}

const ALIGN = { left: 'lt', center: 'ct', right: 'rt' } as const;

class EscposWriter implements ReceiptWriter {
  private readonly chunks: Buffer[] = [];
  private readonly printer: EscposPrinterApi;

  constructor(Printer: EscposPrinterCtor) {
    this.printer = new Printer({ write: (data, callback) => (this.chunks.push(Buffer.from(data)), callback?.()) });
  }
  init() {
    this.printer.hardware('init');
  }
  align(align: Alignment) {
    this.printer.align(ALIGN[align]);
  }
  feed(lines: number) {
    this.printer.feed(lines);
  }
  cut(feed: number) {
    this.printer.cut(true, feed);
  }
  raw(bytes: Uint8Array) {
    this.printer.print(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  bytes(): Uint8Array {
    this.printer.flush();
    return new Uint8Array(Buffer.concat(this.chunks));
  }
}

/** The same bytes as EscposWriter, without escpos. */
export class BuiltinWriter implements ReceiptWriter {
  private readonly parts: number[] = [];
  private readonly big: Uint8Array[] = [];
  init() {
    this.parts.push(0x1b, 0x40);
  }
  align(align: Alignment) {
    this.parts.push(0x1b, 0x61, align === 'left' ? 0 : align === 'center' ? 1 : 2);
  }
  feed(lines: number) {
    for (let i = 0; i < Math.max(1, lines); i++) this.parts.push(0x0a);
  }
  cut(feed: number) {
    this.feed(feed || 3);
    this.parts.push(0x1d, 0x56, 0x01);
  }
  raw(bytes: Uint8Array) {
    this.flushParts();
    this.big.push(bytes);
  }
  bytes(): Uint8Array {
    this.flushParts();
    return new Uint8Array(Buffer.concat(this.big));
  }
  private flushParts() {
    if (this.parts.length === 0) return;
    this.big.push(Uint8Array.from(this.parts));
    this.parts.length = 0;
  }
}

/** A writer through escpos when it loads, else the built-in one. */
export function receiptWriter(prefer: 'escpos' | 'builtin' = 'escpos'): ReceiptWriter {
  const Printer = prefer === 'escpos' ? escposPrinterClass() : null;
  return Printer ? new EscposWriter(Printer) : new BuiltinWriter();
}
