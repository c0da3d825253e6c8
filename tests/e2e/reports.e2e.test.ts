/**
 * End to end, the reports page (issue 6): the built hub (child process) serving the built tablet
 * UI, in headless Chromium. A store manager opens the reports of a new store (no sales yet), then
 * sales rung up and voided on another tablet move the revenue figure without a reload, a preset
 * changes the period, and the best sellers download as a CSV that Excel reads as UTF-8, with the
 * headers in the language on screen.
 *
 * Demo catalog: PET-001 皇家 室內成貓飼料 2kg (寵物用品) NT$890, DRK-001 統一麥香紅茶 300ml NT$15.
 * Sale A: 2 x PET-001 = 1780. Sale B: 1 x PET-001 + 3 x DRK-001 = 935, voided afterwards.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Set AYI_E2E_SCREENSHOT_DIR to keep screenshots of the screens.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import type { MemberMetrics } from '../../hub/src/protocol/crm.ts';
import { apiGet, onAnotherTablet, pairAndLogIn, shot, useBrowserSession } from '../support/browser.ts';

const LIVE = { timeout: 15_000, interval: 200 };

/** A call from inside the tablet's page (its cookies, its origin), as the UI itself would make it. */
async function callApi(
  page: Page,
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  return page.evaluate(
    async ({ method, url, body }) => {
      const res = await fetch(url, {
        method,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
    },
    { method, url, body },
  );
}

async function sell(page: Page, lines: { sku: string; qty: number }[], cash: number): Promise<SaleView> {
  const res = await callApi(page, 'POST', '/api/sales', {
    idempotencyKey: randomUUID(),
    lines,
    tenders: [{ type: 'cash', amount: cash }],
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as SaleView;
}

/** The store's date in Taipei, YYYY-MM-DD. */
function taipeiToday(): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Taipei' }).format(new Date());
}

function ymd(y: number, monthIndex: number, day: number): string {
  return new Date(Date.UTC(y, monthIndex, day)).toISOString().slice(0, 10);
}

describe('reports page (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('updates the revenue live after sales and a void on another tablet, switches presets and downloads a CSV', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.manager);
    await expect.poll(() => page.getByTestId('staff-info').textContent()).toContain('店長');

    const today = taipeiToday();
    const [year, month, day] = today.split('-').map(Number) as [number, number, number];
    const last30 = { from: ymd(year, month - 1, day - 29), to: today };
    const lastMonth = { from: ymd(year, month - 2, 1), to: ymd(year, month - 1, 0) };

    // A new store: the last 30 days, nothing sold.
    await page.getByTestId('nav-reports').click();
    await page.waitForURL('**/admin/reports');
    await expect.poll(() => page.locator('h1').textContent()).toBe('報表');
    const members = page.getByTestId('report-members');
    await members.waitFor();
    expect(await page.getByTestId('preset-last30').getAttribute('aria-pressed')).toBe('true');
    expect(await members.getAttribute('data-from')).toBe(last30.from);
    expect(await members.getAttribute('data-to')).toBe(last30.to);
    const revenue = page.getByTestId('kpi-revenue');
    expect(await revenue.getAttribute('data-value')).toBe('0');
    expect(await revenue.textContent()).toContain('NT$0');
    await page.getByTestId('report-no-sales').waitFor();
    await page.getByTestId('chart-daily-empty').waitFor();
    const updated = page.getByTestId('reports-updated');
    expect(await updated.textContent()).toMatch(/^已更新 \d{2}:\d{2}:\d{2}$/);
    await shot(page, 'reports-empty.png');

    // Anything that reloaded the page would lose this.
    await page.evaluate(() => Object.assign(globalThis, { reportsPageStayed: true }));
    const stayed = () => page.evaluate(() => (globalThis as { reportsPageStayed?: boolean }).reportsPageStayed);

    await onAnotherTablet(session(), async (tablet) => {
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 2', hub.demoPins.cashier);

      // Sale A on the other tablet: the figure moves on the manager's screen by itself.
      const updatedBefore = await updated.getAttribute('data-at');
      const saleA = await sell(tablet, [{ sku: 'PET-001', qty: 2 }], 2000);
      expect(saleA.total).toBe(1780);
      await expect.poll(() => revenue.getAttribute('data-value'), LIVE).toBe('1780');
      expect(await revenue.textContent()).toContain('NT$1,780');
      expect(await revenue.textContent()).toContain('1 筆交易');
      expect(await updated.getAttribute('data-at')).not.toBe(updatedBefore);
      expect(await page.getByTestId('report-no-sales').count()).toBe(0);
      const dailyChart = page.getByTestId('chart-daily');
      await dailyChart.waitFor();
      expect(await stayed()).toBe(true);

      // Sale B: the same chart and figures are updated in place, not drawn again.
      await dailyChart.evaluate((canvas) => Object.assign(canvas, { drawnBefore: true }));
      await members.evaluate((el) => Object.assign(el, { shownBefore: true }));
      const saleB = await sell(
        tablet,
        [
          { sku: 'PET-001', qty: 1 },
          { sku: 'DRK-001', qty: 3 },
        ],
        1000,
      );
      expect(saleB.total).toBe(935);
      await expect.poll(() => revenue.getAttribute('data-value'), LIVE).toBe('2715');
      expect(await revenue.textContent()).toContain('2 筆交易');
      expect(await page.getByTestId('kpi-aov').getAttribute('data-value')).toBe('1358');
      expect(await dailyChart.evaluate((canvas) => 'drawnBefore' in canvas)).toBe(true);
      expect(await members.evaluate((el) => 'shownBefore' in el)).toBe(true);
      expect(await stayed()).toBe(true);
      await shot(page, 'reports-live.png');

      // A cashier is not shown the reports.
      await tablet.goto(`${hub.url}/admin/reports`);
      await tablet.getByTestId('manager-only').waitFor();

      // The manager voids sale B: its revenue leaves the figure again.
      const voided = await callApi(page, 'POST', `/api/sales/${encodeURIComponent(saleB.saleId)}/void`, {
        reason: '測試作廢',
      });
      expect(voided.status, JSON.stringify(voided.body)).toBe(200);
      await expect.poll(() => revenue.getAttribute('data-value'), LIVE).toBe('1780');
      expect(await stayed()).toBe(true);
    });

    // Last month: nothing sold then.
    await page.getByTestId('preset-lastMonth').click();
    await expect.poll(() => members.getAttribute('data-from')).toBe(lastMonth.from);
    expect(await members.getAttribute('data-to')).toBe(lastMonth.to);
    expect(await page.getByTestId('preset-lastMonth').getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByTestId('report-from').inputValue()).toBe(lastMonth.from);
    expect(await page.getByTestId('report-to').inputValue()).toBe(lastMonth.to);
    await expect.poll(() => revenue.getAttribute('data-value')).toBe('0');
    const hubLastMonth = await apiGet<MemberMetrics>(
      page,
      `/api/reports/members?from=${lastMonth.from}&to=${lastMonth.to}`,
    );
    expect(hubLastMonth.memberShare.revenue).toBe(0);

    // Today: sale A only.
    await page.getByTestId('preset-today').click();
    await expect.poll(() => members.getAttribute('data-from')).toBe(today);
    await expect.poll(() => revenue.getAttribute('data-value')).toBe('1780');

    // The best sellers as a CSV: a BOM, the headers on screen, numbers as numbers.
    await page.getByTestId('report-tab-products').click();
    const best = page.getByTestId('table-best-sellers');
    await best.waitFor();
    await expect.poll(() => best.getByTestId('table-best-sellers-row').count()).toBe(1);
    expect(await best.getByTestId('table-best-sellers-row').getAttribute('data-key')).toBe('PET-001');
    await page.getByTestId('chart-best-sellers').waitFor();
    await shot(page, 'reports-products.png');

    const download = async () => {
      const [file] = await Promise.all([
        page.waitForEvent('download'),
        page.getByTestId('table-best-sellers-csv').click(),
      ]);
      const bytes = await readFile(await file.path());
      return { name: file.suggestedFilename(), bytes, lines: bytes.toString('utf8').slice(1).split('\r\n') };
    };

    const zh = await download();
    expect(zh.name).toBe(`熱銷商品_${today}_${today}.csv`);
    expect([...zh.bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(zh.lines[0]).toBe('SKU,商品,類別,數量,營收（NT$）,交易筆數,最後售出');
    expect(zh.lines[1]).toBe(`PET-001,皇家 室內成貓飼料 2kg,寵物用品,2,1780,1,${today}`);
    expect(zh.lines).toHaveLength(2);

    await page.getByTestId('lang-en').click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Reports');
    const en = await download();
    expect(en.name).toBe(`Best sellers_${today}_${today}.csv`);
    expect([...en.bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(en.lines[0]).toBe('SKU,Product,Category,Qty,Revenue (NT$),Sales,Last sold');
    await page.getByTestId('lang-zh-TW').click();

    expect(pageErrors).toEqual([]);
  });
});
