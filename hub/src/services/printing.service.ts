/**
 * Receipts and the print spooler. A sale's receipt is built (domain/receipt.ts), encoded to ESC/POS
 * (devices/escpos) and queued for the default printer after the sale is acknowledged: a sale never
 * waits for paper. Reprints are marked COPY. Job ids are `<saleId>-p<n>`: the original is always
 * p1, copies p2 and up; a job id is accepted once and printed once (a retry, a second tap, a second
 * start-up recovery find the job queued or printed and add nothing).
 *
 * The spool. A job for a real printer (USB, network) is durable before it is accepted: one file per
 * job in `spool/<printerId>/` (written to a temporary name, fsync'd, renamed, directory fsync'd),
 * removed once printed; at start-up the files left are queued again in order. Jobs for the virtual
 * printer are not spooled (it prints at once, and its receipts are not fsync'd so as to keep the
 * journal's disk to the journal): a crash loses at most its receipt file, which printMissingOriginals()
 * prints again at start-up from the journal.
 *
 * One queue per printer, in order. Before each job the printer's status is asked (DLE EOT, where it
 * answers): offline, out of paper, cover open, unplugged, not answering... hold the queue, which is
 * tried again with backoff (and at once when a USB printer is plugged back in). The text decoded
 * from the bytes sent is kept for every printer (the archive, devices/virtual-printer.driver.ts),
 * so the UI shows what was printed. Cash sales kick the drawer of a printer that has `cashDrawer`.
 * Each printer's state goes to the device registry (connected, paper, queue length, last error).
 *
 * Printed once, within limits: a job is archived (and its spool file removed) after the printer
 * took it; a crash in the few milliseconds between the two prints it again at the next start. A
 * job that fails midway (unplugged, timed out) is sent again whole: the part printed before is on
 * the paper twice. Both are preferred to a receipt never printed.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { DomainError } from '../domain/errors.js';
import { buildReceipt, type ReceiptBlock, type ReceiptContext, type ReceiptDocument } from '../domain/receipt.js';
import type { SaleRecord, StoreState } from '../domain/store-state.js';
import { businessDate } from '../domain/time.js';
import type { PrinterConfig } from '../devices/device-config.js';
import type { DeviceRegistry } from '../devices/device-registry.js';
import {
  PAPER_COLUMNS,
  PrinterError,
  type DeviceStatusView,
  type PrinterErrorCode,
  type PrinterTransport,
} from '../devices/device-types.js';
import { decodeEscPos, type DecodedPrint, type DecodeOptions } from '../devices/escpos/escpos-decoder.js';
import { encodeReceipt, type EncodeOptions } from '../devices/escpos/receipt-encoder.js';
import { NetworkPrinterTransport } from '../devices/network-printer.driver.js';
import { statusProblem } from '../devices/printer-status.js';
import type { UsbBus } from '../devices/usb-access.js';
import { UsbPrinterTransport, type PrinterChange, type UsbPrinterDevice } from '../devices/usb-printer.driver.js';
import { VirtualPrinter, VirtualPrinterTransport, type ReceiptKind } from '../devices/virtual-printer.driver.js';
import { ensureDirectory, fsyncDirectory } from '../storage/fsync.js';

export interface ReceiptJobView {
  jobId: string;
  kind: ReceiptKind;
  printedAt: string;
  text: string;
}

/** A reprint as accepted: printed already, or waiting in a held queue (then printedAt is when it was accepted). */
export interface ReprintView extends ReceiptJobView {
  printerId: string;
  queued: boolean;
}

/** A page that is not a receipt, as printPage() left it. */
export interface PrintedPageView {
  jobId: string;
  printerId: string;
  printerName: string;
  transport: PrinterConfig['transport'];
  /** The printer took it (a virtual printer only keeps its text). */
  printed: boolean;
  /** Why it is still queued (the printer's last error), when it is. */
  error: string | null;
  /** The page's text as it prints. */
  text: string;
}

/** Sales younger than this get their missing original printed at start-up. */
export const MISSING_ORIGINALS_WITHIN_HOURS = 24;

/** A transport, with hotplug/connection news where it has them (USB, network). */
export type SpoolTransport = PrinterTransport & {
  onChange?(listener: (change: PrinterChange) => void): () => void;
};

