/**
 * End to end: date fields speak the UI's language, not the tablet's (issue 13, point 8). A tablet
 * set to Chinese showing the English UI, and one set to English showing the Chinese UI: the
 * calendar's month and weekdays, the field's text and its hint follow the UI. A date typed the
 * way staff write it (2026/03/14, 民國 115/03/14) is taken; one that is not a real day is said so
 * and never saved.
 *
 * Needs `npm run build:test` first and Debian's Chromium at /usr/bin/chromium.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { callApi, pairAndLogIn, shot, TABLET_VIEWPORT, useBrowserSession } from '../support/browser.ts';

const HAN = /\p{Script=Han}/u;
const ENGLISH_MONTH = /\b(January|February|March|April|May|June|July|August|September|October|November|December)\b/;

async function useLanguage(page: Page, lang: 'zh-TW' | 'en', path: string, hubUrl: string): Promise<void> {
  await page.evaluate(`localStorage.setItem('ayi.locale', ${JSON.stringify(lang)})`);
  await page.goto(`${hubUrl}${path}`);
  await page.locator('main h1, main h2').first().waitFor();
}

/** The open calendar's text: its month heading, weekday names and month/year choices. */
async function calendarText(page: Page, testid: string): Promise<{ month: string; weekdays: string[]; all: string }> {
  const popover = page.getByTestId(`${testid}-popover`);
  await popover.waitFor();
  return {
    month: ((await page.getByTestId(`${testid}-month`).textContent()) ?? '').trim(),
    weekdays: (await popover.locator('th').allTextContents()).map((text) => text.trim()),
    all: (await popover.innerText()) + (await popover.locator('option:checked').allTextContents()).join(' '),
  };
}

describe('date fields in the UI language (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('draws the calendar in English on a Chinese tablet and takes a picked day', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '櫃台 1', hub.demoPins.manager);
    await useLanguage(page, 'en', '/admin/reports', hub.url);

    await page.getByTestId('report-from-calendar').click();
    const calendar = await calendarText(page, 'report-from');
    await shot(page, 'date-calendar-en.png');
    expect(calendar.month).toMatch(ENGLISH_MONTH);
    expect(calendar.weekdays).toHaveLength(7);
    for (const weekday of calendar.weekdays) expect(weekday).toMatch(/^[A-Z][a-z]{1,2}$/);
    expect(calendar.all).not.toMatch(HAN);

    // The 10th of the month shown: the field reads it as every other English date on screen.
    await page
      .getByTestId('report-from-popover')
      .locator('[data-bits-day]:not([data-outside-month])')
      .getByText('10', { exact: true })
      .click();
    await expect.poll(() => page.getByTestId('report-from-popover').count()).toBe(0);
    await expect.poll(() => page.getByTestId('report-from-shown').textContent()).toMatch(/^10 [A-Z][a-z]{2} \d{4}$/);
    expect(pageErrors).toEqual([]);
  });

  it('draws it in Chinese on an English tablet, takes dates as staff type them and refuses a day that does not exist', async () => {
    const { hub, browser, pageErrors, newTabletPage } = session();
    const context = await browser.newContext({ viewport: TABLET_VIEWPORT, locale: 'en-US', timezoneId: 'Asia/Taipei' });
    try {
      const page = await newTabletPage(context);
      await pairAndLogIn(page, hub.url, await hub.newPairingCode(), 'English tablet', hub.demoPins.manager);
      await useLanguage(page, 'zh-TW', '/admin/reports', hub.url);

      expect(await page.getByTestId('report-from').getAttribute('placeholder')).toBe('年/月/日');
      await page.getByTestId('report-from-calendar').click();
      const calendar = await calendarText(page, 'report-from');
      await shot(page, 'date-calendar-zh.png');
      expect(calendar.month).toMatch(/^\d{4}年\d{1,2}月$/);
      for (const weekday of calendar.weekdays) expect(weekday).toMatch(HAN);
      expect(calendar.all).not.toMatch(ENGLISH_MONTH);
      await page.keyboard.press('Escape');

      // A member's birthday, typed as staff write it.
      const phone = `0912${String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0')}`;
      const signUp = await callApi(page, 'POST', '/api/members', { phone });
      expect(signUp.status, JSON.stringify(signUp.body)).toBe(201);
      const { memberId } = (signUp.body as { member: { memberId: string } }).member;
      await page.goto(`${hub.url}/members/${memberId}`);
      await page.getByTestId('profile-edit').click();
      const birthday = page.getByTestId('profile-birthday-input');

      // 31 February: said at once, in Chinese, and not saved.
      await birthday.fill('1985/02/31');
      await expect
        .poll(() => page.getByTestId('profile-birthday-input-not-a-date').textContent())
        .toContain('不是有效的日期');
      await page.getByTestId('profile-save').click();
      await expect.poll(() => page.getByTestId('profile-birthday-input').getAttribute('aria-invalid')).toBe('true');
      const unsaved = await callApi(page, 'GET', `/api/members/${memberId}/card`);
      expect(unsaved.status).toBe(200);
      expect((unsaved.body as { birthday: string | null }).birthday).toBeNull();

      // The Republic of China year of Taiwanese forms: 民國 74 is 1985.
      await birthday.fill('74/03/14');
      await expect.poll(() => page.getByTestId('profile-birthday-input-not-a-date').count()).toBe(0);
      await page.getByTestId('profile-save').click();
      await page.getByTestId('profile-saved').waitFor();
      await expect.poll(() => page.getByTestId('profile-birthday').textContent()).toContain('1985/03/14');
    } finally {
      await context.close();
    }
    expect(pageErrors).toEqual([]);
  });
});
