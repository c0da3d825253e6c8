/**
 * The members projection by column (MemberColumns), kept by MemberBook: rows follow sign-ups,
 * sales, voids, refunds, merges (both sides), erasure, tier changes and points expiry; a filter run
 * after changes sees them; and in a randomized book (seeded) every column agrees with the records
 * after every kind of event, the filter giving the same members by column as record by record.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { dayNumber, NO_DAY, type MemberColumns } from '../../../hub/src/domain/member-columns.ts';
import { MemberBook, type MemberRecord, SKU_DATES_KEPT } from '../../../hub/src/domain/members.ts';
import { compileSegment, matchingMembers, runSegment, type SegmentEnv } from '../../../hub/src/domain/segments.ts';
import type { SegmentDefinition, SegmentNode } from '../../../hub/src/protocol/crm.ts';
import type { SaleCompletedData } from '../../../hub/src/protocol/events.ts';
import { CONSENT_CHANNELS, type Gender } from '../../../hub/src/protocol/members.ts';
import {
  at10,
  completedSale,
  EventSequence,
  memberProfile,
  registration,
  saleLine,
  seal,
  STORE_ID,
  unseal,
} from '../../support/member-events.ts';

// ---------------------------------------------------------------------------------------------
// Hand-made events

const events = new EventSequence();
const { ev } = events;

interface Joining {
  date: string;
  birthday?: string | null;
  gender?: Gender | null;
  region?: string | null;
  consent?: Partial<Record<'sms' | 'line' | 'email', boolean>>;
}

function register(book: MemberBook, memberId: string, joining: Joining): void {
  const profile = memberProfile(memberId, joining);
  book.apply(ev('member.registered', registration(memberId, profile, joining.consent), at10(joining.date)));
}

interface Item {
  sku: string;
  category: string;
  amount: number;
  markdown?: boolean;
}

type SaleRecordish = SaleCompletedData & { seq: number; at: string };
const sales = new Map<string, SaleRecordish>();

function sell(
  book: MemberBook,
  memberId: string,
  saleId: string,
  date: string,
  items: Item[],
  loyalty: { earned?: number; tierAfter?: string } = {},
): void {
  const lines = items.map((item, i) =>
    saleLine(i + 1, item.sku, item.amount, {
      category: item.category,
      unitPrice: item.amount + (item.markdown ? 20 : 0),
      lineDiscount: item.markdown ? 20 : 0,
    }),
  );
  const data = completedSale({
    saleId,
    businessDate: date,
    memberId,
    lines,
    loyalty: { tierAfter: loyalty.tierAfter ?? 'regular', pointsEarned: loyalty.earned ?? 0 },
  });
  const event = ev('sale.completed', data, at10(date));
  sales.set(saleId, { ...data, seq: event.seq, at: event.at });
  book.apply(event);
}

function voidSale(book: MemberBook, saleId: string, date: string, reversed = 0): void {
  const sale = sales.get(saleId)!;
  const loyalty = { memberId: sale.memberId!, pointsReversed: reversed, pointsReturned: 0, businessDate: date };
  book.apply(
    ev('sale.voided', { saleId, reason: 'mistake', staffId: 'staff-1', deviceId: 'dev-1', loyalty }, at10(date)),
    sale,
  );
}

function refund(book: MemberBook, saleId: string, amount: number, date: string): void {
  const sale = sales.get(saleId)!;
  book.apply(
    ev(
      'sale.refunded',
      {
        saleId,
        refundId: `r-${saleId}-${events.lastSeq}`,
        idempotencyKey: `rk-${events.lastSeq}`,
        lines: [{ lineNo: 1, qty: 1, amount }],
        amount,
        reason: 'test',
        staffId: 'staff-1',
        deviceId: 'dev-1',
        loyalty: { memberId: sale.memberId!, pointsReversed: 0, pointsReturned: 0, businessDate: date },
      },
      at10(date),
    ),
    sale,
  );
}

const tag = (book: MemberBook, memberId: string, text: string) =>
  book.apply(ev('member.tagged', { memberId, sealed: seal({ tag: text }), staffId: 'staff-1' }, at10('2026-03-01')));
const merge = (book: MemberBook, from: string, into: string) =>
  book.apply(ev('member.merged', { fromMemberId: from, intoMemberId: into, staffId: 'mgr' }, at10('2026-03-02')));
const erase = (book: MemberBook, memberId: string) =>
  book.apply(ev('member.erased', { memberId, staffId: 'mgr' }, at10('2026-03-03')));

/** The row of a member and the columns as a query would see them now. */
function rowOf(book: MemberBook, memberId: string): { columns: MemberColumns; row: number } {
  const columns = book.columns();
  const row = columns.rowOf(memberId);
  if (row === undefined) throw new Error(`no row for ${memberId}`);
  return { columns, row };
}

