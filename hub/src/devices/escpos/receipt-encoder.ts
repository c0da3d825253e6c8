/**
 * A receipt document (domain/receipt.ts) as the bytes an Epson-compatible ESC/POS printer prints:
 *
 *   ESC @                      initialise
 *   FS &                       Chinese mode: text in cp950 (Big5) or GB18030, see text-encoding.ts
 *   per text block:            ESC a n (when the alignment changes), ESC E n (when bold changes),
 *                              GS ! n (when the size changes), the text, LF
 *   feed                       n x LF
 *   QR                         ESC a 1, GS ( k model 2 / size / EC M / store / print, LF
 *   barcode                    ESC a 1, GS H / GS f / GS w / GS h, GS k 73 n {B... (CODE128), LF
 *   cut                        4 x LF, GS V 1 (partial cut)
 *   kickDrawer                 ESC p 0 25 250 (right after the initialise, so the drawer opens
 *                              while the receipt prints)
 *
 * escpos' Printer writes ESC @, ESC a, the feeds and the cut; commands.ts writes the rest (see there
 * for what escpos gets wrong). Barcodes and QR codes are only sent at the start of a line (Epson
 * ignores them otherwise), which every block boundary is.
 */
import type { ReceiptDocument } from '../../domain/receipt.js';
import { bold, characterSize, CHINESE_MODE_ON, code128, drawerKick, LF, qrCode } from './commands.js';
import { receiptWriter, type Alignment } from './escpos-printer.js';
import { encodePrinterText } from './text-encoding.js';

export interface EncodeOptions {
  encoding: 'cp950' | 'gb18030';
  kickDrawer: boolean;
}

/** QR module size in dots: a sale QR (version 2, 25 modules) is 150 dots wide at 6. */
const QR_MODULE_SIZE = 6;
/** Lines fed before the cut, so the last printed line clears the cutter. */
const FEED_BEFORE_CUT = 4;
const NEWLINE = Uint8Array.of(LF);

export function encodeReceipt(doc: ReceiptDocument, options: EncodeOptions): Uint8Array {
  const out = receiptWriter();
  out.init();
  if (options.kickDrawer) out.raw(drawerKick(2, 25, 250));
  out.raw(new Uint8Array(CHINESE_MODE_ON));
  let align: Alignment = 'left';
  let isBold = false;
  let isDouble = false;
  const setAlign = (next: Alignment) => {
    if (next !== align) out.align(next);
    align = next;
  };
  for (const block of doc.blocks) {
    switch (block.kind) {
      case 'text': {
        setAlign(block.align);
        const wantBold = block.bold === true;
        if (wantBold !== isBold) out.raw(bold(wantBold));
        isBold = wantBold;
        const wantDouble = block.size === 'double';
        if (wantDouble !== isDouble) out.raw(wantDouble ? characterSize(2, 2) : characterSize(1, 1));
        isDouble = wantDouble;
        out.raw(encodePrinterText(block.text, options.encoding));
        out.raw(NEWLINE);
        break;
      }
      case 'feed':
        if (block.lines > 0) out.feed(block.lines);
        break;
      case 'qr':
        setAlign('center');
        out.raw(qrCode(block.data, { moduleSize: QR_MODULE_SIZE, errorCorrection: 'M' }));
        out.raw(NEWLINE);
        break;
      case 'barcode':
        setAlign('center');
        out.raw(code128(block.data, { moduleWidth: 2, height: 80 }));
        out.raw(NEWLINE);
        break;
      case 'cut':
        out.cut(FEED_BEFORE_CUT);
        break;
    }
  }
  return out.bytes();
}
