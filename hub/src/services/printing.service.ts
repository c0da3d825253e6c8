/**
 * Receipts: printed after a sale is committed (a sale never waits for paper), reprinted on request
 * and marked COPY. Job ids are `<saleId>-p<n>`: the original is p1.
 */
import { DomainError } from '../domain/errors.js';
import { renderReceipt } from '../domain/receipt.js';
import type { StoreState } from '../domain/store-state.js';
import type { ReceiptPrinter } from '../devices/virtual-printer.driver.js';

export interface ReceiptJobView {
  jobId: string;
  kind: 'original' | 'copy';
  printedAt: string;
  text: string;
}

export class PrintingService {
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly state: StoreState,
    private readonly printer: ReceiptPrinter,
    private readonly store: { storeName: string; storeId: string; timeZone: string },
    private readonly onError: (saleId: string, err: unknown) => void,
    private readonly clock: () => Date,
  ) {}

  /** Prints the original receipt in the background. */
  printOriginal(saleId: string): void {
    const job = this.print(saleId, false).then(
      () => undefined,
      (err: unknown) => this.onError(saleId, err),
    );
    this.pending.set(saleId, job);
    void job.then(() => {
      if (this.pending.get(saleId) === job) this.pending.delete(saleId);
    });
  }

  /** Reprints run one after another per sale, so two taps never pick the same job id. */
  reprint(saleId: string): Promise<ReceiptJobView> {
    const job = (this.pending.get(saleId) ?? Promise.resolve()).then(() => this.print(saleId, true));
    const settled = job.then(
      () => undefined,
      () => undefined,
    );
    this.pending.set(saleId, settled);
    void settled.then(() => {
      if (this.pending.get(saleId) === settled) this.pending.delete(saleId);
    });
    return job;
  }

  /** Waits for every receipt still printing, so a shutdown right after a sale does not lose its receipt. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending.values());
  }

  async receipts(saleId: string): Promise<ReceiptJobView[]> {
    await this.pending.get(saleId);
    const sale = this.requireSale(saleId);
    const jobs = await this.printer.jobsFor(sale.businessDate, `${saleId}-p`);
    return jobs.map((job) => ({ ...job, kind: job.jobId.endsWith('-p1') ? 'original' : 'copy' }));
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

  private async print(saleId: string, copy: boolean): Promise<ReceiptJobView> {
    const sale = this.requireSale(saleId);
    const existing = copy ? await this.printer.jobsFor(sale.businessDate, `${saleId}-p`) : [];
    const jobId = `${saleId}-p${existing.length + 1}`;
    const text = `${renderReceipt(sale, { ...this.store, columns: this.printer.columns, copy }).join('\n')}\n`;
    await this.printer.print({ jobId, day: sale.businessDate, text });
    return { jobId, kind: copy ? 'copy' : 'original', printedAt: this.clock().toISOString(), text };
  }
}
