/** The store's product catalog: CSV import with a report of bad rows, lookups for the counter. */
import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import type { ProductView } from '../protocol/api.js';
import type { ProductData } from '../protocol/events.js';
import { CATALOG_COLUMNS, validateCatalogRows, type CatalogRow, type RejectedRow } from '../domain/catalog.js';
import { DomainError } from '../domain/errors.js';
import type { StoreState } from '../domain/store-state.js';
import type { EventStore } from '../storage/event-store.js';

export interface ImportReport {
  applied: boolean;
  created: number;
  updated: number;
  rejected: RejectedRow[];
}

/** The whole catalog as the API sends it, and the ETag that names that exact text. */
export interface CatalogAnswer {
  json: string;
  etag: string;
}

export class CatalogService {
  #answer: { revision: number; answer: CatalogAnswer } | null = null;

  constructor(
    private readonly state: StoreState,
    private readonly events: EventStore,
  ) {}

  list(): ProductView[] {
    return [...this.state.products.values()];
  }

  /**
   * `{products}` serialised once per catalog change: tablets fetch it at every app start, and with
   * the ETag an unchanged catalog costs them a 304 instead of the whole list.
   */
  listAnswer(): CatalogAnswer {
    const revision = this.state.catalogRevision;
    if (this.#answer?.revision !== revision) {
      const json = JSON.stringify({ products: this.list() });
      const hash = createHash('sha256').update(json).digest('base64url').slice(0, 27);
      // Weak: the same list is sent gzipped, brotli'd or plain, which are different bytes.
      this.#answer = { revision, answer: { json, etag: `W/"${hash}"` } };
    }
    return this.#answer.answer;
  }

  byBarcode(code: string): ProductView {
    const product = this.state.findByBarcode(code) ?? this.state.products.get(code);
    if (!product) throw new DomainError('unknown_barcode', `No product has barcode ${code}`, { code }, 404);
    return product;
  }

  isEmpty(): boolean {
    return this.state.products.size === 0;
  }

  async importCsv(csv: string, options: { dryRun: boolean; source?: 'csv' | 'demo' }): Promise<ImportReport> {
    const rows = parseCatalogCsv(csv);
    const { products, rejected } = validateCatalogRows(rows, (code) => this.state.barcodes.get(code));
    const created = products.filter((p) => !this.state.products.has(p.sku)).length;
    const report = { applied: false, created, updated: products.length - created, rejected };
    if (options.dryRun || products.length === 0) return report;
    await this.events.record('catalog.imported', { source: options.source ?? 'csv', products });
    return { ...report, applied: true };
  }
}

export function parseCatalogCsv(csv: string): { line: number; row: CatalogRow }[] {
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(csv, {
      bom: true,
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }) as { record: Record<string, string>; info: { lines: number } }[];
  } catch (err) {
    throw new DomainError('invalid_csv', `The file is not valid CSV: ${(err as Error).message}`, undefined, 400);
  }
  if (records.length === 0) {
    throw new DomainError(
      'invalid_csv',
      `The file has no product rows; the header is ${CATALOG_COLUMNS.join(',')}`,
      undefined,
      400,
    );
  }
  const missing = CATALOG_COLUMNS.filter(
    (c) => c !== 'repurchase_days' && c !== 'barcodes' && !(c in records[0]!.record),
  );
  if (missing.length > 0) {
    throw new DomainError(
      'invalid_csv',
      `Missing column(s): ${missing.join(', ')}; the header is ${CATALOG_COLUMNS.join(',')}`,
      { missing },
      400,
    );
  }
  return records.map(({ record, info }) => ({ line: info.lines, row: record as CatalogRow }));
}

export type { ProductData };