export interface SpoolPrinter {
  config: PrinterConfig;
  transport: SpoolTransport;
}

/** Receipt document, ESC/POS bytes, and the bytes read back (tests may replace any of them). */
export interface ReceiptCodec {
  build(sale: SaleRecord, ctx: ReceiptContext): ReceiptDocument;
  encode(doc: ReceiptDocument, options: EncodeOptions): Uint8Array;
  decode(bytes: Uint8Array, options: DecodeOptions): DecodedPrint;
}

export interface SpoolerOptions {
  dataDir: string;
  printers: SpoolPrinter[];
  registry?: DeviceRegistry;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Backoff of a held queue: first wait, longest wait (ms). Status problems (paper, cover) are asked again every 2 s at most. */
  retry?: { firstMs?: number; maxMs?: number };
  /** How long reprint() and receipts() wait for a queued job to come out of the printer. */
  waitMs?: number;
  /** How often an idle USB or network printer is asked for its status (ms). */
  idleProbeMs?: number;
  /** How long drain() waits for the queues to empty (held queues stay spooled for the next start). */
  drainMs?: number;
  codec?: Partial<ReceiptCodec>;
}

/** The transport for a configured printer. `usb` is the hub's bus (usb-access.ts), null without one. */
export function printerTransport(config: PrinterConfig, usb: UsbBus<UsbPrinterDevice> | null): SpoolTransport {
  switch (config.transport) {
    case 'virtual':
      return new VirtualPrinterTransport(config.encoding);
    case 'usb':
      return new UsbPrinterTransport(usb, {
        vendorId: config.vendorId,
        productId: config.productId,
        serialNumber: config.serialNumber,
      });
    case 'network':
      return new NetworkPrinterTransport({ host: config.host, port: config.port });
  }
}

/** One job as spooled (the file's JSON). */
interface SpoolRecord {
  v: 1;
  seq: number;
  jobId: string;
  printerId: string;
  saleId: string | null;
  kind: ReceiptKind;
  /** The archive's day directory (the sale's business date). */
  day: string;
  acceptedAt: string;
  encoding: 'cp950' | 'gb18030';
  /** The ESC/POS bytes, base64. */
  bytes: string;
  /** The text decoded from them. */
  text: string;
}

interface QueuedJob extends SpoolRecord {
  data: Uint8Array;
  /** The spool file, or null for a job not spooled (virtual printer). */
  file: string | null;
  /** Loaded from the spool at start-up: it may have printed just before a crash. */
  recovered: boolean;
  /** When it printed (null while queued). */
  printedAt: string | null;
  printed: Deferred<void>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

class PrinterQueue {
  readonly jobs: QueuedJob[] = [];
  running: Promise<void> | null = null;
  attempt = 0;
  wake: (() => void) | null = null;
  /** A wake-up that came while no pause was waiting: the next pause ends at once. */
  woken = false;
  lastError: string | null = null;
  unsubscribe: (() => void) | null = null;

  constructor(
    readonly config: PrinterConfig,
    readonly transport: SpoolTransport,
    readonly archive: VirtualPrinter,
    readonly spoolDir: string,
  ) {}

  get durable(): boolean {
    return this.config.transport !== 'virtual';
  }
}

const jobNumber = (jobId: string): number => Number(/-p(\d+)$/.exec(jobId)?.[1] ?? 0);
const SPOOL_FILE = /^(\d{12})\.(.+)\.job$/;
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

const silentLog: Pick<Logger, 'info' | 'warn' | 'error'> = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
} as unknown as Pick<Logger, 'info' | 'warn' | 'error'>;

export class PrintingService {
  /** Per sale: the acceptance of its last job (see enqueue()). */
  private readonly pending = new Map<string, Promise<void>>();
  private accepting: Promise<void> = Promise.resolve();
  private readonly queues = new Map<string, PrinterQueue>();
  private readonly queued = new Map<string, QueuedJob>();
  private readonly options: SpoolerOptions;
  private readonly codec: ReceiptCodec;
  private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
  private archives: VirtualPrinter[] = [];
  private loading: Promise<void> | null = null;
  private seq = 0;
  private stopped = false;
  /**
   * Jobs the printer took whose text copy the disk refused (full, failing): printed all the same.
   * Kept so that nothing prints them again (printMissingOriginals when space is back) until restart.
   */
  private readonly printedUnsaved = new Map<string, ReceiptKind>();

