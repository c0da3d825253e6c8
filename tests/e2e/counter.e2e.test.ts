/**
 * End to end: the counter as a busy store uses it, on the common 10" tablet (1024×768) and on a
 * phone (390×844). The member box finds members and nothing else; the pay button, the total and
 * the change stay in sight for every role in both languages; a sale in progress is parked at
 * logout and only its cashier or a manager gets it back; a scanned line comes into sight (on a phone,
 * above the pay bar); the member's coupon is offered next to
 * the total; a scanner's burst does not search the catalog per key.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Set AYI_E2E_SCREENSHOT_DIR to keep the screenshots of each size, language and role.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  apiGet,
  logOut,
  onAnotherTablet,
  openFromTopBar,
  pairAndLogIn,
  scan,
  shot,
  useBrowserSession,
} from '../support/browser.ts';

const RED_TEA = { barcode: '4710000010003', sku: 'DRK-001', price: 15 };
const MILK = { barcode: '4710000010379', price: 95 };
const SOY = { barcode: '4710000011116', price: 28 };

const TABLET = { width: 1024, height: 768 };
const PHONE = { width: 390, height: 844 };

/** Nothing focused: a scan then reaches only the page-wide scanner listener. */
async function blur(page: Page): Promise<void> {
  await page.evaluate('document.activeElement && document.activeElement.blur()');
}

/** Starts from an empty cart whatever the test before left. */
async function emptyCart(page: Page): Promise<void> {
  if ((await page.getByTestId('clear-cart').count()) === 0) return;
  await page.getByTestId('clear-cart').click();
  await page.getByTestId('clear-cart').click();
  await page.getByTestId('cart-empty').waitFor();
}

async function logIn(page: Page, pin: string): Promise<void> {
  await page.waitForURL('**/login');
  for (const digit of pin) await page.getByTestId(`pin-${digit}`).click();
  await page.getByTestId('pin-enter').click();
  await page.waitForURL('**/checkout');
}

async function findMember(page: Page, query: string): Promise<void> {
  await page.getByTestId('member-input').fill(query);
  await page.getByTestId('member-find').click();
}

/** Signs a new mobile number up at the member box; the member's card is then attached. */
async function signUpAtCounter(page: Page, phone: string): Promise<void> {
  await findMember(page, phone);
  await page.getByTestId('member-signup').click();
  await page.getByTestId('member-card').waitFor();
}

/** The cart line of `sku` is whole on screen and a tap on it reaches it. */
async function lineInSight(page: Page, sku: string): Promise<boolean> {
  const sight = await inSightOf(page, `[data-testid="cart-line"][data-sku="${sku}"]`);
  return sight.inside && sight.tappable;
}

/**
 * Where an element is on screen, and whether a tap at its centre reaches it (not something laid
 * over it): it must lie inside the viewport, below the top bar.
 */
async function inSight(page: Page, testId: string): Promise<{ box: string; tappable: boolean; inside: boolean }> {
  return inSightOf(page, `[data-testid="${testId}"]`);
}

async function inSightOf(page: Page, selector: string): Promise<{ box: string; tappable: boolean; inside: boolean }> {
  // A string, so this Node-side file needs no DOM types.
  return page.evaluate(`(() => {
    const el = document.querySelector('${selector}');
    if (!el) return { box: 'missing', tappable: false, inside: false };
    const r = el.getBoundingClientRect();
    const bar = document.querySelector('header.topbar')?.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return {
      box: Math.round(r.left) + ',' + Math.round(r.top) + ' ' + Math.round(r.width) + '×' + Math.round(r.height),
      tappable: !!hit && (hit === el || el.contains(hit)),
      inside:
        r.width > 0 &&
        r.top >= (bar ? bar.bottom - 1 : 0) &&
        r.bottom <= window.innerHeight + 0.5 &&
        r.left >= 0 &&
        r.right <= window.innerWidth + 0.5,
    };
  })()`);
}

