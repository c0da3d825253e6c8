/**
 * CRM intelligence through the API of a real hub (S2-S4, A1-A6): the seeds' example filter is
 * built, saved and exported (UTF-8 with BOM, consent for the channel respected); an automatic tag
 * appears after a qualifying sale and goes with its void; the reports equal a computation made
 * here, independently, from the journal files on disk.
 *
 * The store's clock starts at 10:00 in Taipei on 2026-11-20, so "birthday next month" means December.
 * Demo prices: PET-101 寵物保健 NT$680, PET-001 寵物用品 NT$890, PET-002 寵物用品 NT$320, DRK-002 飲料 NT$95.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import type { MemberCard, SignUpResult } from '../../hub/src/protocol/members.ts';
import type {
  MemberMetrics,
  ProductReport,
  RepurchaseDueReport,
  RfmReport,
  SavedSegmentView,
  SegmentPreviewResult,
  TagRuleView,
} from '../../hub/src/protocol/crm.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { SEEDS_EXAMPLE } from '../support/segment-examples.ts';
import { type TabletClient, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { checkoutRequest, newKey, sell } from '../support/sales.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { scanJournal } from '../support/journal-files.ts';

const temp = new TempDirs();
const clock = new FakeClock('2026-11-18T02:00:00Z');
let dataDir: string;
let hub: Hub;
let cashier: TabletClient;
let manager: TabletClient;
const ids: Record<string, string> = {};

async function moveTo(date: string): Promise<void> {
  clock.set(`${date}T02:00:00Z`);
  // Staff sessions last 12 hours: the next shift logs in again.
  await cashier.login('1111');
  await manager.login('222222');
}

async function signUp(key: string, phone: string, birthday: string | null, sms: boolean): Promise<void> {
  const res = await cashier.request('POST', '/api/members', { phone, consent: { sms } });
  expect(res.status).toBe(201);
  ids[key] = (res.body as unknown as SignUpResult).member.memberId;
  const profile = await cashier.request('PATCH', `/api/members/${ids[key]}`, { name: `會員${key}`, birthday });
  expect(profile.status).toBe(200);
}

const buy = (memberKey: string | null, lines: { sku: string; qty: number }[], amount: number) =>
  sell(cashier, checkoutRequest(lines, [{ type: 'cash', amount }], memberKey ? { memberId: ids[memberKey] } : {}));

async function card(key: string): Promise<MemberCard> {
  const res = await cashier.request('GET', `/api/members/${ids[key]}/card`);
  expect(res.status).toBe(200);
  return res.body as unknown as MemberCard;
}

beforeAll(async () => {
  dataDir = temp.make();
  hub = await startTestHub({ dataDir, clock: clock.now, config: { storeId: 'taipei-001' } });
  cashier = await pairedTablet(hub, '1111', 'Counter');
  manager = await pairedTablet(hub, '222222', 'Office');
  await signUp('A', '0911000001', '1985-12-05', true);
  await signUp('B', '0911000002', '1990-12-20', false);
  await signUp('C', '0911000003', '1988-12-01', true);
  await signUp('D', '0911000004', '1980-05-05', true);
  await signUp('E', '0911000005', null, true);
  // A and B: 8 x 680 = 5,440 of 寵物保健, December birthdays (B gave no SMS consent).
  await buy('A', [{ sku: 'PET-101', qty: 8 }], 5440);
  await buy('B', [{ sku: 'PET-101', qty: 8 }], 5440);
  // C: 7 x 890 = 6,230, December, but 寵物用品 only. D: 寵物保健 and 5,440, but born in May.
  await buy('C', [{ sku: 'PET-001', qty: 7 }], 6230);
  await buy('D', [{ sku: 'PET-101', qty: 8 }], 5440);
  await moveTo('2026-11-19');
  await buy('A', [{ sku: 'DRK-002', qty: 2 }], 190);
  await buy(null, [{ sku: 'DRK-002', qty: 1 }], 95);
});
afterAll(async () => {
  await hub?.stop();
  temp.removeAll();
});

describe('the member filter and saved segments (S3, S4)', () => {
  let saved: SavedSegmentView;

  it('counts the seeds example and lists the first matches, whole numbers for a manager', async () => {
    const res = await manager.request('POST', '/api/segments/preview', { definition: SEEDS_EXAMPLE, limit: 10 });
    expect(res.status).toBe(200);
    const result = res.body as unknown as SegmentPreviewResult;
    expect(result.count).toBe(2);
    expect(result.total).toBe(5);
    expect(result.asOf).toBe('2026-11-19');
    expect(result.first.map((m) => m.memberId).sort()).toEqual([ids.A, ids.B].sort());
    const a = result.first.find((m) => m.memberId === ids.A)!;
    expect(a).toMatchObject({ phone: '0911000001', purchaseCount: 2, cumulativeSpend: 5630, name: '會員A' });
  });

  it('explains a broken definition with the path of each problem', async () => {
    const broken = {
      version: 1,
      root: {
        op: 'and',
        items: [
          { field: 'spend', min: 6000, max: 5000 },
          { field: 'bought', category: '寵物保鍵' },
          { field: 'favouriteColour', values: ['red'] },
        ],
      },
    };
    const res = await manager.request('POST', '/api/segments/preview', { definition: broken });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_segment');
    const problems = (res.body.error as unknown as { details: { problems: { path: string; message: string }[] } })
      .details.problems;
    const paths = problems.map((p) => p.path);
    expect(paths.some((p) => p.startsWith('/root/items/0'))).toBe(true);
    expect(paths.some((p) => p.startsWith('/root/items/1'))).toBe(true);
    expect(paths.some((p) => p.startsWith('/root/items/2'))).toBe(true);
    expect(problems.find((p) => p.path.startsWith('/root/items/1'))!.message).toContain('寵物保健');
  });

  it('is for managers: a cashier is refused', async () => {
    const res = await cashier.request('POST', '/api/segments/preview', { definition: SEEDS_EXAMPLE });
    expect(res.status).toBe(403);
  });

  it('saves the segment under a name, refuses the same name twice, and lists it', async () => {
    const res = await manager.request('POST', '/api/segments', {
      name: '十二月壽星毛孩家長',
      definition: SEEDS_EXAMPLE,
    });
    expect(res.status).toBe(201);
    saved = res.body as unknown as SavedSegmentView;
    expect(saved).toMatchObject({ name: '十二月壽星毛孩家長', definition: SEEDS_EXAMPLE });
    const again = await manager.request('POST', '/api/segments', {
      name: '十二月壽星毛孩家長',
      definition: SEEDS_EXAMPLE,
    });
    expect(again.status).toBe(409);
    const list = await manager.request('GET', '/api/segments');
    expect((list.body.segments as SavedSegmentView[]).map((s) => s.segmentId)).toEqual([saved.segmentId]);
  });

  it('is live: a new qualifying member is counted when the saved segment is used again', async () => {
    await moveTo('2026-11-20');
    await signUp('F', '0911000006', '1999-12-31', true);
    await buy('F', [{ sku: 'PET-101', qty: 8 }], 5440);
    const res = await manager.request('POST', `/api/segments/${saved.segmentId}/preview`, { limit: 0 });
    expect(res.status).toBe(200);
    expect((res.body as unknown as SegmentPreviewResult).count).toBe(3);
  });

  it('exports CSV with a BOM, the chosen columns, and only members who consented to SMS', async () => {
    const response = await fetch(`${hub.url}/api/segments/${saved.segmentId}/export`, {
      method: 'POST',
      headers: manager.headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ purpose: 'sms', columns: ['memberCode', 'phone', 'name', 'cumulativeSpend'] }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/csv');
    expect(response.headers.get('content-disposition')).toContain(encodeURIComponent('十二月壽星毛孩家長'));
    expect(response.headers.get('x-ayi-exported')).toBe('2');
    expect(response.headers.get('x-ayi-left-out')).toBe('1');
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes.slice(3)).trim().split(/\r?\n/);
    // Headers as a store manager reads them; numbers in E.164 as SMS gateways and ad platforms take them.
    expect(lines[0]).toBe('會員編號,手機,姓名,累積消費');
    const codes = await Promise.all(['A', 'F'].map(async (k) => (await card(k)).memberCode));
    expect(lines.slice(1).sort()).toEqual(
      [`${codes[0]},+886911000001,會員A,5630`, `${codes[1]},+886911000006,會員F,5440`].sort(),
    );
    const english = await manager.request('POST', `/api/segments/${saved.segmentId}/export`, {
      purpose: 'analysis',
      columns: ['memberCode', 'tier', 'cumulativeSpend'],
      language: 'en',
    });
    expect(english.status).toBe(200);
    const rows = String(english.body).trim().split(/\r?\n/);
    expect(rows[0]).toBe('Member code,Tier,Total spend');
    // Analysis needs no consent: B (no SMS consent) is in it too.
    expect(rows.length).toBe(4);
    // The values are in the header's language too: the tier by its English name, no codes.
    const values = await manager.request('POST', `/api/segments/${saved.segmentId}/export`, {
      purpose: 'analysis',
      columns: ['tier', 'gender', 'rfmSegment'],
      language: 'en',
    });
    const cells = String(values.body).trim().split(/\r?\n/).slice(1).join('\n');
    expect(cells).toContain('Regular');
    expect(cells).not.toMatch(/[\u3400-\u9fff]|\b[a-z]+_[a-z]+\b|\b(female|male)\b/u);
  });

  it('refuses contact columns for an analysis export', async () => {
    const res = await manager.request('POST', `/api/segments/${saved.segmentId}/export`, {
      purpose: 'analysis',
      columns: ['memberCode', 'phone'],
    });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('contact_needs_channel');
  });

  it('keeps saved segments across a restart, and deletes them', async () => {
    await hub.stop();
    hub = await startTestHub({ dataDir, clock: clock.now, config: { storeId: 'taipei-001' } });
    cashier = await pairedTablet(hub, '1111', 'Counter');
    manager = await pairedTablet(hub, '222222', 'Office');
    const list = await manager.request('GET', '/api/segments');
    expect((list.body.segments as SavedSegmentView[]).map((s) => s.name)).toEqual(['十二月壽星毛孩家長']);
    const del = await manager.request('DELETE', `/api/segments/${saved.segmentId}`);
    expect(del.status).toBe(204);
    expect(((await manager.request('GET', '/api/segments')).body.segments as unknown[]).length).toBe(0);
  });
});

describe('automatic tags (S2)', () => {
  let rule: TagRuleView;

  it('a rule tags the members it matches at once, naming itself', async () => {
    const res = await manager.request('POST', '/api/tag-rules', {
      name: '近半年買寵物用品',
      tag: '有養寵物',
      definition: {
        version: 1,
        root: { op: 'and', items: [{ field: 'bought', category: '寵物用品', window: { lastDays: 180 } }] },
      },
    });
    expect(res.status).toBe(201);
    rule = res.body as unknown as TagRuleView;
    expect(rule.tagged).toBe(1);
    expect((await card('C')).tags).toEqual([
      { tag: '有養寵物', source: `rule:${rule.ruleId}`, ruleName: '近半年買寵物用品' },
    ]);
    expect((await card('E')).tags).toEqual([]);
  });

  it('appears after a qualifying sale and goes when that sale is voided; a staff tag stays', async () => {
    const tagged = await cashier.request('POST', `/api/members/${ids.D}/tags`, { tag: '有養寵物' });
    expect(tagged.status).toBe(200);
    const sale: SaleView = await buy('E', [{ sku: 'PET-002', qty: 1 }], 320);
    await hub.tagRules.idle();
    expect((await card('E')).tags).toEqual([
      { tag: '有養寵物', source: `rule:${rule.ruleId}`, ruleName: '近半年買寵物用品' },
    ]);
    const voided = await manager.request('POST', `/api/sales/${sale.saleId}/void`, { reason: '刷錯' });
    expect(voided.status).toBe(200);
    await hub.tagRules.idle();
    expect((await card('E')).tags).toEqual([]);
    const run = await manager.request('POST', '/api/tag-rules/run', {});
    expect(run.body).toEqual({ tagged: 0, untagged: 0 });
    expect((await card('D')).tags).toEqual([{ tag: '有養寵物', source: 'staff', ruleName: null }]);
    const events = scanJournal(dataDir).events.filter((e) => e.type.startsWith('member.auto_'));
    expect(events.map((e) => [e.type, (e.data as { memberId: string }).memberId])).toEqual([
      ['member.auto_tagged', ids.C],
      ['member.auto_tagged', ids.E],
      ['member.auto_untagged', ids.E],
    ]);
    // The tag and the rule are sealed in the journal: neither the text nor the rule's id is there.
    expect(JSON.stringify(events)).not.toContain('有養寵物');
    expect(JSON.stringify(events)).not.toContain(rule.ruleId);
  });

  it('deleting the rule takes its tags away', async () => {
    const res = await manager.request('DELETE', `/api/tag-rules/${rule.ruleId}`);
    expect(res.status).toBe(204);
    expect((await card('C')).tags).toEqual([]);
    expect((await card('D')).tags).toEqual([{ tag: '有養寵物', source: 'staff', ruleName: null }]);
  });
});

describe('reports (A1-A5) equal a direct computation over the journal', () => {
  beforeAll(async () => {
    await moveTo('2026-11-21');
    await buy(null, [{ sku: 'FOD-001', qty: 2 }], 798);
    const refundable = await buy(
      'A',
      [
        { sku: 'PET-101', qty: 2 },
        { sku: 'DRK-002', qty: 3 },
      ],
      1645,
    );
    const refund = await manager.request('POST', `/api/sales/${refundable.saleId}/refund`, {
      idempotencyKey: newKey(),
      lines: [{ lineNo: 2, qty: 1 }],
      reason: '過期',
    });
    expect(refund.status).toBe(200);
  });

  /** What the journal says, computed here without the hub's code. */
  function fromJournal(from: string, to: string) {
    const events = scanJournal(dataDir).events as HubEvent[];
    const sales = new Map<
      string,
      {
        date: string;
        memberId: string | null;
        total: number;
        lines: Map<number, { sku: string; qty: number; net: number }>;
      }
    >();
    for (const e of events) {
      if (e.type === 'sale.completed') {
        const lines = new Map(
          e.data.lines.map((l) => [l.lineNo, { sku: l.sku, qty: l.qty, net: l.lineTotal - l.orderDiscountShare }]),
        );
        sales.set(e.data.saleId, { date: e.data.businessDate, memberId: e.data.memberId, total: e.data.total, lines });
      } else if (e.type === 'sale.voided') {
        sales.delete(e.data.saleId);
      } else if (e.type === 'sale.refunded') {
        const sale = sales.get(e.data.saleId)!;
        sale.total -= e.data.amount;
        for (const l of e.data.lines) {
          const line = sale.lines.get(l.lineNo)!;
          line.qty -= l.qty;
          line.net -= l.amount;
        }
      }
    }
    const inRange = [...sales.values()].filter((s) => s.date >= from && s.date <= to);
    const perMember = new Map<string, { purchases: number; spend: number }>();
    const perSku = new Map<string, { qty: number; revenue: number }>();
    for (const s of inRange) {
      if (s.memberId) {
        const m = perMember.get(s.memberId) ?? { purchases: 0, spend: 0 };
        m.purchases += 1;
        m.spend += s.total;
        perMember.set(s.memberId, m);
      }
      for (const l of s.lines.values()) {
        const p = perSku.get(l.sku) ?? { qty: 0, revenue: 0 };
        p.qty += l.qty;
        p.revenue += l.net;
        perSku.set(l.sku, p);
      }
    }
    const revenue = inRange.reduce((sum, s) => sum + s.total, 0);
    const memberSales = inRange.filter((s) => s.memberId);
    const memberRevenue = memberSales.reduce((sum, s) => sum + s.total, 0);
    return { inRange, revenue, memberSales, memberRevenue, perMember, perSku };
  }

  it('member metrics: revenue, member share, AOV, buying members, repurchase rate, top 20%', async () => {
    const res = await manager.request('GET', '/api/reports/members?from=2026-11-18&to=2026-11-21');
    expect(res.status).toBe(200);
    const metrics = res.body as unknown as MemberMetrics;
    const expected = fromJournal('2026-11-18', '2026-11-21');
    expect(metrics.memberShare.sales).toBe(expected.inRange.length);
    expect(metrics.memberShare.revenue).toBe(expected.revenue);
    expect(metrics.memberShare.memberSales).toBe(expected.memberSales.length);
    expect(metrics.memberShare.memberRevenue).toBe(expected.memberRevenue);
    expect(metrics.averageOrderValue).toBe(Math.round(expected.revenue / expected.inRange.length));
    expect(metrics.buyingMembers).toBe(expected.perMember.size);
    const repeaters = [...expected.perMember.values()].filter((m) => m.purchases >= 2).length;
    expect(metrics.repurchaseRate).toBeCloseTo(repeaters / expected.perMember.size, 4);
    const spends = [...expected.perMember.values()].map((m) => m.spend).sort((a, b) => b - a);
    const top = spends.slice(0, Math.ceil(spends.length * 0.2));
    expect(metrics.top20.members).toBe(top.length);
    expect(metrics.top20.revenue).toBe(top.reduce((a, b) => a + b, 0));
    expect(metrics.newMembers).toBe(6);
    expect(metrics.daily.map((d) => d.date)).toEqual(['2026-11-18', '2026-11-19', '2026-11-20', '2026-11-21']);
    expect(metrics.daily.reduce((sum, d) => sum + d.revenue, 0)).toBe(expected.revenue);
    expect(metrics.genderMix.reduce((sum, g) => sum + g.members, 0)).toBe(expected.perMember.size);
  });

  it('product report: quantities and revenue per SKU, best sellers first', async () => {
    const res = await manager.request('GET', '/api/reports/products?from=2026-11-18&to=2026-11-21&idleDays=30');
    expect(res.status).toBe(200);
    const report = res.body as unknown as ProductReport;
    const expected = fromJournal('2026-11-18', '2026-11-21');
    for (const row of report.bestSellers) {
      expect({ sku: row.sku, qty: row.qty, revenue: row.revenue }).toEqual({
        sku: row.sku,
        ...expected.perSku.get(row.sku),
      });
    }
    const best = [...expected.perSku].sort((a, b) => b[1].revenue - a[1].revenue)[0]!;
    expect(report.bestSellers[0]!.sku).toBe(best[0]);
    // Never sold in the demo store: idle.
    expect(report.idle.map((r) => r.sku)).toContain('PET-102');
    expect(report.idle.map((r) => r.sku)).not.toContain('PET-101');
  });

  it('RFM scores every member who bought, and the segments add up', async () => {
    const res = await manager.request('POST', '/api/analytics/rfm/recompute', {});
    expect(res.status).toBe(200);
    const rfm = res.body as unknown as RfmReport;
    expect(rfm.scored).toBe(5);
    expect(rfm.unscored).toBe(1);
    expect(rfm.segments.reduce((sum, s) => sum + s.members, 0)).toBe(5);
  });

  it('rejects a range that ends before it starts', async () => {
    const res = await manager.request('GET', '/api/reports/members?from=2026-11-21&to=2026-11-01');
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_range');
  });
});

