/** Catalog rows as a store manager writes them in a spreadsheet, checked one by one. Pure. */
import type { ProductData } from '../protocol/events.js';

export const CATALOG_COLUMNS = ['sku', 'barcodes', 'name', 'category', 'price', 'repurchase_days'] as const;
export type CatalogRow = Partial<Record<(typeof CATALOG_COLUMNS)[number], string>>;

export interface RejectedRow {
  /** Line number in the file (the header is line 1). */
  line: number;
  sku: string | null;
  errors: string[];
}

const SKU = /^[A-Za-z0-9._-]{1,64}$/;
const BARCODE = /^[\x21-\x7e]{1,64}$/;
const WHOLE = /^\d+$/;

/** What is wrong with a price cell (null: a whole NT$ amount the catalog takes). */
export function priceProblem(column: string, text: string): string | null {
  return WHOLE.test(text) && Number(text) <= 10_000_000
    ? null
    : `${column}: a whole NT$ amount from 0 to 10000000, got "${text}"`;
}

export function validateCatalogRows(
  rows: { line: number; row: CatalogRow }[],
  barcodeOwner: (code: string) => string | undefined,
): { products: ProductData[]; rejected: RejectedRow[] } {
  const products: ProductData[] = [];
  const rejected: RejectedRow[] = [];
  const skusInFile = new Map<string, number>();
  const barcodesInFile = new Map<string, string>();

  for (const { line, row } of rows) {
    const errors: string[] = [];
    const sku = (row.sku ?? '').trim();
    const name = (row.name ?? '').trim();
    const category = (row.category ?? '').trim();
    const priceText = (row.price ?? '').trim();
    const cycleText = (row.repurchase_days ?? '').trim();
    const barcodes = (row.barcodes ?? '')
      .split('|')
      .map((code) => code.trim())
      .filter(Boolean);

    if (!SKU.test(sku)) errors.push('sku: required, up to 64 letters, digits, ".", "_" or "-"');
    else if (skusInFile.has(sku)) errors.push(`sku: ${sku} already appears on line ${skusInFile.get(sku)}`);
    if (!name) errors.push('name: required');
    else if (name.length > 80) errors.push('name: at most 80 characters');
    if (!category) errors.push('category: required');
    else if (category.length > 40) errors.push('category: at most 40 characters');
    const priceWrong = priceProblem('price', priceText);
    if (priceWrong) errors.push(priceWrong);
    if (cycleText && (!WHOLE.test(cycleText) || Number(cycleText) < 1 || Number(cycleText) > 3650)) {
      errors.push(`repurchase_days: empty or a whole number of days from 1 to 3650, got "${cycleText}"`);
    }
    for (const code of barcodes) {
      if (!BARCODE.test(code)) {
        errors.push(`barcodes: "${code}" is not a barcode (printable characters, no spaces, up to 64)`);
        continue;
      }
      const inFile = barcodesInFile.get(code);
      const owner = inFile ?? barcodeOwner(code);
      if (owner !== undefined && owner !== sku) errors.push(`barcodes: ${code} already belongs to ${owner}`);
    }

    if (errors.length > 0) {
      rejected.push({ line, sku: sku || null, errors });
      continue;
    }
    skusInFile.set(sku, line);
    for (const code of barcodes) barcodesInFile.set(code, sku);
    products.push({
      sku,
      barcodes,
      name,
      category,
      price: Number(priceText),
      repurchaseDays: cycleText ? Number(cycleText) : null,
    });
  }
  return { products, rejected };
}

/** A catalog version's products and per-store prices, as HQ publishes them (ayi.catalog/1). */
export interface ChainCatalog {
  products: ProductData[];
  storePrices: Record<string, Record<string, number>>;
}

/**
 * What makes a catalog version unusable beyond its schema: a SKU twice, a barcode on two SKUs, a
 * store price for a SKU the catalog does not have. Empty when it is fine.
 */
export function chainCatalogProblems(catalog: ChainCatalog): string[] {
  const problems: string[] = [];
  const skus = new Set<string>();
  const barcodeOwner = new Map<string, string>();
  catalog.products.forEach((product, index) => {
    if (skus.has(product.sku)) problems.push(`products/${index}: sku ${product.sku} appears twice`);
    skus.add(product.sku);
    for (const code of product.barcodes) {
      const owner = barcodeOwner.get(code);
      if (owner !== undefined && owner !== product.sku) {
        problems.push(`products/${index}: barcode ${code} already belongs to ${owner}`);
      }
      barcodeOwner.set(code, product.sku);
    }
  });
  for (const [storeId, prices] of Object.entries(catalog.storePrices)) {
    for (const sku of Object.keys(prices)) {
      if (!skus.has(sku)) problems.push(`storePrices/${storeId}: ${sku} is not a product of this catalog`);
    }
  }
  return problems.slice(0, 20);
}

/** The catalog as one store sells it: the chain's products with that store's prices. */
export function storeCatalog(catalog: ChainCatalog, storeId: string): ProductData[] {
  const prices = catalog.storePrices[storeId] ?? {};
  return catalog.products.map((product) => {
    const price = prices[product.sku];
    return price === undefined ? product : { ...product, price };
  });
}
