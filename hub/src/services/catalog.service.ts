/**
 * The store's product catalog: CSV import with a report of bad rows, HQ's catalog versions, lookups
 * for the counter.
 */
import { createHash } from 'node:crypto';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parse } from 'csv-parse/sync';
import type { ProductView } from '../protocol/api.js';
import { CatalogVersionSchema, type CatalogVersion } from '../protocol/event-schemas.js';
import type { ProductData } from '../protocol/events.js';
import {
  CATALOG_COLUMNS,
  chainCatalogProblems,
  storeCatalog,
  validateCatalogRows,
  type CatalogRow,
  type RejectedRow,
} from '../domain/catalog.js';
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

/** What the hub did with a catalog version from HQ. */
export type HqCatalogVerdict =
  | { outcome: 'applied'; version: number; products: number }
  /** The version it runs already (HQ's retained message comes again at every reconnect). */
  | { outcome: 'current'; version: number }
  | { outcome: 'refused'; version: number | null; reason: string };

/** What the store's status tells HQ of its catalog. */
export interface HqCatalogStatus {
  catalogVersion: number | null;
  catalogLocalChanges: boolean;
  catalogRefused: { version: number | null; reason: string; at: string } | null;
}

const checkCatalogVersion = TypeCompiler.Compile(CatalogVersionSchema);

export class CatalogService {
  #answer: { revision: number; answer: CatalogAnswer } | null = null;
  #refused: HqCatalogStatus['catalogRefused'] = null;
  /** Versions are applied one at a time: each is compared with the one before it. */
  #applying: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly state: StoreState,
    private readonly events: EventStore,
    private readonly identity: { chainId: string; storeId: string } = { chainId: '', storeId: '' },
    private readonly clock: () => Date = () => new Date(),
  ) {}

  hqStatus(): HqCatalogStatus {
    return {
      catalogVersion: this.state.catalogVersion,
      catalogLocalChanges: this.state.catalogLocalChanges,
      catalogRefused: this.#refused,
    };
  }

  /**
   * A catalog version from HQ (the retained message of ayi/v1/{chainId}/catalog): checked, and
   * when it is above the version the store runs, recorded as a catalog.imported event (source hq)
   * with this store's prices. Resolves once that event is on disk; an invalid or older version
   * changes nothing and is remembered for the status.
   */
  receiveHqCatalog(payload: Buffer | string): Promise<HqCatalogVerdict> {
    const next = this.#applying.then(() => this.#receive(payload));
    this.#applying = next.catch(() => undefined);
    return next;
  }

  async #receive(payload: Buffer | string): Promise<HqCatalogVerdict> {
    let message: unknown;
    try {
      message = JSON.parse(payload.toString());
    } catch (err) {
      return this.#refuse(null, `not JSON: ${(err as Error).message}`);
    }
    const claimed = (message as { version?: unknown } | null)?.version;
    const version = Number.isInteger(claimed) ? (claimed as number) : null;
    if (!checkCatalogVersion.Check(message)) {
      const error = checkCatalogVersion.Errors(message).First();
      return this.#refuse(
        version,
        `invalid: ${error ? `${error.path || '/'}: ${error.message}` : 'not ayi.catalog/1'}`,
      );
    }
    const catalog: CatalogVersion = message;
    if (catalog.chainId !== this.identity.chainId) {
      return this.#refuse(
        catalog.version,
        `invalid: for chain ${catalog.chainId}, this store is of ${this.identity.chainId}`,
      );
    }
    const problems = chainCatalogProblems(catalog);
    if (problems.length > 0) return this.#refuse(catalog.version, `invalid: ${problems.join('; ')}`);
    const running = this.state.catalogVersion;
    if (running !== null && catalog.version === running) return { outcome: 'current', version: running };
    if (running !== null && catalog.version < running) {
      return this.#refuse(catalog.version, `older than version ${running}, which this store runs`);
    }
    const products = storeCatalog(catalog, this.identity.storeId);
    await this.events.record('catalog.imported', { source: 'hq', version: catalog.version, products });
    return { outcome: 'applied', version: catalog.version, products: products.length };
  }

  #refuse(version: number | null, reason: string): HqCatalogVerdict {
    this.#refused = { version, reason: reason.slice(0, 500), at: this.clock().toISOString() };
    return { outcome: 'refused', version, reason };
  }

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

  /**
   * Imports the rows a CSV has right and reports the others; with `allOrNothing` (the technician's
   * `ayi catalog-import`) one bad row means nothing is imported.
   */
  async importCsv(
    csv: string,
    options: { dryRun: boolean; source?: 'csv' | 'demo'; allOrNothing?: boolean },
  ): Promise<ImportReport> {
    const rows = parseCatalogCsv(csv);
    const { products, rejected } = validateCatalogRows(rows, (code) => this.state.barcodes.get(code));
    const created = products.filter((p) => !this.state.products.has(p.sku)).length;
    const report = { applied: false, created, updated: products.length - created, rejected };
    if (options.dryRun || products.length === 0) return report;
    if (options.allOrNothing && rejected.length > 0) return report;
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