  constructor(
    private readonly state: StoreState,
    /** The printers and the spool. */
    devices: SpoolerOptions,
    private readonly store: Pick<ReceiptContext, 'storeName' | 'storeId' | 'timeZone' | 'program'> & {
      /** A member's code and masked number for their receipt. */
      memberOf?: (memberId: string) => ReceiptContext['member'];
    },
    private readonly onError: (saleId: string, err: unknown) => void,
    private readonly clock: () => Date,
  ) {
    this.options = devices;
    this.codec = {
      build: buildReceipt,
      encode: encodeReceipt,
      decode: decodeEscPos,
      ...this.options.codec,
    };
    this.log = this.options.log ?? silentLog;
    for (const { config, transport } of this.options.printers) {
      const archive = new VirtualPrinter(path.join(this.printerRoot, config.id));
      this.queues.set(config.id, new PrinterQueue(config, transport, archive, path.join(this.spoolRoot, config.id)));
    }
  }

  private get printerRoot(): string {
    return path.join(this.options.dataDir, 'printer');
  }

  private get spoolRoot(): string {
    return path.join(this.options.dataDir, 'spool');
  }

  /**
   * Loads the spool (jobs a stop or a crash left) and starts the queues. Every other method starts
   * it too; the hub calls it at start-up so left jobs print without waiting for the next sale.
   */
  start(): Promise<void> {
    this.loading ??= this.load();
    return this.loading;
  }

  /** Prints the original receipt in the background (once: a second call prints nothing). */
  printOriginal(saleId: string): void {
    void this.enqueue(saleId, () => this.submit(saleId, 'original', { kickDrawer: true })).catch((err: unknown) =>
      this.onError(saleId, err),
    );
  }

  /** Queues a copy (the next job number) and waits a little for it to print. */
  async reprint(saleId: string): Promise<ReprintView> {
    const job = await this.enqueue(saleId, () => this.submit(saleId, 'copy'));
    return this.view(job);
  }

  /** A test page on one printer (the admin page). Resolves once the job is accepted. */
  async printTestPage(printerId: string): Promise<{ jobId: string }> {
    const job = await this.acceptPage(printerId, 'test', (columns, config, now) => [
      { kind: 'text', text: '測試頁 TEST PAGE', align: 'center', bold: true, size: 'double' },
      { kind: 'text', text: config.name, align: 'center' },
      { kind: 'text', text: this.store.storeName, align: 'center' },
      { kind: 'text', text: '-'.repeat(columns), align: 'left' },
      { kind: 'text', text: `${config.paperWidth} mm, ${columns} 欄 columns`, align: 'left' },
      { kind: 'text', text: `${config.encoding} 繁體中文：臺灣發票收據`, align: 'left' },
      { kind: 'text', text: now.toISOString(), align: 'left' },
      { kind: 'qr', data: `ayi:test:${printerId}` },
      { kind: 'barcode', data: 'AYI-TEST' },
      { kind: 'feed', lines: 3 },
      { kind: 'cut' },
    ]);
    return { jobId: job.jobId };
  }

  /**
   * A page that is not a receipt (the technician's pairing page) on a printer, the default one when
   * `printerId` is null, through its queue like any receipt. Waits up to `waitMs` for it to come out:
   * `printed` false means it is still queued (the printer holds its queue: `error` says why), and it
   * prints when the printer can.
   */
  async printPage(
    printerId: string | null,
    kind: string,
    blocks: (columns: number, config: PrinterConfig, now: Date) => ReceiptBlock[],
    waitMs: number,
  ): Promise<PrintedPageView> {
    const job = await this.acceptPage(printerId, kind, blocks);
    const queue = this.queues.get(job.printerId)!;
    // Until it prints, or the printer says why it cannot (paper out, offline): no use waiting longer.
    const until = Date.now() + waitMs;
    while (job.printedAt === null && queue.lastError === null && Date.now() < until) {
      await Promise.race([job.printed.promise, delay(100)]);
    }
    return {
      jobId: job.jobId,
      printerId: job.printerId,
      printerName: queue.config.name,
      transport: queue.config.transport,
      printed: job.printedAt !== null,
      error: job.printedAt === null ? queue.lastError : null,
      text: job.text,
    };
  }

