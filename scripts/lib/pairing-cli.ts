/**
 * `ayi pair --print [--printer ID] [--json]`: a pairing code, its page on the store's receipt printer
 * (the box's address and a QR code a tablet's camera opens to pair at once), and the same URL and QR
 * code on the screen. Exit status 0 once a real printer took the page; 1 when it did not (no
 * printer, the virtual one, or a printer holding its queue), the code and its QR on the screen
 * still valid for 10 minutes.
 */
import { create as createQr } from 'qrcode/lib/core/qrcode.js';
import { render as renderAnsiQr } from 'qrcode/lib/renderer/terminal/terminal-small.js';
import { render as renderPlainQr } from 'qrcode/lib/renderer/utf8.js';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { isLoopbackUrl } from '../../hub/src/domain/pairing-page.ts';
import type { PairingPageAnswer } from '../../hub/src/services/technician-commands.ts';
import { parseStrictArgs, UsageError } from './cli.ts';

export const PAIR_USAGE = 'usage: ayi pair [--print [--printer PRINTER_ID] [--json]]\n';

/** The printer may first be asked for its status and backed off from: the hub waits up to 10 s. */
const PAIR_PRINT_TIMEOUT_MS = 30_000;

/** The QR code of `text` for a terminal: ANSI colours on a terminal, plain blocks in a file or pipe. */
export function terminalQr(text: string, colours: boolean): string {
  const qr = createQr(text, { errorCorrectionLevel: 'M' });
  return colours ? renderAnsiQr(qr) : renderPlainQr(qr, { margin: 2 });
}

/** `09:37` in the box's time zone (provisioning sets it to the store's), as on the printed page. */
function clockTime(iso: string): string {
  return new Date(iso).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false });
}

export async function pairCommand(
  socketPath: string,
  args: string[],
  out: NodeJS.WriteStream = process.stdout,
): Promise<number> {
  let values;
  try {
    values = parseStrictArgs(args, {
      print: { type: 'boolean', default: false },
      printer: { type: 'string' },
      json: { type: 'boolean', default: false },
    }).values;
    if (!values.print) throw new UsageError('--printer and --json go with --print');
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`ayi pair: ${err.message}\n${PAIR_USAGE}`);
    return 2;
  }
  const answer = await adminRequest<PairingPageAnswer>(
    socketPath,
    'pair-print',
    values.printer === undefined ? [] : [values.printer],
    PAIR_PRINT_TIMEOUT_MS,
  );
  const onPaper = 'printed' in answer.print && answer.print.printed && answer.print.transport !== 'virtual';
  if (values.json) {
    out.write(`${JSON.stringify(answer, null, 2)}\n`);
    return onPaper ? 0 : 1;
  }
  const lines = [
    `Pairing code: ${answer.code} (one tablet, valid until ${clockTime(answer.expiresAt)})`,
    "Scan the QR code with the tablet's camera, or open this address on it:",
    `  ${answer.url}`,
    '',
    terminalQr(answer.url, out.isTTY === true),
    '',
    `Box address${answer.baseUrls.length > 1 ? 'es' : ''}: ${answer.baseUrls.join(', ')}`,
  ];
  if (isLoopbackUrl(answer.baseUrls[0]!)) {
    lines.push(
      'Only this machine can open that address (the hub listens on a loopback address, or the box has no network):',
      'set AYI_HOST=0.0.0.0, or AYI_PUBLIC_URL to the address tablets use, in the settings.',
    );
  }
  lines.push(pageOutcome(answer.print), '');
  out.write(lines.join('\n'));
  return onPaper ? 0 : 1;
}

function pageOutcome(print: PairingPageAnswer['print']): string {
  if (!('printed' in print)) return `The page was not printed: ${print.error}`;
  if (print.transport === 'virtual') {
    return `No receipt printer is configured: the page went to the virtual printer "${print.printerName}" (nothing on paper). Set the printer in devices.json.`;
  }
  if (print.printed) return `The page printed on "${print.printerName}" (${print.printerId}).`;
  return (
    `The page is queued on "${print.printerName}" (${print.printerId}) but not printed: ${print.error ?? 'no answer yet'}. ` +
    'It prints once the printer can (ayi hardware shows its state).'
  );
}
