/**
 * End to end: the built hub (child process) serving the built tablet UI, driven in headless
 * Chromium by a store manager: a member signed up at the counter (through the API), then the
 * member profile (edit, consent with its history, tags, QR code), a new coupon, the SMS queue,
 * and a PDPA erasure after which the profile is gone.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Set AYI_E2E_SCREENSHOT_DIR to keep screenshots of the screens.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHubProcess } from '../support/hub-process.ts';
import { callApi, onAnotherTablet, openFromTopBar, pairAndLogIn, shot, useBrowserSession } from '../support/browser.ts';

describe('member profile and manager pages (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('edits a profile, records consent, tags, shows the QR code, creates a coupon and erases the member', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.manager);
    await expect.poll(() => page.getByTestId('staff-info').textContent()).toContain('店長');

    // A member signed up at the counter with the mobile number alone.
    const phone = `0912${String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0')}`;
    const signUp = await callApi(page, 'POST', '/api/members', { phone });
    expect(signUp.status, JSON.stringify(signUp.body)).toBe(201);
    const member = (signUp.body as { member: { memberId: string; memberCode: string } }).member;
    expect(member.memberCode).toMatch(/^AYI\d{10}$/);

    // The member list, then the profile.
    await page.getByTestId('nav-members').click();
    await page.waitForURL('**/members');
    const row = page.locator(`[data-testid="member-row"][data-member-id="${member.memberId}"]`);
    await row.waitFor();
    await row.getByRole('link').click();
    await page.waitForURL(`**/members/${member.memberId}`);
    await expect.poll(() => page.getByTestId('profile-code').textContent()).toBe(member.memberCode);

    // The member's code as a QR code (drawn) and a CODE128 barcode.
    const qr = page.getByTestId('member-qr');
    await qr.waitFor();
    expect(Number(await qr.getAttribute('data-modules'))).toBeGreaterThanOrEqual(21);
    expect(((await qr.locator('path').getAttribute('d')) ?? '').length).toBeGreaterThan(100);
    await expect.poll(() => page.getByTestId('member-barcode').locator('rect').count()).toBeGreaterThan(10);

    // Static data: name and birthday.
    await page.getByTestId('profile-edit').click();
    await page.getByTestId('profile-name-input').fill('林美華');
    await page.getByTestId('profile-birthday-input').fill('1985-03-14');
    await page.getByTestId('profile-save').click();
    await page.getByTestId('profile-saved').waitFor();
    await expect.poll(() => page.getByTestId('profile-name').textContent()).toContain('林美華');
    await expect.poll(() => page.getByTestId('profile-birthday').textContent()).toContain('1985/03/14');
    await expect.poll(() => page.getByTestId('profile-title').textContent()).toContain('林美華');

    // SMS consent on, and the change in the timestamped history.
    const sms = page.getByTestId('consent-toggle-sms');
    const before = await sms.getAttribute('data-granted');
    await sms.click();
    const after = before === 'true' ? 'false' : 'true';
    await expect.poll(() => sms.getAttribute('data-granted')).toBe(after);
    await expect
      .poll(() =>
        page.locator(`[data-testid="consent-history-row"][data-channel="sms"][data-granted="${after}"]`).count(),
      )
      .toBeGreaterThanOrEqual(1);

    // A tag.
    await page.getByTestId('tag-input').fill('有養寵物');
    await page.getByTestId('tag-add').click();
    await page.locator('[data-testid="tag-chip"][data-tag="有養寵物"]').waitFor();
    await shot(page, 'member-profile.png');

    // Found by name in the list.
    await page.getByTestId('back-to-members').click();
    await page.waitForURL('**/members');
    await page.getByTestId('member-search').fill('林美華');
    await page.getByTestId('member-search').press('Enter');
    await expect.poll(() => page.getByTestId('member-row').count()).toBe(1);
    expect(await page.getByTestId('member-row').getAttribute('data-member-id')).toBe(member.memberId);

    // A coupon: a clear message for an empty form, then created and listed.
    await openFromTopBar(page, 'nav-coupons');
    await page.waitForURL('**/admin/coupons');
    await page.getByTestId('coupon-new').click();
    await page.getByTestId('coupon-submit').click();
    await page.getByTestId('coupon-form-problems').waitFor();
    const code = `E2E${String(Math.floor(Math.random() * 100_000)).padStart(5, '0')}`;
    await page.getByTestId('coupon-name').fill('春季滿 500 折 100');
    await page.getByTestId('coupon-code').fill(code);
    await page.getByTestId('coupon-value').fill('100');
    await page.getByTestId('coupon-min-spend').fill('500');
    await page.getByTestId('coupon-max-uses').fill('50');
    await page.getByTestId('coupon-submit').click();
    await page.getByTestId('coupon-created').waitFor();
    const couponRow = page.locator(`[data-testid="coupon-row"][data-code="${code}"]`);
    await couponRow.waitFor();
    expect(await couponRow.textContent()).toContain('春季滿 500 折 100');
    await shot(page, 'coupons.png');

    // The SMS queue: the welcome message to the new member is listed.
    await openFromTopBar(page, 'nav-messages');
    await page.waitForURL('**/admin/messages');
    await expect.poll(() => page.getByTestId('message-row').count()).toBeGreaterThanOrEqual(1);
    await shot(page, 'messages.png');

    // PDPA erasure: the member code must be typed; afterwards the profile is gone.
    await page.goto(`${hub.url}/members/${member.memberId}`);
    await page.getByTestId('erase-open').click();
    await page.getByTestId('erase-code').fill('AYI0000000000');
    expect(await page.getByTestId('erase-confirm').isDisabled()).toBe(true);
    await page.getByTestId('erase-code').fill(member.memberCode);
    // Every heading the page shows after the click, so a moment of "member not found" is caught too.
    await page.evaluate(`(() => {
      const seen = (window.__goneHeadings = []);
      new MutationObserver(() => {
        const heading = document.querySelector('[data-testid="profile-not-found"] h1')?.textContent;
        if (heading && seen.at(-1) !== heading) seen.push(heading);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
    // The hub announces the change to every tablet before it answers; hold its answer back so the
    // announcement is surely first, as it is on a busy hub.
    await page.route('**/api/members/*/erase', async (route) => {
      const answer = await route.fetch();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await route.fulfill({ response: answer });
    });
    await page.getByTestId('erase-confirm').click();
    const gone = page.getByTestId('profile-not-found');
    await gone.waitFor();
    expect(await gone.textContent()).toContain('404');
    expect(await page.evaluate('window.__goneHeadings')).toEqual(['會員個資已刪除']);
    await shot(page, 'member-erased.png');

    const card = await callApi(page, 'GET', `/api/members/${member.memberId}/card`);
    expect(card.status).toBe(404);
    // Opening the erased profile again says so clearly too.
    await page.reload();
    await page.getByTestId('profile-not-found').waitFor();

    expect(pageErrors).toEqual([]);
  });

  it('shows a cashier the profile with the number masked, without the manager actions or pages', async () => {
    const { hub, pageErrors } = session();
    await onAnotherTablet(session(), async (tablet) => {
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 2', hub.demoPins.cashier);

      const phone = `0933${String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0')}`;
      const signUp = await callApi(tablet, 'POST', '/api/members', { phone });
      expect(signUp.status, JSON.stringify(signUp.body)).toBe(201);
      const member = (signUp.body as { member: { memberId: string } }).member;

      await tablet.goto(`${hub.url}/members/${member.memberId}`);
      await tablet.getByTestId('member-qr').waitFor();
      const shown = (await tablet.getByTestId('profile-phone').textContent()) ?? '';
      expect(shown).not.toContain(phone);
      expect(shown).toContain(phone.slice(-3));
      expect(await tablet.getByTestId('profile-manager-actions').count()).toBe(0);
      expect(await tablet.getByTestId('nav-coupons').count()).toBe(0);
      expect(await tablet.getByTestId('nav-messages').count()).toBe(0);

      await tablet.goto(`${hub.url}/admin/coupons`);
      await tablet.getByTestId('manager-only').waitFor();
      expect(pageErrors).toEqual([]);
    });
  });

  it('warns a manager about a failed SMS in the top bar and sends it again on Retry', async () => {
    const { pageErrors } = session();
    // An SMS gateway that refuses (400: a permanent failure) until it is told to accept.
    let accept = false;
    let received = 0;
    const gateway: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received += 1;
        res.writeHead(accept ? 200 : 400, { 'Content-Type': 'application/json' });
        res.end(accept ? '{"ok":true}' : '{"error":"rejected"}');
      });
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    const gatewayPort = (gateway.address() as AddressInfo).port;
    const smsHub = await startHubProcess({
      env: { AYI_SMS_PROVIDER: 'http', AYI_SMS_HTTP_URL: `http://127.0.0.1:${gatewayPort}/sms` },
    });
    const ctx = await session().newTabletContext();
    try {
      const tablet = await session().newTabletPage(ctx);
      await pairAndLogIn(tablet, smsHub.url, smsHub.pairingCode, '櫃台 1', smsHub.demoPins.manager);
      expect(await tablet.getByTestId('messages-failed-badge').count()).toBe(0);

      const phone = `0955${String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0')}`;
      const signUp = await callApi(tablet, 'POST', '/api/members', { phone });
      expect(signUp.status, JSON.stringify(signUp.body)).toBe(201);
      await expect.poll(() => received, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);

      // The badge shows on the next navigation (or within 30 s).
      await tablet.getByTestId('nav-members').click();
      await tablet.waitForURL('**/members');
      await tablet.getByTestId('messages-failed-badge').waitFor();

      await openFromTopBar(tablet, 'nav-messages');
      await tablet.waitForURL('**/admin/messages');
      const failed = tablet.locator('[data-testid="message-row"][data-status="failed"]');
      await failed.waitFor();
      expect(await failed.getByTestId('message-error').textContent()).toContain('400');
      await shot(tablet, 'messages-failed.png');

      accept = true;
      await failed.getByTestId('message-retry').click();
      await expect
        .poll(
          async () => {
            await tablet.getByTestId('messages-refresh').click();
            return tablet.locator('[data-testid="message-row"][data-status="sent"]').count();
          },
          { timeout: 20_000, interval: 1_000 },
        )
        .toBe(1);
      await expect.poll(() => tablet.getByTestId('messages-failed-badge').count()).toBe(0);
      expect(pageErrors).toEqual([]);
    } finally {
      await ctx.close();
      await smsHub.stop();
      await new Promise<void>((resolve) => gateway.close(() => resolve()));
    }
  });
});
