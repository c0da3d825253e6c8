/**
 * End to end, HQ's dashboard as the chain's analysts and operations use it: two real stores (built
 * hubs) selling through a real mosquitto, HQ ingesting into PGlite and serving its built dashboard,
 * driven in headless Chromium. The figures on screen are checked against the stores' own sales
 * lists; a new sale at a store shows on the open dashboard without a reload; one customer who
 * signed up at both stores is one cross-store shopper; the products never sold are listed, per store
 * too; a catalog CSV with bad rows is refused row by row and the mended one reaches the stores;
 * roles decide what a user sees.
 *
 * Needs `npm run build:test` first (hub, tablet UI, dashboard), mosquitto and Debian's Chromium.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { HubTablet } from '../../scripts/lib/hub-client.ts';
import { CHROMIUM, CHROMIUM_ARGS, shot, TABLET_VIEWPORT } from '../support/browser.ts';
import { REPO_ROOT, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { startHqService, type HqService } from '../support/hq-service.ts';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { checkoutRequest } from '../support/sales.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const CHAIN = 'e2e-chain';
const STORES = ['store-north', 'store-south'] as const;
const temp = new TempDirs();
/** The catalog each store starts with (its demo import). */
const DEMO_CATALOG = path.join(REPO_ROOT, 'hub', 'src', 'demo', 'catalog.csv');
const money = (n: number) => `NT$${new Intl.NumberFormat('zh-TW').format(n)}`;

let broker: Mosquitto;
let hq: HqService;
const hubs: HubProcess[] = [];
const counters: HubTablet[] = [];
let browser: Browser;
let adminPassword: string;
let analystPassword: string;

async function sellAt(store: number, sku: string, qty: number, memberId?: string): Promise<SaleView> {
  const { body } = await counters[store]!.expect<SaleView>(
    [201],
    'POST',
    '/api/sales',
    checkoutRequest([{ sku, qty }], [{ type: 'cash', amount: 100_000 }], memberId ? { memberId } : {}),
  );
  return body;
}

/** The chain's revenue as the stores themselves list it (completed, not voided). */
async function storesRevenue(): Promise<number> {
  let total = 0;
  for (const counter of counters) {
    for (const sale of await counter.allSales()) if (sale.status !== 'voided') total += sale.total;
  }
  return total;
}

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto(`${hq.url}/`);
  await page.waitForURL('**/login');
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('who').waitFor();
}

beforeAll(async () => {
  broker = await startMosquitto();
  // HQ first, as a chain runs: its session at the broker holds the stores' events from their first.
  hq = await startHqService({ brokerUrl: broker.url, chainId: CHAIN, dataDir: temp.make('hq-db') });
  const chainKey = randomBytes(32).toString('base64');
  for (const storeId of STORES) {
    hubs.push(
      await startHubProcess({
        env: { AYI_MQTT_URL: broker.url, AYI_CHAIN_ID: CHAIN, AYI_STORE_ID: storeId, AYI_MEMBER_HASH_KEY: chainKey },
      }),
    );
  }
  adminPassword = await hq.addUser('chain-admin', 'admin');
  analystPassword = await hq.addUser('ana', 'analyst', true);
  for (const hub of hubs) {
    const counter = new HubTablet(hub.url);
    await counter.pair(hub.pairingCode, 'Counter');
    await counter.login(hub.demoPins.cashier);
    counters.push(counter);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  // Two hubs, HQ and Chromium starting on a busy machine can take more than the default minute.
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const counter of counters) counter.close();
  await hq?.stop();
  for (const hub of hubs) await hub.stop();
  await broker?.stop();
  temp.removeAll();
});

