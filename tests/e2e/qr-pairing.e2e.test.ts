/**
 * Zero-touch pairing end to end: the URL of the pairing page's QR code (`ayi pair --print`), opened
 * in a fresh browser, pairs the tablet at once (as 平板 N), takes the code out of the address bar
 * and lands on the PIN pad, where staff log in. The same URL opened again (the code is used up)
 * says so plainly, in zh-TW and English, over the normal form.
 *
 * Needs `npm run build:test` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Screenshots (1024×768 and 390×844, both languages) go to AYI_E2E_SCREENSHOT_DIR when it is set.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { PairingPageAnswer } from '../../hub/src/services/technician-commands.ts';
import { runAyi } from '../support/ayi-cli.ts';
import { expectAccessible } from '../support/axe.ts';
import { apiGet, shot, useBrowserSession, type BrowserSession } from '../support/browser.ts';

const SIZES = [
  { name: 'tablet', viewport: { width: 1024, height: 768 } },
  { name: 'phone', viewport: { width: 390, height: 844 } },
] as const;
const LANGUAGES = ['zh-TW', 'en'] as const;

/** A browser that has never seen the hub, in `language` (the UI keeps its choice in localStorage). */
async function freshTablet(
  session: BrowserSession,
  viewport: { width: number; height: number },
  language: (typeof LANGUAGES)[number],
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await session.browser.newContext({ viewport, locale: 'zh-TW', timezoneId: 'Asia/Taipei' });
  // Runs in the page, before the app: the language the app would start in had the staff chosen it.
  await context.addInitScript(
    `if (!localStorage.getItem('ayi.locale')) localStorage.setItem('ayi.locale', ${JSON.stringify(language)});`,
  );
  return { context, page: await session.newTabletPage(context) };
}

/** The URL the pairing page's QR code holds, as the technician's command gives it. */
async function pairingUrl(session: BrowserSession): Promise<string> {
  const run = await runAyi(['pair', '--print', '--json'], session.hub.dataDir);
  const answer = JSON.parse(run.stdout) as PairingPageAnswer;
  expect(answer.url).toBe(`${session.hub.url}/pair#code=${answer.code}`);
  return answer.url;
}

describe('pairing from the QR code (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('pairs a fresh browser at once, clears the code from the address and logs in with a PIN', async () => {
    const s = session();
    let tabletNumber = 0;
    for (const size of SIZES) {
      for (const language of LANGUAGES) {
        const url = await pairingUrl(s);
        const { context, page } = await freshTablet(s, size.viewport, language);
        try {
          await page.goto(url);
          await page.waitForURL('**/login');
          tabletNumber += 1;
          expect(page.url()).toBe(`${s.hub.url}/login`);
          const me = await apiGet<{ device: { name: string } }>(page, '/api/me');
          expect(me.device.name).toBe(`平板 ${tabletNumber}`);
          await page.getByTestId('pin-1').waitFor();
          await shot(page, `qr-pairing-login-${size.name}-${language}.png`);
          for (const digit of s.hub.demoPins.cashier) await page.getByTestId(`pin-${digit}`).click();
          await page.getByTestId('pin-enter').click();
          await page.waitForURL('**/checkout');
        } finally {
          await context.close();
        }
      }
    }
    expect(s.pageErrors).toEqual([]);
  });

  it('says plainly that a used code is used, and offers the form for a new one', async () => {
    const s = session();
    const url = await pairingUrl(s);
    const { context: first, page } = await freshTablet(s, SIZES[0].viewport, 'zh-TW');
    try {
      await page.goto(url);
      await page.waitForURL('**/login');
    } finally {
      await first.close();
    }
    const messages = {
      'zh-TW': '這個 QR 碼的配對碼已用過或已過期',
      en: 'The code in this QR code is used or expired',
    };
    for (const size of SIZES) {
      for (const language of LANGUAGES) {
        const { context, page } = await freshTablet(s, size.viewport, language);
        try {
          await page.goto(url);
          const error = page.getByTestId('pair-error');
          await error.waitFor();
          expect(await error.textContent()).toContain(messages[language]);
          expect(page.url()).toBe(`${s.hub.url}/pair`);
          expect(await page.getByTestId('pair-code').inputValue()).toBe('');
          expect(await page.getByTestId('pair-submit').isVisible()).toBe(true);
          await shot(page, `qr-pairing-used-${size.name}-${language}.png`);
          // At the tablet's size: on a phone the top bar's short language buttons (中, EN) are named
          // in full, which axe reports for the top bar on every screen, not for this page.
          if (size.name === 'tablet') await expectAccessible(page, `pairing from a used QR code (${language})`);
        } finally {
          await context.close();
        }
      }
    }
    expect(s.pageErrors).toEqual([]);
  });
});
