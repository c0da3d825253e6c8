/**
 * End to end, what a tablet downloads when the app starts (issue 13, on a cheap tablet): the
 * counter brings only the active language's words (the other language and the managers' segment
 * and report words come when they are needed), switching language still works, and a warm start
 * asks whether the product list changed (304) instead of downloading all of it again.
 *
 * Needs `npm run build:test` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page, Response } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { pairAndLogIn, scan, useBrowserSession, openFromTopBar } from '../support/browser.ts';
import { REPO_ROOT } from '../support/hub-process.ts';

type Messages = { [key: string]: string | Messages };
const dictionary = (name: string): Messages =>
  JSON.parse(readFileSync(path.join(REPO_ROOT, 'ui', 'src', 'lib', 'i18n', `${name}.json`), 'utf8')) as Messages;
const en = dictionary('en') as { connection: { hubUnreachableHint: string } };
const segmentsEn = dictionary('segments.en') as { segments: { lead: string } };
const reportsEn = dictionary('reports.en') as { reports: { hint: string } };
const reportsZhTW = dictionary('reports.zh-TW') as { reports: { hint: string } };

/** Text only each dictionary file has (ASCII, so it reads the same in the minified bundle). */
const MARKERS = {
  'English words': en.connection.hubUnreachableHint,
  'segment words': segmentsEn.segments.lead,
  'report words': reportsEn.reports.hint,
  'segment words (any language)': 'starterLead',
  'report words (any language)': 'csvPreparing',
};

/** The scripts the page downloads while `steps` run, with their text. */
async function scriptsLoadedBy(page: Page, steps: () => Promise<void>): Promise<string[]> {
  const responses: Response[] = [];
  const onResponse = (response: Response) => {
    if (response.request().resourceType() === 'script') responses.push(response);
  };
  page.on('response', onResponse);
  try {
    await steps();
  } finally {
    page.off('response', onResponse);
  }
  return Promise.all(responses.map((response) => response.text()));
}

describe('tablet start (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('starts the counter with the active language only and loads the rest when it is needed', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.manager);

    const scripts = await scriptsLoadedBy(page, async () => {
      await page.goto(`${hub.url}/checkout`);
      await page.getByTestId('nav-members').waitFor();
    });
    expect(scripts.length).toBeGreaterThan(0);
    for (const [what, marker] of Object.entries(MARKERS)) {
      expect(
        scripts.filter((text) => text.includes(marker)),
        `${what} came with the counter`,
      ).toHaveLength(0);
    }
    expect(await page.getByTestId('nav-reports').textContent()).toContain('報表');

    // The report page brings its words, and they switch with the language.
    await openFromTopBar(page, 'nav-reports');
    await page.getByText(reportsZhTW.reports.hint).waitFor();
    await page.getByTestId('lang-en').click();
    await page.getByText(reportsEn.reports.hint).waitFor();
    await expect.poll(() => page.getByTestId('nav-members').textContent()).toMatch(/[A-Za-z]/);
    await page.getByTestId('lang-zh-TW').click();
    await page.getByText(reportsZhTW.reports.hint).waitFor();
    expect(pageErrors).toEqual([]);
  });

  it('asks whether the product list changed on a warm start instead of downloading it again', async () => {
    const { hub, page, pageErrors } = session();
    const productList = () => page.waitForResponse((response) => new URL(response.url()).pathname === '/api/products');
    const cold = productList();
    await page.goto(`${hub.url}/checkout`);
    expect((await cold).status()).toBe(200);

    const warm = productList();
    await page.reload();
    const answer = await warm;
    expect(await answer.request().headerValue('if-none-match')).toBeTruthy();
    // Chromium hands the page the cached 200 of a 304: what came over the network is the proof.
    expect((await answer.request().sizes()).responseBodySize).toBe(0);
    // The list read from the browser's cache is the whole catalog: a scan still finds its product.
    await page.getByTestId('scan-input').focus();
    await scan(page, 'DRK-001');
    await page.locator('[data-testid="cart-line"][data-sku="DRK-001"]').waitFor();
    expect(pageErrors).toEqual([]);
  });
});
