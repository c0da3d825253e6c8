/**
 * The reports' CSV files as Excel on a Taiwanese store's PC reads them: a byte order mark first (or
 * the Chinese shows as garbage), CRLF lines, quoting where a cell holds a comma, a quote or a line
 * break, and text that looks like a formula made harmless while numbers stay numbers.
 */
import { describe, expect, it } from 'vitest';
import { csvFileName, toCsv, type CsvColumn } from '$lib/csv';

interface Line {
  name: string;
  qty: number;
  note: string | null;
}

const columns: CsvColumn<Line>[] = [
  { label: '名稱', csv: (r) => r.name },
  { label: '數量', csv: (r) => r.qty },
  { label: '備註', csv: (r) => r.note },
];

describe('toCsv', () => {
  it('starts with the byte order mark and the header row', () => {
    // An empty table is the header line alone.
    expect(toCsv(columns, [])).toBe('\uFEFF名稱,數量,備註\r\n');
    expect(toCsv(columns, [{ name: '貓砂', qty: 2, note: '' }])).toBe('\uFEFF名稱,數量,備註\r\n貓砂,2,');
  });

  it('separates rows with CRLF and quotes commas, quotes and line breaks', () => {
    const text = toCsv(columns, [
      { name: '貓飼料, 2kg', qty: 3, note: null },
      { name: '他說 "好"', qty: 10, note: '第一行\n第二行' },
    ]);
    expect(text).toBe('\uFEFF名稱,數量,備註\r\n"貓飼料, 2kg",3,\r\n"他說 ""好""",10,"第一行\n第二行"');
  });

  it('prefixes text that starts like a formula with a quote mark, and leaves numbers alone', () => {
    const text = toCsv(columns, [
      { name: '=SUM(A1:A2)', qty: -5, note: '+886912345678' },
      { name: '-折扣', qty: 1.5, note: '@home' },
      { name: '狗=貓', qty: 0, note: 'a-b' },
    ]);
    expect(text.split('\r\n')).toEqual([
      '\uFEFF名稱,數量,備註',
      `"'=SUM(A1:A2)",-5,"'+886912345678"`,
      `"'-折扣",1.5,"'@home"`,
      '狗=貓,0,a-b',
    ]);
  });

  it('escapes a formula that goes on over a line break', () => {
    const text = toCsv(columns, [{ name: '=1+2\nx', qty: 1, note: '' }]);
    expect(text).toContain(`"'=1+2\nx"`);
  });
});

describe('csvFileName', () => {
  it('joins the parts with underscores and adds .csv', () => {
    expect(csvFileName('熱銷商品', '2025-03-01', '2025-03-31')).toBe('熱銷商品_2025-03-01_2025-03-31.csv');
  });

  it('replaces characters Windows refuses and skips empty parts', () => {
    expect(csvFileName('A/B: "C"', '', '2025-03-01')).toBe('A-B- -C-_2025-03-01.csv');
    expect(csvFileName()).toBe('report.csv');
  });
});
