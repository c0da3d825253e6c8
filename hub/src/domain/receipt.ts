/**
 * A receipt as text lines for a printer of a given width (42 columns on 80 mm Font A, 32 on 58 mm).
 * Chinese characters take two columns, so columns are measured by display width. Pure.
 */
import stringWidth from 'string-width';
import type { TenderType } from '../protocol/api.js';
import type { SaleRecord } from './store-state.js';
import { nextTier, tierRule, type LoyaltyProgram } from './loyalty.js';

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
  /** For a member's sale: their code and masked number (never the whole number or the name). */
  member?: { memberCode: string; maskedPhone: string } | null;
  program?: LoyaltyProgram;
}

/** Cuts text to at most `width` display columns (measured a character at a time, not the whole prefix). */
function clip(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  let out = '';
  let used = 0;
  for (const char of text) {
    const w = stringWidth(char);
    if (used + w > width) break;
    out += char;
    used += w;
  }
  return out;
}

export function padBetween(left: string, right: string, columns: number): string {
  const leftClipped = clip(left, Math.max(0, columns - stringWidth(right) - 1));
  const gap = columns - stringWidth(leftClipped) - stringWidth(right);
  return leftClipped + ' '.repeat(Math.max(1, gap)) + right;
}

export function center(text: string, columns: number): string {
  const clipped = clip(text, columns);
  return ' '.repeat(Math.floor((columns - stringWidth(clipped)) / 2)) + clipped;
}

const money = (amount: number) => amount.toLocaleString('en-US');

/** Building an Intl.DateTimeFormat costs more than printing the rest of a receipt: one per zone. */
const timeFormats = new Map<string, Intl.DateTimeFormat>();

export function formatLocalTime(iso: string, timeZone: string): string {
  let format = timeFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    timeFormats.set(timeZone, format);
  }
  const parts = format.formatToParts(new Date(iso));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}`;
}

export function renderReceipt(sale: SaleRecord, ctx: ReceiptContext): string[] {
  const w = ctx.columns;
  const rule = '-'.repeat(w);
  const out: string[] = [];
  if (ctx.copy) out.push(center('*** 副本 COPY ***', w));
  out.push(center(ctx.storeName, w), center(ctx.storeId, w), '');
  out.push(padBetween('交易序號', sale.saleId, w));
  out.push(padBetween(formatLocalTime(sale.at, ctx.timeZone), `收銀 ${ctx.staffName}`, w));
  out.push(rule);
  for (const line of sale.lines) {
    out.push(clip(line.name, w));
    out.push(padBetween(`  ${line.qty} x ${money(line.unitPrice)}`, money(line.qty * line.unitPrice), w));
    if (line.lineDiscount > 0) out.push(padBetween('  折扣', `-${money(line.lineDiscount)}`, w));
  }
  out.push(rule);
  out.push(padBetween('小計', money(sale.subtotal), w));
  if (sale.orderDiscount > 0) out.push(padBetween('整單折扣', `-${money(sale.orderDiscount)}`, w));
  const tierName = (tier: string) => (ctx.program ? tierRule(ctx.program, tier).name : tier);
  if (sale.memberDiscount > 0 && sale.loyalty) {
    out.push(padBetween(`會員折扣 ${tierName(sale.loyalty.tierBefore)}`, `-${money(sale.memberDiscount)}`, w));
  }
  if (sale.couponDiscount > 0) out.push(padBetween(`優惠券 ${sale.couponCode}`, `-${money(sale.couponDiscount)}`, w));
  if (sale.pointsDiscount > 0) {
    out.push(padBetween(`點數折抵 ${sale.pointsRedeemed} 點`, `-${money(sale.pointsDiscount)}`, w));
  }
  out.push(padBetween('合計 TOTAL', `NT$${money(sale.total)}`, w));
  for (const tender of sale.tenders) out.push(padBetween(TENDER_LABELS[tender.type], money(tender.amount), w));
  out.push(padBetween('找零 CHANGE', money(sale.change), w));
  out.push(rule);
  if (sale.loyalty) {
    if (ctx.member) out.push(padBetween('會員', `${ctx.member.memberCode} ${ctx.member.maskedPhone}`, w));
    out.push(padBetween('本次得點', `+${money(sale.loyalty.pointsEarned)}`, w));
    out.push(padBetween('點數餘額', money(sale.loyalty.pointsBalance), w));
    out.push(padBetween('會員等級', tierName(sale.loyalty.tierAfter), w));
    const next = ctx.program ? nextTier(ctx.program, sale.loyalty.tierAfter, sale.loyalty.windowSpend) : null;
    if (next) out.push(clip(`再消費 NT$${money(next.remaining)} 升級${next.tierName}`, w));
    out.push(rule);
  }
  out.push(center('謝謝光臨 Thank you', w));
  return out;
}
