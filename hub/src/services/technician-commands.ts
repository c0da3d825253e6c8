/**
 * What the technician's `ayi pair --print`, `ayi catalog` and `ayi catalog-import` ask the hub over
 * its admin socket (transport/admin): a pairing code with its printed page, the catalog's state, a
 * catalog CSV loaded with the same import as POST /api/catalog/import.
 */
import { networkInterfaces } from 'node:os';
import type { HubConfig } from '../config/config.js';
import { DomainError } from '../domain/errors.js';
import { pairingBaseUrls, pairingPageBlocks, pairingUrl } from '../domain/pairing-page.js';
import type { CatalogService, ImportReport } from './catalog.service.js';
import type { PrintedPageView, PrintingService } from './printing.service.js';
import type { SecurityService } from './security.service.js';

/** How long `ayi pair --print` waits for the page to come out of the printer. */
const PAIRING_PAGE_WAIT_MS = 10_000;
/** The largest catalog the CLI sends: the same as the HTTP import's (transport/http/app.ts). */
export const CATALOG_CSV_MAX_BYTES = 2 * 1024 * 1024;

export interface PairingPageAnswer {
  code: string;
  expiresAt: string;
  /** What the QR code holds. */
  url: string;
  /** Where tablets reach the box, best first (the QR's first). */
  baseUrls: string[];
  /** The page as the printer took it (or holds it); `error` alone when it could not be queued. */
  print: PrintedPageView | { error: string };
}

export interface CatalogSummary {
  products: number;
  /** HQ's catalog version the store runs (null: none applied; the store's own CSV catalog). */
  hqCatalogVersion: number | null;
  /** A CSV import changed the catalog after HQ's version. */
  localChanges: boolean;
  /** The last HQ version the hub refused, and why. */
  hqCatalogRefused: { version: number | null; reason: string; at: string } | null;
}

export interface TechnicianCommandsDeps {
  config: Pick<HubConfig, 'publicUrl' | 'host' | 'storeName' | 'tz'>;
  /** The port the hub's HTTP server listens on (the configured one may be 0: any free port). */
  port: () => number;
  version: string;
  security: Pick<SecurityService, 'issuePairingCode' | 'resetPairingLimits'>;
  printing: Pick<PrintingService, 'printPage'>;
  catalog: Pick<CatalogService, 'list' | 'hqStatus' | 'importCsv'>;
  interfaces?: () => ReturnType<typeof networkInterfaces>;
}

export class TechnicianCommands {
  constructor(private readonly deps: TechnicianCommandsDeps) {}

  /**
   * A pairing code (as `ayi pair`: 10 minutes, one tablet, wrong-code limits forgotten) and its page
   * on `printerId`, the default printer when null. A page that cannot be printed still leaves the
   * code: the CLI shows it and its QR code on the screen.
   */
  async pairingPage(printerId: string | null): Promise<PairingPageAnswer> {
    const { config, security } = this.deps;
    security.resetPairingLimits();
    const { code, expiresAt } = security.issuePairingCode();
    const baseUrls = pairingBaseUrls({
      publicUrl: config.publicUrl,
      host: config.host,
      port: this.deps.port(),
      interfaces: (this.deps.interfaces ?? networkInterfaces)(),
    });
    let print: PairingPageAnswer['print'];
    try {
      print = await this.deps.printing.printPage(
        printerId,
        'pairing',
        (columns, _printer, now) =>
          pairingPageBlocks({
            storeName: config.storeName,
            baseUrls,
            code,
            expiresAt,
            version: this.deps.version,
            now,
            timeZone: config.tz,
            columns,
          }),
        PAIRING_PAGE_WAIT_MS,
      );
    } catch (err) {
      print = { error: (err as Error).message };
    }
    return { code, expiresAt, url: pairingUrl(baseUrls[0]!, code), baseUrls, print };
  }

  catalogSummary(): CatalogSummary {
    const status = this.deps.catalog.hqStatus();
    return {
      products: this.deps.catalog.list().length,
      hqCatalogVersion: status.catalogVersion,
      localChanges: status.catalogLocalChanges,
      hqCatalogRefused: status.catalogRefused,
    };
  }

  /**
   * A catalog CSV, all or nothing: a file with any bad row changes nothing (the report lists each
   * with its line number), so a technician never leaves a store with half a catalog.
   */
  async importCatalog(csv: string | undefined, dryRun: boolean): Promise<ImportReport & CatalogSummary> {
    if (csv === undefined) throw new Error('usage: catalog-import <csv text> [--dry-run]');
    if (Buffer.byteLength(csv, 'utf8') > CATALOG_CSV_MAX_BYTES) {
      throw new DomainError(
        'invalid_csv',
        `The file is over ${CATALOG_CSV_MAX_BYTES / 1024 / 1024} MiB`,
        undefined,
        400,
      );
    }
    const report = await this.deps.catalog.importCsv(csv, { dryRun, allOrNothing: true });
    return { ...report, ...this.catalogSummary() };
  }
}
