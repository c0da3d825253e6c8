/**
 * The pairing page the technician prints at the end of a box's set-up (`ayi pair --print`): the
 * store, the box's LAN address and a QR code a tablet's camera opens to pair at once. Pure.
 *
 * The QR holds `http://<box>:<port>/pair#code=<code>`: the code is in the fragment, which a browser
 * never sends, so it reaches no access log, no proxy and no Referer.
 */
import { isIP } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { clip, type ReceiptBlock } from './receipt.js';
import { localDateTime } from './time.js';

/** The tablet UI's page that pairs with the code of its address's fragment. */
export const PAIR_PATH = '/pair';

/** The URL the QR code holds. `base` is an address as pairingBaseUrls() gives it (no trailing slash). */
export function pairingUrl(base: string, code: string): string {
  return `${base.replace(/\/+$/, '')}${PAIR_PATH}#code=${encodeURIComponent(code)}`;
}

/**
 * The addresses a tablet on the store's LAN reaches the hub at, best first:
 * - the technician's AYI_PUBLIC_URL when set (a name the store's router gives the box, or an
 *   address the box cannot see itself, behind NAT);
 * - the host the hub listens on, when it is one address (not 0.0.0.0 or ::);
 * - else every non-loopback IPv4 address of the box's interfaces (link-local 169.254.x.x only when
 *   there is nothing else: a box that got no address from DHCP);
 * - else 127.0.0.1 (nothing but this machine can open it; the page says so through the CLI).
 */
export function pairingBaseUrls(options: {
  publicUrl: string | null;
  host: string;
  port: number;
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
}): string[] {
  if (options.publicUrl) return [options.publicUrl.replace(/\/+$/, '')];
  const url = (address: string) => `http://${isIP(address) === 6 ? `[${address}]` : address}:${options.port}`;
  if (options.host !== '0.0.0.0' && options.host !== '::') return [url(options.host)];
  const ipv4 = Object.values(options.interfaces)
    .flatMap((list) => list ?? [])
    .filter((info) => info.family === 'IPv4' && !info.internal)
    .map((info) => info.address);
  const routable = ipv4.filter((address) => !address.startsWith('169.254.'));
  const chosen = [...new Set(routable.length > 0 ? routable : ipv4)];
  return chosen.length > 0 ? chosen.map(url) : [url('127.0.0.1')];
}

/** Whether a base URL is one only this machine can open (a tablet could not pair with it). */
export function isLoopbackUrl(base: string): boolean {
  const host = new URL(base).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export interface PairingPageContext {
  storeName: string;
  /** Where tablets reach the box, best first; the first is the QR's. */
  baseUrls: string[];
  code: string;
  expiresAt: string;
  version: string;
  now: Date;
  timeZone: string;
  columns: number;
}

/** The printed page: zh-TW first, English after, each line within the paper's columns. */
export function pairingPageBlocks(ctx: PairingPageContext): ReceiptBlock[] {
  const w = ctx.columns;
  const url = pairingUrl(ctx.baseUrls[0]!, ctx.code);
  const left = (text: string): ReceiptBlock => ({ kind: 'text', text: clip(text, w), align: 'left' });
  const centered = (text: string, bold = false): ReceiptBlock => ({
    kind: 'text',
    text: clip(text, w),
    align: 'center',
    ...(bold ? { bold } : {}),
  });
  const local = (instant: number) => localDateTime(instant, ctx.timeZone);
  return [
    {
      kind: 'text',
      text: clip('配對平板 PAIR TABLET', Math.floor(w / 2)),
      align: 'center',
      bold: true,
      size: 'double',
    },
    centered(ctx.storeName, true),
    left('-'.repeat(w)),
    centered('用平板的相機掃描，即可配對'),
    centered("Scan with the tablet's camera to pair"),
    { kind: 'qr', data: url },
    centered(`配對碼 Code ${ctx.code}`, true),
    centered('10 分鐘內有效，限一台平板'),
    centered('Valid 10 minutes, for one tablet'),
    centered(`至 until ${local(Date.parse(ctx.expiresAt))}`),
    left('-'.repeat(w)),
    left('本機位址 Box address'),
    ...ctx.baseUrls.map((base) => left(`  ${base}`)),
    left(`版本 Version ${ctx.version}`),
    left(`列印 Printed ${local(ctx.now.getTime())}`),
    { kind: 'feed', lines: 2 },
    { kind: 'cut' },
  ];
}