/** A log segment as [day number, amount] pairs, oldest first. */
function logOf(columns: MemberColumns, row: number): [number, number][] {
  const start = columns.logStart[row]!;
  return Array.from({ length: columns.logLength[row]! }, (_, i) => [
    columns.logDays[start + i]!,
    columns.logAmounts[start + i]!,
  ]);
}

function keptDays(columns: MemberColumns, kind: 'sku' | 'category', key: string, row: number): number[] {
  const column = columns.purchases(kind, key);
  const slot = column.slotOf(row);
  if (slot < 0) return [];
  const base = slot * SKU_DATES_KEPT;
  return Array.from(column.keptDays.subarray(base, base + column.keptLength[slot]!));
}

const ENV: SegmentEnv = {
  now: new Date('2026-03-31T04:00:00.000Z'),
  timeZone: 'Asia/Taipei',
  storeId: STORE_ID,
  profile: () => undefined,
  rfmSegment: () => null,
  isDue: () => false,
  baseTier: 'regular',
};

const matching = (book: MemberBook, root: SegmentNode) =>
  matchingMembers(book, { version: 1, root }, ENV)
    .map((r) => r.memberId)
    .sort();

let book: MemberBook;
beforeEach(() => {
  book = new MemberBook(unseal);
  sales.clear();
});

// ---------------------------------------------------------------------------------------------

describe('day numbers', () => {
  it('count days from 1970-01-01 and agree with the calendar for two centuries', () => {
    expect(dayNumber('1970-01-01')).toBe(0);
    expect(dayNumber('1970-01-02')).toBe(1);
    // 2000-01-01 is day 10,957; January has 31 days and February 2000 had 29.
    expect(dayNumber('2000-03-01')).toBe(10_957 + 31 + 29);
    expect(dayNumber('1969-12-31')).toBe(-1);
    for (let t = Date.UTC(1900, 0, 1); t <= Date.UTC(2100, 11, 31); t += 86_400_000) {
      const date = new Date(t).toISOString().slice(0, 10);
      if (dayNumber(date) !== t / 86_400_000) expect(dayNumber(date), date).toBe(t / 86_400_000);
    }
  });
});

