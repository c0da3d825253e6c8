/**
 * Every date a person types is a real calendar date or a clear error: 2026-02-31 (and 2025-02-29,
 * 2026-04-31) are refused with 400 and the field named, on every route that takes a date, and
 * nothing is recorded. A real date (2024-02-29, a leap day) goes through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { MemberCard } from '../../hub/src/protocol/members.ts';
import { type TabletClient, pairedTablet, startTestHub, demoPin, signUpMember } from '../support/test-hub.ts';
import { lastSeq } from '../support/sales.ts';
import { scanJournal } from '../support/journal-files.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const clock = new FakeClock('2026-11-22T04:00:00Z');
const NOT_DATES = ['2026-02-31', '2025-02-29', '2026-04-31'];
let hub: Hub;
let cashier: TabletClient;
let manager: TabletClient;
let memberId: string;

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make(), clock: clock.now });
  cashier = await pairedTablet(hub, demoPin('cashier'), 'Counter');
  manager = await pairedTablet(hub, demoPin('manager'), 'Back office');
  memberId = await signUpMember(cashier, '0955111222');
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

/** Refused with 400, a code that says it is a date, the date in the message, and nothing of it journalled. */
async function expectRefused(
  send: () => Promise<{ status: number; body: { error?: { code: string; message: string } } }>,
  date: string,
): Promise<void> {
  const seq = await lastSeq(hub.url);
  const res = await send();
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(['invalid_date', 'invalid_segment']).toContain(res.body.error?.code);
  expect(JSON.stringify(res.body.error)).toContain(date);
  expect(JSON.stringify(res.body.error)).toMatch(/not a date on the calendar/);
  // Nothing the request could have written (the welcome SMS and automatic tags may still be busy).
  const written = scanJournal(hub.config.dataDir).events.filter((event) => event.seq > seq);
  expect(written.map((event) => event.type)).not.toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^(member\.profile_updated|coupon\.created|segment\.saved|tag_rule\.saved)$/),
    ]),
  );
}

const coupon = (validFrom: string, validTo: string | null) => ({
  name: '測試券',
  discount: { kind: 'amount', value: 10 },
  minSpend: 0,
  validFrom,
  validTo,
  maxUses: null,
  trigger: null,
  excludeExistingBuyers: false,
});

const definitions = (date: string) => [
  { field: 'memberSince', date: { before: date } },
  { field: 'memberSince', date: { after: date } },
  { field: 'lastPurchase', date: { from: '2026-01-01', to: date } },
  { field: 'purchaseCount', min: 1, window: { from: date, to: '2026-11-01' } },
  { field: 'spend', min: 1, window: { from: '2026-01-01', to: date } },
  { field: 'bought', category: '飲料', window: { from: date, to: '2026-11-01' } },
];
const definition = (condition: unknown) => ({ version: 1, root: { op: 'and', items: [condition] } });

describe('dates people type are calendar dates', () => {
  it.each(NOT_DATES)('a birthday of %s is refused; the profile keeps what it had', async (date) => {
    await expectRefused(() => cashier.request('PATCH', `/api/members/${memberId}`, { birthday: date }), date);
    const card = (await cashier.request('GET', `/api/members/${memberId}/card`)).body as unknown as MemberCard;
    expect(card.birthday).toBeNull();
  });

  it('a leap-day birthday is a date', async () => {
    const res = await cashier.request('PATCH', `/api/members/${memberId}`, { birthday: '2004-02-29' });
    expect(res.status).toBe(200);
    expect((res.body as unknown as MemberCard).birthday).toBe('2004-02-29');
  });

  it.each(NOT_DATES)('a coupon valid from or to %s is refused', async (date) => {
    await expectRefused(() => manager.request('POST', '/api/coupons', coupon(date, null)), date);
    await expectRefused(() => manager.request('POST', '/api/coupons', coupon('2026-01-01', date)), date);
    expect((await manager.request('POST', '/api/coupons', coupon('2028-02-29', null))).status).toBe(201);
  });

  it.each(['0000-01-01', '9999-12-31', '1899-12-31', '2100-01-01'])(
    'a coupon valid from or to %s (outside 1900-2099, like every other date) is refused',
    async (date) => {
      const seq = await lastSeq(hub.url);
      for (const body of [coupon(date, null), coupon('2026-01-01', date)]) {
        const res = await manager.request('POST', '/api/coupons', body);
        expect(res.status, JSON.stringify(res.body)).toBe(400);
        expect(res.body.error?.code).toBe('invalid_request');
        expect(JSON.stringify(res.body.error)).toMatch(/validFrom|validTo/);
      }
      const written = scanJournal(hub.config.dataDir).events.filter((event) => event.seq > seq);
      expect(written.map((event) => event.type)).not.toContain('coupon.created');
    },
  );

  it.each(NOT_DATES)('report and repurchase ranges with %s are refused', async (date) => {
    for (const url of [
      `/api/reports/members?from=${date}&to=2026-11-01`,
      `/api/reports/products?from=2026-01-01&to=${date}`,
      `/api/analytics/repurchase-due?from=${date}&to=2026-11-30`,
    ]) {
      await expectRefused(() => manager.request('GET', url), date);
    }
  });

  it.each(NOT_DATES)('segment and tag-rule dates of %s are refused, naming the place', async (date) => {
    for (const condition of definitions(date)) {
      const body = definition(condition);
      await expectRefused(() => manager.request('POST', '/api/segments/preview', { definition: body }), date);
      await expectRefused(
        () => manager.request('POST', '/api/segments', { name: `seg ${date}`, definition: body }),
        date,
      );
      await expectRefused(
        () => manager.request('POST', '/api/tag-rules', { name: `rule ${date}`, tag: '測試', definition: body }),
        date,
      );
    }
  });
});
