/**
 * How the hub serves the tablet UI's service worker (the app kept on the tablet for a hub outage):
 * from the UI build, as JavaScript, never from a cache (a tablet would otherwise keep an old app
 * after an update), at the root so that it covers the whole UI, and allowed by the CSP.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import { startTestHub } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const WORKER = "self.addEventListener('fetch', () => {});\n";
let hub: Hub;

beforeAll(async () => {
  // A UI build of its own: the page, one built file and the service worker, as SvelteKit writes them.
  const uiDir = temp.make('ayi-ui-');
  mkdirSync(path.join(uiDir, '_app', 'immutable'), { recursive: true });
  writeFileSync(path.join(uiDir, 'index.html'), '<!doctype html><html><body>Ayi</body></html>');
  writeFileSync(path.join(uiDir, '_app', 'immutable', 'start.abc123.js'), 'export {};\n');
  writeFileSync(path.join(uiDir, 'service-worker.js'), WORKER);
  hub = await startTestHub({ dataDir: temp.make(), config: { uiDir } });
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

describe('the UI’s service worker', () => {
  it('is served at the root as JavaScript, marked no-cache, and the CSP lets the UI run it', async () => {
    const res = await fetch(`${hub.url}/service-worker.js`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(WORKER);
    expect(res.headers.get('content-type')).toMatch(/^(application|text)\/javascript/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/(^|;)\s*worker-src 'self'\s*(;|$)/);
  });

  it('leaves the other files as they were served', async () => {
    const res = await fetch(`${hub.url}/_app/immutable/start.abc123.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).not.toBe('no-cache');
  });
});
