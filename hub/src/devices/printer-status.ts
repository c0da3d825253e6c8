/**
 * ESC/POS real-time status (`DLE EOT n`, Epson TM and compatibles), shared by the USB and network
 * drivers. The printer answers each request with one byte; bits 1 and 4 are always on and bits 0
 * and 7 always off, which is how a status byte is told from anything else on the line.
 *
 * - n = 1, printer status: bit 3 offline.
 * - n = 2, offline cause: bit 2 cover open, bit 5 printing stopped by paper end, bit 6 error.
 * - n = 4, roll paper sensor: bits 2-3 near end, bits 5-6 paper end.
 */
import { PrinterError, type PrinterHardwareStatus } from './device-types.js';

export const DLE_EOT_PRINTER = 1;
export const DLE_EOT_OFFLINE_CAUSE = 2;
export const DLE_EOT_PAPER = 4;

/** The requests a status check sends, in order. */
export const STATUS_REQUESTS = [DLE_EOT_PRINTER, DLE_EOT_OFFLINE_CAUSE, DLE_EOT_PAPER] as const;

export function dleEot(n: number): Uint8Array {
  return Uint8Array.of(0x10, 0x04, n);
}

/** True for a byte shaped like a DLE EOT answer (fixed bits 1 and 4 on, 0 and 7 off). */
export function isStatusByte(byte: number): boolean {
  return (byte & 0b1001_0011) === 0b0001_0010;
}

/** The three answers (to n = 1, 2, 4) as what the hub needs to know. */
export function parseStatus(printer: number, offlineCause: number, paper: number): PrinterHardwareStatus {
  const paperOut = (paper & 0x60) !== 0 || (offlineCause & 0x20) !== 0;
  return {
    online: (printer & 0x08) === 0,
    coverOpen: (offlineCause & 0x04) !== 0,
    paper: paperOut ? 'out' : (paper & 0x0c) !== 0 ? 'near_end' : 'ok',
    error: (offlineCause & 0x40) !== 0,
  };
}

/** The status bytes a printer in `status` answers with (for test printers). */
export function statusBytes(status: PrinterHardwareStatus): Record<1 | 2 | 4, number> {
  const base = 0x12;
  return {
    1: base | (status.online ? 0 : 0x08),
    2: base | (status.coverOpen ? 0x04 : 0) | (status.paper === 'out' ? 0x20 : 0) | (status.error ? 0x40 : 0),
    4: base | (status.paper === 'out' ? 0x6c : status.paper === 'near_end' ? 0x0c : 0),
  };
}

/** Why a printer in this state cannot print now, or null when it can (paper near its end still prints). */
export function statusProblem(status: PrinterHardwareStatus): PrinterError | null {
  if (status.paper === 'out') return new PrinterError('paper_out', 'the printer is out of paper');
  if (status.coverOpen) return new PrinterError('cover_open', 'the printer cover is open');
  if (status.error) return new PrinterError('offline', 'the printer reports an error (cutter jam, head too hot...)');
  if (!status.online) return new PrinterError('offline', 'the printer is offline');
  return null;
}

/**
 * Asks the three status questions through `ask` (one request out, one byte back, or null when the
 * printer does not answer in time). Null when the printer does not answer the first one: a printer
 * without status support. A later question left unanswered is a timeout.
 */
export async function queryStatus(
  ask: (request: Uint8Array) => Promise<number | null>,
): Promise<PrinterHardwareStatus | null> {
  const answers: number[] = [];
  for (const n of STATUS_REQUESTS) {
    const byte = await ask(dleEot(n));
    if (byte === null) {
      if (answers.length === 0) return null;
      throw new PrinterError('timeout', `the printer did not answer DLE EOT ${n}`);
    }
    if (!isStatusByte(byte))
      throw new PrinterError('io', `unexpected status byte 0x${byte.toString(16)} for DLE EOT ${n}`);
    answers.push(byte);
  }
  return parseStatus(answers[0]!, answers[1]!, answers[2]!);
}
