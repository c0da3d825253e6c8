/**
 * The ESC/POS commands the project writes itself, byte for byte against Epson's ESC/POS reference
 * (expected bytes written out by hand from the spec, not produced by the code under test).
 */
import { describe, expect, it } from 'vitest';
import {
  bold,
  characterSize,
  code128,
  code128Data,
  drawerKick,
  qrCode,
  statusRequest,
} from '../../../hub/src/devices/escpos/commands.ts';
import { BuiltinWriter, escposPrinterClass, receiptWriter } from '../../../hub/src/devices/escpos/escpos-printer.ts';
import { encodePrinterText } from '../../../hub/src/devices/escpos/text-encoding.ts';
import { decodeEscPos } from '../../support/escpos-decoder.ts';

const bytes = (...values: number[]) => Uint8Array.from(values);
/** Bytes written as hex, in groups (one command each). */
const hx = (...groups: string[]) => Uint8Array.from(Buffer.from(groups.join('').replaceAll(' ', ''), 'hex'));

describe('QR code (GS ( k, model 2)', () => {
  it('selects model 2, sets the size and error correction M, stores the data and prints it', () => {
    expect(qrCode('AYI', { moduleSize: 6, errorCorrection: 'M' })).toEqual(
      hx(
        '1d 28 6b 04 00 31 41 32 00', // function 165: GS ( k pL=4 pH=0 cn=49 fn=65 n1=50 (model 2) n2=0
        '1d 28 6b 03 00 31 43 06', // function 167: module size 6 dots
        '1d 28 6b 03 00 31 45 31', // function 169: error correction level M (49)
        '1d 28 6b 06 00 31 50 30 41 59 49', // function 180: store, pL = 3 + 3, m = 48, "AYI"
        '1d 28 6b 03 00 31 51 30', // function 181: print the stored symbol, m = 48
      ),
    );
  });

  it('writes pL pH little-endian for data longer than 252 bytes', () => {
    const out = qrCode('x'.repeat(300));
    // 300 + 3 = 303 = 0x012f
    expect(Array.from(out.subarray(25, 33))).toEqual([0x1d, 0x28, 0x6b, 0x2f, 0x01, 0x31, 0x50, 0x30]);
    expect(decodeEscPos(out, { encoding: 'cp950' }).qrCodes).toEqual(['x'.repeat(300)]);
  });

  it('refuses a module size Epson does not have', () => {
    expect(() => qrCode('A', { moduleSize: 17 })).toThrow(RangeError);
  });
});

describe('CODE128 (GS k 73)', () => {
  it('prints text with code set B: HRI below, font A, module width, height, then GS k 73 n {B data', () => {
    expect(code128('AYI-1', { moduleWidth: 2, height: 80 })).toEqual(
      hx(
        '1d 48 02', // GS H 2: HRI characters below
        '1d 66 00', // GS f 0: HRI font A
        '1d 77 02', // GS w 2: 2-dot modules
        '1d 68 50', // GS h 80: 80 dots high
        '1d 6b 49 07', // GS k m=73 n=7
        '7b 42 41 59 49 2d 31', // {B A Y I - 1
      ),
    );
  });

  it('sends "{" as "{{" in code set B', () => {
    expect(code128Data('a{b')).toEqual([0x7b, 0x42, 0x61, 0x7b, 0x7b, 0x62]);
  });

  it('packs digit runs into code set C as one byte 0..99 per pair (Epson\'s "No. 123456" example)', () => {
    // The spec's example: GS k 73 10 123 66 78 111 46 123 67 12 34 56
    expect(code128Data('No.123456')).toEqual([123, 66, 78, 111, 46, 123, 67, 12, 34, 56]);
  });

  it('fits a sale id on 58 mm paper: code set C for the date and the number', () => {
    const payload = code128Data('20261122-000042');
    expect(payload).toEqual([0x7b, 0x43, 20, 26, 11, 22, 0x7b, 0x42, 0x2d, 0x7b, 0x43, 0, 0, 42]);
    // symbols: start, 4 pairs, Code B, "-", Code C, 3 pairs, check = 12 x 11 modules + 13 (stop) = 145
    // modules; x 2 dots = 290 dots, inside 58 mm paper's 384-dot line (pure code set B: 400 dots).
    expect(decodeEscPos(code128('20261122-000042'), { encoding: 'cp950' }).barcodes).toEqual([
      { type: 'CODE128', data: '20261122-000042' },
    ]);
  });

  it('keeps an odd digit run exact', () => {
    for (const data of ['12345', 'A1234567', '1234567B', 'X12345678901Y', '0', '{{}', 'Ab 9-99']) {
      const decoded = decodeEscPos(code128(data), { encoding: 'cp950' });
      expect(decoded.barcodes[0]!.data, data).toBe(data);
    }
  });

  it('refuses what CODE128 cannot carry', () => {
    expect(() => code128Data('')).toThrow(RangeError);
    expect(() => code128Data('貓')).toThrow(RangeError);
    expect(() => code128Data('a\nb')).toThrow(RangeError);
  });
});