describe('due for repurchase (A6)', () => {
  it('lists who is due this week and how each date was predicted; numbers only with SMS consent', async () => {
    // PET-101's cycle is 30 days: A last bought it on 11-21, B, D on 11-18, F on 11-20.
    await moveTo('2026-12-15');
    const res = await manager.request('GET', '/api/analytics/repurchase-due');
    expect(res.status).toBe(200);
    const report = res.body as unknown as RepurchaseDueReport;
    expect(report).toMatchObject({ asOf: '2026-12-15', from: '2026-12-15', to: '2026-12-22' });
    const pet = report.entries.filter((e) => e.kind === 'sku' && e.key === 'PET-101');
    expect(pet.map((e) => e.memberId).sort()).toEqual([ids.A, ids.B, ids.D, ids.F].sort());
    for (const entry of pet) expect(entry).toMatchObject({ basis: 'product', intervalDays: 30, samples: 0 });
    expect(pet.find((e) => e.memberId === ids.A)!.dueOn).toBe('2026-12-21');
    expect(pet.find((e) => e.memberId === ids.B)!.phone).toBe('');
    expect(pet.find((e) => e.memberId === ids.D)!.phone).toBe('0911000004');
  });

  it('is a filter condition too, and the member sees the same prediction at the counter', async () => {
    const due = { version: 1, root: { op: 'and', items: [{ field: 'dueForRepurchase', sku: 'PET-101' }] } };
    const res = await manager.request('POST', '/api/segments/preview', { definition: due, limit: 0 });
    expect((res.body as unknown as SegmentPreviewResult).count).toBe(4);
    const a = await card('A');
    expect(a.repurchaseDue).toContainEqual(
      expect.objectContaining({ sku: 'PET-101', dueOn: '2026-12-21', basis: 'product', intervalDays: 30 }),
    );
  });
});
