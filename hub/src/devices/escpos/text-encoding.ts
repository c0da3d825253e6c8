/**
 * Text for a printer in Chinese (Kanji) mode, FS &: ASCII as single bytes, Chinese as two-byte
 * characters in cp950 (Microsoft's Big5, what Taiwan printers hold; iconv-lite's 'big5' is
 * Big5-HKSCS, whose extra characters print as garbage on a cp950 printer) or GB18030.
 *
 * Every character prints at most as wide as displayWidth (domain/receipt.ts) measures it, so a
 * line laid out to the paper's columns never wraps:
 * - ASCII control characters (and C1 controls) are dropped: a product name must not smuggle in a
 *   printer command;
 * - zero-width characters (combining marks, joiners, variation selectors) are dropped;
 * - a character the encoding lacks, a GB18030 four-byte sequence (the printer's Chinese mode takes
 *   two-byte characters only) and a character measured 1 column that would print as 2 become "?".
 */
import iconv from 'iconv-lite';
import stringWidth from 'string-width';

export type PrinterEncoding = 'cp950' | 'gb18030';

const QUESTION = Uint8Array.of(0x3f);
const NOTHING = new Uint8Array(0);

const caches: Record<PrinterEncoding, Map<string, Uint8Array>> = { cp950: new Map(), gb18030: new Map() };

function encodeChar(char: string, encoding: PrinterEncoding): Uint8Array {
  const code = char.codePointAt(0)!;
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return NOTHING;
  const width = stringWidth(char, { ambiguousIsNarrow: false });
  if (width === 0) return NOTHING;
  const bytes = iconv.encode(char, encoding);
  if (bytes.length === 2 && bytes[0]! >= 0x81 && width === 2) return Uint8Array.from(bytes);
  return QUESTION;
}

/** The bytes of `text` for a printer in Chinese mode (see the rules above). */
export function encodePrinterText(text: string, encoding: PrinterEncoding): Uint8Array {
  const cache = caches[encoding];
  const parts: Uint8Array[] = [];
  let length = 0;
  let ascii = '';
  const flushAscii = () => {
    if (ascii === '') return;
    const bytes = Buffer.from(ascii, 'latin1');
    parts.push(bytes);
    length += bytes.length;
    ascii = '';
  };
  for (const char of text.normalize('NFC')) {
    const code = char.charCodeAt(0);
    if (code >= 0x20 && code < 0x7f) {
      ascii += char;
      continue;
    }
    flushAscii();
    let bytes = cache.get(char);
    if (!bytes) {
      bytes = encodeChar(char, encoding);
      if (cache.size < 20_000) cache.set(char, bytes);
    }
    parts.push(bytes);
    length += bytes.length;
  }
  flushAscii();
  // A copy of its own: an ASCII part is a slice of Buffer's shared pool, a cached character is shared.
  if (parts.length === 1) return new Uint8Array(parts[0]!);
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const decoded: Record<PrinterEncoding, Map<number, string>> = { cp950: new Map(), gb18030: new Map() };

/** Decodes one two-byte (or, for GB18030, four-byte) character the printer received. */
export function decodePrinterChar(bytes: Uint8Array, encoding: PrinterEncoding): string {
  // Every receipt is decoded twice (its archived text, the virtual printer): remember characters.
  const key = bytes.length === 2 ? (bytes[0]! << 8) | bytes[1]! : -1;
  let char = key === -1 ? undefined : decoded[encoding].get(key);
  if (char === undefined) {
    char = iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), encoding);
    if (key !== -1) decoded[encoding].set(key, char);
  }
  return char;
}
