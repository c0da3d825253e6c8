/**
 * What the CRM must refuse or withstand, through the API of a real hub: cashiers kept out of
 * manager data; an export carrying only the consented channel's contact, with formulas escaped;
 * erased members never exported or tagged; impossible and far-off dates answered with a clear 400
 * (a year-9999 date once hung the hub); a rule's tag not removable by hand, a rule not reading its
 * own tag; rules and their tags kept over a restart; a "last 180 days" tag ageing out overnight.
 * The clock starts at 10:00 in Taipei on 2026-11-20.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { MemberCard, SignUpResult } from '../../hub/src/protocol/members.ts';
import type { SavedSegmentView, TagRuleView } from '../../hub/src/protocol/crm.ts';
import { type TabletClient, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const clock = new FakeClock('2026-11-20T02:00:00Z');
let dataDir: string;
let hub: Hub;
let cashier: TabletClient;
let manager: TabletClient;
let segment: SavedSegmentView;
const ids: Record<string, string> = {};
const everyone = { version: 1, root: { op: 'and', items: [{ field: 'purchaseCount', min: 0 }] } };
const petOwners = {
  version: 1,
  root: { op: 'and', items: [{ field: 'bought', category: '寵物用品', window: { lastDays: 180 } }] },
};

async function signUp(key: string, phone: string, consent: Record<string, boolean>, name: string) {
  const res = await cashier.request('POST', '/api/members', { phone, consent });
  expect(res.status).toBe(201);
  ids[key] = (res.body as unknown as SignUpResult).member.memberId;
  expect(
    (await cashier.request('PATCH', `/api/members/${ids[key]}`, { name, email: `${key}@example.com` })).status,
  ).toBe(200);
}

const card = async (key: string) =>
  (await cashier.request('GET', `/api/members/${ids[key]}/card`)).body as unknown as MemberCard;

async function exportCsv(body: unknown): Promise<{ status: number; text: string; code?: string }> {
  const res = await manager.request('POST', `/api/segments/${segment.segmentId}/export`, body);
  return {
    status: res.status,
    text: typeof res.body === 'string' ? res.body : '',
    code: res.body?.error?.code,
  };
}

beforeAll(async () => {
  dataDir = temp.make();
  hub = await startTestHub({ dataDir, clock: clock.now });
  cashier = await pairedTablet(hub, '1111', 'Counter');
  manager = await pairedTablet(hub, '222222', 'Office');
  await signUp('sms', '0922000001', { sms: true }, '=HYPERLINK("http://x.example","點我")');
  await signUp('mail', '0922000002', { email: true }, '王小明');
  await signUp('gone', '0922000003', { sms: true, email: true }, '林大同');
  for (const key of ['sms', 'mail', 'gone']) {
    await sell(
      cashier,
      checkoutRequest([{ sku: 'PET-002', qty: 1 }], [{ type: 'cash', amount: 320 }], { memberId: ids[key] }),
    );
  }
  const saved = await manager.request('POST', '/api/segments', { name: '全部會員', definition: everyone });
  expect(saved.status).toBe(201);
  segment = saved.body as unknown as SavedSegmentView;
});
afterAll(async () => {
  await hub?.stop();
  temp.removeAll();
});

describe('roles', () => {
  it('keeps cashiers out of segments, exports, tag rules, analytics and reports', async () => {
    const refused: [string, string, unknown?][] = [
      ['GET', '/api/segments'],
      ['GET', '/api/segments/options'],
      ['POST', `/api/segments/${segment.segmentId}/export`, { purpose: 'sms', columns: ['phone'] }],
      ['GET', '/api/tag-rules'],
      ['POST', '/api/tag-rules', { name: 'x', tag: 'x', definition: everyone }],
      ['POST', '/api/tag-rules/run', {}],
      ['GET', '/api/analytics/rfm'],
      ['GET', '/api/analytics/repurchase-due'],
      ['GET', '/api/analytics/cross-sell'],
      ['GET', '/api/reports/members?from=2026-11-01&to=2026-11-20'],
      ['GET', '/api/reports/products?from=2026-11-01&to=2026-11-20'],
    ];
    for (const [method, url, body] of refused) {
      expect((await cashier.request(method, url, body)).status, `${method} ${url}`).toBe(403);
    }
    // A member's own predictions are for the counter.
    expect((await cashier.request('GET', `/api/members/${ids.sms}/repurchase`)).status).toBe(200);
  });
});

describe('export', () => {
  it('an SMS list has numbers of SMS-consenting members only, and no e-mail addresses', async () => {
    const sms = await exportCsv({ purpose: 'sms', columns: ['memberCode', 'phone', 'name'], language: 'en' });
    expect(sms.status).toBe(200);
    const lines = sms.text.trim().split(/\r?\n/);
    expect(lines.length).toBe(3); // header, sms, gone
    expect(sms.text).toContain('+886922000001');
    expect(sms.text).not.toContain('+886922000002');
    expect((await exportCsv({ purpose: 'sms', columns: ['memberCode', 'email'] })).code).toBe('column_not_for_channel');
    expect((await exportCsv({ purpose: 'email', columns: ['phone'] })).code).toBe('column_not_for_channel');
    // A member who agreed to e-mail but left no address is left out of an e-mail list, and counted.
    const noAddress = await cashier.request('POST', '/api/members', { phone: '0922000009', consent: { email: true } });
    expect(noAddress.status).toBe(201);
    const mail = await manager.request('POST', `/api/segments/${segment.segmentId}/export`, {
      purpose: 'email',
      columns: ['email'],
    });
    expect(String(mail.body)).toContain('mail@example.com');
    expect(String(mail.body)).not.toContain('sms@example.com');
    expect(String(mail.body).trim().split(/\r?\n/).length).toBe(3); // header, mail, gone
    const leftOut = await fetch(`${hub.url}/api/segments/${segment.segmentId}/export`, {
      method: 'POST',
      headers: manager.headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ purpose: 'email', columns: ['email'] }),
    });
    expect(leftOut.headers.get('x-ayi-exported')).toBe('2');
    expect(leftOut.headers.get('x-ayi-left-out')).toBe('2'); // sms (no consent), the one without an address
  });

  it('escapes a name that would run as a formula in Excel', async () => {
    const sms = await exportCsv({ purpose: 'sms', columns: ['name'] });
    expect(sms.text).not.toMatch(/^"?=HYPERLINK/m);
    expect(sms.text).toContain(`'=HYPERLINK`);
  });

  it('never exports or tags an erased member', async () => {
    const code = (await card('gone')).memberCode;
    const erased = await manager.request('POST', `/api/members/${ids.gone}/erase`, { confirmMemberCode: code });
    expect(erased.status).toBe(204);
    const sms = await exportCsv({ purpose: 'analysis', columns: ['memberCode'] });
    expect(sms.text).not.toContain(code);
    expect(sms.text.trim().split(/\r?\n/).length).toBe(4); // header, sms, mail, the one without an address
    const rule = await manager.request('POST', '/api/tag-rules', { name: '全部', tag: '會員', definition: everyone });
    expect((rule.body as unknown as TagRuleView).tagged).toBe(3);
    await manager.request('DELETE', `/api/tag-rules/${(rule.body as unknown as TagRuleView).ruleId}`);
  });
});

describe('dates', () => {
  it.each([
    ['/api/reports/members?from=9999-12-31&to=9999-12-31', 400],
    ['/api/reports/products?from=2026-02-30&to=2026-03-01', 400],
    ['/api/reports/members?from=2026-11-20&to=2026-11-01', 400],
    ['/api/reports/members?from=2023-01-01&to=2023-12-31', 400],
    ['/api/reports/products?from=2023-01-01&to=2023-12-31', 200],
    ['/api/analytics/repurchase-due?from=2026-02-29&to=2026-03-05', 400],
  ])('%s answers %i', async (url, status) => {
    const res = await manager.request('GET', url);
    expect(res.status).toBe(status);
    if (status === 400) expect(res.body.error?.message).toBeTruthy();
  });

  it('refuses filter dates the hub cannot count with', async () => {
    const far = { version: 1, root: { op: 'and', items: [{ field: 'memberSince', date: { after: '9999-12-31' } }] } };
    const res = await manager.request('POST', '/api/segments/preview', { definition: far });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_segment');
  });
});

describe('text that names things in JavaScript', () => {
  it('a category called "constructor" or "__proto__" sells, filters and survives a restart', async () => {
    const csv =
      'sku,barcodes,name,category,price,repurchase_days\n' +
      'ODD-001,4718888000101,怪名字一號,constructor,10,\n' +
      'ODD-002,4718888000102,怪名字二號,__proto__,20,\n';
    expect((await manager.request('POST', '/api/catalog/import', csv, 'text/csv')).status).toBe(200);
    const sale = checkoutRequest(
      [
        { sku: 'ODD-001', qty: 1 },
        { sku: 'ODD-002', qty: 1 },
      ],
      [{ type: 'cash', amount: 30 }],
      { memberId: ids.mail },
    );
    await sell(cashier, sale);
    const boughtBoth = {
      version: 1,
      root: {
        op: 'and',
        items: [
          { field: 'bought', category: 'constructor' },
          { field: 'bought', category: '__proto__', minTimes: 1 },
        ],
      },
    };
    const count = async () =>
      (
        (await manager.request('POST', '/api/segments/preview', { definition: boughtBoth, limit: 0 })).body as {
          count: number;
        }
      ).count;
    expect(await count()).toBe(1);
    await hub.stop();
    hub = await startTestHub({ dataDir, clock: clock.now });
    cashier = await pairedTablet(hub, '1111', 'Counter');
    manager = await pairedTablet(hub, '222222', 'Office');
    expect(await count()).toBe(1);
    expect(({} as Record<string, unknown>).qty).toBeUndefined();
  });
});

describe('automatic tags', () => {
  let rule: TagRuleView;

  it('a rule may not test for its own tag', async () => {
    const own = { version: 1, root: { op: 'not', item: { field: 'tags', match: 'any', values: ['有養寵物'] } } };
    const res = await manager.request('POST', '/api/tag-rules', { name: '自己', tag: '有養寵物', definition: own });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('rule_reads_own_tag');
  });

  it('rules may not read the tags other rules set', async () => {
    const first = await manager.request('POST', '/api/tag-rules', { name: 'A', tag: '甲', definition: everyone });
    expect(first.status).toBe(201);
    const readsA = { version: 1, root: { op: 'and', items: [{ field: 'tags', match: 'none', values: ['甲'] }] } };
    const second = await manager.request('POST', '/api/tag-rules', { name: 'B', tag: '乙', definition: readsA });
    expect(second.status).toBe(400);
    expect(second.body.error?.code).toBe('rule_reads_rule_tag');
    await manager.request('DELETE', `/api/tag-rules/${(first.body as unknown as TagRuleView).ruleId}`);
  });

  it('staff cannot take a rule tag off a member by hand: the answer names the rule', async () => {
    const res = await manager.request('POST', '/api/tag-rules', {
      name: '半年內買寵物用品',
      tag: '有養寵物',
      definition: petOwners,
    });
    expect(res.status).toBe(201);
    rule = res.body as unknown as TagRuleView;
    expect(rule.tagged).toBe(2);
    const untag = await cashier.request('POST', `/api/members/${ids.sms}/untag`, { tag: '有養寵物' });
    expect(untag.status).toBe(409);
    expect(untag.body.error?.code).toBe('tag_set_by_rule');
    expect(untag.body.error?.message).toContain('半年內買寵物用品');
    expect((await card('sms')).tags.map((t) => t.tag)).toEqual(['有養寵物']);
  });

  it('keeps rules and their tags over a restart', async () => {
    await hub.stop();
    hub = await startTestHub({ dataDir, clock: clock.now });
    cashier = await pairedTablet(hub, '1111', 'Counter');
    manager = await pairedTablet(hub, '222222', 'Office');
    await hub.tagRules.idle();
    const rules = (await manager.request('GET', '/api/tag-rules')).body.rules as TagRuleView[];
    expect(rules.map((r) => [r.name, r.tagged])).toEqual([['半年內買寵物用品', 2]]);
    expect((await card('mail')).tags).toEqual([
      { tag: '有養寵物', source: `rule:${rule.ruleId}`, ruleName: '半年內買寵物用品' },
    ]);
  });

  it('a "last 180 days" tag ages out in the nightly pass', async () => {
    clock.set('2027-05-20T02:00:00Z'); // 181 days after the pet-food sales
    const result = await hub.tagRules.runAll();
    expect(result).toEqual({ tagged: 0, untagged: 2 });
    await cashier.login('1111');
    expect((await card('sms')).tags).toEqual([]);
  });
});
