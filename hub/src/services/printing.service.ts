/**
 * Receipts: printed after a sale is committed (a sale never waits for paper), reprinted on request
 * and marked COPY. Job ids are `<saleId>-p<n>`: the original is always p1, copies p2 and up, and the
 * printer stores each job's kind with it (a reprint made while the original is missing is a copy,
 * and stays one).
 *
 * The original is printed after the acknowledgement, so a crash in between can leave a sale
 * without one: printMissingOriginals() (at start-up) prints the original of every recent sale
 * that lacks it.
 */
import { DomainError } from '../domain/errors.js';
import { renderReceipt, type ReceiptContext } from '../domain/receipt.js';
import type { SaleRecord, StoreState } from '../domain/store-state.js';
import type { ReceiptKind, ReceiptPrinter } from '../devices/virtual-printer.driver.js';

export interface ReceiptJobView {
  jobId: string;
  kind: ReceiptKind;
  printedAt: string;
  text: string;
}

/** Sales younger than this get their missing original printed at start-up. */
export const MISSING_ORIGINALS_WITHIN_HOURS = 24;

/** The key of the start-up recovery in `pending` (no sale id looks like it). */
const RECOVERY = '*missing-originals*';

const jobNumber = (jobId: string): number => Number(/-p(\d+)$/.exec(jobId)?.[1] ?? 0);

export class PrintingService {
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly state: StoreState,
    private readonly printer: ReceiptPrinter & { removeLeftovers?(day: string): Promise<number> },
    private readonly store: Pick<ReceiptContext, 'storeName' | 'storeId' | 'timeZone' | 'program'> & {
      /** A member's code and masked number for their receipt. */
      memberOf?: (memberId: string) => ReceiptContext['member'];
    },
    private readonly onError: (saleId: string, err: unknown) => void,
    private readonly clock: () => Date,
  ) {}

  /** Prints the original receipt in the background (once: a second call prints nothing). */
  printOriginal(saleId: string): void {
    void this.enqueue(saleId, () => this.print(saleId, 'original')).catch((err: unknown) => this.onError(saleId, err));
  }

  /** Reprints run one after another per sale, so two taps never pick the same job id. */
  reprint(saleId: string): Promise<ReceiptJobView> {
    return this.enqueue(saleId, () => this.print(saleId, 'copy'));
  }

  /**
   * Prints the original receipt of every sale of the last `withinHours` that has none (a crash
   * between a sale's acknowledgement and its receipt), and clears what a crash left mid-print.
   * Resolves with the number of originals printed; failures go to onError, sale by sale.
   */
  printMissingOriginals(withinHours = MISSING_ORIGINALS_WITHIN_HOURS): Promise<number> {
    // Tracked like a print job, so drain() (at stop) waits for it even before its jobs are queued.
    const run = this.findAndPrintMissing(withinHours);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.pending.set(RECOVERY, settled);
    void settled.then(() => {
      if (this.pending.get(RECOVERY) === settled) this.pending.delete(RECOVERY);
    });
    return run;
  }

  private async findAndPrintMissing(withinHours: number): Promise<number> {
    const since = this.clock().getTime() - withinHours * 3_600_000;
    const byDay = new Map<string, SaleRecord[]>();
    for (const sale of this.state.sales.values()) {
      if (Date.parse(sale.at) < since) continue;
      byDay.set(sale.businessDate, [...(byDay.get(sale.businessDate) ?? []), sale]);
    }
    const jobs: Promise<boolean>[] = [];
    for (const [day, sales] of byDay) {
      await this.printer.removeLeftovers?.(day);
      const printed = await this.printer.printedOn(day);
      for (const sale of sales) {
        if (printed.get(`${sale.saleId}-p1`) === 'original') continue;
        jobs.push(
          this.enqueue(sale.saleId, () => this.print(sale.saleId, 'original')).then(
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

  /** Waits for every receipt still printing, so a shutdown right after a sale does not lose its receipt. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending.values());
  }

  async receipts(saleId: string): Promise<ReceiptJobView[]> {
    await this.pending.get(saleId);
    const sale = this.requireSale(saleId);
    return this.printer.jobsFor(sale.businessDate, `${saleId}-p`);
  }

  /** Runs `job` after every earlier print job of the same sale. */
  private enqueue<T>(saleId: string, job: () => Promise<T>): Promise<T> {
    const result = (this.pending.get(saleId) ?? Promise.resolve()).then(job);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.pending.set(saleId, settled);
    void settled.then(() => {
      if (this.pending.get(saleId) === settled) this.pending.delete(saleId);
    });
    return result;
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

  /** The original: job p1, or null if it is printed already. A copy: the next job number after p1. */
  private async print(saleId: string, kind: 'original'): Promise<ReceiptJobView | null>;
  private async print(saleId: string, kind: 'copy'): Promise<ReceiptJobView>;
  private async print(saleId: string, kind: ReceiptKind): Promise<ReceiptJobView | null> {
    const sale = this.requireSale(saleId);
    let jobId = `${saleId}-p1`;
    if (kind === 'copy') {
      const existing = await this.printer.printedOn(sale.businessDate);
      let last = 1;
      for (const id of existing.keys()) if (id.startsWith(`${saleId}-p`)) last = Math.max(last, jobNumber(id));
      jobId = `${saleId}-p${last + 1}`;
    }
    const { memberOf, ...store } = this.store;
    const member = sale.memberId && memberOf ? memberOf(sale.memberId) : null;
    const receipt = renderReceipt(sale, {
      ...store,
      member,
      staffName: this.state.staffName(sale.staffId),
      columns: this.printer.columns,
      copy: kind === 'copy',
    });
    const text = `${receipt.join('\n')}\n`;
    const printed = await this.printer.print({ jobId, day: sale.businessDate, kind, text });
    if (!printed && kind === 'original') return null;
    if (!printed) throw new Error(`receipt job ${jobId} was printed already`);
    return { jobId, kind, printedAt: this.clock().toISOString(), text };
  }
}
