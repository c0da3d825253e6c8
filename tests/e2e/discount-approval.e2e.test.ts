/**
 * End to end: a cashier gives a discount over the owner's limit; paying opens the manager-PIN
 * dialog on the same tablet, a cashier's PIN is refused there, the manager's PIN approves and the
 * sale goes through with the approver shown and recorded, in the sale history too.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 */
import { describe, expect, it } from 'vitest';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { DEMO_STAFF } from '../../hub/src/hub.ts';
import { apiGet, pairAndLogIn, scan, shot, useBrowserSession } from '../support/browser.ts';

const RED_TEA = { barcode: '4710000010003', price: 15 };
const MILK = { barcode: '4710000010379', price: 95 };

describe('discount approval (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('asks for a manager’s PIN for a 100 % line discount, refuses a cashier’s, and shows who approved', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.cashier);
    await page.getByTestId('scan-input').click();
    await scan(page, MILK.barcode);
    await scan(page, RED_TEA.barcode);
    await expect.poll(() => page.getByTestId('cart-line').count()).toBe(2);

    // The milk given away: 100 % off its line.
    const milk = page.locator('[data-testid="cart-line"][data-sku="DRK-002"]');
    await milk.getByTestId('line-discount-toggle').click();
    await milk.locator('[data-testid$="-kind-percent"]').click();
    await milk.locator('[data-testid$="-value"]').fill('100');
    await milk.locator('[data-testid$="-apply"]').click();
    await expect.poll(() => page.getByTestId('cart-total').getAttribute('data-amount')).toBe(String(RED_TEA.price));

    // On a 1024×768 tablet the pay button stays in sight at the bottom of the payment panel.
    await page.setViewportSize({ width: 1024, height: 768 });
    await page
      .locator('aside')
      .filter({ has: page.getByTestId('pay-button') })
      .evaluate((panel) => panel.scrollTo(0, 0));
    const payBox = await page.getByTestId('pay-button').boundingBox();
    expect(payBox!.y + payBox!.height).toBeLessThanOrEqual(768);

    await page.getByTestId('pay-button').click();
    const dialog = page.getByTestId('manager-approval');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('需要主管核准折扣');
    // the line by its number and its product: the cart shows no line numbers
    expect(await page.getByTestId('approval-over-limit').textContent()).toContain('第 1 項「光泉全脂鮮乳');
    await shot(page, 'discount-approval.png');

    // A cashier's own PIN does not approve.
    await page.getByTestId('approval-pin').fill(hub.demoPins.cashier);
    await page.getByTestId('approval-submit').click();
    await expect.poll(() => page.getByTestId('approval-error').textContent()).toContain('收銀員的密碼不行');
    expect(await page.getByTestId('change-due').count()).toBe(0);

    // The manager's PIN does; the sale is sent again and completes.
    await page.getByTestId('approval-pin').fill(hub.demoPins.manager);
    await page.getByTestId('approval-submit').click();
    const managerName = DEMO_STAFF.find((s) => s.role === 'manager')!.name;
    await page.getByTestId('change-due').waitFor();
    expect(await page.getByTestId('done-approved-by').textContent()).toContain(managerName);
    expect(await page.getByTestId('done-total').getAttribute('data-amount')).toBe(String(RED_TEA.price));

    const [sale] = (await apiGet<{ sales: SaleView[] }>(page, '/api/sales?limit=1')).sales;
    expect(sale).toMatchObject({ total: RED_TEA.price, approvedByName: managerName });
    expect(sale!.approvedBy).toMatch(/^stf-/);
    // The cashier is still the one logged in on this tablet.
    await expect.poll(() => page.getByTestId('staff-info').textContent()).toContain('收銀員');

    // The sale history and the sale's detail say who approved the discount.
    await page.getByRole('link', { name: '銷售紀錄' }).click();
    await page.waitForURL('**/sales');
    const row = page.locator(`[data-testid="sale-row"][data-sale-id="${sale!.saleId}"]`);
    await expect.poll(() => row.getByTestId('sale-row-approved-by').textContent()).toContain(managerName);
    // on the row's second line, beside the item count, not squeezed next to the cashier's name
    expect(await row.getByTestId('sale-row-approved-by').textContent()).toBe(`${managerName} 核准折扣`);
    await row.click();
    expect(await page.getByTestId('sale-approved-by').textContent()).toContain(`折扣已由 ${managerName} 核准`);

    // On a phone the sale's lines fit its card: the amount column is not cut off.
    await page.setViewportSize({ width: 390, height: 844 });
    const amountHeader = page.locator('table.lines th').last();
    const amountBox = await amountHeader.boundingBox();
    const cardBox = await page.locator('section.detail').boundingBox();
    expect(amountBox!.x + amountBox!.width).toBeLessThanOrEqual(cardBox!.x + cardBox!.width);
    expect(pageErrors).toEqual([]);
  });
});
