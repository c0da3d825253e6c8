/**
 * ESC/POS bytes back to what the paper shows: text lines (Chinese decoded from cp950 or GB18030 while
 * in Chinese mode, FS &), QR code data, CODE128 data, cuts, drawer kicks and DLE EOT status requests.
 *
 * Strict: a command this decoder does not know, a parameter outside Epson's range, a truncated
 * command, a byte >= 0x80 outside Chinese mode, an invalid two-byte character, or a command Epson
 * only honours at the start of a line (ESC a, GS k, GS ( k print, GS V) sent mid-line throws an
 * EscPosDecodeError naming the byte offset and the bytes. What it knows is what the project sends,
 * plus the common formatting commands a test page may use (ESC ! - M 2 3 J d t, FS ! C, GS B).
 *
 * With `columns`, lines are laid out as the printer would: centered and right-aligned lines get
 * leading spaces, a line wider than the paper wraps (ASCII 1 column, a Chinese character 2, times
 * the character width set by GS ! / ESC ! / FS !). Without it, lines are the text as sent.
 */
import { decodePrinterChar } from './text-encoding.js';

export interface DecodedPrint {
  lines: string[];
  qrCodes: string[];
  barcodes: { type: 'CODE128'; data: string }[];
  cuts: number;
  drawerKicks: number;
  statusRequests: number;
}

export class EscPosDecodeError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'EscPosDecodeError';
  }
}

