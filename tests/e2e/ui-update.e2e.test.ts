/**
 * End to end, an update as a tablet lives it: the hub is stopped, a new UI is put in its place and
 * the hub started again (what an update does). A tablet that kept its app open through the outage,
 * as the counter's do all day, takes the new app once the hub is back instead of running on with
 * the old one against the new hub. Built hub + UI, Chromium with the app's service worker.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { pairAndLogIn, useBrowserSession } from '../support/browser.ts';
import { TEST_UI_DIR, startHubProcess, type HubProcess } from '../support/hub-process.ts';

/** A copy of the built UI this test can replace with a "new version" while the hub is down. */
const uiDir = mkdtempSync(path.join(os.tmpdir(), 'ayi-ui-'));
cpSync(TEST_UI_DIR, uiDir, { recursive: true });

/** Makes the copy a new build: another version, and a page that says which build it is. */
function installNewVersion(): void {
  writeFileSync(path.join(uiDir, '_app', 'version.json'), JSON.stringify({ version: 'next-build' }));
  const index = path.join(uiDir, 'index.html');
  writeFileSync(index, readFileSync(index, 'utf8').replace('<head>', '<head><meta name="ayi-build" content="next">'));
}

const buildOf = (page: Page): Promise<string> =>
  page.evaluate(`document.querySelector('meta[name="ayi-build"]')?.getAttribute('content') ?? 'first'`);

describe('a UI update while a tablet keeps the app open (browser, built hub + UI)', () => {
  const session = useBrowserSession({ env: { AYI_UI_DIR: uiDir } });
  let running: HubProcess | undefined;
  const hub = () => running ?? session().hub;

  afterAll(async () => {
    await running?.stop();
    rmSync(uiDir, { recursive: true, force: true });
  });

  it('takes the new app once the updated hub answers', async () => {
    const { page, pageErrors } = session();
    await pairAndLogIn(page, hub().url, hub().pairingCode, '櫃台 1', hub().demoPins.cashier);
    await page.waitForSelector('[data-testid="connection-status"][data-state="online"]');
    await expect
      .poll(() => page.evaluate('navigator.serviceWorker.controller !== null'), { timeout: 15_000 })
      .toBe(true);
    expect(await buildOf(page)).toBe('first');

    await hub().stop();
    await page.waitForSelector('[data-testid="connection-status"][data-state="offline"]');
    installNewVersion();
    const { port, dataDir } = hub();
    running = await startHubProcess({ port, dataDir, env: { AYI_UI_DIR: uiDir } });

    await expect.poll(() => buildOf(page).catch(() => 'reloading'), { timeout: 15_000 }).toBe('next');
    await page.waitForSelector('[data-testid="connection-status"][data-state="online"]');
    expect(page.url()).toContain('/checkout');
    expect(pageErrors).toEqual([]);
  });
});
