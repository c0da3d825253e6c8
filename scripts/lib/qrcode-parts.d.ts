/**
 * The parts of the `qrcode` package the `ayi` command uses, by their own files: its main entry loads
 * the PNG renderer (pngjs, fs), which the single-file bundle of bin/ayi cannot load.
 */
declare module 'qrcode/lib/core/qrcode.js' {
  import type { QRCode, QRCodeOptions } from 'qrcode';
  export function create(text: string, options?: QRCodeOptions): QRCode;
}

declare module 'qrcode/lib/renderer/terminal/terminal-small.js' {
  import type { QRCode } from 'qrcode';
  /** Half-block characters on a white background (ANSI colours), whatever the terminal's colours. */
  export function render(qr: QRCode, options?: { inverse?: boolean }): string;
}

declare module 'qrcode/lib/renderer/utf8.js' {
  import type { QRCode } from 'qrcode';
  /** Half-block characters only (no colours), dark modules drawn. */
  export function render(qr: QRCode, options?: { margin?: number }): string;
}
