/**
 * End to end: the built hub (child process) serving the built tablet UI, driven in headless
 * Chromium by a store manager who builds the seeds' example filter ("birthday next month AND
 * cumulative spend ≥ 5000 AND ever bought 寵物保健") with the builder's pickers, watches the count
 * follow each condition, saves the segment and exports it for an SMS campaign.
 *
 * Five members are signed up and sell through the API first:
 *   A 林美華  birthday next month, SMS yes, 8 x 毛孩關節保健粉 (680)            = 5,440  -> matches, exported
 *   B 陳志明  birthday next month, SMS no,  5 x 關節保健粉 + 4 x 寵物魚油 (450) = 5,200  -> matches, left out
 *   C 王小玉  birthday next month, SMS yes, 7 x 貓飼料 (890, 寵物用品)          = 6,230  -> never bought 寵物保健
 *   D 張家豪  birthday in two months, SMS yes, 8 x 關節保健粉                  = 5,440  -> not next month
 *   E 李淑芬  birthday next month, SMS yes, 1 x 魚油 + 5 x 貓飼料              = 4,900  -> spent under 5,000
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Set AYI_E2E_SCREENSHOT_DIR to keep screenshots of the screens.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { pairAndLogIn, shot, useBrowserSession } from '../support/browser.ts';

interface ApiAnswer {
  status: number;
  body: unknown;
}

/** A call from inside the tablet's page (its cookies, its origin), as the UI itself would make it. */
async function callApi(page: Page, method: string, url: string, body?: unknown): Promise<ApiAnswer> {
  return page.evaluate(
    async ({ method, url, body }) => {
      const res = await fetch(url, {
        method,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
    },
    { method, url, body },
  );
}

interface SeededMember {
  memberId: string;
  memberCode: string;
  phone: string;
  name: string;
  spent: number;
}

/** Month (1-12) `ahead` months after today's in Taipei, where the hub resolves "next month". */
function monthFromNow(ahead: number): number {
  const month = Number(
    new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Taipei', month: 'numeric' }).format(new Date()),
  );
  return ((month - 1 + ahead) % 12) + 1;
}

/** Signs a member up (with or without SMS consent), gives a name and birthday, and sells to them. */
async function seedMember(
  page: Page,
  phone: string,
  name: string,
  birthMonth: number,
  sms: boolean,
  lines: { sku: string; qty: number }[],
): Promise<SeededMember> {
  const signUp = await callApi(page, 'POST', '/api/members', { phone, consent: { sms } });
  expect(signUp.status, JSON.stringify(signUp.body)).toBe(201);
  const { memberId, memberCode } = (signUp.body as { member: { memberId: string; memberCode: string } }).member;

  const birthday = `1985-${String(birthMonth).padStart(2, '0')}-10`;
  const profile = await callApi(page, 'PATCH', `/api/members/${memberId}`, { name, birthday });
  expect(profile.status, JSON.stringify(profile.body)).toBe(200);

  const sale = await callApi(page, 'POST', '/api/sales', {
    idempotencyKey: randomUUID(),
    lines,
    memberId,
    tenders: [{ type: 'cash', amount: 10_000 }],
  });
  expect(sale.status, JSON.stringify(sale.body)).toBe(201);
  return { memberId, memberCode, phone, name, spent: (sale.body as { total: number }).total };
}

describe('member filter (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('builds the seeds’ example filter with the pickers, saves it and exports it for SMS', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.manager);

    const next = monthFromNow(1);
    const base = 100_000 + Math.floor(Math.random() * 800_000);
    const phone = (i: number) => `0912${String(base + i).padStart(6, '0')}`;
    const a = await seedMember(page, phone(1), '林美華', next, true, [{ sku: 'PET-101', qty: 8 }]);
    const b = await seedMember(page, phone(2), '陳志明', next, false, [
      { sku: 'PET-101', qty: 5 },
      { sku: 'PET-102', qty: 4 },
    ]);
    const c = await seedMember(page, phone(3), '王小玉', next, true, [{ sku: 'PET-001', qty: 7 }]);
    const d = await seedMember(page, phone(4), '張家豪', monthFromNow(2), true, [{ sku: 'PET-101', qty: 8 }]);
    const e = await seedMember(page, phone(5), '李淑芬', next, true, [
      { sku: 'PET-102', qty: 1 },
      { sku: 'PET-001', qty: 5 },
    ]);
    // The regular tier has no member discount: what they paid is the list price.
    expect([a.spent, b.spent, c.spent, d.spent, e.spent]).toEqual([5440, 5200, 6230, 5440, 4900]);

    await page.getByTestId('nav-segments').click();
    await page.waitForURL('**/admin/segments');
    const count = page.getByTestId('segment-count');
    const condition = (field: string) => page.locator(`[data-testid="segment-condition"][data-field="${field}"]`);
    const addField = page.getByTestId('segment-add-field').first();

    // Birthday next month: A, B, C and E.
    await addField.selectOption('birthMonth');
    await condition('birthMonth').getByTestId('choice-next_month').check();
    await expect.poll(() => count.getAttribute('data-count')).toBe('4');
    expect(await count.getAttribute('data-total')).toBe('5');

    // Cumulative spend of at least NT$5,000: not counted until a bound is typed, then E drops out.
    await addField.selectOption('spend');
    await expect.poll(() => condition('spend').getAttribute('data-complete')).toBe('false');
    await condition('spend').getByTestId('segment-incomplete').waitFor();
    await condition('spend').getByTestId('bounds-min').fill('5000');
    await expect.poll(() => condition('spend').getAttribute('data-complete')).toBe('true');
    await expect.poll(() => count.getAttribute('data-count')).toBe('3');

    // Ever bought the category 寵物保健: C drops out.
    await addField.selectOption('bought');
    await condition('bought').getByTestId('choice-category').check();
    await condition('bought').getByTestId('pick-category').selectOption('寵物保健');
    await expect.poll(() => count.getAttribute('data-count')).toBe('2');
    await expect
      .poll(async () =>
        (
          await page
            .getByTestId('segment-match')
            .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-member-code')))
        ).sort(),
      )
      .toEqual([a.memberCode, b.memberCode].sort());
    // Rows open the member's profile.
    expect(
      await page.locator(`[data-testid="segment-match"][data-member-id="${a.memberId}"] a`).getAttribute('href'),
    ).toBe(`/members/${a.memberId}`);
    await shot(page, 'segment-builder.png');

    // Saved with a name, listed with its live count.
    const name = '下月壽星寵物保健';
    await page.getByTestId('segment-name').fill(name);
    await page.getByTestId('segment-save').click();
    await page.getByTestId('segment-saved').waitFor();
    const savedRow = page.locator(`[data-testid="segment-saved-row"][data-name="${name}"]`);
    await savedRow.waitFor();
    await expect.poll(() => savedRow.getByTestId('segment-saved-count').getAttribute('data-count')).toBe('2');

    // Export for SMS: analysis would not allow the contact columns.
    await savedRow.getByTestId('segment-export').click();
    const panel = page.getByTestId('segment-export-panel');
    const purpose = panel.getByTestId('export-purpose');
    const columns = panel.getByTestId('export-columns');
    await purpose.getByTestId('choice-analysis').check();
    expect(await columns.getByTestId('choice-phone').isDisabled()).toBe(true);
    await panel.getByTestId('export-no-contact').waitFor();
    await purpose.getByTestId('choice-sms').check();
    expect(await columns.getByTestId('choice-phone').isDisabled()).toBe(false);
    // Exactly member code, phone, name and spend.
    for (const box of await columns.locator('input[type="checkbox"]').all()) await box.uncheck();
    for (const column of ['memberCode', 'phone', 'name', 'cumulativeSpend']) {
      await columns.getByTestId(`choice-${column}`).check();
    }

    const [download] = await Promise.all([page.waitForEvent('download'), panel.getByTestId('export-download').click()]);
    expect(download.suggestedFilename()).toMatch(new RegExp(`^${name}.*\\.csv$`));
    const bytes = await readFile(await download.path());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const rows = bytes.subarray(3).toString('utf8').trim().split(/\r?\n/);
    expect(rows).toEqual(['memberCode,phone,name,cumulativeSpend', `${a.memberCode},${a.phone},林美華,5440`]);

    // B matched but did not agree to SMS.
    const done = panel.getByTestId('export-done');
    await done.waitFor();
    expect(await done.getAttribute('data-exported')).toBe('1');
    expect(await done.getAttribute('data-left-out')).toBe('1');
    await shot(page, 'segment-export.png');

    expect(pageErrors).toEqual([]);
  });
});
