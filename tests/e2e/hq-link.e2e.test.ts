/**
 * End to end: the HQ link page on the built hub (child process) serving the built tablet UI, in
 * headless Chromium. The embedded default has no broker: the link is 'disabled' (未設定) and never
 * alerts, so a manager sees the page with no warning badge; a cashier gets the manager-only panel.
 * An alert (a broker down for hours) is shown with the hub's answer replaced in the browser.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Set AYI_E2E_SCREENSHOT_DIR to keep screenshots of the screens.
 */
import { describe, expect, it } from 'vitest';
import { apiGet, onAnotherTablet, openFromTopBar, pairAndLogIn, shot, useBrowserSession } from '../support/browser.ts';

interface HealthAnswer {
  lastSeq: number;
  undeliveredEvents: number;
  hq?: {
    link: 'connected' | 'connecting' | 'disconnected' | 'disabled';
    brokerHost: string | null;
    deliveredSeq: number;
    backlog: number;
    oldestUndeliveredAt: string | null;
    lastError: string | null;
    alertAfterMinutes: number;
    alert: boolean;
  };
}

describe('HQ link page (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('shows a manager the link not set up, its counts and no warning badge', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.manager);
    await expect.poll(() => page.getByTestId('staff-info').textContent()).toContain('店長');

    // The embedded default: no broker, so nothing to deliver to and nothing to alert about.
    const health = await apiGet<HealthAnswer>(page, '/api/health');
    expect(health.hq).toBeDefined();
    expect(health.hq?.link).toBe('disabled');
    expect(health.hq?.brokerHost).toBeNull();
    expect(health.hq?.alert).toBe(false);

    await openFromTopBar(page, 'nav-hq');
    await page.waitForURL('**/admin/hq');
    await expect.poll(() => page.locator('h1').textContent()).toBe('總部連線');
    const state = page.getByTestId('hq-link-state');
    await state.waitFor();
    expect(await state.getAttribute('data-link')).toBe('disabled');
    expect(await state.textContent()).toContain('未設定');
    expect(await page.getByTestId('hq-broker').textContent()).toContain('未設定');
    expect(await page.getByTestId('hq-last-error').textContent()).toContain('沒有問題');
    expect(await page.getByTestId('hq-unknown').count()).toBe(0);

    // The counts the hub gives: the seq line and the backlog (pairing and logging in recorded events).
    const seq = page.getByTestId('hq-seq');
    await expect.poll(async () => Number(await seq.getAttribute('data-last'))).toBeGreaterThanOrEqual(health.lastSeq);
    expect(await page.getByTestId('hq-backlog').textContent()).toMatch(/\d+ 筆/);

    // No alert: no notice on the page, no badge in the top bar.
    expect(await page.getByTestId('hq-alert').count()).toBe(0);
    expect(await page.getByTestId('hq-alert-badge').count()).toBe(0);
    await shot(page, 'hq-link.png');

    // In English too.
    await page.getByTestId('lang-en').click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('HQ link');
    await expect.poll(() => state.textContent()).toContain('Not set up');
    expect(await page.getByTestId('nav-hq').textContent()).toContain('HQ link');
    await shot(page, 'hq-link-en.png');
    await page.getByTestId('lang-zh-TW').click();

    expect(pageErrors).toEqual([]);
  });

  it('shows a manager the backlog age and a warning badge when the hub raises the alert', async () => {
    // The embedded default never alerts: the hub's answer is replaced by one from a store whose
    // broker has been unreachable for 3 h 12 min.
    const { hub, pageErrors } = session();
    await onAnotherTablet(session(), async (tablet) => {
      await tablet.route('**/api/health', async (route) => {
        const res = await route.fetch();
        const body = (await res.json()) as HealthAnswer;
        const hq: NonNullable<HealthAnswer['hq']> = {
          link: 'disconnected',
          brokerHost: 'mqtt.example.tw',
          deliveredSeq: Math.max(0, body.lastSeq - 42),
          backlog: 42,
          oldestUndeliveredAt: new Date(Date.now() - (3 * 60 + 12) * 60_000 - 20_000).toISOString(),
          lastError: 'connect ECONNREFUSED',
          alertAfterMinutes: 60,
          alert: true,
        };
        await route.fulfill({ response: res, json: { ...body, hq } });
      });
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 3', hub.demoPins.manager);
      await tablet.getByTestId('hq-alert-badge').waitFor();
      expect(await tablet.getByTestId('hq-alert-badge').textContent()).toContain('總部未同步');

      await openFromTopBar(tablet, 'nav-hq');
      await tablet.waitForURL('**/admin/hq');
      const state = tablet.getByTestId('hq-link-state');
      await expect.poll(() => state.getAttribute('data-link')).toBe('disconnected');
      expect(await state.textContent()).toContain('未連線');
      expect(await tablet.getByTestId('hq-broker').textContent()).toContain('mqtt.example.tw');
      expect(await tablet.getByTestId('hq-backlog').textContent()).toContain('42 筆');
      expect(await tablet.getByTestId('hq-oldest').textContent()).toContain('3 小時 12 分');
      expect(await tablet.getByTestId('hq-last-error').textContent()).toContain('ECONNREFUSED');
      expect(await tablet.getByTestId('hq-alert').textContent()).toContain('60 分鐘');
      await shot(tablet, 'hq-link-alert.png');

      await tablet.getByTestId('lang-en').click();
      await expect.poll(() => tablet.getByTestId('hq-oldest').textContent()).toContain('3 h 12 min');
      expect(await state.textContent()).toContain('Disconnected');
      await shot(tablet, 'hq-link-alert-en.png');
      expect(pageErrors).toEqual([]);
    });
  });

  it('shows a manager the seqs a damaged journal lacks (HQ cannot get them from this hub)', async () => {
    // The hub's answer as it is after 8 zero bytes hit one sale's line (tests/integration/journal-damage.test.ts).
    const { hub, pageErrors } = session();
    await onAnotherTablet(session(), async (tablet) => {
      await tablet.route('**/api/health', async (route) => {
        const res = await route.fetch();
        const body = (await res.json()) as HealthAnswer;
        await route.fulfill({
          response: res,
          json: {
            ...body,
            status: 'degraded',
            problems: ['journal_damaged'],
            journal: {
              missingSeqs: [1234, 1235, 1236, 1240],
              damagedLines: [{ file: '2026-03-01.jsonl', lines: [57, 58, 59, 63] }],
            },
          },
        });
      });
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 5', hub.demoPins.manager);
      await tablet.goto(`${hub.url}/admin/hq`);
      const notice = tablet.getByTestId('hq-missing-seqs');
      await notice.waitFor();
      expect(await notice.getAttribute('data-seqs')).toBe('1234,1235,1236,1240');
      expect(await notice.textContent()).toContain('日誌中有損壞的紀錄');
      // seqs in a row as one range: a damaged file can lack hundreds of them
      expect(await notice.textContent()).toContain('1234–1236, 1240');
      await tablet.getByTestId('lang-en').click();
      await expect.poll(() => notice.textContent()).toContain('cannot be sent to HQ: 1234–1236, 1240');
      await tablet.getByTestId('lang-zh-TW').click();
      expect(pageErrors).toEqual([]);
    });
  });

  it('shows the link as unknown, with the hub counts, when the hub does not report it', async () => {
    const { hub, pageErrors } = session();
    await onAnotherTablet(session(), async (tablet) => {
      await tablet.route('**/api/health', async (route) => {
        const res = await route.fetch();
        const { hq: _hq, ...older } = (await res.json()) as HealthAnswer;
        await route.fulfill({ response: res, json: older });
      });
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 4', hub.demoPins.manager);
      await tablet.goto(`${hub.url}/admin/hq`);
      const state = tablet.getByTestId('hq-link-state');
      await state.waitFor();
      expect(await state.getAttribute('data-link')).toBe('unknown');
      expect(await state.textContent()).toContain('不明');
      expect(await tablet.getByTestId('hq-unknown').textContent()).toContain('尚未回報');
      expect(await tablet.getByTestId('hq-backlog').textContent()).toMatch(/\d+ 筆/);
      expect(await tablet.getByTestId('hq-alert-badge').count()).toBe(0);
      expect(pageErrors).toEqual([]);
    });
  });

  it('shows a cashier the manager-only panel and no HQ link', async () => {
    const { hub, pageErrors } = session();
    await onAnotherTablet(session(), async (tablet) => {
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 2', hub.demoPins.cashier);
      await expect.poll(() => tablet.getByTestId('staff-info').textContent()).toContain('收銀員');
      expect(await tablet.getByTestId('nav-hq').count()).toBe(0);
      expect(await tablet.getByTestId('hq-alert-badge').count()).toBe(0);

      await tablet.goto(`${hub.url}/admin/hq`);
      await tablet.getByTestId('manager-only').waitFor();
      expect(await tablet.getByTestId('hq-status').count()).toBe(0);
      expect(pageErrors).toEqual([]);
    });
  });
});