export interface DecodeOptions {
  encoding: 'cp950' | 'gb18030';
  /** The paper's columns in Font A (42 on 80 mm, 32 on 58 mm): lay lines out as printed. */
  columns?: number;
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');

export function decodeEscPos(bytes: Uint8Array, options: DecodeOptions): DecodedPrint {
  const result: DecodedPrint = { lines: [], qrCodes: [], barcodes: [], cuts: 0, drawerKicks: 0, statusRequests: 0 };
  const columns = options.columns;
  let i = 0;
  let start = 0;
  let chinese = false;
  let align: 0 | 1 | 2 = 0;
  let asciiScale = 1;
  let kanjiScale = 1;
  let qrData: Uint8Array | null = null;
  let line = '';
  let used = 0;

  const fail = (why: string, from = start, to = i): never => {
    const end = Math.min(bytes.length, Math.max(to, from + 1), from + 16);
    throw new EscPosDecodeError(`${why} at byte ${from}: ${hex(bytes.subarray(from, end))}`, from);
  };
  const need = (n: number) => {
    if (i + n > bytes.length) fail(`truncated command (needs ${i + n - start} bytes)`, start, bytes.length);
  };
  const byte = () => {
    need(1);
    return bytes[i++]!;
  };
  const param = (allowed: (n: number) => boolean, name: string) => {
    const n = byte();
    if (!allowed(n)) fail(`${name}: parameter ${n} out of range`);
    return n;
  };
  const atLineStart = (name: string) => {
    if (line !== '' || used !== 0) fail(`${name} in the middle of a line`);
  };
  const endLine = () => {
    let text = line;
    if (columns !== undefined && align !== 0 && line !== '') {
      const room = Math.max(0, columns - used);
      text = ' '.repeat(align === 1 ? Math.floor(room / 2) : room) + text;
    }
    result.lines.push(text);
    line = '';
    used = 0;
  };
  const put = (text: string, width: number) => {
    if (columns !== undefined && used + width > columns && used > 0) endLine();
    line += text;
    used += width;
  };
  const oneOf =
    (...values: number[]) =>
    (n: number) =>
      values.includes(n);
  const range = (lo: number, hi: number) => (n: number) => n >= lo && n <= hi;

  while (i < bytes.length) {
    start = i;
    const b = bytes[i++]!;
    if (b >= 0x20 && b < 0x7f) {
      put(String.fromCharCode(b), asciiScale);
      continue;
    }
    if (b >= 0x80) {
      if (!chinese) fail(`byte 0x${b.toString(16)} outside Chinese mode (FS &)`);
      if (b === 0x80 || b === 0xff) fail('invalid lead byte of a two-byte character');
      need(1);
      const second = bytes[i]!;
      let length = 2;
      if (options.encoding === 'gb18030' && second >= 0x30 && second <= 0x39) length = 4;
      need(length - 1);
      const raw = bytes.subarray(start, start + length);
      const valid =
        options.encoding === 'cp950'
          ? (second >= 0x40 && second <= 0x7e) || (second >= 0xa1 && second <= 0xfe)
          : length === 4
            ? raw[2]! >= 0x81 && raw[2]! <= 0xfe && raw[3]! >= 0x30 && raw[3]! <= 0x39
            : second >= 0x40 && second <= 0xfe && second !== 0x7f;
      i = start + length;
      const char = valid ? decodePrinterChar(raw, options.encoding) : '\ufffd';
      if (!valid || char.includes('\ufffd')) fail(`invalid ${options.encoding} character`);
      put(char, 2 * kanjiScale);
      continue;
    }
    switch (b) {
      case 0x0a: // LF
        endLine();
        break;
      case 0x0d: // CR: ignored (no auto line feed)
        break;
      case 0x1b: {
        const c = byte();
        switch (c) {
          case 0x40: // ESC @
            atLineStart('ESC @ (initialise would discard the line)');
            chinese = false;
            align = 0;
            asciiScale = 1;
            kanjiScale = 1;
            qrData = null;
            break;
          case 0x21: // ESC ! n
            asciiScale = byte() & 0x20 ? 2 : 1;
            break;
          case 0x45: // ESC E n
          case 0x47: // ESC G n (double strike)
            byte();
            break;
          case 0x2d: // ESC - n
            param(oneOf(0, 1, 2, 48, 49, 50), 'ESC - (underline)');
            break;
          case 0x4d: // ESC M n
            param(oneOf(0, 1, 2, 48, 49, 50), 'ESC M (font)');
            break;
          case 0x32: // ESC 2
            break;
          case 0x33: // ESC 3 n
          case 0x74: // ESC t n
            byte();
            break;
          case 0x61: {
            // ESC a n
            const n = param(oneOf(0, 1, 2, 48, 49, 50), 'ESC a (alignment)');
            atLineStart('ESC a (alignment)');
            align = (n % 48) as 0 | 1 | 2;
            break;
          }
          case 0x64: {
            // ESC d n: print and feed n lines
            const n = byte();
            endLine();
            for (let k = 1; k < n; k++) endLine();
            break;
          }
          case 0x4a: // ESC J n: print and feed n dots
            byte();
            endLine();
            break;
          case 0x70: // ESC p m t1 t2
            param(oneOf(0, 1, 48, 49), 'ESC p (drawer pin)');
            byte();
            byte();
            result.drawerKicks++;
            break;
          default:
            fail('unknown command ESC');
        }
        break;
      }
      case 0x1c: {
        const c = byte();
        if (c === 0x26) chinese = true;
        else if (c === 0x2e) chinese = false;
        else if (c === 0x21) kanjiScale = byte() & 0x04 ? 2 : 1;
        else if (c === 0x43) param(oneOf(0, 1, 48, 49), 'FS C (Kanji code system)');
        else fail('unknown command FS');
        break;
      }
      case 0x10: {
        const c = byte();
        if (c !== 0x04) fail('unknown command DLE');
        param(range(1, 4), 'DLE EOT (status)');
        result.statusRequests++;
        break;
      }
      case 0x1d: {
        const c = byte();
        switch (c) {
          case 0x21: {
            // GS ! n
            const n = param((v) => v >> 4 <= 7 && (v & 0x0f) <= 7, 'GS ! (character size)');
            asciiScale = kanjiScale = (n >> 4) + 1;
            break;
          }
          case 0x42: // GS B n (reverse)
            byte();
            break;
          case 0x48: // GS H n
            param(oneOf(0, 1, 2, 3, 48, 49, 50, 51), 'GS H (HRI position)');
            break;
          case 0x66: // GS f n
            param(oneOf(0, 1, 2, 3, 4, 48, 49, 50, 51, 52, 97, 98), 'GS f (HRI font)');
            break;
          case 0x77: // GS w n
            param(range(1, 6), 'GS w (barcode module width)');
            break;
          case 0x68: // GS h n
            param(range(1, 255), 'GS h (barcode height)');
            break;
          case 0x56: {
            // GS V m [n]
            const m = param(oneOf(0, 1, 48, 49, 65, 66, 97, 98, 103, 104), 'GS V (cut)');
            if (m >= 65) byte();
            atLineStart('GS V (cut)');
            result.cuts++;
            break;
          }
          case 0x6b: {
            // GS k m n d1..dn
            const m = byte();
            if (m !== 73) fail(`unsupported barcode type GS k ${m} (only CODE128, 73)`);
            const n = byte();
            need(n);
            const data = bytes.subarray(i, i + n);
            i += n;
            atLineStart('GS k (barcode)');
            result.barcodes.push({ type: 'CODE128', data: decodeCode128(data, (why) => fail(`CODE128: ${why}`)) });
            break;
          }
          case 0x28: {
            // GS ( k pL pH cn fn ...
            if (byte() !== 0x6b) fail('unknown command GS (');
            const length = byte() + 256 * byte();
            need(length);
            const body = bytes.subarray(i, i + length);
            i += length;
            if (length < 2) fail('GS ( k without cn fn');
            if (body[0] !== 49) fail(`unsupported 2D symbol cn=${body[0]} (only QR, 49)`);
            const fn = body[1]!;
            const p = body.subarray(2);
            const bad = (what: string) => fail(`GS ( k QR function ${fn + 100}: ${what}`);
            if (fn === 65) {
              if (p.length !== 2 || ![49, 50, 51].includes(p[0]!) || p[1] !== 0) bad('bad model');
            } else if (fn === 67) {
              if (p.length !== 1 || p[0]! < 1 || p[0]! > 16) bad('module size outside 1..16');
            } else if (fn === 69) {
              if (p.length !== 1 || p[0]! < 48 || p[0]! > 51) bad('error correction outside 48..51');
            } else if (fn === 80) {
              if (p.length < 2 || p[0] !== 48) bad('store needs m=48 and data');
              qrData = p.slice(1);
            } else if (fn === 81) {
              if (p.length !== 1 || p[0] !== 48) bad('print needs m=48');
              if (!qrData) bad('print with no data stored');
              atLineStart('GS ( k (QR print)');
              result.qrCodes.push(new TextDecoder().decode(qrData!));
            } else {
              bad('unsupported function');
            }
            break;
          }
          default:
            fail('unknown command GS');
        }
        break;
      }
      default:
        fail(`unknown control byte 0x${b.toString(16).padStart(2, '0')}`);
    }
  }
  if (line !== '') result.lines.push(line);
  return result;
}

/** Epson CODE128 data (`{A`/`{B`/`{C` first, `{{` for "{", code set C one byte 0..99 per digit pair). */
function decodeCode128(data: Uint8Array, fail: (why: string) => never): string {
  if (data.length < 2) fail('needs at least 2 bytes');
  if (data[0] !== 0x7b || ![0x41, 0x42, 0x43].includes(data[1]!)) fail('must start with {A, {B or {C');
  let set = String.fromCharCode(data[1]!);
  let out = '';
  for (let k = 2; k < data.length; k++) {
    const d = data[k]!;
    if (d === 0x7b) {
      const next = data[++k];
      if (next === 0x7b && set !== 'C') out += '{';
      else if (next === 0x41 || next === 0x42 || next === 0x43) set = String.fromCharCode(next);
      else fail(`unsupported special character {${next === undefined ? '' : String.fromCharCode(next)}`);
      continue;
    }
    if (set === 'C') {
      if (d > 99) fail(`code set C value ${d} above 99`);
      out += String(d).padStart(2, '0');
    } else if (set === 'B') {
      if (d < 0x20 || d > 0x7e) fail(`byte 0x${d.toString(16)} is not printable in code set B`);
      out += String.fromCharCode(d);
    } else {
      if (d < 0x20 || d > 0x5f) fail(`byte 0x${d.toString(16)} is not printable in code set A`);
      out += String.fromCharCode(d);
    }
  }
  return out;
}