describe('the counter at 1024×768 and 390×844 (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('the member box finds members and nothing else: a landline or part of a number never blocks the sale', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.cashier);
    await blur(page);
    await scan(page, RED_TEA.barcode);
    await expect.poll(() => page.getByTestId('cart-line').count()).toBe(1);

    // A landline typed into the member box: a plain answer, no coupon, the sale goes on.
    await findMember(page, '0223456789');
    const answer = page.getByTestId('member-not-mobile');
    await answer.waitFor();
    expect(await answer.textContent()).toContain('不是手機號碼');
    expect(await page.getByTestId('coupon-state').count()).toBe(0);
    await page.getByTestId('cash-exact').click();
    await expect.poll(() => page.getByTestId('pay-button').isEnabled()).toBe(true);

    // Part of a number: the same.
    await findMember(page, '091234');
    await expect.poll(() => answer.textContent()).toContain('091234');
    expect(await page.getByTestId('coupon-state').count()).toBe(0);

    // A landline typed into the item box: "unknown", never a coupon that holds the pay button.
    await page.getByTestId('scan-input').fill('0223456789');
    await page.getByTestId('scan-input').press('Enter');
    await expect.poll(() => page.getByTestId('scan-message').getAttribute('data-kind')).toBe('error');
    expect(await page.getByTestId('coupon-state').count()).toBe(0);
    expect(await page.getByTestId('pay-button').isEnabled()).toBe(true);

    // A mobile number nobody has: "not a member yet", with the sign-up a tap away.
    await findMember(page, '0987000111');
    await page.getByTestId('member-signup').waitFor();
    expect(await page.getByTestId('pay-button').isEnabled()).toBe(true);

    // An item's barcode that lands in the member box (a slow scan) goes to the cart.
    await findMember(page, MILK.barcode);
    await expect.poll(() => page.getByTestId('cart-line').count()).toBe(2);

    // Coupons have their own field.
    expect(await page.getByTestId('coupon-input').isVisible()).toBe(true);
    await page.getByTestId('clear-cart').click();
    await page.getByTestId('clear-cart').click();
    await page.getByTestId('cart-empty').waitFor();
    expect(pageErrors).toEqual([]);
  });

  it('a cart line keeps its ✕ well apart from 折扣, both big enough for a thumb', async () => {
    const { page } = session();
    await emptyCart(page);
    await blur(page);
    await scan(page, MILK.barcode);
    const line = page.getByTestId('cart-line').first();
    const discount = await line.getByTestId('line-discount-toggle').boundingBox();
    const remove = await line.getByTestId('remove-line').boundingBox();
    expect(discount && remove).toBeTruthy();
    expect(remove!.x - (discount!.x + discount!.width)).toBeGreaterThanOrEqual(8);
    for (const box of [discount!, remove!]) {
      expect(box.width).toBeGreaterThanOrEqual(44);
      expect(box.height).toBeGreaterThanOrEqual(44);
    }
    await page.getByTestId('remove-line').click();
    await page.getByTestId('cart-empty').waitFor();
  });

  it('a scanner burst into the item box searches once, at the Enter, not per key', async () => {
    const { page } = session();
    await emptyCart(page);
    // Counts each time the result list appears while the code is typed.
    await page.evaluate(`(() => {
      window.__resultLists = 0;
      new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes)
          if (n.nodeType === 1 && (n.matches('[data-testid="search-results"]') || n.querySelector('[data-testid="search-results"]')))
            window.__resultLists++;
      }).observe(document.body, { childList: true, subtree: true });
    })()`);
    await page.getByTestId('scan-input').click();
    // Counts the digits typed into the box: a burst's keys after the first are held, not typed.
    await page.evaluate(`(() => {
      window.__typedKeys = 0;
      document.querySelector('[data-testid="scan-input"]').addEventListener('input', () => window.__typedKeys++);
    })()`);
    await scan(page, SOY.barcode);
    await expect.poll(() => page.getByTestId('cart-line').count()).toBe(1);
    expect(await page.evaluate('window.__resultLists')).toBe(0);
    expect(await page.evaluate('window.__typedKeys')).toBeLessThanOrEqual(1);
    expect(await page.getByTestId('scan-input').inputValue()).toBe('');

    // Fast typing without Enter (held like a burst) still lands in the box, in order, and searches.
    await page.keyboard.type('DRK', { delay: 5 });
    await expect.poll(() => page.getByTestId('scan-input').inputValue()).toBe('DRK');
    await page.getByTestId('search-results').waitFor();
    await page.getByTestId('scan-input').press('Escape');

    // A person typing a name sees the results once they pause.
    await page.getByTestId('scan-input').pressSequentially('紅茶', { delay: 20 });
    await page.getByTestId('search-results').waitFor();
    await page.getByTestId('scan-input').press('Escape');
    await page.getByTestId('clear-cart').click();
    await page.getByTestId('clear-cart').click();
  });

  it('a long cart: every scanned line comes into sight, on the tablet and on the phone', async () => {
    const { page } = session();
    await emptyCart(page);
    const { products } = await apiGet<{ products: { sku: string; barcodes: string[] }[] }>(page, '/api/products');
    const scannable = products.filter((p) => p.barcodes.length > 0).slice(0, 16);
    expect(scannable.length).toBe(16);
    for (const size of [TABLET, PHONE]) {
      await page.setViewportSize(size);
      await emptyCart(page);
      for (const [i, product] of scannable.entries()) {
        await blur(page);
        await scan(page, product.barcodes[0]!);
        await expect.poll(() => page.getByTestId('cart-line').count()).toBe(i + 1);
        await expect.poll(() => lineInSight(page, product.sku)).toBe(true);
      }
      // Scanning the first product again brings its line (now far up the list) back into sight.
      await blur(page);
      await scan(page, scannable[0]!.barcodes[0]!);
      const first = page.locator(`[data-testid="cart-line"][data-sku="${scannable[0]!.sku}"]`);
      await expect.poll(() => first.getByTestId('cart-line-qty').inputValue()).toBe('2');
      await expect.poll(() => lineInSight(page, scannable[0]!.sku)).toBe(true);
    }
    await page.setViewportSize(TABLET);
    await emptyCart(page);
  });

  it('keeps the pay button, the total and the change in sight for every role, size and language', async () => {
    const { hub, page, pageErrors } = session();
    const roles = [
      { role: 'cashier', pin: hub.demoPins.cashier, phone: '0911000101' },
      { role: 'manager', pin: hub.demoPins.manager, phone: '0911000102' },
      { role: 'owner', pin: hub.demoPins.owner, phone: '0911000103' },
    ] as const;
    const problems: string[] = [];
    await emptyCart(page);
    for (const { role, pin, phone } of roles) {
      await page.setViewportSize(TABLET);
      if (role !== 'cashier') {
        await logOut(page);
        await logIn(page, pin);
      }
      // A busy sale: three lines, a member with their card, cash typed.
      await blur(page);
      for (const code of [RED_TEA.barcode, MILK.barcode, SOY.barcode]) await scan(page, code);
      await expect.poll(() => page.getByTestId('cart-line').count()).toBe(3);
      await signUpAtCounter(page, phone);
      await page.getByTestId('cash-input').fill('1000');

      for (const size of [TABLET, PHONE]) {
        await page.setViewportSize(size);
        for (const lang of ['zh-TW', 'en'] as const) {
          await page.getByTestId(`lang-${lang}`).click();
          await expect.poll(() => page.getByTestId('cart-total').getAttribute('data-ready')).toBe('true');
          const where = `${role} ${size.width}×${size.height} ${lang}`;
          const bar = await page.locator('header.topbar').boundingBox();
          if (!bar || bar.y !== 0 || bar.height > 64) problems.push(`${where}: top bar ${JSON.stringify(bar)}`);
          for (const id of ['pay-button', 'cart-total', 'change-preview']) {
            const seen = await inSight(page, id);
            if (!seen.inside || !seen.tappable) problems.push(`${where}: ${id} at ${seen.box}`);
          }
          // Scrolled to the end of the page (a phone scrolls), the top bar is still there.
          const pageHeight = await page.evaluate('document.documentElement.scrollHeight');
          if (Number(pageHeight) > size.height + 1)
            problems.push(`${where}: the page itself scrolls (${pageHeight} px)`);
          await page.evaluate('window.scrollTo(0, 1e6); document.querySelector("main").scrollTo(0, 1e6)');
          const barAfter = await page.locator('header.topbar').boundingBox();
          if (!barAfter || barAfter.y !== 0) problems.push(`${where}: top bar scrolled to ${JSON.stringify(barAfter)}`);
          for (const id of ['pay-button', 'cart-total']) {
            const seen = await inSight(page, id);
            if (!seen.inside) problems.push(`${where} scrolled: ${id} at ${seen.box}`);
          }
          await page.evaluate('window.scrollTo(0, 0); document.querySelector("main").scrollTo(0, 0)');
          await shot(page, `counter-${role}-${size.width}x${size.height}-${lang}.png`);
        }
        await page.getByTestId('lang-zh-TW').click();
      }
      await page.setViewportSize(TABLET);
      // Managers' pages are in a menu, not a second row of tabs.
      const managerLink = page.getByTestId('nav-reports');
      if (role === 'cashier') expect(await managerLink.count()).toBe(0);
      else if (await managerLink.isVisible()) problems.push(`${role}: the managers' pages are tabs, not a menu`);
      else {
        await page.getByTestId('nav-menu').click();
        expect(await managerLink.isVisible()).toBe(true);
        await shot(page, `counter-${role}-menu.png`);
        await page.getByTestId('nav-menu').click();
      }
      await page.getByTestId('clear-cart').click();
      await page.getByTestId('clear-cart').click();
      await page.getByTestId('cart-empty').waitFor();
    }
    expect(problems).toEqual([]);
    await logOut(page);
    await logIn(page, hub.demoPins.cashier);
    expect(pageErrors).toEqual([]);
  });

  it('parks the sale at logout: only its cashier or a manager resumes it, nobody else sees the customer', async () => {
    const { hub, pageErrors } = session();
    await onAnotherTablet(session(), async (tablet) => {
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 2', hub.demoPins.cashier);
      await blur(tablet);
      await scan(tablet, MILK.barcode);
      const phone = '0922333444';
      await signUpAtCounter(tablet, phone);
      await logOut(tablet);

      // The manager logs in: an empty counter, the cashier's sale offered, nothing of the customer.
      await logIn(tablet, hub.demoPins.manager);
      await tablet.getByTestId('cart-empty').waitFor();
      expect(await tablet.getByTestId('member-card').count()).toBe(0);
      const parked = tablet.getByTestId('parked-sale');
      await parked.waitFor();
      expect(await parked.textContent()).toContain('小美');
      expect(await tablet.getByTestId('scan-message').count()).toBe(0);
      expect(await tablet.locator('body').textContent()).not.toContain('333444');
      await shot(tablet, 'counter-parked-manager.png');
      await tablet.getByTestId('parked-resume').click();
      await expect.poll(() => tablet.getByTestId('cart-line').count()).toBe(1);
      await tablet.getByTestId('member-card').waitFor();
      expect(await tablet.getByTestId('parked-sale').count()).toBe(0);

      // The manager logs out in turn: the sale is parked under them; a cashier cannot open it.
      await logOut(tablet);
      await logIn(tablet, hub.demoPins.cashier);
      await tablet.getByTestId('cart-empty').waitFor();
      expect(await tablet.getByTestId('member-card').count()).toBe(0);
      expect(await tablet.getByTestId('parked-sale').count()).toBe(0);
      await tablet.getByTestId('parked-others').waitFor();
      expect(await tablet.locator('body').textContent()).not.toContain('333444');

      // After a reload too.
      await tablet.reload();
      await tablet.getByTestId('cart-empty').waitFor();
      expect(await tablet.getByTestId('parked-resume').count()).toBe(0);

      // The owner (a manager) resumes it and takes the payment.
      await logOut(tablet);
      await logIn(tablet, hub.demoPins.owner);
      await tablet.getByTestId('parked-resume').click();
      await expect.poll(() => tablet.getByTestId('cart-line').count()).toBe(1);
      await expect.poll(() => tablet.getByTestId('pay-button').isEnabled()).toBe(true);
      await tablet.getByTestId('pay-button').click();
      await tablet.getByTestId('change-due').waitFor();
    });
    expect(pageErrors).toEqual([]);
  });

  it('logs an unattended tablet out after 15 quiet minutes and parks its sale', async () => {
    const { hub, pageErrors } = session();
    const ctx = await session().newTabletContext();
    try {
      // The tablet's own clock, moved on by the test; the hub keeps real time.
      await ctx.clock.install();
      const tablet = await session().newTabletPage(ctx);
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 3', hub.demoPins.cashier);
      await blur(tablet);
      await scan(tablet, SOY.barcode);
      await expect.poll(() => tablet.getByTestId('cart-line').count()).toBe(1);

      // Fourteen minutes: still logged in.
      await tablet.clock.fastForward('14:00');
      await tablet.waitForTimeout(300);
      expect(tablet.url()).toContain('/checkout');
      await tablet.clock.fastForward('02:00');
      await tablet.waitForURL('**/login');

      await logIn(tablet, hub.demoPins.manager);
      await tablet.getByTestId('cart-empty').waitFor();
      expect(await tablet.getByTestId('parked-sale').textContent()).toContain('小美');
    } finally {
      await ctx.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it("offers the new member's first-order coupon next to the total, in one tap; the member's page is a link away", async () => {
    const { hub, page, pageErrors } = session();
    await logOut(page);
    await logIn(page, hub.demoPins.manager);
    await page.getByTestId('cart-empty').waitFor();

    await blur(page);
    // Over the demo first-order coupon's minimum spend (NT$200).
    for (let i = 0; i < 3; i++) await scan(page, MILK.barcode);
    await signUpAtCounter(page, '0933444555');
    const offer = page.getByTestId('coupon-offer');
    await offer.waitFor();
    expect(await offer.textContent()).toContain('首購禮');
    await offer.click();
    await expect.poll(() => page.getByTestId('quote-coupon-discount').getAttribute('data-amount')).toBe('50');
    await expect
      .poll(() => page.getByTestId('cart-total').getAttribute('data-amount'))
      .toBe(String(MILK.price * 3 - 50));
    await shot(page, 'counter-coupon-offered.png');

    // The member's page from their card; the sale waits in the cart.
    const memberId = await page.getByTestId('member-card').getAttribute('data-member-id');
    await page.getByTestId('member-profile-link').click();
    await page.waitForURL(`**/members/${memberId}`);
    await page.goBack();
    await page.waitForURL('**/checkout');
    await expect.poll(() => page.getByTestId('cart-line').count()).toBe(1);
    await page.getByTestId('pay-button').click();
    await page.getByTestId('change-due').waitFor();
    await page.getByTestId('new-sale').click();

    // The demo SMS provider writes the welcome message to the log: it is not shown as sent.
    await openFromTopBar(page, 'nav-messages');
    const status = page.getByTestId('message-status').first();
    await expect.poll(() => status.textContent()).toContain('已寫入記錄');
    expect(await page.getByTestId('message-list').textContent()).not.toContain('已發送');
    await page.getByTestId('messages-log-only').waitFor();
    await shot(page, 'messages-log-only.png');
    expect(pageErrors).toEqual([]);
  });
});
