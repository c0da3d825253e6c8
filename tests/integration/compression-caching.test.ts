/**
 * What a tablet on store Wi-Fi downloads: answers compressed (brotli or gzip), the build's hashed
 * files kept for a year, the page and the catalog revalidated with their ETag, so a warm start
 * costs a few 304s instead of the whole app and the whole product list.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import { demoPin, pairedTablet, startTestHub, type TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
/** Big enough to be worth compressing, the way a real build's chunks are. */
const APP_JS = `export const words = ${JSON.stringify(Array.from({ length: 400 }, (_, i) => `word ${i}`))};\n`;
const HASHED_PATH = '/_app/immutable/entry/app.Bx3kQ9.js';
let hub: Hub;
let cashier: TabletClient;
let manager: TabletClient;

beforeAll(async () => {
  const uiDir = temp.make('ayi-ui-');
  mkdirSync(path.join(uiDir, '_app', 'immutable', 'entry'), { recursive: true });
  writeFileSync(
    path.join(uiDir, 'index.html'),
    `<!doctype html><html><head><script type="module" src="${HASHED_PATH}"></script></head><body></body></html>`,
  );
  writeFileSync(path.join(uiDir, HASHED_PATH), APP_JS);
  writeFileSync(path.join(uiDir, '_app', 'version.json'), '{"version":"1"}');
  hub = await startTestHub({ dataDir: temp.make(), config: { uiDir } });
  cashier = await pairedTablet(hub, demoPin('cashier'), 'Counter');
  manager = await pairedTablet(hub, demoPin('manager'), 'Office');
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body as sent, before any decoding. */
  raw: Buffer;
  /** The body decoded from its Content-Encoding. */
  text: string;
}

/** A GET over plain node:http, so the encoding and the bytes on the wire can be seen. */
function get(url: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    http
      .get(hub.url + url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const encoding = res.headers['content-encoding'];
          const decoded = encoding === 'br' ? brotliDecompressSync(raw) : encoding === 'gzip' ? gunzipSync(raw) : raw;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, text: decoded.toString('utf8') });
        });
      })
      .on('error', reject);
  });
}

describe('compression', () => {
  it('sends the product list brotli-compressed, or gzipped, or plain, as the browser accepts', async () => {
    const plain = await get('/api/products', cashier.headers());
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(plain.text).products.length).toBeGreaterThan(0);

    const br = await get('/api/products', cashier.headers({ 'accept-encoding': 'gzip, deflate, br' }));
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.text).toBe(plain.text);
    expect(br.raw.length).toBeLessThan(plain.raw.length / 3);
    expect(br.headers.vary).toMatch(/accept-encoding/i);

    const gzip = await get('/api/products', cashier.headers({ 'accept-encoding': 'gzip' }));
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gzip.text).toBe(plain.text);
  });

  it('compresses the UI’s files too', async () => {
    const js = await get(HASHED_PATH, { 'accept-encoding': 'br, gzip' });
    expect(js.status).toBe(200);
    expect(js.headers['content-encoding']).toBe('br');
    expect(js.text).toBe(APP_JS);
  });
});

describe('caching the UI', () => {
  it('keeps the build’s hashed files for a year without asking again', async () => {
    const js = await get(HASHED_PATH);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('revalidates the page and the build’s unhashed files with their ETag', async () => {
    for (const url of ['/', '/checkout', '/_app/version.json']) {
      const first = await get(url);
      expect(first.status, url).toBe(200);
      expect(first.headers['cache-control'], url).toBe('no-cache');
      expect(first.headers.etag, url).toBeTruthy();
      const again = await get(url, { 'if-none-match': first.headers.etag! });
      expect(again.status, url).toBe(304);
      expect(again.raw.length, url).toBe(0);
    }
  });
});

describe('the product list on a warm start', () => {
  it('answers 304 while the catalog is unchanged and the new list once it changes', async () => {
    const first = await get('/api/products', cashier.headers());
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toBe('private, no-cache');
    const etag = first.headers.etag!;
    expect(etag).toBeTruthy();

    const unchanged = await get('/api/products', cashier.headers({ 'if-none-match': etag }));
    expect(unchanged.status).toBe(304);
    expect(unchanged.raw.length).toBe(0);

    const imported = await manager.request(
      'POST',
      '/api/catalog/import',
      'sku,barcodes,name,category,price,repurchase_days\nTEA-900,4710000009001,Oolong 600ml,Drinks,35,\n',
      'text/csv',
    );
    expect(imported.status).toBe(200);
    const changed = await get('/api/products', cashier.headers({ 'if-none-match': etag }));
    expect(changed.status).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
    expect(JSON.parse(changed.text).products.map((p: { sku: string }) => p.sku)).toContain('TEA-900');
  });

  it('still asks who is calling before saying "not modified"', async () => {
    const { headers } = await get('/api/products', cashier.headers());
    const stranger = await get('/api/products', { 'if-none-match': headers.etag! });
    expect(stranger.status).toBe(401);
  });
});
