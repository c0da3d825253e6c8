/**
 * Receipt text for the thermal printer: no line may be wider than the paper (Chinese characters take
 * two columns), copies are marked, and the customer sees the totals and change.
 */
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import {
  buildReceipt,
  displayWidth,
  renderReceipt,
  saleIdFromQr,
  saleQrData,
  type ReceiptContext,
} from '../../../hub/src/domain/receipt.ts';
import { sampleSale } from '../../support/sample-sale.ts';

const sale = sampleSale;

const ctx = (columns: number, copy = false, storeName = '阿姨的店 示範門市', staffName = '王老闆'): ReceiptContext => ({
  storeName,
  storeId: 'store-001',
  timeZone: 'Asia/Taipei',
  columns,
  copy,
  staffName,
});

const lineWith = (lines: string[], text: string) => {
  const found = lines.find((line) => line.includes(text));
  if (found === undefined) throw new Error(`no receipt line with ${text}:\n${lines.join('\n')}`);
  return found;
};

describe('renderReceipt', () => {
  it.each([42, 32])('keeps every line within %i display columns, Chinese counted as 2', (columns) => {
    const longStore = '阿姨的店 台北市大安區復興南路一段三百九十號 旗艦門市';
    for (const copy of [false, true]) {
      for (const staffName of ['小美', '歐陽娜娜娜娜娜娜']) {
        const lines = renderReceipt(sale(), ctx(columns, copy, longStore, staffName));
        for (const line of lines) expect(stringWidth(line), JSON.stringify(line)).toBeLessThanOrEqual(columns);
      }
    }
  });

  it('right-aligns amounts at the paper edge', () => {
    const lines = renderReceipt(sale(), ctx(42));
    for (const label of ['小計', '合計 TOTAL', '找零 CHANGE', '信用卡', '現金']) {
      expect(stringWidth(lineWith(lines, label)), label).toBe(42);
    }
  });

  it('cuts a long product name at the paper width without splitting a character', () => {
    const lines = renderReceipt(sale(), ctx(32));
    const nameLine = lineWith(lines, '皇家 室內成貓飼料');
    expect(stringWidth(nameLine)).toBeGreaterThanOrEqual(31);
    expect(stringWidth(nameLine)).toBeLessThanOrEqual(32);
    expect(sale().lines[0]!.name.startsWith(nameLine)).toBe(true);
  });

  it('shows the lines, discounts, total, tenders and change', () => {
    const lines = renderReceipt(sale(), ctx(42));
    const text = lines.join('\n');
    expect(lineWith(lines, '2 x 890')).toMatch(/1,780$/);
    expect(lineWith(lines, '3 x 15')).toMatch(/ 45$/);
    expect(lineWith(lines, '折扣')).toMatch(/-178$/);
    expect(lineWith(lines, '小計')).toMatch(/ 1,647$/);
    expect(lineWith(lines, '整單折扣')).toMatch(/ -47$/);
    expect(lineWith(lines, '合計 TOTAL')).toMatch(/ NT\$1,600$/);
    expect(lineWith(lines, '信用卡')).toMatch(/ 1,000$/);
    expect(lineWith(lines, '現金')).toMatch(/ 1,000$/);
    expect(lineWith(lines, '找零 CHANGE')).toMatch(/ 400$/);
    expect(text).toContain('20261122-000042');
    expect(text).toContain('王老闆');
    // the store's local time, not UTC
    expect(text).toContain('2026-11-22 23:59:59');
  });

  it('names the manager who approved discounts over the limit, within the paper width', () => {
    for (const columns of [42, 32]) {
      const lines = renderReceipt(sale({ approvedBy: 'staff-2' }), { ...ctx(columns), approvedByName: '阿明' });
      const approved = lineWith(lines, '折扣核准');
      expect(approved).toMatch(/阿明$/);
      expect(stringWidth(approved)).toBe(columns);
    }
    expect(renderReceipt(sale(), ctx(42)).some((l) => l.includes('核准'))).toBe(false);
  });

  it('leaves out discount lines when there is no discount', () => {
    const plain = sale({
      lines: [{ ...sale().lines[1]!, orderDiscountShare: 0 }],
      subtotal: 45,
      orderDiscount: 0,
      total: 45,
      tenders: [{ type: 'cash', amount: 50 }],
      change: 5,
    });
    const lines = renderReceipt(plain, ctx(42));
    expect(lines.some((l) => l.includes('折扣'))).toBe(false);
    expect(lineWith(lines, '合計 TOTAL')).toMatch(/ NT\$45$/);
    expect(lineWith(lines, '找零 CHANGE')).toMatch(/ 5$/);
  });

  it('marks a copy as COPY at the top, and the original not at all', () => {
    const copy = renderReceipt(sale(), ctx(42, true));
    expect(copy[0]).toContain('COPY');
    const original = renderReceipt(sale(), ctx(42, false));
    expect(original.some((line) => line.includes('COPY') || line.includes('副本'))).toBe(false);
  });
});

