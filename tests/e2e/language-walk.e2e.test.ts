/**
 * End to end, every page in each language (issue 13, point 8): an owner walks the whole tablet UI
 * with data present (a member with a name, a sale, a percentage coupon, a saved segment), first in
 * Traditional Chinese, then in English, and every word on screen (text, placeholders, labels read
 * aloud, choices in lists) must be in the language chosen: no English in the Chinese UI, no Chinese
 * in the English one, and no message key (`admin.points.title`) shown raw.
 *
 * What the store typed or sells is shown as it is in both languages (product names and categories,
 * the store's, staff's and member's names, the coupon's and segment's names), and so are brand and
 * product names the allow-lists below name. The receipt is the paper's copy: it is bilingual on
 * purpose and left out.
 *
 * Needs `npm run build` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import type { SignUpResult } from '../../hub/src/protocol/members.ts';
import { apiGet, callApi, pairAndLogIn, shot, useBrowserSession } from '../support/browser.ts';

/** Latin words the Chinese UI may show: brands, products, standards and units staff know by them. */
const LATIN_ALLOWED = new Set([
  'Ayi',
  'AYI',
  'NT',
  'SKU',
  'LINE',
  'Pay',
  'SMS',
  'CSV',
  'Excel',
  'QR',
  'PIN',
  'HQ',
  'RFM',
  'Wi',
  'Fi',
  'USB',
  'ESC',
  'POS',
  'MQTT',
  'TLS',
  'ID',
  'Code',
  'PDPA',
  'English',
]);

/** Chinese the English UI may show: the name of the other language on its switch. */
const CJK_ALLOWED = ['繁體中文'];

/** Parts of a page not in the UI's language by design. */
const LEFT_OUT = ['[data-testid="sale-receipt"]', '[data-testid^="lang-"]', 'header .logo[aria-hidden="true"]'];

// Chinese characters and full-width punctuation (a full-width ＋ on a button is a sign, not a word).
const CJK = /[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff01-\uff0a\uff0c-\uff5e]/u;
const RAW_KEY = /\b[a-z][a-zA-Z]+(?:\.[a-zA-Z_]+){1,}\b/g;

/** Everything a person sees or hears of the page: its text, and the words in its attributes. */
async function wordsOnPage(page: Page): Promise<string> {
  // A script for the page (the tests are compiled without the DOM's types).
  return page.evaluate(`(${WORDS_ON_PAGE})(${JSON.stringify(LEFT_OUT)})`);
}

const WORDS_ON_PAGE = `(leftOut) => {
  const hidden = leftOut.flatMap((selector) => [...document.querySelectorAll(selector)]);
  const saved = hidden.map((el) => [el, el.style.display]);
  for (const el of hidden) el.style.display = 'none';
  const parts = [document.body.innerText];
  for (const [el, display] of saved) el.style.display = display;
  const skipped = (el) => hidden.some((h) => h.contains(el));
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [title], [alt]')) {
    if (skipped(el)) continue;
    for (const name of ['placeholder', 'aria-label', 'title', 'alt']) {
      const value = el.getAttribute(name);
      if (value) parts.push(value);
    }
  }
  for (const option of document.querySelectorAll('option')) if (!skipped(option)) parts.push(option.text);
  parts.push(document.title);
  return parts.join('\\n');
}`;

/** The words of `text` in the wrong language for `lang`, or raw message keys, the data taken out first. */
function foreignWords(text: string, lang: 'zh-TW' | 'en', data: readonly string[]): string[] {
  let rest = text;
  // Longest first, so a name is not cut by a shorter one inside it.
  for (const d of [...data].sort((a, b) => b.length - a.length)) if (d) rest = rest.replaceAll(d, ' ');
  const found = new Set<string>();
  for (const key of rest.match(RAW_KEY) ?? []) found.add(`raw key ${key}`);
  if (lang === 'zh-TW') {
    // Codes and amounts (AYI-000123, 300ml, 20260110-000042) are not words.
    for (const token of rest.split(/[\s,，、/()（）:：·|「」“”"'’]+/u)) {
      if (/\d/.test(token)) continue;
      // A setting the technician types (AYI_SMS_PROVIDER) is a name, not English.
      if (/^AYI_[A-Z_]+$/.test(token)) continue;
      for (const word of token.match(/[A-Za-z]{2,}/g) ?? []) if (!LATIN_ALLOWED.has(word)) found.add(word);
    }
  } else {
    for (const allowed of CJK_ALLOWED) rest = rest.replaceAll(allowed, ' ');
    for (const line of rest.split('\n')) if (CJK.test(line)) found.add(line.trim());
  }
  return [...found];
}

/** Every `name` in an API answer. */
function namesIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(namesIn);
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) => (key === 'name' && typeof v === 'string' ? [v] : namesIn(v)));
}

interface Walk {
  name: string;
  path: string;
  /** Opens what only a tap shows (a sale's detail, each report tab). */
  then?: (page: Page) => Promise<void>;
}

