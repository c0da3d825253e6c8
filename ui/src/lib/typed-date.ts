/**
 * A date as staff type it, to the store's YYYY-MM-DD: 2026/03/14, 2026-3-14, 2026.03.14,
 * 20260314, 2026年3月14日, full-width digits, and the Republic of China year used on Taiwanese
 * forms (115/03/14 is 2026-03-14). Null unless it is a real calendar day of 1900-2099
 * (2026-02-31 is not), the range every date the hub takes is checked against.
 */
export function typedDate(raw: string): string | null {
  const text = raw
    .trim()
    .replace(/[０-９]/g, (digit) => String.fromCharCode(digit.charCodeAt(0) - 0xff10 + 0x30))
    .replace(/^民國\s*/, '');
  const parts =
    /^(\d{2,4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$/.exec(text) ?? /^(\d{4})(\d{2})(\d{2})$/.exec(text);
  if (!parts) return null;
  const [yearText, monthText, dayText] = parts.slice(1) as [string, string, string];
  // Two or three digits: a Republic of China year (民國), 1911 years behind.
  const year = yearText.length < 4 ? Number(yearText) + 1911 : Number(yearText);
  const month = Number(monthText);
  const day = Number(dayText);
  if (year < 1900 || year > 2099 || month < 1 || month > 12 || day < 1) return null;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return null;
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}
