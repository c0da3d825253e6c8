/**
 * End to end, a box in trouble as HQ's operations see it before the store calls: a real store (built
 * hub) whose receipt printer is unreachable (a network printer on a port nothing listens on), its
 * status through a real mosquitto to HQ (PGlite) and HQ's built dashboard in headless Chromium. The
 * link health page names the box with its failing check, in both languages.
 *
 * Needs `npm run build:test` first (hub, dashboard), mosquitto and Debian's Chromium.
 */
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, TABLET_VIEWPORT } from '../support/browser.ts';
import { freePort } from '../support/free-port.ts';
import { startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { startHqService, type HqService } from '../support/hq-service.ts';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { writeNetworkPrinterFile } from '../support/test-hub.ts';

const CHAIN = 'checks-chain';
const STORE = 'store-no-printer';
const temp = new TempDirs();
let broker: Mosquitto;
let hq: HqService;
let hub: HubProcess;
let browser: Browser;
let password: string;

beforeAll(async () => {
  broker = await startMosquitto();
  hq = await startHqService({ brokerUrl: broker.url, chainId: CHAIN, dataDir: temp.make('hq-checks-db-') });
  const dataDir = temp.make('ayi-checks-hub-');
  // The counter's printer on the store network, switched off: nothing answers on its port.
  const printerPort = await freePort();
  writeNetworkPrinterFile(dataDir, { host: '127.0.0.1', port: printerPort }, 'Counter printer');
  hub = await startHubProcess({
    dataDir,
    env: { AYI_MQTT_URL: broker.url, AYI_CHAIN_ID: CHAIN, AYI_STORE_ID: STORE, AYI_CHECK_EVERY_S: '1' },
  });
  password = await hq.addUser('ops', 'admin', true);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await hub?.stop();
  await hq?.stop();
  await broker?.kill();
  temp.removeAll();
});

describe('a box in trouble at HQ (browser, built hub and dashboard)', () => {
  it('is named on the link health page with its failing check, in Chinese and in English', async () => {
    const context = await browser.newContext({ viewport: TABLET_VIEWPORT, locale: 'zh-TW' });
    const page = await context.newPage();
    await page.goto(`${hq.url}/`);
    await page.waitForURL('**/login');
    await page.getByTestId('login-username').fill('ops');
    await page.getByTestId('login-password').fill(password);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('who').waitFor();
    await page.getByTestId('nav-health').click();

    const alert = page.getByTestId('boxes-in-trouble');
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.innerText()).toContain(`${STORE} (printers)`);
    expect(await alert.innerText()).toContain('ayi doctor');
    const row = page.getByTestId('links-row').filter({ hasText: STORE });
    expect(await row.innerText()).toContain('未通過：printers');
    // This demo box has no chain member key and no backups set up: warnings, not trouble.
    expect(await row.innerText()).toContain('警告：member-key, backups');

    await page.getByTestId('lang-en').click();
    await expect.poll(() => alert.innerText()).toContain('fail their own checks');
    expect(await row.innerText()).toContain('Failing: printers');
    await context.close();
  });
});
