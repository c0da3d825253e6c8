/**
 * A receipt for a printer of a given width (42 columns on 80 mm Font A, 32 on 58 mm): buildReceipt
 * gives the document (text blocks, the sale's QR code and barcode, the cut) that
 * devices/escpos/receipt-encoder.ts turns into ESC/POS bytes; renderReceipt gives its text lines.
 * Chinese characters take two columns, so columns are measured by display width. Pure.
 */
import stringWidth from 'string-width';
import type { TenderType } from '../protocol/api.js';
import type { SaleRecord } from './store-state.js';
import { nextTier, pointsStanding, tierRule, type LoyaltyProgram } from './loyalty.js';
import { localDateTime } from './time.js';

export const TENDER_LABELS: Record<TenderType, string> = {
  cash: '現金',
  card: '信用卡',
  linepay: 'LINE Pay',
  jkopay: '街口支付',
};

export interface ReceiptContext {
  storeName: string;
  storeId: string;
  timeZone: string;
  columns: number;
  copy: boolean;
  /** Who rang the sale up. */
  staffName: string;
  /** Who approved staff discounts over the owner's limit (absent or null: none needed). */
  approvedByName?: string | null;
  /** For a member's sale: their code and masked number (never the whole number or the name). */
  member?: { memberCode: string; maskedPhone: string } | null;
  program?: LoyaltyProgram;
}

/**
 * Columns a text takes on a CJK thermal printer: ASCII 1, Chinese 2. East Asian "ambiguous"
 * characters (×, …, ○, é...) count as 2, because in Chinese mode (FS &) cp950 and GB18030 encode
 * them as two-byte characters and the printer prints them at full width. The ESC/POS encoder
 * guarantees no character prints wider than this (see devices/escpos/receipt-encoder.ts).
 */
