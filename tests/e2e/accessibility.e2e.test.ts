/**
 * End to end, the main screens against WCAG 2.1 AA (axe-core in the real page, issue 13): pairing,
 * the PIN pad, the checkout with a line and a member, the member list and a profile, the sales
 * list with a receipt open, the devices page and the reports. Each screen is checked once its data
 * is on it; a failure names the rule and the element.
 *
 * Needs `npm run build:test` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { expectAccessible } from '../support/axe.ts';
import { callApi, scan, shot, useBrowserSession, openFromTopBar } from '../support/browser.ts';

const PHONE = '0912 345 678';
const TEA_BARCODE = '4710000010003';

describe('accessibility of the main screens (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('keeps pairing, login, checkout, members, sales, devices and reports free of WCAG 2.1 AA violations', async () => {
    const { hub, page, pageErrors } = session();

    await page.goto(`${hub.url}/`);
    await page.waitForURL('**/pair');
    await page.getByTestId('pair-code').waitFor();
    await expectAccessible(page, 'pairing');

    await page.getByTestId('pair-code').fill(hub.pairingCode);
    await page.getByTestId('pair-name').fill('櫃台 1');
    await page.getByTestId('pair-submit').click();
    await page.waitForURL('**/login');
    await page.getByTestId('pin-1').waitFor();
    await expectAccessible(page, 'login');

    for (const digit of hub.demoPins.manager) await page.getByTestId(`pin-${digit}`).click();
    await page.getByTestId('pin-enter').click();
    await page.waitForURL('**/checkout');
    await expect.poll(() => page.getByTestId('connection-status').getAttribute('data-state')).toBe('online');
    await page.getByTestId('scan-input').focus();
    await scan(page, TEA_BARCODE);
    await page.getByTestId('cart-line').waitFor();
    await expectAccessible(page, 'checkout with a line');

    const signUp = await callApi(page, 'POST', '/api/members', { phone: PHONE });
    expect(signUp.status, JSON.stringify(signUp.body)).toBe(201);
    const memberId = (signUp.body as { member: { memberId: string } }).member.memberId;
    const sold = await callApi(page, 'POST', '/api/sales', {
      idempotencyKey: randomUUID(),
      memberId,
      lines: [{ sku: 'DRK-001', qty: 2 }],
      tenders: [{ type: 'cash', amount: 30 }],
    });
    expect(sold.status, JSON.stringify(sold.body)).toBe(201);
    const sale = sold.body as SaleView;

    await openFromTopBar(page, 'nav-members');
    await page.waitForURL('**/members');
    const row = page.locator(`[data-testid="member-row"][data-member-id="${memberId}"]`);
    await row.waitFor();
    await expectAccessible(page, 'member list');

    await row.getByRole('link').click();
    await page.waitForURL(`**/members/${memberId}`);
    await page.getByTestId('profile-code').waitFor();
    await page.getByTestId('member-barcode').locator('rect').first().waitFor();
    await expectAccessible(page, 'member profile');

    await page.goto(`${hub.url}/sales`);
    await page.locator(`[data-testid="sale-row"][data-sale-id="${sale.saleId}"]`).click();
    const receipt = page.getByTestId('sale-receipt');
    await receipt.waitFor();
    // The receipt scrolls: a keyboard reaches it.
    expect(await receipt.getAttribute('tabindex')).toBe('0');
    await shot(page, 'a11y-sales-receipt.png');
    await expectAccessible(page, 'sales with a receipt');

    await openFromTopBar(page, 'nav-devices');
    await page.waitForURL('**/admin/devices');
    await page.getByTestId('device-card').first().waitFor();
    await expectAccessible(page, 'devices');

    await openFromTopBar(page, 'nav-reports');
    await page.waitForURL('**/admin/reports');
    await page.getByTestId('report-members').waitFor();
    await expectAccessible(page, 'reports');

    expect(pageErrors).toEqual([]);
  });
});
