/**
 * A chain catalog from a CSV file: the columns of a store's own import (hub/docs/api.md, "Catalog
 * CSV"), read by the hub's own parser and checks, plus one column per store with prices of its
 * own, `price@{storeId}` (an empty cell: the chain's price). Every bad row is reported with its
 * line number and reasons, and a file with any bad row makes no catalog.
 */
import { Value } from '@sinclair/typebox/value';
import {
  priceProblem,
  validateCatalogRows,
  type ChainCatalog,
  type RejectedRow,
} from '../../../hub/src/domain/catalog.js';
import { DomainError } from '../../../hub/src/domain/errors.js';
import { CATALOG_MAX_PRODUCTS, CatalogProductSchema } from '../../../hub/src/protocol/event-schemas.js';
import { parseCatalogCsv } from '../../../hub/src/services/catalog.service.js';
import { HqError } from '../errors.js';

/** A column `price@store-north` holds store-north's prices. */
export const STORE_PRICE_PREFIX = 'price@';
const STORE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Lines named in the message; every one is in `details.rejected`. */
const LINES_IN_MESSAGE = 5;

export function chainCatalogFromCsv(csv: string): ChainCatalog {
  let rows: ReturnType<typeof parseCatalogCsv>;
  try {
    rows = parseCatalogCsv(csv);
  } catch (err) {
    if (err instanceof DomainError) throw new HqError('invalid_csv', err.message, 400, err.details);
    throw err;
  }
  const storeColumns = Object.keys(rows[0]!.row).filter((column) => column.startsWith(STORE_PRICE_PREFIX));
  const badColumns = storeColumns.filter((column) => !STORE_ID.test(column.slice(STORE_PRICE_PREFIX.length)));
  if (badColumns.length > 0) {
    throw new HqError(
      'invalid_csv',
      `Column(s) ${badColumns.join(', ')}: a store price column is ${STORE_PRICE_PREFIX}{store id} (lower-case letters, digits, "-")`,
      400,
      { columns: badColumns },
    );
  }

  // No barcode belongs to anything outside the file: the version is the whole catalog.
  const { products, rejected } = validateCatalogRows(rows, () => undefined);
  const byLine = new Map<number, RejectedRow>(rejected.map((row) => [row.line, row]));
  const reject = (line: number, sku: string | null, problem: string) => {
    const held = byLine.get(line) ?? { line, sku, errors: [] };
    held.errors.push(problem);
    byLine.set(line, held);
  };
  // What a store's import allows and a version does not (more than 32 barcodes): the stores would refuse it.
  const productLines = rows.filter(({ line }) => !byLine.has(line)).map(({ line }) => line);
  products.forEach((product, index) => {
    const error = Value.Errors(CatalogProductSchema, product).First();
    if (error) reject(productLines[index]!, product.sku, `${error.path.slice(1) || 'product'}: ${error.message}`);
  });
  const storePrices: ChainCatalog['storePrices'] = {};
  for (const { line, row } of rows) {
    const cells = row as Record<string, string | undefined>;
    for (const column of storeColumns) {
      const text = (cells[column] ?? '').trim();
      if (!text) continue;
      const problem = priceProblem(column, text);
      if (problem) reject(line, (cells.sku ?? '').trim() || null, problem);
      else if (!byLine.has(line)) {
        const storeId = column.slice(STORE_PRICE_PREFIX.length);
        (storePrices[storeId] ??= {})[(cells.sku ?? '').trim()] = Number(text);
      }
    }
  }
  if (byLine.size > 0) {
    const all = [...byLine.values()].sort((a, b) => a.line - b.line);
    const named = all.slice(0, LINES_IN_MESSAGE).map((row) => `line ${row.line}: ${row.errors.join('; ')}`);
    if (all.length > LINES_IN_MESSAGE) named.push(`and ${all.length - LINES_IN_MESSAGE} more`);
    throw new HqError(
      'invalid_catalog',
      `${all.length} row(s) of the file are wrong, nothing was published. ${named.join(' | ')}`,
      400,
      { rejected: all },
    );
  }
  if (products.length > CATALOG_MAX_PRODUCTS) {
    throw new HqError(
      'invalid_csv',
      `The file has ${products.length} products; a catalog version holds at most ${CATALOG_MAX_PRODUCTS}`,
    );
  }
  return { products, storePrices };
}
