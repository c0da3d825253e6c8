/**
 * The ESC/POS commands the project writes itself, byte for byte as Epson's ESC/POS reference gives
 * them, because `escpos` 2.5.2 gets them wrong for Epson printers (checked against its source):
 *
 * - QR: escpos sends `GS Z` / `ESC Z` (a non-Epson 2D command); Epson prints QR with `GS ( k`
 *   (functions 165 model, 167 size, 169 error correction, 180 store, 181 print).
 * - CODE128: escpos writes the length as a hex-decoded character (empty for odd lengths), no code
 *   set prefix and a trailing NUL; Epson's `GS k 73 n` needs n and data starting with `{A`/`{B`/`{C`.
 * - Size: escpos uses `ESC !`, which in Chinese (Kanji) mode only enlarges ASCII; `GS !` enlarges all.
 * - Bold: escpos' style('B') also sends `ESC 5` (Star's italic off, not an Epson command); we send `ESC E n`.
 * - Drawer: escpos sends `ESC p m` without the pulse times t1 t2 (Epson needs all five bytes).
 * - Chinese: escpos never selects Kanji mode; `FS &` / `FS .` do.
 */

export const ESC = 0x1b;
export const GS = 0x1d;
export const FS = 0x1c;
export const DLE = 0x10;
export const EOT = 0x04;
export const LF = 0x0a;

/** FS & — select Kanji (Chinese) character mode: bytes >= 0x80 start two-byte characters. */
export const CHINESE_MODE_ON = Uint8Array.of(FS, 0x26);
/** FS . — cancel Kanji character mode. */
export const CHINESE_MODE_OFF = Uint8Array.of(FS, 0x2e);

/** ESC E n — emphasized (bold) on or off; applies to ASCII and Chinese. */
export const bold = (on: boolean): Uint8Array => Uint8Array.of(ESC, 0x45, on ? 1 : 0);

/** GS ! n — character size for all characters: width and height multipliers 1..8. */
export function characterSize(width: number, height: number): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || width > 8 || height < 1 || height > 8) {
    throw new RangeError(`character size ${width}x${height} is outside 1..8`);
  }
  return Uint8Array.of(GS, 0x21, ((width - 1) << 4) | (height - 1));
}

/**
 * ESC p m t1 t2 — drawer kick pulse on connector pin 2 (m = 0) or 5 (m = 1): on for t1 x 2 ms, off for
 * t2 x 2 ms. The default (0, 25, 250) is Epson's usual 50 ms on, 500 ms off.
 */
export function drawerKick(pin: 2 | 5 = 2, onTime = 25, offTime = 250): Uint8Array {
  return Uint8Array.of(ESC, 0x70, pin === 2 ? 0 : 1, onTime & 0xff, offTime & 0xff);
}

/** DLE EOT n — real-time status: 1 printer, 2 offline cause, 3 error cause, 4 paper roll sensor. */
export function statusRequest(n: 1 | 2 | 3 | 4): Uint8Array {
  return Uint8Array.of(DLE, EOT, n);
}

export type QrErrorCorrection = 'L' | 'M' | 'Q' | 'H';
const QR_EC = { L: 48, M: 49, Q: 50, H: 51 } as const;

/**
 * A QR code, model 2, with `GS ( k` (cn = 49):
 *   fn 65 (function 165)  1D 28 6B 04 00 31 41 32 00     select model 2
 *   fn 67 (function 167)  1D 28 6B 03 00 31 43 n         module size n dots (1..16)
 *   fn 69 (function 169)  1D 28 6B 03 00 31 45 n         error correction (48 L, 49 M, 50 Q, 51 H)
 *   fn 80 (function 180)  1D 28 6B pL pH 31 50 30 d...   store data, pL + 256 pH = data length + 3
 *   fn 81 (function 181)  1D 28 6B 03 00 31 51 30        print the stored symbol
 * Data is UTF-8 bytes (the receipts only put ASCII in it).
 */
