/**
 * What a browser may do with the hub: a page of another site cannot make a tablet change anything
 * (its cookies ride along with a cross-site request), and every answer carries the security headers
 * (CSP naming the UI's own inline script, no framing, nosniff, no referrer).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import { pairedTablet, startTestHub, type TabletClient } from '../support/test-hub.ts';
import { checkoutRequest } from '../support/sales.ts';
import { openTabletSocket } from '../support/ws-client.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const ALLOWED = 'http://kiosk.store.lan:8080';
const ALLOWED_HOST = 'pos.store.lan';
const BOOT_SCRIPT = '\n  window.started = true;\n';
let hub: Hub;
let cashier: TabletClient;

beforeAll(async () => {
  // A UI build of its own: one page with an inline start-up script, as SvelteKit's static build has.
  const uiDir = temp.make('ayi-ui-');
  mkdirSync(path.join(uiDir, '_app'));
  writeFileSync(
    path.join(uiDir, 'index.html'),
    `<!doctype html><html><head><script src="/_app/start.js"></script></head><body><script>${BOOT_SCRIPT}</script></body></html>`,
  );
  writeFileSync(path.join(uiDir, '_app', 'start.js'), 'export {};\n');
  hub = await startTestHub({
    dataDir: temp.make(),
    config: { uiDir, allowedOrigins: [ALLOWED], allowedHosts: [ALLOWED_HOST] },
  });
  cashier = await pairedTablet(hub, '1111', 'Counter');
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

async function send(method: string, url: string, headers: Record<string, string>, body?: unknown) {
  const response = await fetch(hub.url + url, {
    method,
    headers: cashier.headers({ ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text ? JSON.parse(text) : null) as { error?: { code: string; message: string } } | null,
  };
}

const sale = () => checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]);

describe('a state-changing request from another site', () => {
  it.each([
    ['a foreign Origin', { origin: 'http://evil.example' }],
    ['the hub’s host on another port', { origin: 'http://127.0.0.1:1' }],
    ['Origin null (a sandboxed page)', { origin: 'null' }],
    ['Sec-Fetch-Site cross-site, no Origin', { 'sec-fetch-site': 'cross-site' }],
  ])('is refused with 403 origin_not_allowed (%s), and nothing happens', async (_what, headers) => {
    const before = hub.events.lastSeq;
    const attempts = [
      await send('POST', '/api/sales', headers, sale()),
      await send('POST', '/api/session', headers, { pin: '1111' }),
      await send('DELETE', '/api/session', headers),
      await send('PUT', '/api/hardware/scanners/no-such/assignment', headers, { deviceId: null }),
      await send('POST', '/api/pair', headers, { code: '12345678', name: 'x' }),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(403);
      expect(res.body?.error?.code).toBe('origin_not_allowed');
      expect(res.body?.error?.message).toMatch(/own pages/);
    }
    expect(hub.events.lastSeq).toBe(before);
    // the session was not ended either
    expect((await cashier.request('GET', '/api/me')).body.staff).toMatchObject({ role: 'cashier' });
  });

  it('is accepted from the hub’s own pages, from an origin the technician allowed, and without Origin', async () => {
    const allowed: Record<string, string>[] = [
      { origin: hub.url, 'sec-fetch-site': 'same-origin' },
      { origin: ALLOWED },
      {}, // a CLI tool or a script
    ];
    for (const headers of allowed) {
      const res = await send('POST', '/api/sales', headers, sale());
      expect(res.status, JSON.stringify(headers)).toBe(201);
    }
  });

  it('is accepted from an allowed origin even though the browser says cross-site (a real browser sends both)', async () => {
    const res = await send('POST', '/api/sales', { origin: ALLOWED, 'sec-fetch-site': 'cross-site' }, sale());
    expect(res.status).toBe(201);
    // and a foreign origin is refused whatever Sec-Fetch-Site claims
    const foreign = await send(
      'POST',
      '/api/sales',
      { origin: 'http://evil.example', 'sec-fetch-site': 'same-origin' },
      sale(),
    );
    expect(foreign.body?.error?.code).toBe('origin_not_allowed');
  });

  it('may still read (GET is not refused; without CORS headers a foreign page cannot see the answer)', async () => {
    const res = await send('GET', '/api/me', { origin: 'http://evil.example' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('security headers', () => {
  const scriptHash = `'sha256-${createHash('sha256').update(BOOT_SCRIPT).digest('base64')}'`;

  function expectHeaders(headers: Headers) {
    const csp = headers.get('content-security-policy') ?? '';
    const directives = new Map(
      csp
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([name, ...values]) => [name, values] as const),
    );
    expect(directives.get('default-src')).toEqual(["'self'"]);
    expect(directives.get('script-src')).toEqual(["'self'", scriptHash]);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(directives.get('object-src')).toEqual(["'none'"]);
    expect(directives.has('upgrade-insecure-requests')).toBe(false); // the LAN is plain HTTP
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    expect(headers.get('referrer-policy')).toBe('no-referrer');
    expect(headers.get('x-frame-options')).toBe('DENY');
    expect(headers.get('strict-transport-security')).toBeNull();
  }

  it('are on the UI’s pages, its files and the API’s answers, errors included', async () => {
    for (const url of ['/', '/checkout', '/_app/start.js', '/api/health']) {
      const response = await fetch(hub.url + url);
      expect(response.status, url).toBe(200);
      expectHeaders(response.headers);
    }
    expectHeaders((await send('GET', '/api/me', {})).headers);
    const refused = await fetch(`${hub.url}/api/products`);
    expect(refused.status).toBe(401);
    expectHeaders(refused.headers);
    expectHeaders((await send('POST', '/api/sales', { origin: 'http://evil.example' }, sale())).headers);
  });

  it('leave the WebSocket working', async () => {
    const socket = await openTabletSocket(cashier, { origin: hub.url });
    const hello = await socket.next('hello');
    expect(hello.deviceId).toBe(cashier.deviceId);
    await socket.close();
  });
});

/** A request with a Host header of the test's choosing (fetch does not let one set it). */
function withHost(
  host: string,
  method: string,
  url: string,
  upgrade = false,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(hub.url + url, {
      method,
      agent: false,
      headers: {
        ...cashier.headers(),
        host,
        ...(upgrade
          ? {
              connection: 'Upgrade',
              upgrade: 'websocket',
              'sec-websocket-version': '13',
              'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
            }
          : {}),
      },
    });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve({ status: response.statusCode ?? 0, body: '' });
    });
    request.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('the Host a request names (DNS rebinding)', () => {
  const port = () => new URL(hub.url).port;

  it('is refused with 403 host_not_allowed when it is a name the hub does not answer to, WebSocket included', async () => {
    for (const host of ['evil.example', `evil.example:${port()}`, 'attacker.lan', `${hostname()}.evil.example`]) {
      for (const [method, url] of [
        ['GET', '/api/me'],
        ['GET', '/api/health'],
        ['GET', '/'],
        ['DELETE', '/api/session'],
      ] as const) {
        const res = await withHost(host, method, url);
        expect({ host, url, status: res.status }).toEqual({ host, url, status: 403 });
        expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'host_not_allowed' } });
      }
      const ws = await withHost(host, 'GET', '/api/ws', true);
      expect({ host, status: ws.status }).toEqual({ host, status: 403 });
    }
    // the session was not ended
    expect((await cashier.request('GET', '/api/me')).body.staff).toMatchObject({ role: 'cashier' });
  });

  it('is accepted for IP addresses, localhost, the machine’s name (also .local) and AYI_ALLOWED_HOSTS', async () => {
    const machine = hostname().replace(/\.local$/i, '');
    for (const host of [
      `127.0.0.1:${port()}`,
      '192.168.1.20',
      `[::1]:${port()}`,
      `localhost:${port()}`,
      machine,
      `${machine}.local:${port()}`,
      `${ALLOWED_HOST}:${port()}`,
      ALLOWED_HOST.toUpperCase(),
    ]) {
      expect({ host, status: (await withHost(host, 'GET', '/api/me')).status }).toEqual({ host, status: 200 });
    }
    expect((await withHost(`${machine}.local`, 'GET', '/api/ws', true)).status).toBe(101);
  });
});
