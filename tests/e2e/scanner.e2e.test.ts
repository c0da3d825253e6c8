/**
 * End to end: a USB-COM scanner (pty, socat) named in the hub's `devices.json`. A manager, on a
 * second tablet, assigns it on the devices page to the cashier's tablet running the built UI in
 * headless Chromium: its scans then add products to the cashier's cart, report an unknown code like
 * a keyboard-wedge scan, attach a member by their member code and apply a coupon.
 *
 * The built hub (child process) serving the built UI, with a data directory the test wrote the
 * device file into. Needs `npm run build` and Chromium.
 */
import { existsSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceStatusView } from '../../hub/src/devices/device-types.ts';
import {
  apiGet,
  CHROMIUM,
  openFromTopBar,
  pairAndLogIn,
  shot,
  startBrowserSession,
  type BrowserSession,
  UI_INDEX,
} from '../support/browser.ts';
import { HUB_ENTRY } from '../support/hub-process.ts';
import { PtyScanner, socatAvailable } from '../support/pty-scanner.ts';
import { writeDevicesFile } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const RED_TEA = { barcode: '4710000010003', sku: 'DRK-001' };
const MILK = { barcode: '4710000010379' };
/** The demo store's birthday-month coupon (10 % off), for members whose birthday month it is. */
const BIRTHDAY_COUPON = { code: 'BDAY10', name: '壽星九折' };
const PHONE = '0936 418 205';

const ready = socatAvailable() && existsSync(CHROMIUM) && existsSync(UI_INDEX) && existsSync(HUB_ENTRY);

interface HardwareAnswer {
  devices: DeviceStatusView[];
  tablets: { deviceId: string; name: string }[];
}

/** This month in the hub's time zone (the demo hub runs on Asia/Taipei). */
function thisMonthInTaipei(): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Taipei', year: 'numeric', month: '2-digit' })
    .formatToParts(new Date())
    .find((p) => p.type === 'month');
  return parts!.value;
}

/** The cart total once the hub's quote for the cart as it is now has arrived. */
async function readyTotal(page: Page): Promise<number> {
  const total = page.getByTestId('cart-total');
  await expect.poll(() => total.getAttribute('data-ready')).toBe('true');
  return Number(await total.getAttribute('data-amount'));
}

describe.skipIf(!ready)('hub-attached scanner on the checkout page (browser)', () => {
  const temp = new TempDirs();
  let scanner: PtyScanner;
  let session: BrowserSession;
  /** The manager's tablet: a second browser context (own cookies), paired on its own. */
  let managerContext: BrowserContext | undefined;
  let managerPage: Page;

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
    managerContext = await session.newTabletContext();
    managerPage = await session.newTabletPage(managerContext);
  });

  afterAll(async () => {
    await managerContext?.close().catch(() => undefined);
    await session?.close();
    await scanner?.unplug();
    temp.removeAll();
  });

  it('a manager assigns the scanner on the devices page; its scans reach the cashier’s checkout', async () => {
    const { hub, page, pageErrors } = session;
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.cashier);
    await expect.poll(() => page.getByTestId('connection-status').getAttribute('data-state')).toBe('online');

    // --- The manager's tablet: paired, logged in as the manager, on the devices page ---
    await pairAndLogIn(managerPage, hub.url, await hub.newPairingCode(), '店長平板', hub.demoPins.manager);
    await expect.poll(() => managerPage.getByTestId('staff-info').textContent()).toContain('店長');
    await openFromTopBar(managerPage, 'nav-devices');
    await managerPage.waitForURL('**/admin/devices');
    const card = managerPage.locator('[data-testid="device-card"][data-device-id="counter-1"]');
    await card.waitFor();
    expect(await card.getAttribute('data-kind')).toBe('scanner');
    await expect.poll(() => card.getAttribute('data-connected')).toBe('true');
    const select = card.getByTestId('device-assign');
    expect(await select.getAttribute('data-assigned-to')).toBe('');

    // Picks the cashier's tablet by its name, as a manager would.
    await select.selectOption({ label: '櫃台 1' });
    await card.getByTestId('device-assign-saved').waitFor();
    expect(await card.getByTestId('device-assign-error').count()).toBe(0);
    const hardware = await apiGet<HardwareAnswer>(managerPage, '/api/hardware');
    const cashierTablet = hardware.tablets.find((t) => t.name === '櫃台 1')!;
    const managerTablet = hardware.tablets.find((t) => t.name === '店長平板')!;
    expect(cashierTablet).toBeDefined();
    expect(managerTablet.deviceId).not.toBe(cashierTablet.deviceId);
    await expect.poll(() => select.getAttribute('data-assigned-to')).toBe(cashierTablet.deviceId);
    expect(hardware.devices.find((d) => d.deviceId === 'counter-1')).toMatchObject({
      connected: true,
      assignedTo: cashierTablet.deviceId,
    });
    await shot(managerPage, 'scanner-assigned.png');

    // --- Scans on the hub's scanner, on the cashier's checkout page ---
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
    const message = page.getByTestId('scan-message');
    await scanner.scan('4719999999999');
    await expect.poll(() => message.getAttribute('data-kind')).toBe('error');
    expect(await message.textContent()).toContain('4719999999999');
    expect(await lines.count()).toBe(2);

    // --- A member card scanned on the hub's scanner attaches the member ---
    // Signed up (on the manager's tablet, through the API) with a birthday this month.
    const signUp = await managerPage.request.post(`${hub.url}/api/members`, { data: { phone: PHONE } });
    expect(signUp.status(), await signUp.text()).toBe(201);
    const { member } = (await signUp.json()) as { member: { memberId: string; memberCode: string } };
    expect(member.memberCode).toMatch(/^AYI\d{10}$/);
    const profile = await managerPage.request.patch(`${hub.url}/api/members/${encodeURIComponent(member.memberId)}`, {
      data: { birthday: `1990-${thisMonthInTaipei()}-01` },
    });
    expect(profile.status(), await profile.text()).toBe(200);

    await scanner.scan(member.memberCode);
    const memberCard = page.getByTestId('member-card');
    await memberCard.waitFor();
    expect(await memberCard.getAttribute('data-member-id')).toBe(member.memberId);
    await expect.poll(() => message.getAttribute('data-kind')).toBe('ok');
    expect(await lines.count()).toBe(2); // a member code is no product

    // --- The birthday coupon, scanned on the hub's scanner, applies to this member's sale ---
    const before = await readyTotal(page);
    await scanner.scan(BIRTHDAY_COUPON.code);
    const coupon = page.getByTestId('coupon-state');
    await coupon.waitFor();
    expect(await coupon.getAttribute('data-code')).toBe(BIRTHDAY_COUPON.code);
    await expect.poll(() => coupon.getAttribute('data-ok')).toBe('true');
    await expect.poll(() => message.textContent()).toContain(BIRTHDAY_COUPON.name);
    expect(await message.getAttribute('data-kind')).toBe('ok');
    await expect.poll(() => readyTotal(page)).toBeLessThan(before);
    expect(await lines.count()).toBe(2);
    await shot(page, 'scanner-member-coupon.png');

    expect(pageErrors).toEqual([]);
  });
});