describe('rows follow the members', () => {
  it('a sign-up appends a row with the member’s facts, in the book’s order', () => {
    book.columns();
    register(book, 'a', {
      date: '2026-01-05',
      birthday: '1990-08-20',
      gender: 'female',
      region: ' 台北市 ',
      consent: { sms: true, email: true },
    });
    register(book, 'b', { date: '2026-01-06' });
    const columns = book.columns();
    expect(columns.rows).toBe(2);
    expect([columns.rowOf('a'), columns.rowOf('b')]).toEqual([0, 1]);
    expect([columns.live[0], columns.birthMonth[0], columns.birthMonth[1]]).toEqual([1, 8, 0]);
    expect(columns.gender[0]).toBe(columns.genders.code('female'));
    // No gender given reads as "unknown", as the filter's gender condition has it.
    expect(columns.gender[1]).toBe(columns.genders.code('unknown'));
    // The region without its surrounding spaces; none is code 0.
    expect(columns.region[0]).toBe(columns.regions.code('台北市'));
    expect(columns.region[1]).toBe(0);
    // No tier id before the first purchase.
    expect(columns.tier[0]).toBe(columns.tiers.code(''));
    expect(columns.since[0]).toBe(Date.parse('2026-01-05T02:00:00.000Z'));
    // SMS is bit 1, LINE bit 2, e-mail bit 4.
    expect([columns.consent[0], columns.consent[1]]).toEqual([1 + 4, 0]);
    expect([columns.purchaseCount[0], columns.cumulativeSpend[0], columns.lastPurchase[0]]).toEqual([0, 0, NO_DAY]);
  });

  it('sales, a refund and a void', () => {
    register(book, 'a', { date: '2026-01-05' });
    book.columns();
    sell(
      book,
      'a',
      'S1',
      '2026-03-01',
      [
        { sku: 'MILK-1', category: '乳製品', amount: 600, markdown: true },
        { sku: 'MILK-2', category: '乳製品', amount: 400 },
      ],
      { earned: 10, tierAfter: 'silver' },
    );
    sell(book, 'a', 'S2', '2026-03-05', [{ sku: 'BREAD-1', category: '麵包', amount: 500 }], { earned: 5 });
    let { columns, row } = rowOf(book, 'a');
    const march1 = dayNumber('2026-03-01');
    const march5 = dayNumber('2026-03-05');
    expect([columns.purchaseCount[row], columns.cumulativeSpend[row], columns.markdownPurchases[row]]).toEqual([
      2, 1_500, 1,
    ]);
    expect([columns.lastPurchase[row], columns.lastLogged[row], columns.points[row]]).toEqual([march5, march5, 15]);
    expect(logOf(columns, row)).toEqual([
      [march1, 1_000],
      [march5, 500],
    ]);
    // A sale counts once per category, however many of its lines are in it.
    expect(columns.purchases('category', '乳製品').countOf(row)).toBe(1);
    expect(keptDays(columns, 'category', '乳製品', row)).toEqual([march1]);
    expect(columns.purchases('sku', 'BREAD-1').countOf(row)).toBe(1);

    // NT$300 of S1 back: the sale stays, for less.
    refund(book, 'S1', 300, '2026-03-06');
    ({ columns, row } = rowOf(book, 'a'));
    expect(columns.cumulativeSpend[row]).toBe(1_200);
    expect(logOf(columns, row)).toEqual([
      [march1, 700],
      [march5, 500],
    ]);

    // S2 voided: gone from the counts, the log and the bread columns; the latest purchase is S1's.
    voidSale(book, 'S2', '2026-03-06', 5);
    ({ columns, row } = rowOf(book, 'a'));
    expect([columns.purchaseCount[row], columns.cumulativeSpend[row], columns.points[row]]).toEqual([1, 700, 10]);
    expect([columns.lastPurchase[row], columns.lastLogged[row]]).toEqual([march1, march1]);
    expect(logOf(columns, row)).toEqual([[march1, 700]]);
    expect(columns.purchases('sku', 'BREAD-1').countOf(row)).toBe(0);
    expect(columns.purchases('category', '麵包').slotOf(row)).toBe(-1);
    expect(columns.purchases('category', '乳製品').countOf(row)).toBe(1);
  });

  it('a merge: the kept member takes the purchases, tags and earlier sign-up; the merged record leaves', () => {
    register(book, 'kept', { date: '2026-01-05' });
    register(book, 'old', { date: '2025-06-01' });
    sell(book, 'kept', 'K1', '2026-02-01', [{ sku: 'MILK-1', category: '乳製品', amount: 100 }]);
    sell(book, 'old', 'O1', '2026-02-10', [{ sku: 'MILK-1', category: '乳製品', amount: 250 }]);
    tag(book, 'old', 'VIP');
    const before = book.columns();
    const milk = before.purchases('sku', 'MILK-1');
    merge(book, 'old', 'kept');
    const { columns, row } = rowOf(book, 'kept');
    const oldRow = columns.rowOf('old')!;
    expect(columns).toBe(before);
    expect([columns.live[row], columns.live[oldRow]]).toEqual([1, 0]);
    expect([columns.purchaseCount[row], columns.cumulativeSpend[row]]).toEqual([2, 350]);
    expect(columns.since[row]).toBe(Date.parse('2025-06-01T02:00:00.000Z'));
    expect(milk.countOf(row)).toBe(2);
    expect(keptDays(columns, 'sku', 'MILK-1', row)).toEqual([dayNumber('2026-02-01'), dayNumber('2026-02-10')]);
    expect(columns.tagRows('VIP').has(row)).toBe(true);
    // Only the kept member is found: the merged record is not live.
    expect(matching(book, { field: 'tags', match: 'any', values: ['VIP'] })).toEqual(['kept']);
    expect(matching(book, { field: 'spend', min: 300, window: { lastDays: 90 } })).toEqual(['kept']);
  });

  it('an erasure: the row stays, no longer live, and its tags and demographics are gone', () => {
    register(book, 'a', { date: '2026-01-05', birthday: '1990-08-20', gender: 'male' });
    tag(book, 'a', 'VIP');
    expect(matching(book, { field: 'tags', match: 'any', values: ['VIP'] })).toEqual(['a']);
    erase(book, 'a');
    const { columns, row } = rowOf(book, 'a');
    expect(columns.live[row]).toBe(0);
    expect(columns.tagRows('VIP').has(row)).toBe(false);
    expect([columns.birthMonth[row], columns.gender[row]]).toEqual([0, columns.genders.code('unknown')]);
    expect(runSegment(book, { version: 1, root: { field: 'store', values: ['store-1'] } }, ENV, 10)).toMatchObject({
      count: 0,
      total: 0,
    });
  });

  it('a tier change and points expiring', () => {
    register(book, 'a', { date: '2026-01-05' });
    sell(book, 'a', 'S1', '2026-03-01', [{ sku: 'X', category: 'Y', amount: 1_000 }], {
      earned: 100,
      tierAfter: 'silver',
    });
    expect(book.columns().tier[0]).toBe(book.columns().tiers.code('silver'));
    book.apply(
      ev('member.tier_changed', { memberId: 'a', from: 'silver', to: 'gold', windowSpend: 1_000 }, at10('2026-03-02')),
    );
    book.apply(ev('points.expired', { memberId: 'a', points: 40, earnedOnOrBefore: '2026-03-01' }, at10('2026-03-03')));
    const { columns, row } = rowOf(book, 'a');
    expect(columns.tier[row]).toBe(columns.tiers.code('gold'));
    expect(columns.points[row]).toBe(60);
  });

  it('a filter run after changes sees them, with the same columns brought up to date', () => {
    register(book, 'a', { date: '2026-01-05' });
    register(book, 'b', { date: '2026-01-06' });
    const big: SegmentDefinition = { version: 1, root: { field: 'spend', min: 1_000 } };
    expect(runSegment(book, big, ENV, 10).count).toBe(0);
    const columns = book.columns();
    sell(book, 'b', 'S1', '2026-03-01', [{ sku: 'X', category: 'Y', amount: 1_200 }]);
    const after = runSegment(book, big, ENV, 10);
    expect(after.first.map((r) => r.memberId)).toEqual(['b']);
    register(book, 'c', { date: '2026-01-07' });
    sell(book, 'c', 'S2', '2026-03-02', [{ sku: 'X', category: 'Y', amount: 2_000 }]);
    expect(runSegment(book, big, ENV, 10)).toMatchObject({ count: 2, total: 3 });
    expect(book.columns()).toBe(columns);
    expect(columns.rowOf('c')).toBe(2);
  });
});

