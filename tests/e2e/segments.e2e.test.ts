/**
 * End to end: the built hub (child process) serving the built tablet UI, driven in headless
 * Chromium by a store manager who builds the seeds' example filter ("birthday next month AND
 * cumulative spend ≥ 5000 AND ever bought 寵物保健") with the builder's pickers, watches the count
 * follow each condition, saves the segment and exports it for an SMS campaign. Then the saved
 * segment is opened again, changed (spend and a product found by typing), exported while the
 * change is not saved yet (which the export says), saved and exported for LINE.
 *
 * Five members are signed up and sell through the API first:
 *   A 林美華  birthday next month, SMS + LINE yes, 8 x 毛孩關節保健粉 (680)     = 5,440  -> matches, exported
 *   B 陳志明  birthday next month, SMS no,  5 x 關節保健粉 + 4 x 寵物魚油 (450) = 5,200  -> matches, left out
 *   C 王小玉  birthday next month, SMS yes, 7 x 貓飼料 (890, 寵物用品)          = 6,230  -> never bought 寵物保健
 *   D 張家豪  birthday in two months, SMS yes, 8 x 關節保健粉                  = 5,440  -> not next month
 *   E 李淑芬  birthday next month, SMS yes, 1 x 魚油 + 5 x 貓飼料              = 4,900  -> spent under 5,000
 * Changed to spend ≥ 5,300 AND bought SKU PET-101 (毛孩關節保健粉): A alone (B spent 5,200).
 *
 * Exports are in the language on screen (Traditional Chinese here) with phones in E.164.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Set AYI_E2E_SCREENSHOT_DIR to keep screenshots of the screens.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Download, Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { callApi, openFromTopBar, pairAndLogIn, shot, useBrowserSession } from '../support/browser.ts';

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

/** Signs a member up (with the consent given), gives a name and birthday, and sells to them. */
async function seedMember(
  page: Page,
  phone: string,
  name: string,
  birthMonth: number,
  consent: { sms: boolean; line?: boolean },
  lines: { sku: string; qty: number }[],
): Promise<SeededMember> {
  const signUp = await callApi(page, 'POST', '/api/members', { phone, consent });
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

/** A Taiwanese mobile 09xxxxxxxx as exports write it: E.164. */
const e164 = (phone: string) => `+886${phone.slice(1)}`;

/** The downloaded CSV: its first bytes and its lines after the BOM. */
async function csvOf(download: Download): Promise<{ bom: number[]; rows: string[] }> {
  const bytes = await readFile(await download.path());
  return { bom: [...bytes.subarray(0, 3)], rows: bytes.subarray(3).toString('utf8').trim().split(/\r?\n/) };
}

/** Where an element's top is in the window (the page scrolls inside the layout's main). */
const topInWindow = (locator: Locator) => locator.evaluate((el) => el.getBoundingClientRect().top);

describe('member filter (browser, built hub + UI)', () => {
  const session = useBrowserSession();
  /** Member A of the first test, whom the second one exports again. */
  let memberA: SeededMember | undefined;

  it('builds the seeds’ example filter with the pickers, saves it and exports it for SMS', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.manager);

    const next = monthFromNow(1);
    const base = 100_000 + Math.floor(Math.random() * 800_000);
    const phone = (i: number) => `0912${String(base + i).padStart(6, '0')}`;
    const a = await seedMember(page, phone(1), '林美華', next, { sms: true, line: true }, [{ sku: 'PET-101', qty: 8 }]);
    const b = await seedMember(page, phone(2), '陳志明', next, { sms: false }, [
      { sku: 'PET-101', qty: 5 },
      { sku: 'PET-102', qty: 4 },
    ]);
    const c = await seedMember(page, phone(3), '王小玉', next, { sms: true }, [{ sku: 'PET-001', qty: 7 }]);
    const d = await seedMember(page, phone(4), '張家豪', monthFromNow(2), { sms: true }, [{ sku: 'PET-101', qty: 8 }]);
    const e = await seedMember(page, phone(5), '李淑芬', next, { sms: true }, [
      { sku: 'PET-102', qty: 1 },
      { sku: 'PET-001', qty: 5 },
    ]);
    // The regular tier has no member discount: what they paid is the list price.
    expect([a.spent, b.spent, c.spent, d.spent, e.spent]).toEqual([5440, 5200, 6230, 5440, 4900]);
    memberA = a;

    // Every count the builder asks the hub for.
    const previews: string[] = [];
    page.on('request', (req) => {
      if (req.method() === 'POST' && new URL(req.url()).pathname === '/api/segments/preview') {
        previews.push(req.postData() ?? '');
      }
    });

    await openFromTopBar(page, 'nav-segments');
    await page.waitForURL('**/admin/segments');
    const count = page.getByTestId('segment-count');
    const announced = page.getByTestId('segment-count-announced');
    const conditions = page.getByTestId('segment-condition');
    const condition = (field: string) => page.locator(`[data-testid="segment-condition"][data-field="${field}"]`);
    const rootAdd = page.locator('[data-testid="segment-group"][data-root] > [data-testid="segment-add"]');
    const addCondition = async (field: string, where: Locator = rootAdd) => {
      await where.getByTestId('segment-add-field').selectOption(field);
      await where.getByTestId('segment-add-go').click();
    };

    // Browsing the field list with the arrow keys adds nothing: only the 加入 button does.
    await rootAdd.getByTestId('segment-add-field').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect(await conditions.count()).toBe(0);

    // Birthday next month: A, B, C and E.
    await addCondition('birthMonth');
    expect(await conditions.count()).toBe(1);
    await condition('birthMonth').getByTestId('choice-next_month').check();
    await expect.poll(() => count.getAttribute('data-count')).toBe('4');
    expect(await count.getAttribute('data-total')).toBe('5');
    // Screen readers hear the settled count, not "計算中…" at every edit.
    await expect.poll(() => announced.textContent()).toBe('4 位符合，共 5 位會員');

    // Cumulative spend: not counted until a bound is typed.
    await addCondition('spend');
    await expect.poll(() => condition('spend').getAttribute('data-complete')).toBe('false');
    await condition('spend').getByTestId('segment-incomplete').waitFor();

    // Bounds the wrong way round are said in Chinese next to the condition and never sent.
    const spendProblem = condition('spend').getByTestId('segment-condition-problem');
    await condition('spend').getByTestId('bounds-min').fill('6000');
    await condition('spend').getByTestId('bounds-max').fill('5000');
    await expect.poll(() => spendProblem.getAttribute('data-problem')).toBe('minOverMax');
    expect(await spendProblem.textContent()).toContain('「至少」（6000）不能大於「最多」（5000）。');
    await page.getByTestId('segment-count-wrong').waitFor();
    expect(await count.getAttribute('data-count')).toBe('');
    await expect.poll(() => announced.textContent()).toBe('條件有問題，請看標示紅色的地方。');
    // A count would have been asked for 250 ms after the last edit.
    await page.waitForTimeout(800);
    expect(previews.filter((body) => body.includes('"max":5000'))).toEqual([]);

    // A window longer than the 3 years of history kept: also the tablet's own words.
    await condition('spend').getByTestId('bounds-max').fill('');
    await condition('spend').getByTestId('choice-lastDays').check();
    await condition('spend').getByTestId('window-last-days').fill('2000');
    await expect.poll(() => spendProblem.getAttribute('data-problem')).toBe('lastDaysRange');
    expect(await spendProblem.textContent()).toContain('最近幾天要在 1 到 1095 天之間');
    await condition('spend').getByTestId('choice-all').check();

    // At least NT$5,000 over all time: E drops out.
    await condition('spend').getByTestId('bounds-min').fill('5000');
    await expect.poll(() => condition('spend').getAttribute('data-complete')).toBe('true');
    expect(await spendProblem.count()).toBe(0);
    await expect.poll(() => count.getAttribute('data-count')).toBe('3');
    await expect.poll(() => announced.textContent()).toBe('3 位符合，共 5 位會員');

    // Ever bought the category 寵物保健: C drops out.
    await addCondition('bought');
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

    // A sub-group with a condition in it is only removed after a yes.
    await rootAdd.getByTestId('segment-add-group').click();
    const subGroup = page.locator('[data-testid="segment-group"]:not([data-root])');
    await addCondition('gender', subGroup.locator('> [data-testid="segment-add"]'));
    expect(await conditions.count()).toBe(4);
    const removeGroup = subGroup.locator('> div > div > [data-testid="segment-remove"]');
    await removeGroup.click();
    const groupDialog = page.getByTestId('segment-remove-group-dialog');
    await groupDialog.waitFor();
    expect(await groupDialog.textContent()).toContain('裡面的 1 個條件會一起移除');
    await groupDialog.getByTestId('segment-remove-group-dialog-cancel').click();
    expect(await subGroup.count()).toBe(1);
    expect(await conditions.count()).toBe(4);
    await removeGroup.click();
    await page.getByTestId('segment-remove-group-confirm').click();
    expect(await subGroup.count()).toBe(0);
    expect(await conditions.count()).toBe(3);
    await shot(page, 'segment-builder.png');

    // Saved with a name, listed with its live count.
    const name = '下月壽星寵物保健';
    const unsaved = page.getByTestId('segment-unsaved');
    expect(await unsaved.textContent()).toBe('尚未儲存');
    await page.getByTestId('segment-name').fill(name);
    await page.getByTestId('segment-save').click();
    await page.getByTestId('segment-saved').waitFor();
    expect(await unsaved.count()).toBe(0);
    const savedRow = page.locator(`[data-testid="segment-saved-row"][data-name="${name}"]`);
    await savedRow.waitFor();
    await expect.poll(() => savedRow.getByTestId('segment-saved-count').getAttribute('data-count')).toBe('2');

    // Export for SMS: analysis would not allow the contact columns.
    await savedRow.getByTestId('segment-export').click();
    const panel = page.getByTestId('segment-export-panel');
    const purpose = panel.getByTestId('export-purpose');
    const columns = panel.getByTestId('export-columns');
    expect(await panel.getByTestId('export-draft-differs').count()).toBe(0);
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
    const sms = await csvOf(download);
    expect(sms.bom).toEqual([0xef, 0xbb, 0xbf]);
    // The header as the manager reads it; the phone as SMS gateways take it.
    expect(sms.rows).toEqual(['會員編號,手機,姓名,累積消費', `${a.memberCode},${e164(a.phone)},林美華,5440`]);

    // B matched but did not agree to SMS.
    const done = panel.getByTestId('export-done');
    await done.waitFor();
    expect(await done.getAttribute('data-exported')).toBe('1');
    expect(await done.getAttribute('data-left-out')).toBe('1');
    await shot(page, 'segment-export.png');

    expect(pageErrors).toEqual([]);
  });

  it('opens the saved segment, changes it, is told the export is of the saved one, saves and exports for LINE', async () => {
    const { page, pageErrors } = session();
    const a = memberA;
    if (!a) throw new Error('the first test did not seed the members');
    const name = '下月壽星寵物保健';
    const title = page.getByTestId('segment-title');
    const unsaved = page.getByTestId('segment-unsaved');
    const count = page.getByTestId('segment-count');
    const condition = (field: string) => page.locator(`[data-testid="segment-condition"][data-field="${field}"]`);
    const rootAdd = page.locator('[data-testid="segment-group"][data-root] > [data-testid="segment-add"]');
    const savedRow = page.locator(`[data-testid="segment-saved-row"][data-name="${name}"]`);
    const panel = page.getByTestId('segment-export-panel');
    const discardDialog = page.getByTestId('segment-discard-dialog');

    await panel.getByTestId('export-close').click();
    // Nothing unsaved: starting over asks nothing.
    await page.getByTestId('segment-new').click();
    expect(await discardDialog.count()).toBe(0);
    await expect.poll(() => title.textContent()).toContain('新的會員篩選');
    expect(await page.getByTestId('segment-condition').count()).toBe(0);

    await savedRow.getByTestId('segment-open').click();
    await expect.poll(() => title.textContent()).toContain(name);
    expect(await page.getByTestId('segment-condition').count()).toBe(3);
    expect(await unsaved.count()).toBe(0);
    await expect.poll(() => count.getAttribute('data-count')).toBe('2');

    // 開啟 from the list far down the page (the builder's title scrolled out of sight) brings the
    // title into view again.
    await savedRow.scrollIntoViewIfNeeded();
    expect(await topInWindow(title)).toBeLessThan(0);
    await savedRow.getByTestId('segment-open').click();
    await expect.poll(() => topInWindow(title)).toBeGreaterThanOrEqual(0);
    expect(await topInWindow(title)).toBeLessThan(300);
    expect(await discardDialog.count()).toBe(0);

    // Spend of at least 5,300: B (5,200) drops out, and the draft is marked unsaved.
    await condition('spend').getByTestId('bounds-min').fill('5300');
    await expect.poll(() => count.getAttribute('data-count')).toBe('1');
    expect(await unsaved.textContent()).toBe('尚未儲存');

    // A product found by its SKU with the keyboard: PET-101 and PET-102 are offered, ↓ Enter takes the second.
    await rootAdd.getByTestId('segment-add-field').selectOption('bought');
    await rootAdd.getByTestId('segment-add-go').click();
    const product = condition('bought').nth(1);
    await product.getByTestId('choice-sku').check();
    await product.getByTestId('pick-sku').fill('pet-10');
    await expect
      .poll(() => product.getByTestId('pick-sku-option').evaluateAll((os) => os.map((o) => o.getAttribute('data-sku'))))
      .toEqual(['PET-101', 'PET-102']);
    await product.getByTestId('pick-sku').press('ArrowDown');
    await product.getByTestId('pick-sku').press('Enter');
    expect(await product.getByTestId('pick-sku-chosen').getAttribute('data-sku')).toBe('PET-102');
    // A bought no fish oil.
    await expect.poll(() => count.getAttribute('data-count')).toBe('0');

    // Changed by a tap on a name search: 關節 finds 毛孩關節保健粉 alone.
    await product.getByTestId('pick-sku-change').click();
    await product.getByTestId('pick-sku').fill('關節');
    await expect.poll(() => product.getByTestId('pick-sku-option').count()).toBe(1);
    await product.getByTestId('pick-sku-option').click();
    expect(await product.getByTestId('pick-sku-chosen').getAttribute('data-sku')).toBe('PET-101');
    await expect.poll(() => count.getAttribute('data-count')).toBe('1');

    // Exporting now: the panel says the file is the saved segment, not what is on screen.
    await savedRow.getByTestId('segment-export').click();
    await panel.getByTestId('export-draft-differs').waitFor();
    expect(await panel.getByTestId('export-draft-differs').textContent()).toContain('尚未儲存的變更');

    // Opening it again would throw the changes away: asked first, and kept on 繼續編輯.
    await savedRow.getByTestId('segment-open').click();
    await discardDialog.waitFor();
    await discardDialog.getByTestId('segment-discard-dialog-cancel').click();
    expect(await discardDialog.count()).toBe(0);
    expect(await condition('spend').getByTestId('bounds-min').inputValue()).toBe('5300');
    expect(await unsaved.count()).toBe(1);

    // Saved from the export panel: the list, the marker and the notice follow.
    await panel.getByTestId('export-save-first').click();
    await page.getByTestId('segment-saved').waitFor();
    expect(await unsaved.count()).toBe(0);
    expect(await panel.getByTestId('export-draft-differs').count()).toBe(0);
    await expect.poll(() => savedRow.getByTestId('segment-saved-count').getAttribute('data-count')).toBe('1');

    // LINE: matched by phone, so member code, phone and name by default; e-mail is not for a LINE list.
    await panel.getByTestId('export-purpose').getByTestId('choice-line').check();
    await panel.getByTestId('export-line-match').waitFor();
    expect(await panel.getByTestId('export-columns').getByTestId('choice-email').isDisabled()).toBe(true);
    expect(
      await panel
        .getByTestId('export-columns')
        .locator('input[type="checkbox"]:checked')
        .evaluateAll((boxes) => boxes.map((b) => b.getAttribute('value'))),
    ).toEqual(['memberCode', 'phone', 'name']);
    const [download] = await Promise.all([page.waitForEvent('download'), panel.getByTestId('export-download').click()]);
    const line = await csvOf(download);
    expect(line.bom).toEqual([0xef, 0xbb, 0xbf]);
    expect(line.rows).toEqual(['會員編號,手機,姓名', `${a.memberCode},${e164(a.phone)},林美華`]);
    const done = panel.getByTestId('export-done');
    await done.waitFor();
    expect(await done.getAttribute('data-exported')).toBe('1');
    expect(await done.getAttribute('data-left-out')).toBe('0');
    await shot(page, 'segment-export-line.png');

    expect(pageErrors).toEqual([]);
  });
});