describe('HQ dashboard (browser, built hubs, HQ and dashboard)', () => {
  it('shows the chain as the stores recorded it, live, in both languages, with CSV', async () => {
    // One customer, the same mobile number at both stores; sales at both.
    const phone = `0912${String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0')}`;
    const members: string[] = [];
    for (const counter of counters) {
      const { body } = await counter.expect<{ member: { memberId: string } }>([201], 'POST', '/api/members', { phone });
      members.push(body.member.memberId);
    }
    await sellAt(0, 'DRK-001', 2, members[0]);
    await sellAt(0, 'FOD-001', 1);
    await sellAt(1, 'DRK-001', 3, members[1]);

    const context = await browser.newContext({ viewport: TABLET_VIEWPORT, locale: 'zh-TW', timezoneId: 'Asia/Taipei' });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));

    // A wrong password is said plainly; the right one opens the overview.
    await page.goto(`${hq.url}/`);
    await page.waitForURL('**/login');
    await page.getByTestId('login-username').fill('chain-admin');
    await page.getByTestId('login-password').fill('not-the-password');
    await page.getByTestId('login-submit').click();
    await expect.poll(() => page.getByTestId('login-problem').textContent()).toContain('帳號或密碼錯誤');
    await page.getByTestId('login-password').fill(adminPassword);
    await page.getByTestId('login-submit').click();
    // The password was made for them: they choose their own before anything else.
    await page.waitForURL('**/password');
    await page.getByTestId('password-required').waitFor();
    await page.getByTestId('password-current').fill(adminPassword);
    await page.getByTestId('password-new').fill('short');
    await page.getByTestId('password-repeat').fill('short');
    await page.getByTestId('password-submit').click();
    await expect.poll(() => page.getByTestId('password-problem').textContent()).toContain('至少要 12 個字元');
    await page.getByTestId('password-new').fill('chain-admin-own-2026');
    await page.getByTestId('password-repeat').fill('chain-admin-own-2026');
    await page.getByTestId('password-submit').click();
    await page.waitForURL(`${hq.url}/`);
    await page.getByTestId('who').waitFor();

    // The chain's revenue, as the stores list their sales (HQ catches up within moments).
    const revenue = page.getByTestId('kpi-revenue-value');
    await expect
      .poll(
        async () => {
          await page.reload();
          return revenue.textContent({ timeout: 5000 }).catch(() => null);
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBe(money(await storesRevenue()));
    await shot(page, 'hq-overview-zh.png');
    // The chart by month: one bar for this month's sales.
    await page.getByTestId('period-month').click();
    await expect.poll(() => page.locator('main h2').first().textContent()).toBe('每月營收（全連鎖）');

    // A sale at the south store reaches the open dashboard by itself.
    await sellAt(1, 'FOD-001', 2);
    const expected = money(await storesRevenue());
    await expect.poll(() => revenue.textContent(), { timeout: 45_000, interval: 500 }).toBe(expected);
    expect(await page.getByTestId('overview-stores-row').count()).toBe(2);

    // Store comparison: both stores; its CSV opens in Excel (BOM) with both.
    await page.getByTestId('nav-stores').click();
    await expect.poll(() => page.getByTestId('stores-compare-row').count()).toBe(2);
    const download = page.waitForEvent('download');
    await page.getByTestId('stores-compare-csv').click();
    const csv = readFileSync((await (await download).path())!, 'utf8');
    expect(csv.startsWith('\uFEFF')).toBe(true);
    for (const storeId of STORES) expect(csv).toContain(storeId);
    // Each store's one member bought today: active there, none dormant, churned or never buying.
    const [header, ...rows] = csv
      .slice(1)
      .trim()
      .split(/\r?\n/)
      .map((line) => line.split(','));
    const activity = ['活躍會員', '沉睡會員', '流失會員', '從未消費會員'].map((label) => header!.indexOf(label));
    expect(activity.every((column) => column >= 0)).toBe(true);
    expect(rows.map((row) => activity.map((column) => row[column]))).toEqual(STORES.map(() => ['1', '0', '0', '0']));

    // The customer who shops at both stores is one person, a cross-store shopper.
    await page.getByTestId('nav-customers').click();
    await expect.poll(() => page.getByTestId('kpi-cross-store-value').textContent()).toBe('1');
    await page.getByTestId('cohorts').waitFor();
    expect(await page.getByTestId('load-failed').count()).toBe(0);

    // Link health: both stores' streams whole.
    await page.getByTestId('nav-health').click();
    await expect.poll(() => page.getByTestId('links-row').count()).toBe(2);
    await expect
      .poll(async () => (await page.getByTestId('links').innerText()).split('正常').length, { timeout: 30_000 })
      .toBe(STORES.length + 1);
    await page.getByTestId('quarantine').waitFor();
    await page.getByTestId('conflicts').waitFor();
    // Each store online by its retained status, none silent.
    await expect
      .poll(async () => (await page.getByTestId('links').innerText()).split('在線').length, { timeout: 30_000 })
      .toBe(STORES.length + 1);
    expect(await page.getByTestId('silent-stores').count()).toBe(0);

    // Products: the stores' demo catalog, the two products sold and the rest never sold.
    const demoSkus = readFileSync(DEMO_CATALOG, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(',')[0]!);
    const neverSold = demoSkus.filter((sku) => sku !== 'DRK-001' && sku !== 'FOD-001');
    await page.getByTestId('nav-products').click();
    await expect.poll(() => page.getByTestId('products-slow-row').count()).toBe(demoSkus.length);
    // The slow movers start with those not sold in the period; the best seller comes last.
    expect(await page.getByTestId('products-slow-row').last().innerText()).toContain('DRK-001');
    await expect.poll(() => page.getByTestId('products-not-sold-row').count()).toBe(neverSold.length);
    const notSold = await page.getByTestId('products-not-sold').innerText();
    expect(notSold).toContain('超過 30 天未售出');
    expect(notSold).toContain('從未售出');
    for (const sku of neverSold) expect(notSold).toContain(sku);
    expect(notSold).not.toContain('DRK-001');
    const notSoldCsv = page.waitForEvent('download');
    await page.getByTestId('products-not-sold-csv').click();
    const notSoldFile = readFileSync((await (await notSoldCsv).path())!, 'utf8');
    expect(notSoldFile.startsWith('\uFEFF')).toBe(true);
    expect(notSoldFile.trim().split('\n')).toHaveLength(neverSold.length + 1);
    // One store's figures; a count of days that is not one is refused.
    await page.getByTestId('products-store').selectOption(STORES[0]);
    await page.waitForURL(`**/products?*store=${STORES[0]}*`);
    await expect.poll(() => page.getByTestId('products-not-sold-row').count()).toBe(neverSold.length);
    await page.getByTestId('products-days').fill('0');
    await page.getByTestId('products-days-apply').click();
    await expect.poll(() => page.getByTestId('products-days-problem').textContent()).toContain('1 到 3650');
    await page.getByTestId('products-days').fill('7');
    await page.getByTestId('products-days-apply').click();
    await expect.poll(() => page.getByTestId('products-not-sold').innerText()).toContain('超過 7 天未售出');
    expect(await page.getByTestId('load-failed').count()).toBe(0);
    await shot(page, 'hq-products-zh.png');

    // The chain's catalog from a CSV file: a file with bad rows names them and publishes nothing.
    await page.getByTestId('nav-catalog').click();
    // The file picker speaks the dashboard's language, not the browser's ("Choose File").
    const publishForm = page.getByTestId('catalog-publish');
    await expect.poll(() => publishForm.innerText()).toContain('選擇商品目錄檔');
    expect(await page.getByTestId('catalog-file-name').textContent()).toContain('尚未選擇檔案');
    expect(await page.getByTestId('catalog-submit').isDisabled()).toBe(true);
    await page.getByTestId('catalog-file').setInputFiles({
      name: 'catalog.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(
        `sku,barcodes,name,category,price,repurchase_days,price@${STORES[1]}\nFOD-001,,總部便當,食品,一百,7,\nDRK-001,,總部綠茶,飲料,30,,-1\n`,
      ),
    });
    expect(await page.getByTestId('catalog-file-name').textContent()).toContain('catalog.csv');
    await page.getByTestId('catalog-submit').click();
    await expect.poll(() => page.getByTestId('catalog-bad-row').count()).toBe(2);
    const badRows = await page.getByTestId('catalog-bad-rows').innerText();
    expect(badRows).toContain('第 2 行（FOD-001）');
    expect(badRows).toMatch(new RegExp(`第 3 行（DRK-001）：\\s*price@${STORES[1]}: `));
    expect(await page.getByTestId('catalog-version-value').textContent()).toBe('無');
    // The same file mended, saved by Excel (BOM): it reaches both stores, which report it.
    await page.getByTestId('catalog-file').setInputFiles({
      name: 'catalog.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(
        `\uFEFFsku,barcodes,name,category,price,repurchase_days,price@${STORES[1]}\r\nFOD-001,,總部便當,食品,120,7,\r\nDRK-001,,總部綠茶,飲料,30,,28\r\n`,
      ),
    });
    await page.getByTestId('catalog-submit').click();
    await page.getByTestId('catalog-done').waitFor();
    expect(await page.getByTestId('catalog-bad-rows').count()).toBe(0);
    await expect.poll(() => page.getByTestId('catalog-version-value').textContent()).toBe('v1');
    await expect
      .poll(async () => (await page.getByTestId('catalog-stores').innerText()).split('v1').length - 1, {
        timeout: 30_000,
      })
      .toBe(STORES.length);
    expect(await page.getByTestId('catalog-behind').count()).toBe(0);
    await shot(page, 'hq-catalog-zh.png');
    // HQ's version is each store's whole catalog now: two products, both sold, none unsold.
    await page.getByTestId('nav-products').click();
    // The router changes the address once the page's code is loaded: a reload before that would
    // reload the catalog page instead.
    await page.waitForURL('**/products');
    await expect
      .poll(
        async () => {
          await page.reload();
          await page.getByTestId('products-not-sold').waitFor();
          return page.getByTestId('products-slow-row').count();
        },
        { timeout: 60_000, interval: 1000 },
      )
      .toBe(2);
    expect(await page.getByTestId('products-not-sold-row').count()).toBe(0);

    // English, on the tablet and on a phone.
    await page.getByTestId('lang-en').click();
    await page.getByTestId('nav-overview').click();
    await expect.poll(() => page.locator('main h1').textContent()).toBe('Chain overview');
    await expect.poll(() => revenue.textContent()).toBe(expected);
    await shot(page, 'hq-overview-en.png');
    await page.getByTestId('nav-stores').click();
    await expect
      .poll(() => page.getByTestId('stores-activity-note').textContent())
      .toContain('active within 90 days, dormant within 180 days');
    await page.getByTestId('nav-products').click();
    await expect.poll(() => page.getByTestId('products-not-sold').innerText()).toContain('Not sold for over 30 days');
    await expect.poll(() => page.getByTestId('products-slow').innerText()).toContain('Slow movers');
    await page.getByTestId('nav-catalog').click();
    await expect.poll(() => page.getByTestId('catalog-publish').innerText()).toContain('Choose a catalog file');
    expect(await page.getByTestId('catalog-file-name').textContent()).toContain('No file chosen');
    await shot(page, 'hq-catalog-en.png');
    await page.getByTestId('nav-overview').click();
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, 'hq-overview-en-phone.png');
    await page.getByTestId('lang-zh-TW').click();
    await expect.poll(() => page.locator('main h1').textContent()).toBe('連鎖總覽');
    await shot(page, 'hq-overview-zh-phone.png');
    const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);

    expect(errors).toEqual([]);
    await context.close();
  }, 180_000);

  it('shows an analyst the figures but not link health or users', async () => {
    const context = await browser.newContext({ viewport: TABLET_VIEWPORT, locale: 'zh-TW' });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await signIn(page, 'ana', analystPassword);
    await page.getByTestId('nav-overview').waitFor();
    expect(await page.getByTestId('nav-health').count()).toBe(0);
    expect(await page.getByTestId('nav-users').count()).toBe(0);
    expect(await page.getByTestId('nav-catalog').count()).toBe(0);
    const users = await page.request.get(`${hq.url}/api/users`);
    expect(users.status()).toBe(403);
    // Signing out ends the session: the dashboard asks for a sign-in again.
    await page.getByTestId('sign-out').click();
    await page.waitForURL('**/login');
    expect((await page.request.get(`${hq.url}/api/overview?from=2026-01-01&to=2026-01-31`)).status()).toBe(401);
    await context.close();
  });
});
