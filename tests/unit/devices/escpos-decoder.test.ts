/**
 * The ESC/POS decoder is strict: what it does not know, or what is malformed, fails with the byte
 * offset and the bytes, so a test never passes over a command a real printer would choke on.
 */
import { describe, expect, it } from 'vitest';
import { decodeEscPos, EscPosDecodeError } from '../../support/escpos-decoder.ts';

const bytes = (...values: number[]) => Uint8Array.from(values);
const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0));
/** Bytes from hex groups (one command each) and byte arrays. */
const cmd = (...parts: (string | number[])[]) =>
  Uint8Array.from(
    parts.flatMap((part) => (typeof part === 'string' ? [...Buffer.from(part.replaceAll(' ', ''), 'hex')] : part)),
  );

function decodeError(input: Uint8Array, encoding: 'cp950' | 'gb18030' = 'cp950'): EscPosDecodeError {
  try {
    decodeEscPos(input, { encoding });
  } catch (err) {
    if (err instanceof EscPosDecodeError) return err;
    throw err;
  }
  throw new Error('decoded without an error');
}

describe('decodeEscPos', () => {
  it('reads text lines, cuts, drawer kicks and status requests', () => {
    const out = decodeEscPos(
      cmd(
        '1b 40', // ESC @
        '10 04 01', // DLE EOT 1
        '10 04 04', // DLE EOT 4
        '1b 70 00 19 fa', // ESC p 0 25 250
        ascii('Hello'),
        '0a 0a',
        '1b 45 01', // ESC E 1
        ascii('Bold'),
        '0a',
        '1d 56 01', // GS V 1
        '1d 56 42 03', // GS V 66 3
      ),
      { encoding: 'cp950' },
    );
    expect(out).toEqual({
      lines: ['Hello', '', 'Bold'],
      qrCodes: [],
      barcodes: [],
      cuts: 2,
      drawerKicks: 1,
      statusRequests: 2,
    });
  });

  it('lays lines out on the paper when told its columns: alignment, double width, wrapping', () => {
    const input = cmd(
      '1b 61 01', // center
      ascii('abcd'),
      '0a',
      '1b 61 02', // right
      ascii('xy'),
      '0a',
      '1b 61 01', // center, double width and height
      '1d 21 11',
      ascii('ab'),
      '0a',
      '1d 21 00', // normal size, left
      '1b 61 00',
      ascii('0123456789AB'),
      '0a',
    );
    expect(decodeEscPos(input, { encoding: 'cp950', columns: 10 }).lines).toEqual([
      '   abcd',
      '        xy',
      '   ab',
      '0123456789',
      'AB',
    ]);
    expect(decodeEscPos(input, { encoding: 'cp950' }).lines).toEqual(['abcd', 'xy', 'ab', '0123456789AB']);
  });

  it('counts a Chinese character as two columns', () => {
    // FS & 貓 貓 LF: 4 columns, right-aligned on 6
    const out = decodeEscPos(bytes(0x1c, 0x26, 0x1b, 0x61, 0x02, 0xbf, 0xdf, 0xbf, 0xdf, 0x0a), {
      encoding: 'cp950',
      columns: 6,
    });
    expect(out.lines).toEqual(['  貓貓']);
  });

  it('reads a QR code and a CODE128 barcode', () => {
    const out = decodeEscPos(
      cmd(
        '1d 28 6b 04 00 31 41 32 00', // model 2
        '1d 28 6b 03 00 31 43 04', // module size 4
        '1d 28 6b 03 00 31 45 31', // error correction M
        '1d 28 6b 05 00 31 50 30 51 52', // store "QR"
        '1d 28 6b 03 00 31 51 30', // print
        '1d 6b 49 06 7b 42 41 7b 43 0c', // CODE128 {B A {C 12
      ),
      { encoding: 'cp950' },
    );
    expect(out.qrCodes).toEqual(['QR']);
    expect(out.barcodes).toEqual([{ type: 'CODE128', data: 'A12' }]);
  });

  it.each([
    ['an unknown ESC command', bytes(0x41, 0x0a, 0x1b, 0x5a, 0x00), 2, /unknown command ESC at byte 2: 1b 5a/],
    ['an unknown GS command', bytes(0x1d, 0x5a, 0x02), 0, /unknown command GS at byte 0: 1d 5a/],
    ['escpos\' ESC Z "QR"', bytes(0x1b, 0x5a, 0x03, 0x4c, 0x06), 0, /unknown command ESC/],
    ['an unknown control byte', bytes(0x41, 0x09), 1, /unknown control byte 0x09 at byte 1: 09/],
    ['a truncated command', bytes(0x0a, 0x1b, 0x70, 0x00), 1, /truncated command .* at byte 1: 1b 70 00/],
    ['DLE EOT 5', bytes(0x10, 0x04, 0x05), 0, /DLE EOT \(status\): parameter 5 out of range/],
    ['a non-CODE128 barcode', bytes(0x1d, 0x6b, 0x02, ...ascii('4710000000001'), 0x00), 0, /unsupported barcode type/],
    [
      'CODE128 without a code set',
      bytes(0x1d, 0x6b, 0x49, 0x03, ...ascii('ABC')),
      0,
      /must start with \{A, \{B or \{C/,
    ],
    ['CODE128 in code set C above 99', bytes(0x1d, 0x6b, 0x49, 0x03, 0x7b, 0x43, 100), 0, /above 99/],
    ['a QR print with nothing stored', bytes(0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x51, 0x30), 0, /no data stored/],
    ['a QR size out of range', bytes(0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x43, 0x11), 0, /module size/],
    ['PDF417', bytes(0x1d, 0x28, 0x6b, 0x03, 0x00, 0x30, 0x41, 0x00), 0, /only QR/],
    ['alignment mid-line', bytes(0x41, 0x1b, 0x61, 0x01), 1, /ESC a \(alignment\) in the middle of a line/],
    ['a cut mid-line', bytes(0x41, 0x1d, 0x56, 0x00), 1, /GS V \(cut\) in the middle of a line/],
    ['a byte >= 0x80 outside Chinese mode', bytes(0x41, 0xb3, 0xc1), 1, /byte 0xb3 outside Chinese mode/],
    ['an invalid Big5 trail byte', bytes(0x1c, 0x26, 0xb3, 0x20), 2, /invalid cp950 character/],
    ['a lone Big5 lead byte', bytes(0x1c, 0x26, 0xb3), 2, /truncated/],
  ])('refuses %s', (_what, input, offset, message) => {
    const err = decodeError(input);
    expect(err.offset).toBe(offset);
    expect(err.message).toMatch(message);
  });

  it('decodes GB18030 while in Chinese mode and refuses cp950 garbage in GB18030', () => {
    // 麥 in GB18030 is fb 9c; the trail byte 0x7f is not valid
    expect(decodeEscPos(bytes(0x1c, 0x26, 0xfb, 0x9c, 0x0a), { encoding: 'gb18030' }).lines).toEqual(['麥']);
    expect(decodeError(bytes(0x1c, 0x26, 0xfb, 0x7f), 'gb18030').offset).toBe(2);
    // after FS . the same bytes are not Chinese any more
    expect(decodeError(bytes(0x1c, 0x26, 0x1c, 0x2e, 0xfb, 0x9c), 'gb18030').message).toMatch(/outside Chinese mode/);
  });
});
