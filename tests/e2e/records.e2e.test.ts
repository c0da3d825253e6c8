/**
 * End to end, the store's records as a manager reads them (issue 13, points 5, 6, 7 and 10):
 * - the sales list and the receipts number a day's sales 1, 2, 3... with no gaps, a voided sale
 *   keeping its number, although the journal's seq skips (sign-ups, voids and refunds are events too);
 * - the points ledger tells each line by what happened, in Chinese only (a refund's take-back is not
 *   a "redemption reversed", and no English note such as "NT$399 paid");
 * - the member list finds a member by the whole number, its last digits and the member code;
 * - a half-built segment is still there after leaving the page;
 * - a tablet set to another time zone shows the store's times.
 *
 * Demo catalog: FOD-001 NT$399 (3 points to a member), DRK-001 統一麥香紅茶 300ml NT$15.
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { CheckoutRequest, SaleView } from '../../hub/src/protocol/api.ts';
import type { SignUpResult } from '../../hub/src/protocol/members.ts';
import { callApi, pairAndLogIn, shot, TABLET_VIEWPORT, useBrowserSession } from '../support/browser.ts';

async function signUp(page: Page, phone: string): Promise<SignUpResult['member']> {
  const res = await callApi(page, 'POST', '/api/members', { phone });
  expect(res.status).toBe(201);
  return (res.body as SignUpResult).member;
}

async function sell(page: Page, request: Omit<CheckoutRequest, 'idempotencyKey'>): Promise<SaleView> {
  const res = await callApi(page, 'POST', '/api/sales', { idempotencyKey: crypto.randomUUID(), ...request });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as SaleView;
}

const tea = (qty = 1) => ({ lines: [{ sku: 'DRK-001', qty }], tenders: [{ type: 'cash' as const, amount: 15 * qty }] });

describe('the store’s records (browser, built hub + UI)', () => {
  const session = useBrowserSession();
  let member: SignUpResult['member'];
  let sales: SaleView[];

  it('numbers the day’s sales 1, 2, 3, 4 with no gaps on the list and the receipt; a void keeps its number', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '辦公室', hub.demoPins.manager);

    member = await signUp(page, '0920111222');
    const a = await sell(page, {
      lines: [{ sku: 'FOD-001', qty: 1 }],
      tenders: [{ type: 'cash', amount: 399 }],
      memberId: member.memberId,
    });
    const b = await sell(page, tea());
    await signUp(page, '0920333444');
    const c = await sell(page, tea(2));
    expect((await callApi(page, 'POST', `/api/sales/${c.saleId}/void`, { reason: '打錯' })).status).toBe(200);
    const d = await sell(page, tea());
    const refund = await callApi(page, 'POST', `/api/sales/${a.saleId}/refund`, {
      idempotencyKey: crypto.randomUUID(),
      lines: [{ lineNo: 1, qty: 1 }],
      reason: '退貨',
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(200);
    sales = [a, b, c, d];
    // The journal's seq skips between them: what the old screens showed.
    expect(sales.map((s) => s.seq)).not.toEqual([a.seq, a.seq + 1, a.seq + 2, a.seq + 3]);
    expect(sales.map((s) => s.saleNo)).toEqual([1, 2, 3, 4]);

    await page.goto(`${hub.url}/sales`);
    const rows = page.getByTestId('sale-row');
    await expect.poll(() => rows.count()).toBe(4);
    expect(await page.getByTestId('sale-row-no').allTextContents()).toEqual(['#4', '#3', '#2', '#1']);
    const voided = page.locator(`[data-testid="sale-row"][data-sale-id="${c.saleId}"]`);
    expect(await voided.getAttribute('data-status')).toBe('voided');
    expect(await voided.textContent()).toContain('#3');
    expect(await voided.textContent()).toContain('已作廢');

    await voided.click();
    expect(await page.getByTestId('sale-detail-no').textContent()).toContain('第 3 筆');
    const receipt = page.getByTestId('sale-receipt');
    await expect.poll(() => receipt.textContent()).toMatch(/銷售編號 SALE NO\.\s+\d{4}-\d{2}-\d{2} #3/);
    expect(await receipt.textContent()).not.toContain(`#${c.seq}`);
    await shot(page, 'sales-day-numbers.png');
    expect(pageErrors).toEqual([]);
  });

  it('tells each points line by what happened, in Chinese only', async () => {
    const { hub, page, pageErrors } = session();
    await page.goto(`${hub.url}/members/${member.memberId}`);
    const entries = page.getByTestId('points-entry');
    await expect.poll(() => entries.count()).toBe(2);
    // Newest first: the refund took back the 3 points the sale earned.
    const taken = page.locator('[data-testid="points-entry"][data-kind="reversed"]');
    expect(await taken.getByTestId('points-kind').textContent()).toBe('退貨：收回累積點數');
    const earned = page.locator('[data-testid="points-entry"][data-kind="earned"]');
    expect(await earned.getByTestId('points-kind').textContent()).toBe('消費累積');
    expect((await earned.getByTestId('points-detail').textContent())?.trim()).toBe('消費 NT$399');
    const ledger = (await page.getByTestId('points-ledger').innerText()).replaceAll('NT$', '');
    expect(ledger).not.toMatch(/[A-Za-z]{2,}/);
    await shot(page, 'points-ledger.png');
    expect(pageErrors).toEqual([]);
  });

  it('finds a member in the member list by the whole number, the last digits or the member code', async () => {
    const { hub, page, pageErrors } = session();
    await page.goto(`${hub.url}/members`);
    const search = page.getByTestId('member-search');
    const found = page.locator(`[data-testid="member-row"][data-member-id="${member.memberId}"]`);
    for (const query of ['0920111222', '1222', member.memberCode]) {
      await search.fill(query);
      await search.press('Enter');
      await found.waitFor();
      expect(await page.getByTestId('members-empty').count()).toBe(0);
    }
    expect(pageErrors).toEqual([]);
  });

  it('keeps a half-built segment when the manager leaves the page and comes back', async () => {
    const { hub, page, pageErrors } = session();
    await page.goto(`${hub.url}/admin/segments`);
    const rootAdd = page.locator('[data-testid="segment-group"][data-root] > [data-testid="segment-add"]');
    await rootAdd.getByTestId('segment-add-field').selectOption('birthMonth');
    await rootAdd.getByTestId('segment-add-go').click();
    const birthday = page.locator('[data-testid="segment-condition"][data-field="birthMonth"]');
    await birthday.getByTestId('choice-next_month').check();
    await page.getByTestId('segment-name').fill('下個月壽星');

    // Away to the sales list (and a reload on the way), then back.
    await page.goto(`${hub.url}/sales`);
    await page.getByTestId('sales-list').waitFor();
    await page.reload();
    await page.goto(`${hub.url}/admin/segments`);
    await page.getByTestId('segment-draft-restored').waitFor();
    expect(await page.getByTestId('segment-name').inputValue()).toBe('下個月壽星');
    expect(await birthday.getByTestId('choice-next_month').isChecked()).toBe(true);
    expect(await page.getByTestId('segment-unsaved').count()).toBe(1);

    // Starting over drops it for good.
    await page.getByTestId('segment-new').click();
    await page.getByTestId('segment-discard').click();
    await page.goto(`${hub.url}/sales`);
    await page.goto(`${hub.url}/admin/segments`);
    await page.getByTestId('segment-title').waitFor();
    expect(await page.getByTestId('segment-name').inputValue()).toBe('');
    expect(await page.getByTestId('segment-draft-restored').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it('shows the store’s times on a tablet set to another time zone', async () => {
    const s = session();
    const ctx = await s.browser.newContext({
      viewport: TABLET_VIEWPORT,
      locale: 'zh-TW',
      timezoneId: 'America/Los_Angeles',
    });
    try {
      const tablet = await s.newTabletPage(ctx);
      await pairAndLogIn(tablet, s.hub.url, await s.hub.newPairingCode(), '外地平板', s.hub.demoPins.manager);
      await tablet.goto(`${s.hub.url}/sales`);
      const row = tablet.locator(`[data-testid="sale-row"][data-sale-id="${sales[0]!.saleId}"]`);
      const dayTime = (timeZone: string) =>
        new Intl.DateTimeFormat('zh-TW', {
          timeZone,
          month: '2-digit',
          day: '2-digit',
          hour: '2-digit',
          minute: '2-digit',
          hourCycle: 'h23',
        })
          .format(new Date(sales[0]!.at))
          .replace(/\s/gu, ' ');
      const rowText = async () => (await row.textContent())?.replace(/\s/gu, ' ');
      await expect.poll(rowText).toContain(dayTime('Asia/Taipei'));
      expect(await rowText()).not.toContain(dayTime('America/Los_Angeles'));
    } finally {
      await ctx.close();
    }
    expect(s.pageErrors).toEqual([]);
  });
});
