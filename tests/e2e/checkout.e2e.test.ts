/**
 * End to end: the built hub (child process) serving the built tablet UI, driven in headless
 * Chromium like a cashier with a keyboard-wedge barcode scanner: pair, PIN log-in, scan, pay cash,
 * check the change and the receipt.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Set AYI_E2E_SCREENSHOT_DIR to keep screenshots of the checkout screen.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { apiGet, pairAndLogIn, scan, shot, useBrowserSession } from '../support/browser.ts';

const RED_TEA = { barcode: '4710000010003', name: '統一麥香紅茶 300ml', price: 15 };
const MILK = { barcode: '4710000010379', name: '光泉全脂鮮乳 936ml', price: 95 };
const SOY = { barcode: '4710000011116', name: '義美全脂豆漿 450ml', price: 28 };

/** Nothing focused: a scan then reaches only the page-wide scanner listener. */
async function blur(page: Page): Promise<void> {
  // A string, so this Node-side file needs no DOM types.
  await page.evaluate('document.activeElement && document.activeElement.blur()');
}

describe('tablet checkout (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('pairs, logs in, scans two items, takes cash and shows the change and the receipt', async () => {
    const { hub, page, pageErrors } = session();
    // An unpaired tablet lands on the pairing screen; once paired, the PIN pad; then the checkout.
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.cashier);
    const status = page.getByTestId('connection-status');
    await expect.poll(() => status.getAttribute('data-state')).toBe('online');
    await expect.poll(() => page.getByTestId('staff-info').textContent()).toContain('收銀員');

    // Scan 1: nothing focused, the global scanner listener catches the burst.
    await blur(page);
    await scan(page, RED_TEA.barcode);
    const lines = page.getByTestId('cart-line');
    await expect.poll(() => lines.count()).toBe(1);

    // Scan 2: into the visible barcode field.
    await page.getByTestId('scan-input').click();
    await scan(page, MILK.barcode);
    await expect.poll(() => lines.count()).toBe(2);

    // The same barcode again adds to its line instead of a new one.
    await blur(page);
    await scan(page, RED_TEA.barcode);
    const teaLine = page.locator('[data-testid="cart-line"][data-sku="DRK-001"]');
    await expect.poll(() => teaLine.getAttribute('data-qty')).toBe('2');
    await expect.poll(() => lines.count()).toBe(2);

    const expectedTotal = RED_TEA.price * 2 + MILK.price;
    const total = page.getByTestId('cart-total');
    await expect.poll(() => total.getAttribute('data-amount')).toBe(String(expectedTotal));
    expect(await total.textContent()).toContain(`NT$${expectedTotal}`);

    // An unknown barcode is reported, the cart is unchanged.
    await blur(page);
    await scan(page, '4719999999999');
    await expect.poll(() => page.getByTestId('scan-message').getAttribute('data-kind')).toBe('error');
    expect(await page.getByTestId('scan-message').textContent()).toContain('4719999999999');
    expect(await lines.count()).toBe(2);

    // Cash, more than the total.
    const tendered = 500;
    await page.getByTestId('tender-cash').click();
    await page.getByTestId('cash-input').fill(String(tendered));
    await expect
      .poll(() => page.getByTestId('change-preview').getAttribute('data-amount'))
      .toBe(String(tendered - expectedTotal));
    await shot(page, 'checkout-cart.png');
    await page.getByTestId('pay-button').click();

    // The change, prominently, and the receipt.
    const change = page.getByTestId('change-due');
    await change.waitFor();
    const expectedChange = tendered - expectedTotal;
    expect(await change.getAttribute('data-amount')).toBe(String(expectedChange));
    expect(await change.textContent()).toContain(`NT$${expectedChange}`);

    const receipt = page.getByTestId('receipt-text');
    await receipt.waitFor();
    const text = (await receipt.textContent()) ?? '';
    expect(text).toContain(RED_TEA.name);
    expect(text).toContain(MILK.name);
    expect(text).toMatch(new RegExp(`找零 CHANGE\\s+${expectedChange}\\b`));
    expect(text).toContain(`NT$${expectedTotal}`);
    await shot(page, 'checkout-done.png');

    // New sale clears the cart.
    await page.getByTestId('new-sale').click();
    await page.getByTestId('cart-empty').waitFor();

    // The sale is in the history.
    await page.getByRole('link', { name: '銷售紀錄' }).click();
    await page.waitForURL('**/sales');
    await expect.poll(() => page.getByTestId('sale-row').count()).toBe(1);
    await shot(page, 'sales.png');

    expect(pageErrors).toEqual([]);
  });

  it('retries a payment whose answer was lost with the same key: one sale, not two', async () => {
    const { hub } = session();
    const ctx = await session().newTabletContext();
    try {
      // No live socket on this tablet (it shows offline), so the sale goes over POST /api/sales.
      await ctx.routeWebSocket(/\/api\/ws$/, (ws) => ws.close({ code: 1011, reason: 'test: no socket' }));
      const tablet = await session().newTabletPage(ctx);

      const posted: string[] = [];
      await tablet.route('**/api/sales', async (route) => {
        const request = route.request();
        if (request.method() !== 'POST') return route.continue();
        posted.push((JSON.parse(request.postData() ?? '{}') as { idempotencyKey: string }).idempotencyKey);
        if (posted.length === 1) {
          // The hub books the sale, but the answer never reaches the tablet.
          await route.fetch();
          return route.abort('connectionreset');
        }
        return route.continue();
      });

      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 2', hub.demoPins.cashier);
      await expect.poll(() => tablet.getByTestId('connection-status').getAttribute('data-state')).toBe('offline');
      const salesBefore = await countSales(tablet);

      await scan(tablet, SOY.barcode);
      await expect.poll(() => tablet.getByTestId('cart-line').count()).toBe(1);
      await tablet.getByTestId('tender-cash').click();
      await tablet.getByTestId('cash-100').click();
      await tablet.getByTestId('pay-button').click();

      // The answer was lost: the tablet says so and offers a safe retry.
      await tablet.getByTestId('checkout-error').waitFor();
      expect(await tablet.getByTestId('pay-button').textContent()).toContain('重試付款');
      await tablet.getByTestId('pay-button').click();

      const change = tablet.getByTestId('change-due');
      await change.waitFor();
      expect(await change.getAttribute('data-amount')).toBe(String(100 - SOY.price));
      expect(posted).toHaveLength(2);
      expect(posted[1]).toBe(posted[0]);
      expect(await countSales(tablet)).toBe(salesBefore + 1);
    } finally {
      await ctx.close();
    }
  });
});

async function countSales(page: Page): Promise<number> {
  return (await apiGet<{ sales: unknown[] }>(page, '/api/sales?limit=200')).sales.length;
}
