/**
 * Which address the pairing page's QR code sends a tablet to, and the page itself: the code only
 * in the URL's fragment, every line within the paper's width.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { isLoopbackUrl, pairingBaseUrls, pairingPageBlocks, pairingUrl } from '../../../hub/src/domain/pairing-page.ts';
import { displayWidth } from '../../../hub/src/domain/receipt.ts';

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: '255.255.255.0',
  family: 'IPv4',
  mac: '00:00:00:00:00:00',
  internal,
  cidr: `${address}/24`,
});
const v6 = (address: string): NetworkInterfaceInfo => ({
  address,
  netmask: 'ffff:ffff:ffff:ffff::',
  family: 'IPv6',
  mac: '00:00:00:00:00:00',
  internal: false,
  cidr: `${address}/64`,
  scopeid: 0,
});

const PI = {
  lo: [v4('127.0.0.1', true)],
  eth0: [v4('192.168.1.20'), v6('fe80::1')],
  wlan0: [v4('10.0.0.7')],
};

describe('pairingBaseUrls', () => {
  it("lists the box's non-loopback IPv4 addresses when the hub listens on every interface", () => {
    expect(pairingBaseUrls({ publicUrl: null, host: '0.0.0.0', port: 8080, interfaces: PI })).toEqual([
      'http://192.168.1.20:8080',
      'http://10.0.0.7:8080',
    ]);
    expect(pairingBaseUrls({ publicUrl: null, host: '::', port: 8080, interfaces: PI })[0]).toBe(
      'http://192.168.1.20:8080',
    );
  });

  it('keeps a link-local address only when there is nothing else, and loopback as the last resort', () => {
    const dhcpLess = { lo: PI.lo, eth0: [v4('169.254.10.2')] };
    expect(pairingBaseUrls({ publicUrl: null, host: '0.0.0.0', port: 80, interfaces: dhcpLess })).toEqual([
      'http://169.254.10.2:80',
    ]);
    expect(
      pairingBaseUrls({ publicUrl: null, host: '0.0.0.0', port: 80, interfaces: { ...dhcpLess, wlan0: PI.wlan0 } }),
    ).toEqual(['http://10.0.0.7:80']);
    const none = pairingBaseUrls({ publicUrl: null, host: '0.0.0.0', port: 8080, interfaces: { lo: PI.lo } });
    expect(none).toEqual(['http://127.0.0.1:8080']);
    expect(isLoopbackUrl(none[0]!)).toBe(true);
    expect(isLoopbackUrl('http://192.168.1.20:8080')).toBe(false);
  });

  it('uses the one address the hub listens on, and the technician’s public URL over everything', () => {
    expect(pairingBaseUrls({ publicUrl: null, host: '192.168.1.20', port: 8080, interfaces: PI })).toEqual([
      'http://192.168.1.20:8080',
    ]);
    expect(
      pairingBaseUrls({ publicUrl: 'http://ayi-store.lan:8080/', host: '0.0.0.0', port: 8080, interfaces: PI }),
    ).toEqual(['http://ayi-store.lan:8080']);
  });
});

describe('the pairing page', () => {
  it('holds the code in the fragment of the QR code’s URL only', () => {
    expect(pairingUrl('http://192.168.1.20:8080', '00123456')).toBe('http://192.168.1.20:8080/pair#code=00123456');
  });

  it('prints the store, the code, the addresses and the version within 58 mm paper', () => {
    const blocks = pairingPageBlocks({
      storeName: '阿姨的店 信義誠品敦南旗艦店週年慶特別門市',
      baseUrls: ['http://192.168.1.20:8080', 'http://10.0.0.7:8080'],
      code: '12345678',
      expiresAt: '2026-12-08T02:10:00.000Z',
      version: '1.4.0',
      now: new Date('2026-12-08T02:00:00.000Z'),
      timeZone: 'Asia/Taipei',
      columns: 32,
    });
    expect(blocks.filter((b) => b.kind === 'qr')).toEqual([
      { kind: 'qr', data: 'http://192.168.1.20:8080/pair#code=12345678' },
    ]);
    const lines = blocks.flatMap((b) => (b.kind === 'text' ? [b] : []));
    for (const line of lines)
      expect(displayWidth(line.text) * (line.size === 'double' ? 2 : 1)).toBeLessThanOrEqual(32);
    const text = lines.map((l) => l.text).join('\n');
    expect(text).toContain('配對碼 Code 12345678');
    expect(text).toContain('  http://10.0.0.7:8080');
    expect(text).toContain('版本 Version 1.4.0');
    // The store's time, not UTC.
    expect(text).toContain('至 until 2026-12-08 10:10:00');
    expect(blocks.at(-1)).toEqual({ kind: 'cut' });
  });
});