describe('the sales log by column', () => {
  it('a long log moves as it grows, and every log stays whole when the space left behind is reclaimed', () => {
    register(book, 'a', { date: '2025-01-01' });
    register(book, 'b', { date: '2025-01-01' });
    sell(book, 'b', 'B1', '2025-05-31', [{ sku: 'X', category: 'Y', amount: 70 }]);
    book.columns();
    // A sale a day for 300 days, NT$1 more each day: NT$1 + ... + NT$300 = 45,150.
    for (let i = 1; i <= 300; i++) {
      const date = new Date(Date.UTC(2025, 5, i)).toISOString().slice(0, 10);
      sell(book, 'a', `A${i}`, date, [{ sku: 'X', category: 'Y', amount: i }]);
      // Rewritten sale by sale, as a busy store's filters would see it.
      if (i % 3 === 0) book.columns();
    }
    const { columns, row } = rowOf(book, 'a');
    const log = logOf(columns, row);
    expect(log.length).toBe(300);
    expect(log[0]).toEqual([dayNumber('2025-06-01'), 1]);
    expect(log[299]).toEqual([dayNumber('2025-06-01') + 299, 300]);
    expect(logOf(columns, columns.rowOf('b')!)).toEqual([[dayNumber('2025-05-31'), 70]]);
    const asOf = { ...ENV, now: new Date('2026-03-27T04:00:00.000Z') };
    // The last 30 days (2026-02-26..03-27) hold the sales of NT$271..300: 8,565.
    const spent = (min: number) =>
      matchingMembers(book, { version: 1, root: { field: 'spend', min, window: { lastDays: 30 } } }, asOf).map(
        (r) => r.memberId,
      );
    expect(spent(8_565)).toEqual(['a']);
    expect(spent(8_566)).toEqual([]);
    expect(columns.cumulativeSpend[row]).toBe(45_150);
  });
});

