/**
 * A table on screen as a CSV file the manager opens in Excel: UTF-8 with a byte order mark (without
 * it Excel reads the Chinese as Big5 and shows garbage), CRLF lines, numbers left as numbers.
 */
import Papa from 'papaparse';

export type CsvCell = string | number | null;

/** One column of a table: its header in the current language and its raw value per row. */
export interface CsvColumn<T> {
  label: string;
  csv: (row: T) => CsvCell;
}

const BOM = '\uFEFF';

/**
 * The file's text. Text cells that start like a formula (=, +, -, @) are prefixed with ' so a
 * product or member name cannot run as one in Excel; numbers stay numbers.
 */
export function toCsv<T>(columns: readonly CsvColumn<T>[], rows: readonly T[]): string {
  const body = Papa.unparse(
    { fields: columns.map((c) => c.label), data: rows.map((row) => columns.map((c) => c.csv(row))) },
    // papaparse's own pattern (escapeFormulae: true) misses a formula followed by a line break.
    { escapeFormulae: /^[=+\-@\t\r]/, newline: '\r\n' },
  );
  return BOM + body;
}

/** A file name that is safe on Windows and macOS: "熱銷商品_2025-03-01_2025-03-31.csv". */
export function csvFileName(...parts: string[]): string {
  const name = [...parts.filter((p) => p !== '').join('_')]
    .filter((c) => c.charCodeAt(0) >= 0x20)
    .join('')
    .replace(/[\\/:*?"<>|]+/g, '-')
    .trim();
  return `${name || 'report'}.csv`;
}

/** Offers the text as a download (the browser's own save, no round trip to the hub). */
export function downloadCsv(fileName: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.style.display = 'none';
  document.body.append(link);
  link.click();
  link.remove();
  // Give the browser a moment to start the download before the URL goes away.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
