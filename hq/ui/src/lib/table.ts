import type { CsvCell } from '$ui/csv';

/** A column of a figures table: its header, its raw value (the CSV's) and how the screen shows it. */
export interface Column<Row> {
  label: string;
  value: (row: Row) => CsvCell;
  shown?: (row: Row) => string;
  numeric?: boolean;
  /** Shown as a pill of this tone (null: plain text). */
  tone?: (row: Row) => 'ok' | 'warn' | 'bad' | null;
}
