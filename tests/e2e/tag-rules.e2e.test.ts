/**
 * End to end, automatic tags (S2): the built hub (child process) serving the built tablet UI, in
 * headless Chromium. A store manager writes the rule "bought 寵物用品 in the last 180 days → 有養寵物"
 * with the builder's pickers (Enter in its fields saves nothing; only the Save button does) and
 * sees how many members it tagged. A cashier on another tablet then sells cat litter to a member
 * who had only bought tea: the rule tags them too, their page names the rule, and deleting the rule
 * takes the tag off again.
 *
 * Demo catalog: PET-001 皇家 室內成貓飼料 2kg and PET-004 礦砂貓砂 10L (寵物用品), DRK-001 統一麥香紅茶 (飲料).
 *   黃小芳  1 x PET-001 today   -> tagged when the rule is saved
 *   吳建國  2 x DRK-001 today   -> not tagged; tagged after the cashier sells them PET-004
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Set AYI_E2E_SCREENSHOT_DIR to keep screenshots of the screens.
 */
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { MemberCard } from '../../hub/src/protocol/members.ts';
import {
  apiGet,
  callApi,
  onAnotherTablet,
  openFromTopBar,
  pairAndLogIn,
  shot,
  useBrowserSession,
} from '../support/browser.ts';

const LIVE = { timeout: 15_000, interval: 200 };
const RULE_NAME = '半年內買過寵物用品';
const TAG = '有養寵物';

async function signUp(page: Page, phone: string, name: string): Promise<string> {
  const res = await callApi(page, 'POST', '/api/members', { phone });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const { memberId } = (res.body as { member: { memberId: string } }).member;
  const profile = await callApi(page, 'PATCH', `/api/members/${memberId}`, { name });
  expect(profile.status, JSON.stringify(profile.body)).toBe(200);
  return memberId;
}

async function sellTo(page: Page, memberId: string, lines: { sku: string; qty: number }[]): Promise<void> {
  const res = await callApi(page, 'POST', '/api/sales', {
    idempotencyKey: randomUUID(),
    lines,
    memberId,
    tenders: [{ type: 'cash', amount: 2_000 }],
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

/** The member's tags as the hub's card has them. */
async function tagsOf(page: Page, memberId: string): Promise<MemberCard['tags']> {
  return (await apiGet<MemberCard>(page, `/api/members/${memberId}/card`)).tags;
}

describe('automatic tag rules (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('tags members from a rule built with the pickers, after a sale on another tablet, and untags on delete', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.manager);

    const base = 100_000 + Math.floor(Math.random() * 800_000);
    const catOwner = await signUp(page, `0922${base}`, '黃小芳');
    const teaDrinker = await signUp(page, `0933${base}`, '吳建國');
    await sellTo(page, catOwner, [{ sku: 'PET-001', qty: 1 }]);
    await sellTo(page, teaDrinker, [{ sku: 'DRK-001', qty: 2 }]);

    await openFromTopBar(page, 'nav-segments');
    await page.waitForURL('**/admin/segments');
    await page.getByTestId('tab-tag-rules').click();
    await page.waitForURL('**/admin/tag-rules');
    await page.getByTestId('tag-rule-new').click();
    const form = page.getByTestId('tag-rule-form');
    const rows = page.getByTestId('tag-rule-row');

    // Enter in the name saves nothing (the rule is not finished).
    await form.getByTestId('tag-rule-name').fill(RULE_NAME);
    await form.getByTestId('tag-rule-name').press('Enter');
    await form.getByTestId('tag-rule-tag').fill(TAG);
    await form.getByTestId('tag-rule-tag').press('Enter');
    expect(await form.getByTestId('tag-rule-problem').count()).toBe(0);

    // Bought the category 寵物用品 in the last 180 days, with the pickers.
    const rootAdd = form.locator('[data-testid="segment-group"][data-root] > [data-testid="segment-add"]');
    await rootAdd.getByTestId('segment-add-field').selectOption('bought');
    await rootAdd.getByTestId('segment-add-go').click();
    const bought = form.locator('[data-testid="segment-condition"][data-field="bought"]');
    await bought.getByTestId('choice-category').check();
    await bought.getByTestId('pick-category').selectOption('寵物用品');
    await bought.getByTestId('choice-lastDays').check();
    await bought.getByTestId('window-last-days').fill('180');
    // Enter in a field of the builder does not save the rule either.
    await bought.getByTestId('window-last-days').press('Enter');
    await expect.poll(() => form.getByTestId('segment-count').getAttribute('data-count')).toBe('1');
    expect(await rows.count()).toBe(0);
    expect(await form.isVisible()).toBe(true);
    await shot(page, 'tag-rule-form.png');

    // Saved with the button: 黃小芳 is tagged at once.
    await form.getByTestId('tag-rule-save').click();
    await page.getByTestId('tag-rule-saved').waitFor();
    const row = page.locator(`[data-testid="tag-rule-row"][data-tag="${TAG}"]`);
    await row.waitFor();
    expect(await rows.count()).toBe(1);
    const tagged = row.getByTestId('tag-rule-tagged');
    expect(await tagged.getAttribute('data-count')).toBe('1');
    expect(await tagged.textContent()).toContain('1 位');
    expect((await tagsOf(page, teaDrinker)).map((t) => t.tag)).not.toContain(TAG);

    // A cashier on another tablet sells cat litter to 吳建國: the rule's count moves by itself.
    await onAnotherTablet(session(), async (tablet) => {
      await pairAndLogIn(tablet, hub.url, await hub.newPairingCode(), '櫃台 2', hub.demoPins.cashier);
      await sellTo(tablet, teaDrinker, [{ sku: 'PET-004', qty: 1 }]);
    });
    await expect.poll(() => tagged.getAttribute('data-count'), LIVE).toBe('2');
    await shot(page, 'tag-rules.png');

    // 吳建國's page shows the tag and the rule that set it.
    await page.goto(`${hub.url}/members/${teaDrinker}`);
    const chip = page.locator(`[data-testid="tag-chip"][data-tag="${TAG}"]`);
    await chip.waitFor();
    expect(await chip.getByTestId('tag-rule').textContent()).toContain(RULE_NAME);
    const card = (await tagsOf(page, teaDrinker)).find((t) => t.tag === TAG);
    expect(card?.ruleName).toBe(RULE_NAME);
    await shot(page, 'tag-rule-member.png');

    // Deleting the rule takes its tag off both members.
    await page.goto(`${hub.url}/admin/tag-rules`);
    await row.waitFor();
    await row.getByTestId('tag-rule-delete').click();
    await row.getByTestId('tag-rule-delete-confirm').click();
    await expect.poll(() => rows.count()).toBe(0);
    expect((await tagsOf(page, teaDrinker)).map((t) => t.tag)).not.toContain(TAG);
    expect((await tagsOf(page, catOwner)).map((t) => t.tag)).not.toContain(TAG);
    await page.goto(`${hub.url}/members/${teaDrinker}`);
    await page.getByTestId('profile-tags').waitFor();
    expect(await page.locator(`[data-testid="tag-chip"][data-tag="${TAG}"]`).count()).toBe(0);

    expect(pageErrors).toEqual([]);
  });
});