  private async acceptPage(
    printerId: string | null,
    kind: string,
    blocks: (columns: number, config: PrinterConfig, now: Date) => ReceiptBlock[],
  ): Promise<QueuedJob> {
    await this.start();
    const queue = printerId === null ? this.defaultQueue() : this.queues.get(printerId);
    if (!queue) throw new DomainError('not_found', `No printer ${printerId}`, undefined, 404);
    const now = this.clock();
    const day = businessDate(now, this.store.timeZone);
    const columns = PAPER_COLUMNS[queue.config.paperWidth];
    const doc: ReceiptDocument = { columns, blocks: blocks(columns, queue.config, now) };
    const bytes = this.codec.encode(doc, { encoding: queue.config.encoding, kickDrawer: false });
    const stamp = now.toISOString().replace(/\D/g, '').slice(0, 14);
    const jobId = `${kind}-${queue.config.id}-${stamp}-${randomBytes(2).toString('hex')}`;
    return this.enqueue(jobId, () =>
      this.accept(queue, {
        jobId,
        saleId: null,
        kind: 'original',
        day,
        bytes,
      }),
    );
  }

  /**
   * Queues the original receipt of every sale of the last `withinHours` that has none printed or
   * queued (a crash between a sale's acknowledgement and its receipt), and clears what a crash left
   * mid-print. Resolves with the number of originals queued; failures go to onError, sale by sale.
   */
  printMissingOriginals(withinHours = MISSING_ORIGINALS_WITHIN_HOURS): Promise<number> {
    // Tracked like a sale's jobs, so drain() (at stop) waits for it even before its jobs are queued.
    const run = this.findAndPrintMissing(withinHours);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    const key = '*missing-originals*';
    this.pending.set(key, settled);
    void settled.then(() => {
      if (this.pending.get(key) === settled) this.pending.delete(key);
    });
    return run;
  }

  /** The receipts printed for a sale, oldest first (waiting a little for those still in the queue). */
  async receipts(saleId: string): Promise<ReceiptJobView[]> {
    await this.pending.get(saleId);
    const sale = this.requireSale(saleId);
    const waiting = [...this.queued.values()].filter((job) => job.saleId === saleId);
    await this.waitPrinted(waiting, this.options.waitMs ?? 3000);
    const lists = await Promise.all(
      (await this.allArchives()).map((archive) => archive.jobsFor(sale.businessDate, `${saleId}-p`)),
    );
    return lists.flat().sort((a, b) => a.printedAt.localeCompare(b.printedAt) || a.jobId.localeCompare(b.jobId));
  }

  /** Jobs waiting, per printer. */
  queueLengths(): Record<string, number> {
    return Object.fromEntries([...this.queues].map(([id, queue]) => [id, queue.jobs.length]));
  }

