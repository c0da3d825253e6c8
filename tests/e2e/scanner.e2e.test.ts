/**
 * End to end: a USB-COM scanner (pty, socat) named in the hub's `devices.json`, assigned by a manager
 * over the HTTP API to a tablet running the built UI in headless Chromium: its scans add products to
 * the cart, attach nothing unknown and report an unknown code, like a keyboard-wedge scan.
 *
 * The built hub (child process) serving the built UI, with a data directory the test wrote the
 * device file into. Needs `npm run build` and Chromium.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceStatusView } from '../../hub/src/devices/device-types.ts';
import { CHROMIUM, UI_INDEX, pairAndLogIn, startBrowserSession, type BrowserSession } from '../support/browser.ts';
import { HUB_ENTRY } from '../support/hub-process.ts';
import { PtyScanner, socatAvailable } from '../support/pty-scanner.ts';
import { TabletClient, writeDevicesFile } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const RED_TEA = { barcode: '4710000010003', sku: 'DRK-001' };
const MILK = { barcode: '4710000010379' };

const ready = socatAvailable() && existsSync(CHROMIUM) && existsSync(UI_INDEX) && existsSync(HUB_ENTRY);

interface HardwareAnswer {
  devices: DeviceStatusView[];
  tablets: { deviceId: string; name: string }[];
}

describe.skipIf(!ready)('hub-attached scanner on the checkout page (browser)', () => {
  const temp = new TempDirs();
  let scanner: PtyScanner;
  let session: BrowserSession;
  /** A second tablet, logged in as a manager: assigns the scanner over the API. */
  let manager: TabletClient;

  async function hardware(): Promise<HardwareAnswer> {
    const res = await manager.request('GET', '/api/hardware');
    expect(res.status).toBe(200);
    return res.body as unknown as HardwareAnswer;
  }

  beforeAll(async () => {
    scanner = new PtyScanner(temp.make('ayi-pty-'));
    await scanner.plug();
    const dataDir = temp.make('ayi-e2e-scanner-');
    writeDevicesFile(dataDir, [
      {
        id: 'counter-1',
        name: '櫃台掃描器',
        transport: 'serial',
        path: scanner.path,
        baudRate: 9600,
        assignedTo: null,
      },
    ]);
    session = await startBrowserSession({ dataDir });
    manager = new TabletClient(session.hub.url);
    await manager.pair(await session.hub.newPairingCode(), 'Manager');
    await manager.login(session.hub.demoPins.manager);
  });

  afterAll(async () => {
    await session?.close();
    await scanner?.unplug();
    temp.removeAll();
  });

  it('a scan on the hub adds the product on the tablet it is assigned to', async () => {
    const { hub, page, pageErrors } = session;
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.cashier);
    await expect.poll(() => page.getByTestId('connection-status').getAttribute('data-state')).toBe('online');
    const tablet = (await hardware()).tablets.find((t) => t.name === '櫃台 1')!;
    const assigned = await manager.request('PUT', '/api/hardware/scanners/counter-1/assignment', {
      deviceId: tablet.deviceId,
    });
    expect(assigned.status, JSON.stringify(assigned.body)).toBe(200);
    await expect
      .poll(async () => (await hardware()).devices.find((d) => d.deviceId === 'counter-1'))
      .toMatchObject({ connected: true, assignedTo: tablet.deviceId });

    // With an AIM prefix (stripped by the hub), twice: one line, quantity 2.
    await scanner.scan(RED_TEA.barcode, ']E0');
    const lines = page.getByTestId('cart-line');
    await expect.poll(() => lines.count()).toBe(1);
    await scanner.scan(MILK.barcode);
    await expect.poll(() => lines.count()).toBe(2);
    await scanner.scan(RED_TEA.barcode, ']E0');
    await expect
      .poll(() => page.locator(`[data-testid="cart-line"][data-sku="${RED_TEA.sku}"]`).getAttribute('data-qty'))
      .toBe('2');

    // An unknown code gets the clear message; the cart is unchanged.
    await scanner.scan('4719999999999');
    await expect.poll(() => page.getByTestId('scan-message').getAttribute('data-kind')).toBe('error');
    expect(await page.getByTestId('scan-message').textContent()).toContain('4719999999999');
    expect(await lines.count()).toBe(2);
    expect(pageErrors).toEqual([]);
  });
});
