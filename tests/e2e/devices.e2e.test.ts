/**
 * End to end: the devices page on the built hub (child process) serving the built tablet UI, in
 * headless Chromium. The embedded default has one virtual printer: a manager sees it connected,
 * prints a test page and gets its job id; a cashier gets the manager-only panel.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Set AYI_E2E_SCREENSHOT_DIR to keep screenshots of the screens.
 */
import { describe, expect, it } from 'vitest';
import {
  apiGet,
  callApi,
  logOut,
  onAnotherTablet,
  openFromTopBar,
  pairAndLogIn,
  shot,
  TABLET_VIEWPORT,
  useBrowserSession,
} from '../support/browser.ts';

interface HardwareAnswer {
  devices: { deviceId: string; kind: 'printer' | 'scanner'; name: string; connected: boolean }[];
  tablets: { deviceId: string; name: string }[];
}

describe('devices page (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('shows a manager the virtual printer connected and prints a test page', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.manager);
    await expect.poll(() => page.getByTestId('staff-info').textContent()).toContain('店長');

    // What the hub says: one printer, the virtual one, and this tablet among the paired ones.
    const hardware = await apiGet<HardwareAnswer>(page, '/api/hardware');
    const printers = hardware.devices.filter((d) => d.kind === 'printer');
    expect(printers).toHaveLength(1);
    const printer = printers[0]!;
    expect(printer.connected).toBe(true);
    expect(hardware.tablets.map((t) => t.name)).toContain('櫃台 1');

    // A connected printer: no warning in the top bar.
    expect(await page.getByTestId('printer-warning').count()).toBe(0);

    await openFromTopBar(page, 'nav-devices');
    await page.waitForURL('**/admin/devices');
    const card = page.locator(`[data-testid="device-card"][data-device-id="${printer.deviceId}"]`);
    await card.waitFor();
    expect(await card.getAttribute('data-kind')).toBe('printer');
    expect(await card.getAttribute('data-connected')).toBe('true');
    expect(await card.getByTestId('device-name').textContent()).toContain(printer.name);
    expect(await card.getByTestId('device-connection').textContent()).toContain('已連線');
    expect(await card.getByTestId('device-transport').textContent()).toContain('虛擬');

    // A test page: the job id comes back and is shown.
    await card.getByTestId('device-test-page').click();
    const result = card.getByTestId('device-test-page-result');
    const failed = card.getByTestId('device-test-page-error');
    await result.or(failed).waitFor();
    await shot(page, 'devices.png');
    const failure = (await failed.count()) > 0 ? ((await failed.textContent()) ?? '') : '';
    expect(failure).toBe('');
    const jobId = (await result.getAttribute('data-job-id')) ?? '';
    expect(jobId.length).toBeGreaterThan(0);
    expect(await result.textContent()).toContain(jobId);

    // In English too.
    await page.getByTestId('lang-en').click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Printers and scanners');
    await expect.poll(() => card.getByTestId('device-connection').textContent()).toContain('Connected');
    await expect.poll(() => card.getByTestId('device-test-page').textContent()).toContain('Print test page');
    await shot(page, 'devices-en.png');
    await page.getByTestId('lang-zh-TW').click();

    // On a phone the page fits the screen: no card or notice runs off its right edge.
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await expect
        .poll(() => page.locator('main').evaluate((main) => main.scrollWidth - main.clientWidth))
        .toBeLessThanOrEqual(0);
      const box = await card.boundingBox();
      expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    } finally {
      await page.setViewportSize(TABLET_VIEWPORT);
    }

    expect(pageErrors).toEqual([]);
  });

  it('shows a cashier the manager-only panel and no devices link', async () => {
    const { hub, pageErrors } = session();
    await onAnotherTablet(session(), async (tablet) => {
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 2', hub.demoPins.cashier);
      await expect.poll(() => tablet.getByTestId('staff-info').textContent()).toContain('收銀員');
      expect(await tablet.getByTestId('nav-devices').count()).toBe(0);

      await tablet.goto(`${hub.url}/admin/devices`);
      await tablet.getByTestId('manager-only').waitFor();
      expect(await tablet.getByTestId('device-card').count()).toBe(0);

      // A cashier may not print a test page either.
      const res = await tablet.request.post(`${hub.url}/api/hardware/printers/virtual/test-page`, { data: {} });
      expect(res.status()).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('role_required');
      expect(pageErrors).toEqual([]);
    });
  });

  it('shows a tablet locked by wrong PINs, which a manager unlocks from another tablet', async () => {
    const { hub, pageErrors } = session();
    await onAnotherTablet(session(), async (manager) => {
      await pairAndLogIn(manager, hub.url, await hub.newPairingCode(), '店長平板', hub.demoPins.manager);
      await onAnotherTablet(session(), async (counter) => {
        await pairAndLogIn(counter, hub.url, await hub.newPairingCode(), '櫃台 3', hub.demoPins.cashier);
        // someone at 櫃台 3 guesses PINs: nine through the API (waiting as told), the tenth on the keypad
        await logOut(counter);
        await counter.waitForURL('**/login');
        for (let wrong = 0; wrong < 9;) {
          const res = await callApi(counter, 'POST', '/api/session', { pin: String(900_000 + wrong) });
          if (res.status === 401) wrong += 1;
          else {
            expect(res.status).toBe(429);
            const seconds = (res.body as { error: { details: { retryAfterSeconds: number } } }).error.details
              .retryAfterSeconds;
            await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
          }
        }
        const locked = counter.getByTestId('login-locked');
        const wait = counter.getByTestId('login-wait');
        for (let attempt = 0; attempt < 5 && (await locked.count()) === 0; attempt++) {
          for (const digit of '909090') await counter.getByTestId(`pin-${digit}`).click();
          await counter.getByTestId('pin-enter').click();
          await locked.or(wait).waitFor();
          if ((await wait.count()) > 0) await wait.waitFor({ state: 'detached', timeout: 40_000 });
        }
        expect(await counter.getByTestId('login-locked').textContent()).toContain('另一台平板');

        // the manager sees it locked on the devices page, and unlocks it
        await openFromTopBar(manager, 'nav-devices');
        await manager.waitForURL('**/admin/devices');
        const row = manager.locator('[data-testid="tablet-row"]', { hasText: '櫃台 3' });
        await expect.poll(() => row.getAttribute('data-locked')).toBe('true');
        expect(await row.getByTestId('tablet-locked').textContent()).toContain('已鎖定');
        expect(await manager.getByTestId('tablets-locked-count').textContent()).toContain('1');
        // and how many wrong PINs it saw in the last hour
        expect(await row.getByTestId('tablet-wrong-pins').getAttribute('data-count')).toBe('10');
        expect(await row.getByTestId('tablet-wrong-pins').textContent()).toContain('密碼錯誤 10 次');
        // the manager's own tablet is not locked and offers nothing to unlock
        const own = manager.locator('[data-testid="tablet-row"]', { hasText: '店長平板' });
        expect(await own.getAttribute('data-locked')).toBe('false');
        await shot(manager, 'devices-tablet-locked.png');
        await row.getByTestId('tablet-unlock').click();
        await expect.poll(() => row.getAttribute('data-locked')).toBe('false');
        expect(await manager.getByTestId('tablets-locked-count').count()).toBe(0);

        // back at 櫃台 3 the cashier logs in with their own PIN
        await counter.getByTestId('pin-clear').click();
        for (const digit of hub.demoPins.cashier) await counter.getByTestId(`pin-${digit}`).click();
        await counter.getByTestId('pin-enter').click();
        await counter.waitForURL('**/checkout');
      });
    });
    expect(pageErrors).toEqual([]);
  });

  // Last: the block stops every PIN on this hub for the rest of the hour.
  it('tells the manager when wrong PINs on all tablets together reach the store’s limit', async () => {
    const { hub, pageErrors } = session();
    await onAnotherTablet(session(), async (manager) => {
      await pairAndLogIn(manager, hub.url, await hub.newPairingCode(), '店長平板 2', hub.demoPins.manager);
      await openFromTopBar(manager, 'nav-devices');
      await manager.waitForURL('**/admin/devices');
      await manager.getByTestId('tablet-list').waitFor();
      expect(await manager.getByTestId('store-pin-block').count()).toBe(0);

      /** A tablet paired through the API that guesses until it is locked or the store's limit answers. */
      const guesser = async (n: number) => {
        const paired = await fetch(`${hub.url}/api/pair`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ code: await hub.newPairingCode(), name: `猜測 ${n}` }),
        });
        const { token } = (await paired.json()) as { token: string };
        for (let i = 0; ; i++) {
          const res = await fetch(`${hub.url}/api/session`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ pin: String(700_000 + n * 100 + i) }),
          });
          const body = (await res.json()) as { error: { code: string; details?: { retryAfterSeconds?: number } } };
          if (res.status === 423 || body.error.code === 'store_pin_limit') return;
          if (res.status === 429) {
            const seconds = body.error.details?.retryAfterSeconds ?? 1;
            await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
          }
        }
      };
      await Promise.all([1, 2, 3, 4, 5, 6].map(guesser));

      await manager.getByTestId('devices-refresh').click();
      const block = manager.getByTestId('store-pin-block');
      await block.waitFor();
      expect(await block.textContent()).toContain('所有平板都無法輸入密碼');
      await shot(manager, 'devices-store-pin-block.png');
    });
    expect(pageErrors).toEqual([]);
  });
});