export function displayWidth(text: string): number {
  // Measured for every line of every receipt, in the same event loop as the checkouts: printable
  // ASCII is one column a character, and the rest (names, labels) repeats, so it is remembered.
  if (PRINTABLE_ASCII.test(text)) return text.length;
  let width = widthsSeen.get(text);
  if (width === undefined) {
    width = stringWidth(text, { ambiguousIsNarrow: false });
    if (widthsSeen.size >= WIDTHS_KEPT) widthsSeen.clear();
    widthsSeen.set(text, width);
  }
  return width;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const WIDTHS_KEPT = 10_000;
const widthsSeen = new Map<string, number>();

/** Cuts text to at most `width` display columns (measured a character at a time, not the whole prefix). */
export function clip(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  let out = '';
  let used = 0;
  for (const char of text) {
    const w = displayWidth(char);
    if (used + w > width) break;
    out += char;
    used += w;
  }
  return out;
}

export function padBetween(left: string, right: string, columns: number): string {
  const rightClipped = clip(right, Math.max(0, columns - 1));
  const leftClipped = clip(left, Math.max(0, columns - displayWidth(rightClipped) - 1));
  const gap = columns - displayWidth(leftClipped) - displayWidth(rightClipped);
  return leftClipped + ' '.repeat(Math.max(1, gap)) + rightClipped;
}

export function center(text: string, columns: number): string {
  const clipped = clip(text, columns);
  return ' '.repeat(Math.floor((columns - displayWidth(clipped)) / 2)) + clipped;
}

const money = (amount: number) => amount.toLocaleString('en-US');

/**
 * What the sale's QR code holds: `ayi:sale:<saleId>`. The prefix tells a scan of a receipt apart from
 * a product barcode, a member QR or an e-invoice carrier on the checkout page; the CODE128 barcode
 * holds the bare sale id (what a 1D scanner types into a search field).
 */
export const SALE_QR_PREFIX = 'ayi:sale:';
export const saleQrData = (saleId: string): string => `${SALE_QR_PREFIX}${saleId}`;
/** The sale id in a receipt QR code's data, or null when it is not one. */
export function saleIdFromQr(data: string): string | null {
  return data.startsWith(SALE_QR_PREFIX) && data.length > SALE_QR_PREFIX.length
    ? data.slice(SALE_QR_PREFIX.length)
    : null;
}

/**
 * One piece of a receipt, in printing order. A text block is one printed line: it never takes more
 * than the document's columns (half of them at size 'double'), measured with displayWidth; left
 * blocks carry their own spacing (amounts already pushed to the right edge), center and right
 * blocks are placed by the printer (ESC a).
 */
export type ReceiptBlock =
  | { kind: 'text'; text: string; align: 'left' | 'center' | 'right'; bold?: boolean; size?: 'normal' | 'double' }
  | { kind: 'qr'; data: string }
  | { kind: 'barcode'; data: string }
  | { kind: 'feed'; lines: number }
  | { kind: 'cut' };

export interface ReceiptDocument {
  columns: number;
  blocks: ReceiptBlock[];
}

/**
 * The receipt as a document for a printer `ctx.columns` wide: the text of renderReceipt, then a QR
 * code (saleQrData) and a CODE128 barcode of the sale id, then a cut. Pure.
 */
export function buildReceipt(sale: SaleRecord, ctx: ReceiptContext): ReceiptDocument {
  const w = ctx.columns;
  const blocks: ReceiptBlock[] = [];
  const left = (text: string) => blocks.push({ kind: 'text', text: clip(text, w), align: 'left' });
  const centered = (text: string, bold = false) =>
    blocks.push({ kind: 'text', text: clip(text, w), align: 'center', ...(bold ? { bold } : {}) });
  const pair = (label: string, value: string) => left(padBetween(label, value, w));
  const rule = () => left('-'.repeat(w));

  if (ctx.copy) centered('*** 副本 COPY ***', true);
  centered(ctx.storeName, true);
  centered(ctx.storeId);
  left('');
  // The day's sale number is what staff and auditors count by (no gaps); the sale id, also in the
  // barcode, finds the sale again.
  if (sale.saleNo) pair('銷售編號 SALE NO.', `${sale.businessDate} #${sale.saleNo}`);
  pair('查詢碼 REF', sale.saleId);
  pair(localDateTime(Date.parse(sale.at), ctx.timeZone), `收銀 ${ctx.staffName}`);
  rule();
  for (const line of sale.lines) {
    left(line.name);
    pair(`  ${line.qty} x ${money(line.unitPrice)}`, money(line.qty * line.unitPrice));
    if (line.lineDiscount > 0) pair('  折扣', `-${money(line.lineDiscount)}`);
  }
  rule();
  pair('小計', money(sale.subtotal));
  if (sale.orderDiscount > 0) pair('整單折扣', `-${money(sale.orderDiscount)}`);
  if (ctx.approvedByName) pair('折扣核准 APPROVED', ctx.approvedByName);
  const tierName = (tier: string) => (ctx.program ? tierRule(ctx.program, tier).name : tier);
  if (sale.memberDiscount > 0 && sale.loyalty) {
    pair(`會員折扣 ${tierName(sale.loyalty.tierBefore)}`, `-${money(sale.memberDiscount)}`);
  }
  if (sale.couponDiscount > 0) pair(`優惠券 ${sale.couponCode}`, `-${money(sale.couponDiscount)}`);
  if (sale.pointsDiscount > 0) pair(`點數折抵 ${sale.pointsRedeemed} 點`, `-${money(sale.pointsDiscount)}`);
  blocks.push({
    kind: 'text',
    text: padBetween('合計 TOTAL', `NT$${money(sale.total)}`, w),
    align: 'left',
    bold: true,
  });
  for (const tender of sale.tenders) pair(TENDER_LABELS[tender.type], money(tender.amount));
  pair('找零 CHANGE', money(sale.change));
  rule();
  if (sale.loyalty) {
    if (ctx.member) pair('會員', `${ctx.member.memberCode} ${ctx.member.maskedPhone}`);
    pair('本次得點', `+${money(sale.loyalty.pointsEarned)}`);
    const { available, owed } = pointsStanding(sale.loyalty.pointsBalance);
    // Points a void or refund took back after they were spent: owed, not a negative balance.
    if (owed > 0) pair('欠點 POINTS OWED', money(owed));
    else pair('點數餘額', money(available));
    pair('會員等級', tierName(sale.loyalty.tierAfter));
    const next = ctx.program ? nextTier(ctx.program, sale.loyalty.tierAfter, sale.loyalty.windowSpend) : null;
    if (next) left(`再消費 NT$${money(next.remaining)} 升級${next.tierName}`);
    rule();
  }
  centered('謝謝光臨 Thank you');
  blocks.push({ kind: 'feed', lines: 1 });
  blocks.push({ kind: 'qr', data: saleQrData(sale.saleId) });
  blocks.push({ kind: 'barcode', data: sale.saleId });
  blocks.push({ kind: 'cut' });
  return { columns: w, blocks };
}

/**
 * A text block as it lands on paper: center and right blocks get spaces (in normal-size columns)
 * where the printer leaves them blank. Double-size text is shown at normal size.
 */
export function layoutLine(block: Extract<ReceiptBlock, { kind: 'text' }>, columns: number): string {
  const room = columns - displayWidth(block.text) * (block.size === 'double' ? 2 : 1);
  if (block.align === 'center') return ' '.repeat(Math.max(0, Math.floor(room / 2))) + block.text;
  if (block.align === 'right') return ' '.repeat(Math.max(0, room)) + block.text;
  return block.text;
}

/** The text lines of the receipt (what the virtual printer keeps, and the reprint view shows). */
export function renderReceipt(sale: SaleRecord, ctx: ReceiptContext): string[] {
  const doc = buildReceipt(sale, ctx);
  const lines: string[] = [];
  for (const block of doc.blocks) if (block.kind === 'text') lines.push(layoutLine(block, doc.columns));
  return lines;
}