// ---------------------------------------------------------------------------------------------
// A randomized book

/** mulberry32: a small seeded generator, so a failure repeats. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const CATEGORIES = ['乳製品', '零食', '寵物保健', '清潔用品'];
const SKUS = CATEGORIES.flatMap((category, c) =>
  Array.from({ length: 5 }, (_, i) => ({ sku: `P${c}-${i}`, category })),
);
/** Bought by few: its column stays a Map from row to slot, where the common ones become arrays by row. */
const RARE = { sku: 'RARE-1', category: '寵物保健' };
const TAGS = ['VIP', '有養寵物', '貪小便宜'];
const REGIONS = ['台北市', ' 新北市', '高雄市 ', null];
const GENDERS: (Gender | null)[] = ['female', 'male', 'other', null];

/**
 * Every column of a row against the record it shows. A record merged away or erased is never live
 * again and no filter reads the rest of its row (a merged record shares its sales log entries with
 * the kept member, whose refunds change them).
 */
function expectRowShows(columns: MemberColumns, row: number, record: MemberRecord): void {
  const d = record.demographics;
  const where = `${record.memberId} (row ${row})`;
  expect(columns.records[row], where).toBe(record);
  expect(columns.live[row], where).toBe(record.erased || record.mergedInto ? 0 : 1);
  if (record.erased || record.mergedInto) return;
  expect(columns.birthMonth[row], where).toBe(d.birthMonth ?? 0);
  expect(columns.gender[row], where).toBe(columns.genders.code(d.gender ?? 'unknown'));
  expect(columns.region[row], where).toBe(d.region === null ? 0 : columns.regions.code(d.region.trim()));
  expect(columns.tier[row], where).toBe(columns.tiers.code(record.tier));
  expect(columns.points[row], where).toBe(record.points);
  expect(columns.purchaseCount[row], where).toBe(record.purchaseCount);
  expect(columns.cumulativeSpend[row], where).toBe(record.cumulativeSpend);
  expect(columns.markdownPurchases[row], where).toBe(record.markdownPurchases);
  expect(columns.lastPurchase[row], where).toBe(record.lastPurchase ? dayNumber(record.lastPurchase) : NO_DAY);
  expect(columns.since[row], where).toBe(Date.parse(record.since));
  const consent = CONSENT_CHANNELS.reduce((bits, c, i) => bits | (record.consent[c].granted ? 1 << i : 0), 0);
  expect(columns.consent[row], where).toBe(consent);
  expect(logOf(columns, row), where).toEqual(record.spendLog.map((s) => [dayNumber(s.date), s.amount]));
  expect(columns.lastLogged[row], where).toBe(
    record.spendLog.length > 0 ? dayNumber(record.spendLog.at(-1)!.date) : NO_DAY,
  );
  for (const t of TAGS) {
    expect(columns.tagRows(t).has(row), `${where} tag ${t}`).toBe(record.tags.some((x) => x.tag === t));
  }
  for (const [kind, keys, histories] of [
    ['sku', [...SKUS.map((s) => s.sku), RARE.sku], record.skus],
    ['category', CATEGORIES, record.categories],
  ] as const) {
    for (const key of keys) {
      const history = histories[key];
      expect(columns.purchases(kind, key).countOf(row), `${where} ${key}`).toBe(history?.count ?? 0);
      expect(keptDays(columns, kind, key, row), `${where} ${key}`).toEqual((history?.dates ?? []).map(dayNumber));
    }
  }
}

