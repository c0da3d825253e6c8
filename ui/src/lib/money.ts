const nt = new Intl.NumberFormat('zh-TW', { maximumFractionDigits: 0 });

/** Whole NT$ amounts as the cashier reads them: `NT$1,234`, `-NT$20`. */
export function formatMoney(amount: number): string {
  const n = Math.round(amount);
  return n < 0 ? `-NT$${nt.format(-n)}` : `NT$${nt.format(n)}`;
}

/** Thousands separators only (for inputs and compact lists). */
export function formatNumber(n: number): string {
  return nt.format(n);
}
