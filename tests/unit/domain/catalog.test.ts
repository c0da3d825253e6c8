/**
 * Catalog rows as a store manager types them in a spreadsheet: good rows become products, each bad
 * row is reported with its line number (header = line 1) and what is wrong with it.
 */
import { describe, expect, it } from 'vitest';
import { validateCatalogRows, type CatalogRow } from '../../../hub/src/domain/catalog.ts';

const good = (sku: string, extra: Partial<CatalogRow> = {}): CatalogRow => ({
  sku,
  barcodes: '',
  name: `商品 ${sku}`,
  category: '飲料',
  price: '30',
  repurchase_days: '',
  ...extra,
});

/** Rows numbered as in a file: the first data row is line 2. */
const numbered = (...rows: CatalogRow[]) => rows.map((row, i) => ({ line: i + 2, row }));
const noOwner = () => undefined;

describe('validateCatalogRows', () => {
  it('turns good rows into products', () => {
    const { products, rejected } = validateCatalogRows(
      numbered(
        {
          sku: 'DRK-001',
          barcodes: '4710000010003|4710009990016',
          name: ' 統一麥香紅茶 300ml ',
          category: '飲料',
          price: '15',
          repurchase_days: '',
        },
        {
          sku: 'FOD-001',
          barcodes: '4710000014070',
          name: '池上米 3kg',
          category: '食品',
          price: '399',
          repurchase_days: '30',
        },
        { sku: 'GFT-000', barcodes: '', name: '贈品', category: '其他', price: '0' },
      ),
      noOwner,
    );
    expect(rejected).toEqual([]);
    expect(products).toEqual([
      {
        sku: 'DRK-001',
        barcodes: ['4710000010003', '4710009990016'],
        name: '統一麥香紅茶 300ml',
        category: '飲料',
        price: 15,
        repurchaseDays: null,
      },
      {
        sku: 'FOD-001',
        barcodes: ['4710000014070'],
        name: '池上米 3kg',
        category: '食品',
        price: 399,
        repurchaseDays: 30,
      },
      { sku: 'GFT-000', barcodes: [], name: '贈品', category: '其他', price: 0, repurchaseDays: null },
    ]);
  });

  const badRows: [string, Partial<CatalogRow>, string][] = [
    ['a missing SKU', { sku: '' }, 'sku'],
    ['a SKU with spaces', { sku: 'DRK 001' }, 'sku'],
    ['a missing name', { name: '  ' }, 'name'],
    ['a name over 80 characters', { name: '長'.repeat(81) }, 'name'],
    ['a missing category', { category: '' }, 'category'],
    ['a price with cents', { price: '12.5' }, 'price'],
    ['a negative price', { price: '-3' }, 'price'],
    ['a price in words', { price: 'free' }, 'price'],
    ['an empty price', { price: '' }, 'price'],
    ['a price over NT$10,000,000', { price: '10000001' }, 'price'],
    ['repurchase days of 0', { repurchase_days: '0' }, 'repurchase_days'],
    ['repurchase days not a number', { repurchase_days: 'weekly' }, 'repurchase_days'],
    ['repurchase days over 10 years', { repurchase_days: '3651' }, 'repurchase_days'],
    ['a barcode with a space in it', { barcodes: '4710 000' }, 'barcodes'],
  ];

  it.each(badRows)('reports %s with its line number and keeps the good rows', (_what, change, field) => {
    const { products, rejected } = validateCatalogRows(
      numbered(good('A-1'), good('B-2', change), good('C-3')),
      noOwner,
    );
    expect(products.map((p) => p.sku)).toEqual(['A-1', 'C-3']);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.line).toBe(3);
    expect(rejected[0]!.errors).toHaveLength(1);
    expect(rejected[0]!.errors[0]).toMatch(new RegExp(`^${field}:`));
  });

  it('reports every problem of a row at once', () => {
    const { rejected } = validateCatalogRows(numbered(good('A-1', { name: '', category: '', price: 'x' })), noOwner);
    expect(rejected).toEqual([
      {
        line: 2,
        sku: 'A-1',
        errors: [
          expect.stringMatching(/^name:/),
          expect.stringMatching(/^category:/),
          expect.stringMatching(/^price:/),
        ],
      },
    ]);
  });

  it('refuses a SKU that appears twice in the file, pointing at the first', () => {
    const { products, rejected } = validateCatalogRows(
      numbered(good('A-1', { price: '10' }), good('B-2'), good('A-1', { price: '20' })),
      noOwner,
    );
    expect(products.map((p) => [p.sku, p.price])).toEqual([
      ['A-1', 10],
      ['B-2', 30],
    ]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ line: 4, sku: 'A-1' });
    expect(rejected[0]!.errors[0]).toContain('line 2');
  });

  it('refuses a barcode that already belongs to another product in the catalog', () => {
    const owners = new Map([['4710000010003', 'DRK-001']]);
    const { products, rejected } = validateCatalogRows(
      numbered(
        good('NEW-1', { barcodes: '4719999999999|4710000010003' }),
        good('DRK-001', { barcodes: '4710000010003' }),
      ),
      (code) => owners.get(code),
    );
    // the product that owns the barcode may keep it (an update); another may not take it
    expect(products.map((p) => p.sku)).toEqual(['DRK-001']);
    expect(rejected).toEqual([{ line: 2, sku: 'NEW-1', errors: [expect.stringContaining('DRK-001')] }]);
  });

  it('refuses a barcode given to two products in the same file', () => {
    const { products, rejected } = validateCatalogRows(
      numbered(good('A-1', { barcodes: '4711111111111' }), good('B-2', { barcodes: '4711111111111' })),
      noOwner,
    );
    expect(products.map((p) => p.sku)).toEqual(['A-1']);
    expect(rejected).toEqual([{ line: 3, sku: 'B-2', errors: [expect.stringContaining('A-1')] }]);
  });

  it('reports a row without a SKU as sku null', () => {
    const { rejected } = validateCatalogRows(numbered(good('', {})), noOwner);
    expect(rejected[0]).toMatchObject({ line: 2, sku: null });
  });
});
