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
 * Then the tabs that are not about a period: two new members (one agreed to SMS, one did not) buy
 * a product with a 3-day repurchase cycle, and "due this week" lists both on the manager's screen
 * without a reload, the number only for the one who agreed; the RFM tab shows the latest scoring,
 * which a sale does not redo, and picks up a new scoring at the next live update.
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
import {
  apiGet,
  callApi,
  onAnotherTablet,
  openFromTopBar,
  pairAndLogIn,
  shot,
  useBrowserSession,
} from '../support/browser.ts';

const LIVE = { timeout: 15_000, interval: 200 };

async function sell(
  page: Page,
  lines: { sku: string; qty: number }[],
  cash: number,
  memberId?: string,
): Promise<SaleView> {
  const res = await callApi(page, 'POST', '/api/sales', {
    idempotencyKey: randomUUID(),
    ...(memberId ? { memberId } : {}),
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
    await openFromTopBar(page, 'nav-reports');
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
    expect(await page.getByTestId('report-from').inputValue()).toBe(lastMonth.from.replaceAll('-', '/'));
    expect(await page.getByTestId('report-to').inputValue()).toBe(lastMonth.to.replaceAll('-', '/'));
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

  it("keeps the RFM and due-this-week tabs live: new members' sales show up without a reload", async () => {
    const { hub, page, pageErrors } = session();
    const today = taipeiToday();
    const [year, month, day] = today.split('-').map(Number) as [number, number, number];
    const inThreeDays = ymd(year, month - 1, day + 3);

    await page.goto(`${hub.url}/admin/reports`);
    await page.getByTestId('report-members').waitFor();

    // The tabs follow the arrow keys.
    await page.getByTestId('report-tab-members').focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.getByTestId('report-tab-rfm').getAttribute('aria-selected')).toBe('true');
    expect(await page.evaluate("document.activeElement?.getAttribute('data-testid')")).toBe('report-tab-rfm');
    await page.keyboard.press('ArrowLeft');
    expect(await page.getByTestId('report-tab-members').getAttribute('aria-selected')).toBe('true');
    await page.keyboard.press('ArrowRight');

    // RFM: only walk-in sales so far, nobody to score.
    const rfm = page.getByTestId('rfm-computed-at');
    await rfm.waitFor();
    expect(await rfm.getAttribute('data-scored')).toBe('0');
    await page.getByTestId('rfm-empty').waitFor();
    const firstScoring = await rfm.getAttribute('data-at');

    // A product bought every 3 days (a catalog import also refreshes the open tab).
    const imported = await page.evaluate(async (csv) => {
      const res = await fetch('/api/catalog/import', {
        method: 'POST',
        headers: { 'Content-Type': 'text/csv' },
        body: csv,
        credentials: 'same-origin',
      });
      return { status: res.status, body: (await res.json()) as { applied: boolean; rejected: unknown[] } };
    }, 'sku,barcodes,name,category,price,repurchase_days\nTST-003,,試用包 3 日份,試用品,50,3\n');
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    expect(imported.body.rejected).toEqual([]);

    await page.getByTestId('report-tab-due').click();
    const due = page.getByTestId('table-due');
    await page.getByTestId('table-due-empty').waitFor();
    const updated = page.getByTestId('reports-updated');
    await updated.waitFor();

    await onAnotherTablet(session(), async (tablet) => {
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 3', hub.demoPins.cashier);
      const signUp = async (phone: string, sms: boolean) => {
        const res = await callApi(tablet, 'POST', '/api/members', { phone, consent: { sms } });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return (res.body as { member: { memberId: string; memberCode: string } }).member;
      };
      const agreed = await signUp('0912345678', true);
      const notAgreed = await signUp('0922333444', false);

      // Both buy it today: due in 3 days, on the manager's list by itself.
      await sell(tablet, [{ sku: 'TST-003', qty: 1 }], 100, agreed.memberId);
      await sell(tablet, [{ sku: 'TST-003', qty: 1 }], 100, notAgreed.memberId);
      await expect.poll(() => due.getByTestId('table-due-row').count(), LIVE).toBe(2);
      const row = (m: { memberId: string }) => due.locator(`[data-key="${m.memberId}|sku|TST-003"]`);
      const phoneOf = async (m: { memberId: string }) => (await row(m).locator('[data-col="phone"]').textContent())!;
      expect((await phoneOf(agreed)).replace(/\D/g, '')).toBe('0912345678');
      expect((await phoneOf(notAgreed)).trim()).toBe('未同意簡訊');
      expect(await row(agreed).locator('[data-col="dueOn"]').textContent()).toContain(inThreeDays);
      expect(await due.getByTestId('due-overdue').count()).toBe(0);
      await shot(page, 'reports-due.png');

      // The file says what the screen says.
      const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId('table-due-csv').click()]);
      expect(file.suggestedFilename()).toBe(`本週該回購_${today}.csv`);
      const lines = (await readFile(await file.path())).toString('utf8').slice(1).split('\r\n');
      expect(lines[0]).toBe('會員編號,手機,姓名,種類,SKU／類別,商品或類別,上次購買,預計回購日,逾期天數,預測依據');
      expect(lines).toContain(
        `${notAgreed.memberCode},未同意簡訊,,商品,TST-003,試用包 3 日份,${today},${inThreeDays},,依商品的回購週期：3 天`,
      );
      expect(lines.find((l) => l.startsWith(`${agreed.memberCode},`))).not.toContain('未同意簡訊');

      // RFM: the sales did not redo the scoring, opening the tab shows the same one.
      await page.getByTestId('report-tab-rfm').click();
      await rfm.waitFor();
      expect(await rfm.getAttribute('data-at')).toBe(firstScoring);
      expect(await rfm.getAttribute('data-scored')).toBe('0');

      // A new scoring (as at night), then a sale: the open tab shows it without a reload.
      const rescored = await callApi(page, 'POST', '/api/analytics/rfm/recompute', {});
      expect(rescored.status).toBe(200);
      expect((rescored.body as { scored: number }).scored).toBe(2);
      await sell(tablet, [{ sku: 'DRK-001', qty: 1 }], 100);
      await expect.poll(() => rfm.getAttribute('data-scored'), LIVE).toBe('2');
      expect(await rfm.getAttribute('data-at')).not.toBe(firstScoring);
      expect(await rfm.textContent()).toContain('已評分 2 位會員');
      await page.getByTestId('table-rfm').waitFor();
    });

    expect(pageErrors).toEqual([]);
  });
});