export function qrCode(data: string, options: { moduleSize?: number; errorCorrection?: QrErrorCorrection } = {}) {
  const moduleSize = options.moduleSize ?? 6;
  if (!Number.isInteger(moduleSize) || moduleSize < 1 || moduleSize > 16) {
    throw new RangeError(`QR module size ${moduleSize} is outside 1..16`);
  }
  const bytes = new TextEncoder().encode(data);
  if (bytes.length < 1 || bytes.length > 7089) throw new RangeError(`QR data of ${bytes.length} bytes`);
  const stored = bytes.length + 3;
  const out = new Uint8Array(9 + 8 + 8 + 8 + bytes.length + 8);
  out.set([GS, 0x28, 0x6b, 4, 0, 49, 65, 50, 0], 0);
  out.set([GS, 0x28, 0x6b, 3, 0, 49, 67, moduleSize], 9);
  out.set([GS, 0x28, 0x6b, 3, 0, 49, 69, QR_EC[options.errorCorrection ?? 'M']], 17);
  out.set([GS, 0x28, 0x6b, stored & 0xff, stored >> 8, 49, 80, 48], 25);
  out.set(bytes, 33);
  out.set([GS, 0x28, 0x6b, 3, 0, 49, 81, 48], 33 + bytes.length);
  return out;
}

/**
 * The data part of `GS k 73 n d...` for CODE128: code set B (`{B`) for text, switching to code set
 * C (`{C`, one byte 0..99 per digit pair) for runs of 6 or more digits, which halves their width. A
 * sale id like 20261122-000042 is 145 modules that way instead of 200 in pure code set B: at a
 * 2-dot module that is 290 dots, which fits 58 mm paper (pure B would not). `{` is sent as `{{`.
 * Only printable ASCII (0x20..0x7E) is accepted.
 */
export function code128Data(data: string): number[] {
  if (data.length === 0) throw new RangeError('CODE128 needs data');
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) throw new RangeError(`CODE128 data has a character outside printable ASCII at ${i}`);
  }
  const out: number[] = [];
  let set: 'B' | 'C' | null = null;
  let i = 0;
  while (i < data.length) {
    let run = 0;
    while (i + run < data.length && data.charCodeAt(i + run) >= 0x30 && data.charCodeAt(i + run) <= 0x39) run++;
    // A digit run is worth code set C when it has 6+ digits, or 4+ at the start or the end.
    const atStart = i === 0;
    const atEnd = i + run === data.length;
    if (run >= 6 || (run >= 4 && (atStart || atEnd))) {
      // An odd run: its first digit goes in code set B (or, at the start, its last one).
      if (run % 2 === 1 && !atStart) {
        if (set !== 'B') out.push(0x7b, 0x42);
        set = 'B';
        out.push(data.charCodeAt(i));
        i++;
        run--;
      }
      if (set !== 'C') out.push(0x7b, 0x43);
      set = 'C';
      const pairs = Math.floor(run / 2);
      for (let p = 0; p < pairs; p++) out.push(Number(data.slice(i + 2 * p, i + 2 * p + 2)));
      i += pairs * 2;
      continue;
    }
    if (set !== 'B') out.push(0x7b, 0x42);
    set = 'B';
    const end = run > 0 ? i + run : i + 1;
    for (; i < end; i++) {
      const c = data.charCodeAt(i);
      if (c === 0x7b) out.push(0x7b, 0x7b);
      else out.push(c);
    }
  }
  if (out.length > 255) throw new RangeError(`CODE128 data of ${out.length} bytes (255 at most)`);
  return out;
}

/**
 * A CODE128 barcode: HRI text below in font A (GS H 2, GS f 0), module width (GS w, 2..6) and height
 * in dots (GS h), then `GS k 73 n d...` (format 2: a length byte, no NUL).
 */
export function code128(data: string, options: { moduleWidth?: number; height?: number } = {}): Uint8Array {
  const moduleWidth = options.moduleWidth ?? 2;
  const height = options.height ?? 80;
  if (!Number.isInteger(moduleWidth) || moduleWidth < 2 || moduleWidth > 6) {
    throw new RangeError(`CODE128 module width ${moduleWidth} is outside 2..6`);
  }
  if (!Number.isInteger(height) || height < 1 || height > 255) throw new RangeError(`barcode height ${height}`);
  const payload = code128Data(data);
  return Uint8Array.from([
    GS,
    0x48,
    2,
    GS,
    0x66,
    0,
    GS,
    0x77,
    moduleWidth,
    GS,
    0x68,
    height,
    GS,
    0x6b,
    73,
    payload.length,
    ...payload,
  ]);
}
