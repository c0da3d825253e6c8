/**
 * End to end: a full data disk as the counter sees it. The built hub runs with its data directory on
 * a small tmpfs; a filler file takes the last byte. Every tablet shows the banner "the box's storage
 * is full — call support" (pushed over the WebSocket), a payment is refused with that message in the
 * tablet's language, and once the filler is gone the banner goes and the same cart is paid.
 *
 * Needs root (mount -t tmpfs), `npm run build` and Debian's Chromium; skipped with a message where
 * mounting is not permitted.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pairAndLogIn, scan, shot, useBrowserSession } from '../support/browser.ts';
import { mountSmallDisk } from '../support/small-disk.ts';

const RED_TEA = { barcode: '4710000010003' };

const disk = mountSmallDisk({ prefix: 'ayi-full-disk-e2e-', label: 'full-disk e2e' });

afterAll(() => disk.remove());

describe.skipIf(disk.problem !== null)('a full data disk at the counter (browser, built hub + UI)', () => {
  const session = useBrowserSession({
    dataDir: path.join(disk.mountPoint, 'data'),
    env: { AYI_DISK_PROBE_S: '1', AYI_DISK_MIN_FREE_PERCENT: '0', AYI_DISK_MIN_FREE_MB: '0' },
  });

  it('shows the banner on the tablet, refuses the payment in Chinese, and sells again once space is freed', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.cashier);
    expect(await page.getByTestId('storage-full-banner').count()).toBe(0);

    disk.fill();
    // Sells until the disk refuses (a journal page may still hold a line or two), at the counter.
    let refused = false;
    for (let attempt = 0; attempt < 20 && !refused; attempt++) {
      await scan(page, RED_TEA.barcode);
      await expect.poll(() => page.getByTestId('cart-line').count()).toBe(1);
      await page.getByTestId('tender-cash').click();
      await page.getByTestId('cash-100').click();
      await page.getByTestId('pay-button').click();
      const outcome = await Promise.race([
        page
          .getByTestId('checkout-error')
          .waitFor()
          .then(() => 'error' as const),
        page
          .getByTestId('change-due')
          .waitFor()
          .then(() => 'sold' as const),
      ]);
      if (outcome === 'error') {
        refused = true;
        expect(await page.getByTestId('checkout-error').textContent()).toContain('盒子的儲存空間已滿，請聯絡技術支援');
      } else {
        await page.getByTestId('new-sale').click();
      }
    }
    expect(refused).toBe(true);
    const banner = page.getByTestId('storage-full-banner');
    await banner.waitFor();
    expect(await banner.textContent()).toContain('盒子的儲存空間已滿，請聯絡技術支援');
    await shot(page, 'storage-full.png');

    await page.getByTestId('lang-en').click();
    await expect.poll(() => banner.textContent()).toContain("The box's storage is full — call support");
    await page.getByTestId('lang-zh-TW').click();

    rmSync(disk.filler);
    await page.getByTestId('pay-button').click();
    await page.getByTestId('change-due').waitFor();
    await expect.poll(() => page.getByTestId('storage-full-banner').count(), { timeout: 10_000 }).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