describe('other commands', () => {
  it('kicks the drawer on pin 2 for 50 ms on, 500 ms off: ESC p 0 25 250', () => {
    expect(drawerKick()).toEqual(bytes(0x1b, 0x70, 0x00, 25, 250));
  });

  it('sizes all characters, Chinese included, with GS ! (not ESC !, which skips Kanji)', () => {
    expect(characterSize(2, 2)).toEqual(bytes(0x1d, 0x21, 0x11));
    expect(characterSize(1, 1)).toEqual(bytes(0x1d, 0x21, 0x00));
    expect(characterSize(3, 1)).toEqual(bytes(0x1d, 0x21, 0x20));
    expect(() => characterSize(9, 1)).toThrow(RangeError);
  });

  it('bolds with ESC E n and asks status with DLE EOT n', () => {
    expect(bold(true)).toEqual(bytes(0x1b, 0x45, 0x01));
    expect(bold(false)).toEqual(bytes(0x1b, 0x45, 0x00));
    expect(statusRequest(4)).toEqual(bytes(0x10, 0x04, 0x04));
  });
});

describe('the escpos package', () => {
  it('loads in this ESM/TypeScript project (printer.js through createRequire)', () => {
    expect(escposPrinterClass()).not.toBeNull();
    expect(receiptWriter().constructor.name).toBe('EscposWriter');
  });

  it('writes the same initialise, alignment, feed and cut bytes as the built-in writer', () => {
    const run = (writer: ReturnType<typeof receiptWriter>) => {
      writer.init();
      writer.align('center');
      writer.raw(bytes(0x41));
      writer.feed(2);
      writer.align('right');
      writer.align('left');
      writer.cut(4);
      return writer.bytes();
    };
    // ESC @, ESC a 1, "A", LF LF, ESC a 2, ESC a 0, LF x 4, GS V 1
    const expected = hx('1b 40', '1b 61 01', '41', '0a 0a', '1b 61 02', '1b 61 00', '0a 0a 0a 0a', '1d 56 01');
    expect(run(receiptWriter('escpos'))).toEqual(expected);
    expect(run(new BuiltinWriter())).toEqual(expected);
  });
});

describe('Chinese text (cp950 and GB18030)', () => {
  // Code points from the Big5 (cp950) and GB18030 tables.
  const known: [string, string, string][] = [
    ['麥', 'b3c1', 'fb9c'],
    ['貓', 'bfdf', 'd888'],
    ['台', 'a578', 'cca8'],
    ['臺', 'bb4f', 'c55f'],
  ];
  const hexOf = (text: string, encoding: 'cp950' | 'gb18030') =>
    Buffer.from(encodePrinterText(text, encoding)).toString('hex');

  it.each(known)('encodes %s as cp950 %s and GB18030 %s', (char, cp950, gb18030) => {
    expect(hexOf(char, 'cp950')).toBe(cp950);
    expect(hexOf(char, 'gb18030')).toBe(gb18030);
  });

  it.each(known)('decodes %s back from both encodings in Chinese mode', (char, cp950, gb18030) => {
    const print = (hex: string) => Uint8Array.from([0x1c, 0x26, ...Buffer.from(hex, 'hex'), 0x0a]);
    expect(decodeEscPos(print(cp950), { encoding: 'cp950' }).lines).toEqual([char]);
    expect(decodeEscPos(print(gb18030), { encoding: 'gb18030' }).lines).toEqual([char]);
  });

  it('uses cp950, not Big5-HKSCS: characters only HKSCS has print as "?", never as HKSCS bytes', () => {
    // iconv-lite's "big5" is Big5-HKSCS: é would be 88 6d there, undefined on a cp950 printer.
    expect(hexOf('Café', 'cp950')).toBe(Buffer.from('Caf?').toString('hex'));
  });

  it('keeps every character within its measured width and drops what would print as a command', () => {
    // \x1b@ would reset the printer mid-receipt; the combining acute accent is composed first (NFC).
    expect(hexOf('A\x1b@B\u0007', 'cp950')).toBe(Buffer.from('A@B').toString('hex'));
    // A four-byte GB18030 sequence (outside the two-byte Chinese mode) and an emoji become "?".
    expect(hexOf('😀𠀀', 'gb18030')).toBe('3f3f');
    expect(hexOf('😀', 'cp950')).toBe('3f');
    // Zero-width joiner and variation selector take no column, so they are dropped.
    expect(hexOf('a\u200db\ufe0f', 'cp950')).toBe(Buffer.from('ab').toString('hex'));
  });
});
