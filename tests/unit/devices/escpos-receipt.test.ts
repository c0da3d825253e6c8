/**
 * Real receipts through the whole path: buildReceipt -> encodeReceipt (ESC/POS bytes, as a printer
 * gets them) -> decodeEscPos (as the paper shows them). Chinese items, 58 and 80 mm, a member sale
 * with points, a copy, both encodings.
 */
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PROGRAM } from '../../../hub/src/domain/loyalty.ts';
import { buildReceipt, renderReceipt, saleIdFromQr, type ReceiptContext } from '../../../hub/src/domain/receipt.ts';
import type { SaleRecord } from '../../../hub/src/domain/store-state.ts';
import { PAPER_COLUMNS } from '../../../hub/src/devices/device-types.ts';
import { encodeReceipt } from '../../../hub/src/devices/escpos/receipt-encoder.ts';
import { decodeEscPos } from '../../support/escpos-decoder.ts';
import { sampleSale } from '../../support/sample-sale.ts';

const line = (name: string, qty: number, unitPrice: number, lineDiscount = 0) => ({
  lineNo: 1,
  sku: 'SKU',
  name,
  category: '雜貨',
  qty,
  unitPrice,
  lineDiscount,
  lineTotal: qty * unitPrice - lineDiscount,
  orderDiscountShare: 0,
});

function sale(overrides: Partial<SaleRecord> = {}): SaleRecord {
  return sampleSale({
    idempotencyKey: 'k',
    lines: [
      line('皇家 室內成貓飼料 2kg 大包裝 限量版 超級長的商品名稱要被截斷才對', 2, 890, 178),
      line('統一麥香紅茶 300ml', 3, 15),
      line('臺灣台灣 × 特選 … 咖啡豆 ①號', 1, 1200),
    ],
    subtotal: 2847,
    total: 2800,
    tenders: [
      { type: 'card', amount: 2000 },
      { type: 'cash', amount: 1000 },
    ],
    change: 200,
    ...overrides,
  });
}

const memberSale = () =>
  sale({
    memberId: 'm-1',
    memberDiscount: 0,
    pointsRedeemed: 50,
    pointsDiscount: 50,
    couponCode: 'WELCOME100',
    couponDiscount: 100,
    total: 2650,
    tenders: [{ type: 'linepay', amount: 2650 }],
    change: 0,
    loyalty: { tierBefore: 'regular', tierAfter: 'regular', pointsEarned: 26, pointsBalance: 1234, windowSpend: 1147 },
  });

const ctx = (columns: number, overrides: Partial<ReceiptContext> = {}): ReceiptContext => ({
  storeName: '阿姨的店 台北市大安區復興南路一段三百九十號 旗艦門市',
  storeId: 'store-001',
  timeZone: 'Asia/Taipei',
  columns,
  copy: false,
  staffName: '歐陽娜娜',
  member: { memberCode: 'AYI*******xyz', maskedPhone: '09*****321' },
  program: DEFAULT_PROGRAM,
  ...overrides,
});

/** Printed columns: what the printer takes for each character (1 byte ASCII, 2 bytes Chinese). */
const printedWidth = (text: string, encoding: 'cp950' | 'gb18030') => {
  const bytes = encodeReceipt(
    { columns: 999, blocks: [{ kind: 'text', text, align: 'left' }] },
    { encoding, kickDrawer: false },
  );
  // ESC @ FS & ... LF ... cut: count the text bytes between FS & and the first LF
  const start = 4;
  return bytes.indexOf(0x0a, start) - start;
};

const trimTrailingBlank = (lines: string[]) => {
  const out = [...lines];
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
};

describe.each([
  [80, 'cp950'],
  [58, 'cp950'],
  [80, 'gb18030'],
  [58, 'gb18030'],
] as const)('a receipt on %i mm paper in %s', (paper, encoding) => {
  const columns = PAPER_COLUMNS[paper];

  for (const [name, s, c] of [
    ['a plain sale', sale(), ctx(columns)],
    ['a member sale with points and a coupon', memberSale(), ctx(columns)],
    ['a copy', memberSale(), ctx(columns, { copy: true })],
  ] as const) {
    it(`prints ${name} as the text view shows it, no line wider than the paper`, () => {
      const doc = buildReceipt(s, c);
      const bytes = encodeReceipt(doc, { encoding, kickDrawer: false });
      const printed = decodeEscPos(bytes, { encoding, columns });
      const text = renderReceipt(s, c);
      // The paper holds the text view's lines exactly (nothing wrapped), then the QR/barcode feeds.
      const textLines = printed.lines.slice(0, text.length);
      // ① is in GB18030 but not in cp950 (only in Big5-HKSCS/ETEN): a cp950 printer gets "?".
      expect(textLines).toEqual(encoding === 'cp950' ? text.map((l) => l.replaceAll('①', '?')) : text);
      expect(trimTrailingBlank(printed.lines.slice(text.length))).toEqual([]);
      for (const l of printed.lines) {
        expect(stringWidth(l), l).toBeLessThanOrEqual(columns);
        expect(printedWidth(l, encoding), l).toBeLessThanOrEqual(columns);
      }
      expect(printed.qrCodes).toEqual(['ayi:sale:20261122-000042']);
      expect(saleIdFromQr(printed.qrCodes[0]!)).toBe(s.saleId);
      expect(printed.barcodes).toEqual([{ type: 'CODE128', data: '20261122-000042' }]);
      expect(printed.cuts).toBe(1);
      expect(printed.drawerKicks).toBe(0);
      expect(printed.statusRequests).toBe(0);
    });
  }
});

