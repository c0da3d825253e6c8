/**
 * `ayi catalog [--json]`: how many products the store sells and whether HQ's catalog is applied;
 * exit status 1 when the catalog is empty (a box that cannot sell yet).
 *
 * `ayi catalog-import <file.csv> [--dry-run] [--json]`: loads a catalog CSV (UTF-8, the header
 * sku,barcodes,name,category,price,repurchase_days) with the hub's own import, all or nothing: a file
 * with a bad row loads nothing and each bad row is listed with its line number (exit status 1).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import type { ImportReport } from '../../hub/src/services/catalog.service.ts';
import { CATALOG_CSV_MAX_BYTES, type CatalogSummary } from '../../hub/src/services/technician-commands.ts';
import { parseStrictArgs, UsageError } from './cli.ts';

export const CATALOG_USAGE = 'usage: ayi catalog [--json]\n       ayi catalog-import <file.csv> [--dry-run] [--json]\n';

/** A big catalog is journalled and fsync'd before the hub answers. */
const IMPORT_TIMEOUT_MS = 120_000;

export async function catalogCommand(
  socketPath: string,
  command: 'catalog' | 'catalog-import',
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  let options: { json: boolean; dryRun: boolean; file: string | null };
  try {
    options = parse(command, args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`ayi ${command}: ${err.message}\n${CATALOG_USAGE}`);
    return 2;
  }
  if (options.file === null) {
    const summary = await adminRequest<CatalogSummary>(socketPath, 'catalog');
    out.write(options.json ? `${JSON.stringify(summary, null, 2)}\n` : describeCatalog(summary));
    return summary.products > 0 ? 0 : 1;
  }
  const csv = await readCsv(options.file);
  const report = await adminRequest<ImportReport & CatalogSummary>(
    socketPath,
    'catalog-import',
    options.dryRun ? [csv, '--dry-run'] : [csv],
    IMPORT_TIMEOUT_MS,
  );
  if (options.json) {
    out.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    out.write(describeImport(report, options.file, options.dryRun));
  }
  return report.rejected.length === 0 ? 0 : 1;
}

function parse(command: 'catalog' | 'catalog-import', args: string[]) {
  if (command === 'catalog') {
    const { values } = parseStrictArgs(args, { json: { type: 'boolean', default: false } });
    return { json: values.json, dryRun: false, file: null };
  }
  const file = args[0];
  if (!file || file.startsWith('-')) throw new UsageError('the CSV file comes first');
  const { values } = parseStrictArgs(args.slice(1), {
    'dry-run': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  return { json: values.json, dryRun: values['dry-run'], file };
}

/** The file's text: UTF-8 only (a spreadsheet's Big5 export would turn every name into "?"). */
async function readCsv(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path.resolve(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `No such file: ${file}` : `Cannot read ${file}: ${(err as Error).message}`);
  }
  if (bytes.length > CATALOG_CSV_MAX_BYTES) {
    throw new Error(
      `${file} is over ${CATALOG_CSV_MAX_BYTES / 1024 / 1024} MiB; split it in parts. Nothing was loaded.`,
    );
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(
      `${file} is not UTF-8 text: save it from the spreadsheet as "CSV UTF-8" (not Big5) and try again. Nothing was loaded.`,
    );
  }
}

export function describeCatalog(summary: CatalogSummary): string {
  const lines = [`Products: ${summary.products}`];
  if (summary.hqCatalogVersion === null) {
    lines.push("HQ's catalog: none applied (the store's own catalog)");
  } else {
    lines.push(
      `HQ's catalog: version ${summary.hqCatalogVersion} applied${summary.localChanges ? ', changed since by a CSV import' : ''}`,
    );
  }
  if (summary.hqCatalogRefused) {
    const refused = summary.hqCatalogRefused;
    lines.push(`HQ's catalog version ${refused.version ?? '?'} was refused at ${refused.at}: ${refused.reason}`);
  }
  if (summary.products === 0) {
    lines.push("The catalog is empty: load one with `ayi catalog-import <file.csv>`, or wait for HQ's.");
  }
  return `${lines.join('\n')}\n`;
}

export function describeImport(report: ImportReport & CatalogSummary, file: string, dryRun: boolean): string {
  const rows = report.created + report.updated;
  const counts = `${report.created} new, ${report.updated} updated`;
  if (report.rejected.length > 0) {
    const lines = [
      `${file}: ${report.rejected.length} row${report.rejected.length === 1 ? '' : 's'} with errors. Nothing was loaded; fix ${report.rejected.length === 1 ? 'it' : 'them'} and run this again.`,
      ...report.rejected.map((row) => `  line ${row.line}${row.sku ? ` (${row.sku})` : ''}: ${row.errors.join('; ')}`),
      `${rows} other row${rows === 1 ? ' is' : 's are'} fine (${counts}).`,
    ];
    return `${lines.join('\n')}\n`;
  }
  if (dryRun) return `${file}: ${rows} products would be loaded (${counts}). Dry run: nothing changed.\n`;
  return `Loaded ${rows} products from ${file} (${counts}). The store has ${report.products} products.\n`;
}
