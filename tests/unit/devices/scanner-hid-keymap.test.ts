/** Boot keyboard reports made by hand, as a keyboard-mode scanner sends them. */
import { describe, expect, it } from 'vitest';
import { BootKeyboardDecoder, MAX_SCAN_LENGTH, keyToChar } from '../../../hub/src/devices/hid-keymap.ts';

const SHIFT = 0x02;
const RSHIFT = 0x20;
const CTRL = 0x01;
const ENTER = 0x28;

/** One 8-byte boot report: modifiers, reserved, up to six keys. */
function report(modifiers: number, ...keys: number[]): Uint8Array {
  const bytes = new Uint8Array(8);
  bytes[0] = modifiers;
  keys.forEach((k, i) => (bytes[2 + i] = k));
  return bytes;
}
const RELEASE = report(0);

/** US layout usage ids of the characters a test types. */
const USAGE: Record<string, [number, boolean]> = {};
'abcdefghijklmnopqrstuvwxyz'.split('').forEach((c, i) => {
  USAGE[c] = [0x04 + i, false];
  USAGE[c.toUpperCase()] = [0x04 + i, true];
});
'1234567890'.split('').forEach((c, i) => (USAGE[c] = [0x1e + i, false]));
Object.assign(USAGE, {
  '-': [0x2d, false],
  '+': [0x2e, true],
  '.': [0x37, false],
  '/': [0x38, false],
  ']': [0x30, false],
  ' ': [0x2c, false],
  '%': [0x22, true],
  ':': [0x33, true],
  '?': [0x38, true],
  '=': [0x2e, false],
  '&': [0x24, true],
});

/** Reports a scanner sends for `text` + Enter: press, release, for each character. */
function typed(text: string): Uint8Array[] {
  const reports: Uint8Array[] = [];
  for (const c of text) {
    const [key, shift] = USAGE[c]!;
    reports.push(report(shift ? SHIFT : 0, key), RELEASE);
  }
  reports.push(report(0, ENTER), RELEASE);
  return reports;
}

function decodeAll(reports: Uint8Array[], decoder = new BootKeyboardDecoder()): string[] {
  return reports.flatMap((r) => decoder.push(r));
}

describe('HID boot keyboard reports', () => {
  it('decodes digits, letters with shift, and punctuation used in barcodes', () => {
    expect(decodeAll(typed('4710000000001'))).toEqual(['4710000000001']);
    expect(decodeAll(typed('AYI0000000042'))).toEqual(['AYI0000000042']);
    // An e-invoice mobile carrier: "/" + 7 of 0-9 A-Z . + -
    expect(decodeAll(typed('/AB+.-9Z'))).toEqual(['/AB+.-9Z']);
    expect(decodeAll(typed('https://x.tw/a?b=1&c=%20'))).toEqual(['https://x.tw/a?b=1&c=%20']);
  });

  it('ends a scan at Enter (main or keypad), and starts the next one after it', () => {
    const reports = [...typed('BDAY10'), ...typed('12345678')];
    expect(decodeAll(reports)).toEqual(['BDAY10', '12345678']);
    const keypad = [report(0, 0x59), RELEASE, report(0, 0x62), RELEASE, report(0, 0x58), RELEASE];
    expect(decodeAll(keypad)).toEqual(['10']);
  });

  it('types a key held over several reports once (rollover), and a repeated letter twice', () => {
    const a = 0x04;
    const b = 0x05;
    // "ab" with rollover: a down, a+b down, b down, all up.
    expect(decodeAll([report(0, a), report(0, a, b), report(0, b), RELEASE, report(0, ENTER), RELEASE])).toEqual([
      'ab',
    ]);
    // "aa": the key is released in between.
    expect(decodeAll([report(0, a), RELEASE, report(0, a), RELEASE, report(0, ENTER)])).toEqual(['aa']);
    // The same report twice (a repeat) types nothing more.
    expect(decodeAll([report(0, a), report(0, a), report(0, a), RELEASE, report(0, ENTER)])).toEqual(['a']);
    // Several new keys in one report, in order.
    expect(decodeAll([report(0, 0x1e, 0x1f, 0x20), RELEASE, report(0, ENTER)])).toEqual(['123']);
  });

  it('uses either shift key and ignores phantom (ErrorRollOver) reports', () => {
    expect(decodeAll([report(RSHIFT, 0x04), RELEASE, report(SHIFT, 0x1e), RELEASE, report(0, ENTER)])).toEqual(['A!']);
    const phantom = report(0, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01);
    expect(decodeAll([report(0, 0x04), phantom, report(0, 0x04), RELEASE, report(0, ENTER)])).toEqual(['a']);
  });

  it('types GS for ctrl+] (GS1 separators) and nothing for other ctrl or alt keys', () => {
    expect(keyToChar(0x30, CTRL)).toBe('\x1d');
    expect(keyToChar(0x04, CTRL)).toBeNull();
    expect(keyToChar(0x04, 0x04)).toBeNull();
    expect(keyToChar(0x3a, 0)).toBeNull(); // F1
    expect(keyToChar(0xe1, 0)).toBeNull();
  });

  it('ignores an Enter with nothing typed, short reports, and an endless scan', () => {
    expect(decodeAll([report(0, ENTER), RELEASE, new Uint8Array([0, 0])])).toEqual([]);
    const decoder = new BootKeyboardDecoder();
    const long: Uint8Array[] = [];
    for (let i = 0; i < MAX_SCAN_LENGTH + 5; i++) long.push(report(0, 0x1e), RELEASE);
    expect(decodeAll([...long, report(0, ENTER), RELEASE], decoder)).toEqual([]);
    expect(decodeAll(typed('42'), decoder)).toEqual(['42']);
  });

  it('forgets a half-typed scan on reset', () => {
    const decoder = new BootKeyboardDecoder();
    decodeAll([report(0, 0x1e), RELEASE], decoder);
    decoder.reset();
    expect(decodeAll(typed('7'), decoder)).toEqual(['7']);
  });
});