  /**
   * Waits for the jobs being accepted, then (up to drainMs) for the queues to empty. Jobs a held
   * printer still has stay in the spool and print after the next start.
   */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending.values());
    await this.waitPrinted([...this.queued.values()], this.options.drainMs ?? 3000);
  }

  /** drain(), then stops the queues and closes the printers. */
  async stop(): Promise<void> {
    await this.drain();
    this.stopped = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const queue of this.queues.values()) {
      queue.unsubscribe?.();
      queue.wake?.();
    }
    await Promise.all([...this.queues.values()].map((queue) => queue.running));
    await Promise.all(
      [...this.queues.values()].map((queue) =>
        queue.transport
          .close()
          .catch((err: unknown) => this.log.warn({ err, printerId: queue.config.id }, 'closing a printer failed')),
      ),
    );
  }

  // --- accepting jobs -------------------------------------------------------------------------

  /**
   * Runs `job` after every earlier one: jobs are accepted (and so printed) in the order they were
   * asked for, and two taps on one sale never pick the same job id. `pending` tells receipts()
   * what a sale still waits for.
   */
  private enqueue<T>(saleId: string, job: () => Promise<T>): Promise<T> {
    const result = this.accepting.then(job);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.accepting = settled;
    this.pending.set(saleId, settled);
    void settled.then(() => {
      if (this.pending.get(saleId) === settled) this.pending.delete(saleId);
    });
    return result;
  }

  private defaultQueue(): PrinterQueue {
    const queue = [...this.queues.values()].find((q) => q.config.default) ?? [...this.queues.values()][0] ?? undefined;
    if (!queue) throw new DomainError('no_printer', 'No receipt printer is configured', undefined, 409);
    return queue;
  }

  /** The original (job p1, or null if it is printed or queued already) or a copy (the next job number). */
  /**
   * `kickDrawer`: only for the original printed right after the sale; a late one (after a crash, or
   * once the disk has room again) never opens the drawer, the customer is long gone.
   */
  private async submit(saleId: string, kind: 'original', options: { kickDrawer: boolean }): Promise<QueuedJob | null>;
  private async submit(saleId: string, kind: 'copy'): Promise<QueuedJob>;
  private async submit(
    saleId: string,
    kind: ReceiptKind,
    options: { kickDrawer: boolean } = { kickDrawer: false },
  ): Promise<QueuedJob | null> {
    await this.start();
    const sale = this.requireSale(saleId);
    const queue = this.defaultQueue();
    let jobId = `${saleId}-p1`;
    if (kind === 'original') {
      // A few stats, not a directory read: this runs for every sale.
      if (this.queued.has(jobId) || (await this.isPrinted(sale.businessDate, jobId))) return null;
    } else {
      let last = 1;
      for (const id of await this.knownJobs(sale)) last = Math.max(last, jobNumber(id));
      jobId = `${saleId}-p${last + 1}`;
    }
    const { memberOf, ...store } = this.store;
    const member = sale.memberId && memberOf ? memberOf(sale.memberId) : null;
    const doc = this.codec.build(sale, {
      ...store,
      member,
      staffName: this.state.staffName(sale.staffId),
      approvedByName: sale.approvedBy ? this.state.staffName(sale.approvedBy) : null,
      columns: PAPER_COLUMNS[queue.config.paperWidth],
      copy: kind === 'copy',
    });
    const kickDrawer =
      options.kickDrawer &&
      kind === 'original' &&
      queue.config.cashDrawer &&
      sale.tenders.some((tender) => tender.type === 'cash');
    const bytes = this.codec.encode(doc, { encoding: queue.config.encoding, kickDrawer });
    return this.accept(queue, { jobId, saleId, kind, day: sale.businessDate, bytes });
  }

  /** Whether a job is printed; an archive that cannot be read (a failing disk) does not stop a receipt. */
  private async isPrinted(day: string, jobId: string): Promise<boolean> {
    if (this.printedUnsaved.has(jobId)) return true;
    for (const archive of await this.allArchives()) {
      try {
        if (await archive.isPrinted(day, jobId)) return true;
      } catch (err) {
        this.log.error({ err, jobId }, 'cannot read the receipt copies; printing anyway');
      }
    }
    return false;
  }

  /** Job ids of a sale printed (on any printer) or queued. */
  private async knownJobs(sale: SaleRecord): Promise<Set<string>> {
    const prefix = `${sale.saleId}-p`;
    const ids = new Set<string>();
    for (const archive of await this.allArchives()) {
      for (const id of (await archive.printedOn(sale.businessDate)).keys()) if (id.startsWith(prefix)) ids.add(id);
    }
    for (const id of this.queued.keys()) if (id.startsWith(prefix)) ids.add(id);
    for (const id of this.printedUnsaved.keys()) if (id.startsWith(prefix)) ids.add(id);
    return ids;
  }

  /** Makes the job durable (real printers), then queues it. */
  private async accept(
    queue: PrinterQueue,
    job: { jobId: string; saleId: string | null; kind: ReceiptKind; day: string; bytes: Uint8Array },
  ): Promise<QueuedJob> {
    const text = this.textOf(job.bytes, queue.config);
    const record: SpoolRecord = {
      v: 1,
      seq: ++this.seq,
      jobId: job.jobId,
      printerId: queue.config.id,
      saleId: job.saleId,
      kind: job.kind,
      day: job.day,
      acceptedAt: this.clock().toISOString(),
      encoding: queue.config.encoding,
      bytes: Buffer.from(job.bytes).toString('base64'),
      text,
    };
    let file: string | null = null;
    if (queue.durable) {
      file = path.join(queue.spoolDir, `${String(record.seq).padStart(12, '0')}.${record.jobId}.job`);
      await writeDurably(file, JSON.stringify(record));
    }
    const queued: QueuedJob = {
      ...record,
      data: job.bytes,
      file,
      recovered: false,
      printedAt: null,
      printed: deferred(),
    };
    this.push(queue, queued);
    return queued;
  }

  private push(queue: PrinterQueue, job: QueuedJob): void {
    this.queued.set(job.jobId, job);
    queue.jobs.push(job);
    this.report(queue, {});
    this.run(queue);
  }

  /** The job's text as it prints: read back from its bytes, laid out on the printer's columns. */
  private textOf(bytes: Uint8Array, config: PrinterConfig): string {
    const decoded = this.codec.decode(bytes, { encoding: config.encoding, columns: PAPER_COLUMNS[config.paperWidth] });
    return `${decoded.lines.join('\n')}\n`;
  }

  private async view(job: QueuedJob): Promise<ReprintView> {
    await this.waitPrinted([job], this.options.waitMs ?? 3000);
    const printedAt = job.printedAt;
    return {
      jobId: job.jobId,
      kind: job.kind,
      printedAt: printedAt ?? job.acceptedAt,
      text: job.text,
      printerId: job.printerId,
      queued: printedAt === null,
    };
  }

  /**
   * Waits (up to `ms`) for jobs to print, those of printers that are printing: a held queue (paper
   * out, unplugged) is not waited for, the answer would only be late.
   */
  private async waitPrinted(jobs: QueuedJob[], ms: number): Promise<void> {
    const flowing = jobs.filter((job) => job.printedAt === null && !this.queues.get(job.printerId)?.lastError);
    if (flowing.length === 0) return;
    await Promise.race([Promise.all(flowing.map((job) => job.printed.promise)), delay(ms)]);
  }

  // --- the queues -------------------------------------------------------------------------------

  private run(queue: PrinterQueue): void {
    if (queue.running || this.stopped) return;
    queue.running = this.work(queue).finally(() => {
      queue.running = null;
      // a job pushed while the loop was ending
      if (queue.jobs.length > 0 && !this.stopped) this.run(queue);
    });
  }

  private async work(queue: PrinterQueue): Promise<void> {
    while (!this.stopped && queue.jobs.length > 0) {
      const job = queue.jobs[0]!;
      try {
        await this.printOne(queue, job);
      } catch (err) {
        const error = err instanceof PrinterError ? err : new PrinterError('io', message(err));
        queue.attempt += 1;
        this.held(queue, error);
        await this.pause(queue, this.backoff(queue.attempt, error.code));
        continue;
      }
      queue.jobs.shift();
      this.queued.delete(job.jobId);
      if (job.file) {
        await fs.rm(job.file, { force: true }).catch(() => undefined);
        await fsyncDirectory(queue.spoolDir).catch(() => undefined);
      }
      this.report(queue, {});
      job.printedAt = this.clock().toISOString();
      job.printed.resolve();
    }
  }

  private async printOne(queue: PrinterQueue, job: QueuedJob): Promise<void> {
    // Printed just before a crash removed its spool file: done.
    if (job.recovered && (await this.isPrinted(job.day, job.jobId))) return;
    await queue.transport.open();
    const status = await queue.transport.status();
    this.report(queue, { connected: true, paper: status ? status.paper : 'unknown' });
    const problem = status ? statusProblem(status) : null;
    if (problem) throw problem;
    await queue.transport.write(job.data);
    if (queue.attempt > 0 || queue.lastError) {
      this.log.info(
        { printerId: queue.config.id, waiting: queue.jobs.length - 1 },
        'printer is back: printing the held jobs',
      );
    }
    queue.attempt = 0;
    queue.lastError = null;
    this.report(queue, { connected: true, lastError: null });
    // The printer has it: whatever happens to the text copy now, the job must not be sent again.
    try {
      // A spooled job's copy is the proof it printed (a power cut must not print it twice): on disk first.
      await queue.archive.print(
        { jobId: job.jobId, day: job.day, kind: job.kind, text: job.text },
        { durable: queue.durable },
      );
    } catch (err) {
      this.printedUnsaved.set(job.jobId, job.kind);
      this.log.error(
        { printerId: queue.config.id, jobId: job.jobId, err },
        'receipt printed, but its text copy could not be saved',
      );
    }
  }

  private held(queue: PrinterQueue, error: PrinterError): void {
    const connected = !(['unplugged', 'offline'] as PrinterErrorCode[]).includes(error.code);
    const patch: Partial<DeviceStatusView> = { connected, lastError: error.message };
    if (error.code === 'paper_out') patch.paper = 'out';
    this.report(queue, patch);
    if (queue.lastError !== error.message) {
      this.log.warn(
        { printerId: queue.config.id, code: error.code, waiting: queue.jobs.length },
        `printer holds its queue: ${error.message}`,
      );
    }
    queue.lastError = error.message;
  }

  private backoff(attempt: number, code: PrinterErrorCode): number {
    const first = this.options.retry?.firstMs ?? 500;
    const max = this.options.retry?.maxMs ?? 15_000;
    const cap = code === 'paper_out' || code === 'cover_open' ? Math.min(max, 2000) : max;
    return Math.min(cap, first * 2 ** Math.min(attempt - 1, 20));
  }

  /** Waits `ms`, or less when woken (a printer plugged back in, stop()). */
  private pause(queue: PrinterQueue, ms: number): Promise<void> {
    if (this.stopped || queue.woken) {
      queue.woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        queue.wake = null;
        resolve();
      }
      queue.wake = done;
    });
  }

  private report(queue: PrinterQueue, patch: Partial<Omit<DeviceStatusView, 'deviceId' | 'kind' | 'updatedAt'>>): void {
    this.options.registry?.update(queue.config.id, { ...patch, queueLength: queue.jobs.length });
  }

  // --- start-up ---------------------------------------------------------------------------------

  private async load(): Promise<void> {
    for (const queue of this.queues.values()) {
      const { config, transport } = queue;
      const registry = this.options.registry;
      if (registry && !registry.get(config.id)) {
        registry.register({
          deviceId: config.id,
          kind: 'printer',
          name: config.name,
          transport: config.transport,
          connected: config.transport === 'virtual',
          paper: config.transport === 'virtual' ? 'ok' : 'unknown',
          queueLength: 0,
          lastError: null,
          assignedTo: null,
        });
      }
      queue.unsubscribe =
        transport.onChange?.((change) => {
          if (change === 'connected') {
            // plugged back in: try now, and from the shortest wait again
            queue.attempt = 0;
            if (queue.wake) queue.wake();
            else queue.woken = true;
            void this.probe(queue);
          } else if (config.transport === 'usb') {
            this.report(queue, { connected: false, lastError: `${config.name} is disconnected` });
          } else {
            // A network printer may close an idle connection: only a failed reconnect is a problem.
            void this.probe(queue);
          }
        }) ?? null;
      if (queue.durable) await this.loadSpool(queue);
    }
    await this.loadArchives();
    for (const queue of this.queues.values()) {
      if (queue.jobs.length > 0) this.run(queue);
      else if (queue.durable) void this.probe(queue);
    }
    this.watchIdlePrinters();
  }

  /**
   * Asks an idle printer how it is (connected, paper) so the tablets can warn before a sale, not
   * only when a receipt fails. A queue that is printing reports for itself.
   */
  private async probe(queue: PrinterQueue): Promise<void> {
    if (this.stopped || queue.running || !queue.durable) return;
    try {
      await queue.transport.open();
      const status = await queue.transport.status();
      const problem = status ? statusProblem(status) : null;
      this.report(queue, {
        connected: true,
        paper: status ? status.paper : 'unknown',
        lastError: problem ? problem.message : null,
      });
    } catch (err) {
      const error = err instanceof PrinterError ? err : new PrinterError('io', message(err));
      const connected = !(['unplugged', 'offline'] as PrinterErrorCode[]).includes(error.code);
      this.report(queue, { connected, lastError: error.message });
    }
  }

  private idleTimer: ReturnType<typeof setInterval> | null = null;

  private watchIdlePrinters(): void {
    const every = this.options.idleProbeMs ?? 30_000;
    if (![...this.queues.values()].some((q) => q.durable)) return;
    this.idleTimer = setInterval(() => {
      for (const queue of this.queues.values()) if (queue.jobs.length === 0) void this.probe(queue);
    }, every);
    this.idleTimer.unref();
  }

  private async loadSpool(queue: PrinterQueue): Promise<void> {
    await ensureDirectory(queue.spoolDir);
    const jobs: QueuedJob[] = [];
    for (const name of await fs.readdir(queue.spoolDir)) {
      const file = path.join(queue.spoolDir, name);
      if (name.startsWith('.')) {
        await fs.rm(file, { force: true }); // a write a crash cut short: never accepted
        continue;
      }
      if (!SPOOL_FILE.test(name)) continue;
      try {
        const record = JSON.parse(await fs.readFile(file, 'utf8')) as SpoolRecord;
        this.seq = Math.max(this.seq, record.seq);
        if (this.queued.has(record.jobId)) {
          await fs.rm(file, { force: true });
          continue;
        }
        jobs.push({
          ...record,
          data: new Uint8Array(Buffer.from(record.bytes, 'base64')),
          file,
          recovered: true,
          printedAt: null,
          printed: deferred(),
        });
      } catch (err) {
        // Written with fsync before rename, so this is damage from outside: keep it aside, go on.
        this.log.error({ err, file }, 'a spooled print job cannot be read; moved aside');
        await fs.rename(file, `${file}.damaged`).catch(() => undefined);
      }
    }
    jobs.sort((a, b) => a.seq - b.seq);
    for (const job of jobs) {
      this.queued.set(job.jobId, job);
      queue.jobs.push(job);
    }
    if (jobs.length > 0) {
      this.log.info(
        { printerId: queue.config.id, jobs: jobs.length },
        'print jobs left from before the restart are queued',
      );
    }
    this.report(queue, {});
  }

  /** The archives of the configured printers, and of printers configured before (their receipts still count). */
  private async loadArchives(): Promise<void> {
    const archives = [...this.queues.values()].map((queue) => queue.archive);
    let names: string[] = [];
    try {
      names = await fs.readdir(this.printerRoot);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const name of names) {
      const dir = path.join(this.printerRoot, name);
      if (archives.some((archive) => path.resolve(archive.dir) === path.resolve(dir))) continue;
      archives.push(new VirtualPrinter(dir));
    }
    this.archives = archives;
  }

  private async allArchives(): Promise<VirtualPrinter[]> {
    await this.start();
    return this.archives;
  }

  private async findAndPrintMissing(withinHours: number): Promise<number> {
    await this.start();
    const since = this.clock().getTime() - withinHours * 3_600_000;
    const byDay = new Map<string, SaleRecord[]>();
    for (const sale of this.state.sales.values()) {
      if (Date.parse(sale.at) < since) continue;
      const ofDay = byDay.get(sale.businessDate);
      if (ofDay) ofDay.push(sale);
      else byDay.set(sale.businessDate, [sale]);
    }
    const jobs: Promise<boolean>[] = [];
    for (const [day, sales] of byDay) {
      const printed = new Map<string, ReceiptKind>(this.printedUnsaved);
      for (const archive of this.archives) {
        try {
          await archive.removeLeftovers(day);
          for (const [id, kind] of await archive.printedOn(day)) printed.set(id, kind);
        } catch (err) {
          this.log.error({ err, day }, 'cannot read the receipt copies of a day');
        }
      }
      for (const sale of sales) {
        const original = `${sale.saleId}-p1`;
        if (printed.get(original) === 'original' || this.queued.has(original)) continue;
        jobs.push(
          this.enqueue(sale.saleId, () => this.submit(sale.saleId, 'original', { kickDrawer: false })).then(
            (job) => job !== null,
            (err: unknown) => {
              this.onError(sale.saleId, err);
              return false;
            },
          ),
        );
      }
    }
    return (await Promise.all(jobs)).filter(Boolean).length;
  }

  private requireSale(saleId: string) {
    const sale = this.state.sales.get(saleId);
    if (!sale)
      throw new DomainError(
        'not_found',
        `No sale ${saleId} in the last ${this.state.retentionDays} days`,
        undefined,
        404,
      );
    return sale;
  }
}

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
  });

/** Writes `file` so that it exists whole or not at all, and survives a power cut once this resolves. */
async function writeDurably(file: string, content: string): Promise<void> {
  const dir = path.dirname(file);
  await ensureDirectory(dir);
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await fs.open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (err) {
    // A full disk: no partial job is left to hold space or to be loaded as a damaged job.
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  await fsyncDirectory(dir);
}