describe('buildReceipt', () => {
  it('holds the text of renderReceipt, then a QR code and a CODE128 barcode of the sale, then a cut', () => {
    const doc = buildReceipt(sale(), ctx(42));
    expect(doc.columns).toBe(42);
    const kinds = doc.blocks.map((b) => b.kind);
    expect(kinds.slice(-4)).toEqual(['feed', 'qr', 'barcode', 'cut']);
    expect(kinds.filter((k) => k !== 'text')).toEqual(['feed', 'qr', 'barcode', 'cut']);
    expect(doc.blocks).toContainEqual({ kind: 'qr', data: 'ayi:sale:20261122-000042' });
    expect(doc.blocks).toContainEqual({ kind: 'barcode', data: '20261122-000042' });
    const texts = doc.blocks.flatMap((b) => (b.kind === 'text' ? [b.text] : []));
    expect(texts.map((t) => t.trim())).toEqual(renderReceipt(sale(), ctx(42)).map((t) => t.trim()));
  });

  it.each([42, 32])('keeps every text block within %i columns, ambiguous-width characters counted as 2', (columns) => {
    const odd = sale({ lines: [{ ...sale().lines[0]!, name: '×××××××××××××××××××××××××××××××××××××××××××××××××' }] });
    for (const copy of [false, true]) {
      for (const block of buildReceipt(odd, ctx(columns, copy, '阿姨的店 台北市大安區復興南路一段三百九十號 旗艦門市'))
        .blocks) {
        if (block.kind !== 'text') continue;
        const width = displayWidth(block.text) * (block.size === 'double' ? 2 : 1);
        expect(width, block.text).toBeLessThanOrEqual(columns);
      }
    }
  });

  it('centers the header and the thanks, bolds the store name and the total, and marks a copy first', () => {
    const doc = buildReceipt(sale(), ctx(32, true));
    expect(doc.blocks[0]).toEqual({ kind: 'text', text: '*** 副本 COPY ***', align: 'center', bold: true });
    expect(doc.blocks[1]).toEqual({ kind: 'text', text: '阿姨的店 示範門市', align: 'center', bold: true });
    const total = doc.blocks.find((b) => b.kind === 'text' && b.text.startsWith('合計 TOTAL'));
    expect(total).toMatchObject({ align: 'left', bold: true });
    expect(renderReceipt(sale(), ctx(32, true))[0]).toBe('       *** 副本 COPY ***');
  });

  it('reads the sale id back from a receipt QR code, and nothing from other codes', () => {
    expect(saleQrData('20261122-000042')).toBe('ayi:sale:20261122-000042');
    expect(saleIdFromQr('ayi:sale:20261122-000042')).toBe('20261122-000042');
    expect(saleIdFromQr('4710088431125')).toBeNull();
    expect(saleIdFromQr('ayi:sale:')).toBeNull();
  });
});

describe('displayWidth', () => {
  it('measures as string-width does with ambiguous characters wide, also for text it has seen before', () => {
    const samples = ['NT$1,234', '', '  2 x 35', '統一 麥香紅茶 300ml', '×3 …', 'café', '🍵 熱茶', 'é', '\u0007bell'];
    // Twice round, and past the number of widths it keeps, so remembered answers are checked too.
    const many = Array.from({ length: 12_000 }, (_, i) => `${i % 2 ? '寵物' : 'pet'} ${i}`);
    for (const text of [...samples, ...samples, ...many, ...samples]) {
      expect(displayWidth(text), JSON.stringify(text)).toBe(stringWidth(text, { ambiguousIsNarrow: false }));
    }
  });
});