describe('every page in each language (browser, built hub + UI)', () => {
  const session = useBrowserSession();

  it('shows only the chosen language on every page, as the owner, with data present', async () => {
    const { hub, page, pageErrors } = session();
    await pairAndLogIn(page, hub.url, hub.pairingCode, '辦公室', hub.demoPins.owner);

    // A member with a name, a sale of theirs, a coupon of 10 % off, a saved segment.
    const signUp = await callApi(page, 'POST', '/api/members', { phone: '0912888999' });
    expect(signUp.status).toBe(201);
    const member = (signUp.body as SignUpResult).member;
    expect((await callApi(page, 'PATCH', `/api/members/${member.memberId}`, { name: '林美華' })).status).toBe(200);
    const sale = await callApi(page, 'POST', '/api/sales', {
      idempotencyKey: crypto.randomUUID(),
      memberId: member.memberId,
      lines: [{ sku: 'FOD-001', qty: 2 }],
      tenders: [{ type: 'cash', amount: 1000 }],
    });
    expect(sale.status).toBe(201);
    const coupon = await callApi(page, 'POST', '/api/coupons', {
      name: '開幕九折',
      code: 'OPEN10',
      discount: { kind: 'percent', value: 10 },
      minSpend: 0,
      validFrom: '2026-01-01',
      validTo: null,
      maxUses: null,
      trigger: null,
      excludeExistingBuyers: false,
    });
    expect(coupon.status, JSON.stringify(coupon.body)).toBe(201);
    const segment = await callApi(page, 'POST', '/api/segments', {
      name: '下月壽星',
      definition: { version: 1, root: { op: 'and', items: [{ field: 'birthMonth', relative: 'next_month' }] } },
    });
    expect(segment.status, JSON.stringify(segment.body)).toBe(201);

    // What the store typed or sells, shown as it is in either language.
    const products = await apiGet<{ products?: { name: string; category: string }[] }>(page, '/api/products');
    const catalog = (products.products ?? (products as unknown as { name: string; category: string }[])).flatMap(
      (p) => [p.name, p.category],
    );
    const me = await apiGet<{ storeName?: string; staff: { name: string } }>(page, '/api/me');
    const sales = await apiGet<{ sales: SaleView[] }>(page, '/api/sales');
    // The store's own coupons (the demo's come in Chinese) and the names given to its devices.
    const named = [
      ...namesIn(await apiGet<unknown>(page, '/api/coupons')),
      ...namesIn(await apiGet<unknown>(page, '/api/hardware')),
    ];
    // The member's coupon codes are random letters (a code without a digit reads like a word).
    const card = await apiGet<{ coupons: { code: string }[] }>(page, `/api/members/${member.memberId}/card`);
    const couponCodes = card.coupons.map((c) => c.code);
    const data = [
      ...catalog,
      me.storeName ?? '',
      me.staff.name,
      ...sales.sales.map((s) => s.staffName),
      '林美華',
      '開幕九折',
      '下月壽星',
      '辦公室',
      ...named,
      ...couponCodes,
    ];

    const reportTabs = async (p: Page) => {
      for (const tab of ['rfm', 'products', 'crossSell', 'due']) {
        await p.getByTestId(`report-tab-${tab}`).click();
        await p.waitForTimeout(300);
        texts.push(await wordsOnPage(p));
      }
    };
    const pages: Walk[] = [
      { name: 'checkout', path: '/checkout' },
      {
        name: 'sales',
        path: '/sales',
        then: async (p) => {
          await p.getByTestId('sale-row').first().click();
          await p.getByTestId('sale-detail-no').waitFor();
        },
      },
      { name: 'members', path: '/members' },
      { name: 'member', path: `/members/${member.memberId}` },
      { name: 'coupons', path: '/admin/coupons' },
      { name: 'segments', path: '/admin/segments' },
      { name: 'tag rules', path: '/admin/tag-rules' },
      { name: 'reports', path: '/admin/reports', then: reportTabs },
      { name: 'messages', path: '/admin/messages' },
      { name: 'devices', path: '/admin/devices' },
      { name: 'HQ', path: '/admin/hq' },
    ];

    let texts: string[] = [];
    const problems: string[] = [];
    for (const lang of ['zh-TW', 'en'] as const) {
      await page.evaluate(`localStorage.setItem('ayi.locale', ${JSON.stringify(lang)})`);
      for (const walk of pages) {
        texts = [];
        await page.goto(`${hub.url}${walk.path}`);
        await page.waitForLoadState('networkidle');
        await page.locator('main h1, main h2').first().waitFor();
        expect(await page.evaluate('document.documentElement.lang')).toBe(lang === 'en' ? 'en' : 'zh-Hant-TW');
        texts.push(await wordsOnPage(page));
        if (walk.path === '/admin/reports') {
          // A date field reads as the other dates on screen, not in the browser's language (年/月/日).
          const shown = await page.getByTestId('report-from-shown').textContent();
          expect(shown).toMatch(lang === 'en' ? /^\d{1,2} [A-Z][a-z]{2} \d{4}$/ : /^\d{4}\/\d{2}\/\d{2}$/);
        }
        await walk.then?.(page);
        texts.push(await wordsOnPage(page));
        await shot(page, `walk-${lang}-${walk.name.replaceAll(' ', '-')}.png`);
        const words = new Set(texts.flatMap((text) => foreignWords(text, lang, data)));
        for (const word of words) problems.push(`${lang} ${walk.name}: ${word}`);
      }
    }
    expect(problems).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
