/**
 * End to end: a manager voids a member's sale whose points were already spent. Before confirming,
 * the void screen says how many points the member will owe (欠點); after the void the member's page
 * shows them as owed, not as a negative balance. The refund form warns the same way, as soon as the
 * manager picks the units to refund.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 */
import { describe, expect, it } from 'vitest';
import type { CheckoutRequest, SaleView } from '../../hub/src/protocol/api.ts';
import type { SignUpResult } from '../../hub/src/protocol/members.ts';
import type { Page } from 'playwright-core';
import { callApi, pairAndLogIn, shot, useBrowserSession } from '../support/browser.ts';

/**
 * Signs a member up and sells them 3 x NT$399 (11 points), then spends all 11 on one more (NT$388
 * paid, 3 points earned): 3 left. Returns the member and the sale that earned the points.
 */
async function memberWhoSpentTheirPoints(page: Page, phone: string): Promise<{ memberId: string; earning: SaleView }> {
  const signUp = await callApi(page, 'POST', '/api/members', { phone });
  expect(signUp.status).toBe(201);
  const memberId = (signUp.body as SignUpResult).member.memberId;
  const sell = async (request: Omit<CheckoutRequest, 'idempotencyKey'>) => {
    const res = await callApi(page, 'POST', '/api/sales', { idempotencyKey: crypto.randomUUID(), ...request });
    expect(res.status).toBe(201);
    return res.body as SaleView;
  };
  const earning = await sell({
    lines: [{ sku: 'FOD-001', qty: 3 }],
    tenders: [{ type: 'cash', amount: 1197 }],
    memberId,
  });
  await sell({
    lines: [{ sku: 'FOD-001', qty: 1 }],
    tenders: [{ type: 'cash', amount: 388 }],
    memberId,
    redeemPoints: 11,
  });
  return { memberId, earning };
}

describe('points owed after a void (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('warns the manager before the void, then shows the points owed on the member’s page', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '辦公室', hub.demoPins.manager);

    const { memberId, earning } = await memberWhoSpentTheirPoints(page, '0933555777');

    await page.getByRole('link', { name: '銷售紀錄' }).click();
    await page.waitForURL('**/sales');
    await page.locator(`[data-testid="sale-row"][data-sale-id="${earning.saleId}"]`).click();
    await page.getByTestId('void-open').click();
    const warning = page.getByTestId('void-points-owed');
    await warning.waitFor();
    expect(await warning.getAttribute('data-owed')).toBe('8');
    expect(await warning.textContent()).toContain('作廢後會員將欠 8 點');
    await shot(page, 'void-points-owed.png');

    await page.getByTestId('void-reason').fill('結錯會員');
    await page.getByTestId('void-confirm').click();
    await expect.poll(() => page.getByTestId('sale-status').textContent()).toContain('已作廢');

    await page.goto(`${hub.url}/members/${memberId}`);
    const owed = page.getByTestId('profile-points-owed');
    await owed.waitFor();
    expect(await owed.getAttribute('data-amount')).toBe('8');
    expect((await page.locator('span[data-testid="profile-points"]').textContent())?.trim()).toBe('0');
    await expect.poll(() => page.getByTestId('points-owed').getAttribute('data-points')).toBe('8');
    const reversed = page.locator('[data-testid="points-entry"][data-kind="reversed"] [data-owed]');
    expect(await reversed.textContent()).toContain('欠 8 點');
    expect(pageErrors).toEqual([]);
  });
  it('the refund form says what the member will owe before the manager confirms', async () => {
    // the same tablet, still paired with the manager logged in
    const { hub, page, pageErrors } = session();
    await page.goto(`${hub.url}/checkout`);
    // 11 points earned, then spent: 3 left; refunding 2 of the 3 units (NT$798) takes 7 back, so 4 owed
    const { earning } = await memberWhoSpentTheirPoints(page, '0933555778');

    await page.getByRole('link', { name: '銷售紀錄' }).click();
    await page.waitForURL('**/sales');
    await page.locator(`[data-testid="sale-row"][data-sale-id="${earning.saleId}"]`).click();
    await page.getByTestId('refund-open').click();
    const increase = page.getByRole('group', { name: /的退貨數量/ }).getByRole('button', { name: '加一' });
    await increase.click();
    await expect.poll(() => page.getByTestId('refund-preview-amount').textContent()).toContain('399');
    await increase.click();
    const warning = page.getByTestId('refund-points-owed');
    await expect.poll(() => warning.getAttribute('data-owed')).toBe('4');
    expect(await warning.textContent()).toContain('退款後會員將欠 4 點');
    expect(await page.getByTestId('refund-preview-amount').textContent()).toContain('798');
    await shot(page, 'refund-points-owed.png');

    await page.getByTestId('refund-reason').fill('退貨');
    await page.getByTestId('refund-confirm').click();
    await expect.poll(() => page.getByTestId('sale-status').textContent()).toContain('部分退款');
    expect(pageErrors).toEqual([]);
  });
});
