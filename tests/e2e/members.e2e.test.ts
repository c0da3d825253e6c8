/**
 * End to end, members at the counter (issue 3): the built hub (child process) serving the built
 * tablet UI, driven in headless Chromium like a cashier with a keyboard-wedge scanner.
 *
 * Sale 1: scan items, sign a new mobile number up during the checkout, pay cash, see the points
 * earned. Sale 2: find the member by the last 4 digits, pick them, redeem points, pay, and check the
 * total went down by the points and the hub booked the redemption. Then the member card's code,
 * scanned like any barcode into the item box, attaches the member to a new sale.
 *
 * The expected points come from the hub's own program (GET /api/loyalty), so the test does not
 * depend on the default rates. Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { apiGet, pairAndLogIn, scan, shot, useBrowserSession } from '../support/browser.ts';

const CAT_FOOD = { barcode: '4710000015183', sku: 'PET-001', price: 890 };
const HAIRBALL = { barcode: '4710000015558', sku: 'PET-002', price: 320 };
const PHONE = '0935 271 846';
const LAST4 = '1846';
const REDEEM = 20;

interface Loyalty {
  tiers: { tier: string; name: string; threshold: number; discountPercent: number; pointsMultiplier: number }[];
  amountPerPoint: number;
  pointValue: number;
  maxRedeemPercent: number;
}

/**
 * Scans into the item box. (checkout.e2e.test.ts covers scans with nothing focused; those are told
 * from typing by the gaps between keys, which a busy test machine can stretch.)
 */
async function scanIntoItemBox(page: Page, code: string): Promise<void> {
  await page.getByTestId('scan-input').click();
  await scan(page, code);
}

/** The total once the hub's quote for the cart as it is now has arrived. */
async function readyTotal(page: Page): Promise<number> {
  const total = page.getByTestId('cart-total');
  await expect.poll(() => total.getAttribute('data-ready')).toBe('true');
  return Number(await total.getAttribute('data-amount'));
}