/** Filters over every kind of column, to run by column and record by record. */
const PROBES: SegmentNode[] = [
  { field: 'spend', min: 1_500, window: { lastDays: 60 } },
  { field: 'purchaseCount', min: 2, max: 6, window: { from: '2026-02-01', to: '2026-03-15' } },
  { field: 'bought', category: '寵物保健', minTimes: 2, window: { lastDays: 45 } },
  { field: 'bought', sku: 'P0-1' },
  { field: 'bought', sku: RARE.sku, window: { lastDays: 60 } },
  {
    op: 'or',
    items: [
      { field: 'tags', match: 'all', values: ['VIP', '有養寵物'] },
      {
        op: 'and',
        items: [
          { field: 'region', values: ['新北市'] },
          { field: 'gender', values: ['unknown'] },
        ],
      },
      { field: 'consent', channel: 'line', granted: true },
    ],
  },
  {
    op: 'and',
    items: [
      { field: 'tier', values: ['regular'] },
      { field: 'lastPurchase', date: { withinDays: 30 } },
      { op: 'not', item: { field: 'markdownPurchases', min: 1 } },
    ],
  },
  { field: 'memberSince', date: { before: '2026-01-20' } },
];

describe('a randomized book', () => {
  it('keeps every column equal to the records through every kind of event', () => {
    const random = rng(20_260_331);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    const ids: string[] = [];
    const soldIds: string[] = [];
    const voided = new Set<string>();
    /** The members an event names, to check their rows right after it. */
    let touched: string[] = [];
    const member = () => {
      const id = pick(ids);
      touched.push(id);
      return id;
    };
    // Built early: from then on only changed rows are rewritten.
    book.columns();
    let day = 0;
    const dateOf = (n: number) => new Date(Date.UTC(2026, 0, 1 + n)).toISOString().slice(0, 10);
    for (let step = 0; step < 1_500; step++) {
      if (random() < 0.05) day += 1;
      const date = dateOf(day);
      const roll = random();
      touched = [];
      if (ids.length < 8 || roll < 0.08) {
        const id = `m${ids.length + 1}`;
        ids.push(id);
        touched.push(id);
        register(book, id, {
          date,
          birthday: random() < 0.8 ? `19${50 + Math.floor(random() * 50)}-0${1 + Math.floor(random() * 9)}-15` : null,
          gender: pick(GENDERS),
          region: pick(REGIONS),
          consent: { sms: random() < 0.5, line: random() < 0.5, email: random() < 0.5 },
        });
      } else if (roll < 0.6) {
        const saleId = `S${step}`;
        const items = Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({
          ...(random() < 0.01 ? RARE : pick(SKUS)),
          amount: 50 + Math.floor(random() * 900),
          markdown: random() < 0.1,
        }));
        sell(book, member(), saleId, date, items, {
          earned: Math.floor(random() * 20),
          tierAfter: pick(['regular', 'silver', 'gold']),
        });
        soldIds.push(saleId);
      } else if (roll < 0.65 && soldIds.length > 0) {
        const saleId = pick(soldIds);
        touched.push(sales.get(saleId)!.memberId!);
        if (!voided.has(saleId)) {
          voided.add(saleId);
          voidSale(book, saleId, date);
        }
      } else if (roll < 0.7 && soldIds.length > 0) {
        const saleId = pick(soldIds);
        touched.push(sales.get(saleId)!.memberId!);
        if (!voided.has(saleId)) refund(book, saleId, Math.min(sales.get(saleId)!.total, 30), date);
      } else if (roll < 0.73) {
        const [from, into] = [member(), member()];
        if (from !== into) merge(book, from, into);
      } else if (roll < 0.74) {
        erase(book, member());
      } else if (roll < 0.77) {
        tag(book, member(), pick(TAGS));
      } else if (roll < 0.79) {
        const memberId = member();
        book.apply(ev('member.untagged', { memberId, sealed: seal({ tag: pick(TAGS) }), staffId: 's' }, at10(date)));
      } else if (roll < 0.82) {
        const data = { memberId: member(), sealed: seal({ tag: pick(TAGS), ruleId: 'rule-1' }) };
        book.apply(ev('member.auto_tagged', data, at10(date)));
      } else if (roll < 0.84) {
        const data = { memberId: member(), sealed: seal({ tag: pick(TAGS), ruleId: 'rule-1' }) };
        book.apply(ev('member.auto_untagged', data, at10(date)));
      } else if (roll < 0.88) {
        const memberId = member();
        const to = pick(['regular', 'silver', 'gold']);
        book.apply(ev('member.tier_changed', { memberId, from: 'x', to, windowSpend: 0 }, at10(date)));
      } else if (roll < 0.92) {
        book.apply(ev('points.expired', { memberId: member(), points: 3, earnedOnOrBefore: date }, at10(date)));
      } else if (roll < 0.96) {
        const memberId = member();
        const channel = pick(CONSENT_CHANNELS);
        book.apply(
          ev('member.consent_changed', { memberId, channel, granted: random() < 0.5, staffId: 's' }, at10(date)),
        );
      } else {
        const memberId = member();
        const changed = memberProfile(memberId, {
          birthday: '1988-11-02',
          gender: pick(GENDERS),
          region: pick(REGIONS),
        });
        book.apply(ev('member.profile_updated', { memberId, sealed: seal(changed), staffId: 's' }, at10(date)));
      }
      // First every event's rows are checked at once; later the changes pile up between filters.
      // The SKU columns are made part-way through, to be kept up to date from then on.
      if (step < 750) {
        const columns = book.columns();
        for (const id of touched) {
          for (const record of [book.members.get(id), book.resolve(id)]) {
            if (record) expectRowShows(columns, columns.rowOf(record.memberId)!, record);
          }
        }
      } else if (step % 97 === 0) {
        matchingMembers(book, { version: 1, root: pick(PROBES) }, ENV);
      }
      if (step === 500) for (const { sku } of [...SKUS, RARE]) book.columns().purchases('sku', sku);
    }

    const columns = book.columns();
    expect(columns.rows).toBe(book.members.size);
    [...book.members.values()].forEach((record, row) => {
      expect(columns.rowOf(record.memberId)).toBe(row);
      expectRowShows(columns, row, record);
    });
    // Every kind of event happened, merges and erasures included.
    const records = [...book.members.values()];
    expect(records.some((r) => r.mergedInto)).toBe(true);
    expect(records.some((r) => r.erased)).toBe(true);
    expect(voided.size).toBeGreaterThan(0);

    // The same members by column as record by record (a one-row set of columns, written afresh).
    const env = { ...ENV, now: new Date(`${dateOf(day)}T04:00:00.000Z`) };
    for (const root of PROBES) {
      const definition: SegmentDefinition = { version: 1, root };
      const holds = compileSegment(definition, env);
      const oneByOne = records.filter((r) => !r.erased && !r.mergedInto && holds(r)).map((r) => r.memberId);
      const byColumn = matchingMembers(book, definition, env).map((r) => r.memberId);
      expect(byColumn, JSON.stringify(root)).toEqual(oneByOne);
    }
  }, 30_000); // thousands of random events: slow on a loaded machine, and time is not what it checks
});