describe('encodeReceipt', () => {
  it('shows the receipt content on paper: Chinese items, totals, tenders, member and points', () => {
    const printed = decodeEscPos(
      encodeReceipt(buildReceipt(memberSale(), ctx(42)), { encoding: 'cp950', kickDrawer: false }),
      {
        encoding: 'cp950',
        columns: 42,
      },
    );
    const text = printed.lines.join('\n');
    for (const expected of [
      '統一麥香紅茶 300ml',
      '查詢碼 REF',
      '2026-11-22 23:59:59',
      '收銀 歐陽娜娜',
      '優惠券 WELCOME100',
      '點數折抵 50 點',
      'LINE Pay',
      'AYI*******xyz 09*****321',
      '謝謝光臨 Thank you',
    ]) {
      expect(text).toContain(expected);
    }
    // The day's sale number, not the journal's seq (42), which counts every event
    expect(text).toMatch(/銷售編號 SALE NO\.\s+2026-11-22 #7/);
    expect(text).toMatch(/合計 TOTAL\s+NT\$2,650/);
    expect(text).toMatch(/本次得點\s+\+26/);
    expect(text).toMatch(/點數餘額\s+1,234/);
    expect(text).toMatch(/會員等級\s+一般/);
    expect(text).toMatch(/再消費 NT\$8,853 升級銀卡/);
    expect(text).not.toContain('COPY');
  });

  it('marks a copy 副本 COPY on its first line', () => {
    const printed = decodeEscPos(
      encodeReceipt(buildReceipt(sale(), ctx(32, { copy: true })), { encoding: 'cp950', kickDrawer: false }),
      { encoding: 'cp950', columns: 32 },
    );
    expect(printed.lines[0]).toBe('       *** 副本 COPY ***');
  });

  it('kicks the drawer once, right after initialising, only when asked', () => {
    const doc = buildReceipt(sale(), ctx(42));
    const kicked = encodeReceipt(doc, { encoding: 'cp950', kickDrawer: true });
    expect(Array.from(kicked.subarray(0, 9))).toEqual([0x1b, 0x40, 0x1b, 0x70, 0x00, 25, 250, 0x1c, 0x26]);
    expect(decodeEscPos(kicked, { encoding: 'cp950' }).drawerKicks).toBe(1);
    const plain = encodeReceipt(doc, { encoding: 'cp950', kickDrawer: false });
    expect(Array.from(plain.subarray(0, 4))).toEqual([0x1b, 0x40, 0x1c, 0x26]);
    expect(decodeEscPos(plain, { encoding: 'cp950' }).drawerKicks).toBe(0);
  });

  it('writes Chinese as cp950 or GB18030 bytes', () => {
    const doc = { columns: 42, blocks: [{ kind: 'text' as const, text: '麥貓台臺', align: 'left' as const }] };
    const hex = (encoding: 'cp950' | 'gb18030') =>
      Buffer.from(encodeReceipt(doc, { encoding, kickDrawer: false })).toString('hex');
    expect(hex('cp950')).toContain('b3c1bfdfa578bb4f0a');
    expect(hex('gb18030')).toContain('fb9cd888cca8c55f0a');
  });

  it('ends with the QR code, the barcode and a partial cut', () => {
    const bytes = encodeReceipt(buildReceipt(sale(), ctx(42)), { encoding: 'cp950', kickDrawer: false });
    expect(Array.from(bytes.subarray(-7))).toEqual([0x0a, 0x0a, 0x0a, 0x0a, 0x1d, 0x56, 0x01]);
    const hex = Buffer.from(bytes).toString('hex');
    expect(hex.indexOf('1d286b')).toBeLessThan(hex.indexOf('1d6b49'));
  });

  it('prints double size through GS ! so Chinese doubles too', () => {
    const bytes = encodeReceipt(
      { columns: 32, blocks: [{ kind: 'text', text: '合計', align: 'center', size: 'double', bold: true }] },
      { encoding: 'cp950', kickDrawer: false },
    );
    const hex = Buffer.from(bytes).toString('hex');
    expect(hex).toContain('1b61011b45011d2111');
    expect(decodeEscPos(bytes, { encoding: 'cp950', columns: 32 }).lines).toEqual(['            合計']);
  });
});