describe('members at the counter (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('signs up a number during a sale, then finds the member by the last 4 digits and redeems points', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.cashier);
    await expect.poll(() => page.getByTestId('connection-status').getAttribute('data-state')).toBe('online');
    const program = await apiGet<Loyalty>(page, '/api/loyalty');
    const base = program.tiers.find((t) => t.threshold === 0)!;
    const earnFor = (paid: number) => Math.floor(Math.floor(paid / program.amountPerPoint) * base.pointsMultiplier);

    // --- Sale 1: three bags of cat food, a new member signed up at the counter ---
    for (let i = 0; i < 3; i++) await scanIntoItemBox(page, CAT_FOOD.barcode);
    const catLine = page.locator(`[data-testid="cart-line"][data-sku="${CAT_FOOD.sku}"]`);
    await expect.poll(() => catLine.getAttribute('data-qty')).toBe('3');
    const firstTotal = CAT_FOOD.price * 3;
    // Enough to earn what sale 2 redeems, whatever the rates are within reason.
    expect(earnFor(firstTotal)).toBeGreaterThanOrEqual(REDEEM);

    await page.getByTestId('member-input').fill(PHONE);
    await page.getByTestId('member-find').click();
    await page.getByTestId('member-signup').click();
    const card = page.getByTestId('member-card');
    await card.waitFor();
    const memberId = (await card.getAttribute('data-member-id'))!;
    expect(memberId).toBeTruthy();
    await page.getByTestId('member-new').waitFor();
    // The demo store gives new members a first-order coupon: shown, not applied by itself.
    await page.getByTestId('member-first-coupon').waitFor();
    // The card loaded: greeting, tier progress, no points yet.
    await expect.poll(() => page.getByTestId('member-progress').textContent()).toMatch(/再消費 NT\$[\d,]+ 升級/);
    expect(await card.getAttribute('data-points')).toBe('0');
    // The cart is untouched by the sign-up; new members get the base tier's price.
    expect(await catLine.getAttribute('data-qty')).toBe('3');
    expect(await readyTotal(page)).toBe(firstTotal);
    await expect
      .poll(() => page.getByTestId('quote-points-earn').getAttribute('data-amount'))
      .toBe(String(earnFor(firstTotal)));
    await shot(page, 'member-signed-up.png');

    await page.getByTestId('tender-cash').click();
    await page.getByTestId('cash-input').fill('3000');
    await page.getByTestId('pay-button').click();
    await page.getByTestId('change-due').waitFor();
    expect(await page.getByTestId('change-due').getAttribute('data-amount')).toBe(String(3000 - firstTotal));
    const earned1 = Number(await page.getByTestId('done-points-earned').getAttribute('data-amount'));
    expect(earned1).toBe(earnFor(firstTotal));
    expect(await page.getByTestId('done-points-balance').getAttribute('data-amount')).toBe(String(earned1));
    expect(await page.getByTestId('done-points-earned').textContent()).toContain(`+${earned1}`);
    await shot(page, 'member-sale-1-done.png');
    await page.getByTestId('new-sale').click();
    await page.getByTestId('cart-empty').waitFor();
    await page.getByTestId('member-box').waitFor();

    // --- Sale 2: found by the last 4 digits, points redeemed ---
    await scanIntoItemBox(page, HAIRBALL.barcode);
    await expect.poll(() => page.getByTestId('cart-line').count()).toBe(1);
    await page.getByTestId('member-input').fill(LAST4);
    await page.getByTestId('member-find').click();
    const match = page.locator(`[data-testid="member-match"][data-member-id="${memberId}"]`);
    await match.waitFor();
    // Cashiers see the number masked in the pick list.
    const pickText = (await match.textContent()) ?? '';
    expect(pickText).not.toContain(PHONE.replace(/\s/g, ''));
    expect(pickText).toContain('846');
    await match.click();
    await card.waitFor();
    expect(await card.getAttribute('data-member-id')).toBe(memberId);
    await expect.poll(() => card.getAttribute('data-points')).toBe(String(earned1));

    const before = await readyTotal(page);
    expect(before).toBe(HAIRBALL.price);
    const hint = page.getByTestId('points-hint');
    await expect.poll(() => hint.getAttribute('data-max')).not.toBe('');
    expect(Number(await hint.getAttribute('data-max'))).toBeGreaterThanOrEqual(REDEEM);
    await page.getByTestId('points-input').fill(String(REDEEM));
    await page.getByTestId('points-apply').click();
    const expectedTotal = HAIRBALL.price - REDEEM * program.pointValue;
    await expect.poll(() => readyTotal(page)).toBe(expectedTotal);
    expect(await page.getByTestId('quote-points-discount').getAttribute('data-amount')).toBe(
      String(REDEEM * program.pointValue),
    );
    await shot(page, 'member-redeem.png');

    await page.getByTestId('tender-cash').click();
    await page.getByTestId('cash-exact').click();
    await page.getByTestId('pay-button').click();
    const done = page.getByTestId('sale-complete');
    await done.waitFor();
    expect(await page.getByTestId('done-total').getAttribute('data-amount')).toBe(String(expectedTotal));
    expect(await page.getByTestId('done-points-redeemed').getAttribute('data-amount')).toBe(String(REDEEM));
    const earned2 = Number(await page.getByTestId('done-points-earned').getAttribute('data-amount'));
    const balance = earned1 - REDEEM + earned2;
    expect(await page.getByTestId('done-points-balance').getAttribute('data-amount')).toBe(String(balance));
    const saleId = (await done.getAttribute('data-sale-id'))!;

    // The hub booked it: the sale carries the redemption and the member's ledger explains the balance.
    const sale = await apiGet<{ memberId: string; pointsRedeemed: number; pointsDiscount: number; total: number }>(
      page,
      `/api/sales/${encodeURIComponent(saleId)}`,
    );
    expect(sale).toMatchObject({
      memberId,
      pointsRedeemed: REDEEM,
      pointsDiscount: REDEEM * program.pointValue,
      total: expectedTotal,
    });
    const ledger = await apiGet<{
      balance: number;
      entries: { kind: string; points: number; saleId: string | null }[];
    }>(page, `/api/members/${encodeURIComponent(memberId)}/points`);
    expect(ledger.balance).toBe(balance);
    const redeemed = ledger.entries.find((e) => e.kind === 'redeemed' && e.saleId === saleId);
    expect(redeemed, JSON.stringify(ledger.entries)).toBeDefined();
    expect(Math.abs(redeemed!.points)).toBe(REDEEM);

    // --- The member card's code, scanned like any barcode, attaches the member to a new sale ---
    await page.getByTestId('new-sale').click();
    await page.getByTestId('member-box').waitFor();
    const summary = await apiGet<{ memberCode: string }>(page, `/api/members/${encodeURIComponent(memberId)}/card`);
    await scanIntoItemBox(page, summary.memberCode);
    await card.waitFor();
    expect(await card.getAttribute('data-member-id')).toBe(memberId);
    await expect.poll(() => card.getAttribute('data-points')).toBe(String(balance));
    await page.getByTestId('member-detach').click();
    await page.getByTestId('member-box').waitFor();

    expect(pageErrors).toEqual([]);
  });
});
