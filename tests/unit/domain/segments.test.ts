/**
 * The member filter (S3): validation of the condition language, every field, windows and minTimes,
 * NOT / OR / AND, relative dates at month and year ends in Asia/Taipei, and the seeds' example.
 * Members are built by applying real events to a MemberBook; personal data is "sealed" as JSON and
 * opened as is. Expected matches are worked out by hand in the comments.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { ageBand, MemberBook, type MemberProfile, type MemberRecord } from '../../../hub/src/domain/members.ts';
import {
  birthdayRange,
  matchingMembers,
  parseSegment,
  runSegment,
  type SegmentEnv,
  type SegmentVocabulary,
} from '../../../hub/src/domain/segments.ts';
import {
  AGE_BANDS,
  type DateTest,
  type RfmSegmentName,
  type SegmentDefinition,
  type SegmentNode,
} from '../../../hub/src/protocol/crm.ts';
import { PET_HEALTH, SEEDS_EXAMPLE } from '../../support/segment-examples.ts';
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

const { ev } = new EventSequence();

interface Joining {
  at: string;
  birthday?: string;
  gender?: MemberProfile['gender'];
  region?: string;
  consent?: Partial<Record<'sms' | 'line' | 'email', boolean>>;
}

function register(book: MemberBook, memberId: string, joining: Joining): void {
  const profile = memberProfile(memberId, joining);
  book.apply(ev('member.registered', registration(memberId, profile, joining.consent), joining.at));
}

interface Item {
  sku: string;
  category: string;
  amount: number;
  markdown?: boolean;
}

function sell(
  book: MemberBook,
  memberId: string,
  saleId: string,
  date: string,
  items: Item[],
  tierAfter: string,
): void {
  const lines = items.map((item, i) =>
    saleLine(i + 1, item.sku, item.amount, {
      category: item.category,
      unitPrice: item.amount + (item.markdown ? 50 : 0),
      lineDiscount: item.markdown ? 50 : 0,
    }),
  );
  const total = items.reduce((sum, item) => sum + item.amount, 0);
  // One point per NT$100.
  const loyalty = { tierAfter, pointsEarned: total / 100 };
  book.apply(ev('sale.completed', completedSale({ saleId, businessDate: date, memberId, lines, loyalty }), at10(date)));
}

function tag(book: MemberBook, memberId: string, text: string): void {
  book.apply(ev('member.tagged', { memberId, sealed: seal({ tag: text }), staffId: 'staff-1' }, at10('2026-07-01')));
}

/**
 * Today is 2026-07-15 in Taipei. The live cast:
 * - m1 joined 2024-03-01; born 1990-08-20 (35: 30-39), female, 台北市, SMS consent; bought
 *   PET-101 (寵物保健) NT$3,000 on 2026-01-10 and PET-001 (寵物用品, marked down) NT$2,500 on
 *   2026-06-20: 2 purchases, NT$5,500, 55 points, gold; tag 有養寵物.
 * - m2 joined 2026-06-30T16:30Z, i.e. 2026-07-01 00:30 in Taipei; born 1975-07-01 (51: 50-59),
 *   male, 台中市, LINE consent given later; bought PET-102 (寵物保健) NT$800 on 2026-07-14: 8
 *   points, silver; tags 品質主義, VIP.
 * - m3 joined 2026-07-14T17:00Z, i.e. 2026-07-15 01:00 in Taipei; no birthday, gender or region;
 *   no consent; never bought (no tier id yet, so the base tier); tag VIP.
 * - m4 joined 2023-01-01; born 2008-12-31 (17: <20), other, 高雄市, every consent; bought RICE-1
 *   (米) NT$100 on 2025-01-05 and then every 10 days from 2026-03-01 to 2026-06-19 (12 times):
 *   13 purchases, NT$1,300, 13 points, regular; the latest 12 dates are kept (2026-03-01..06-19).
 *   m6 (tag 貪小便宜) was merged into m4, so m4 has that tag.
 * Not live: m5 (erased) and m6 (merged into m4).
 */
function buildCast(): MemberBook {
  const book = new MemberBook(unseal);
  register(book, 'm1', {
    at: at10('2024-03-01'),
    birthday: '1990-08-20',
    gender: 'female',
    region: '台北市',
    consent: { sms: true },
  });
  sell(book, 'm1', 'S1', '2026-01-10', [{ sku: 'PET-101', category: PET_HEALTH, amount: 3_000 }], 'silver');
  sell(
    book,
    'm1',
    'S2',
    '2026-06-20',
    [{ sku: 'PET-001', category: '寵物用品', amount: 2_500, markdown: true }],
    'gold',
  );
  tag(book, 'm1', '有養寵物');

  register(book, 'm2', { at: '2026-06-30T16:30:00.000Z', birthday: '1975-07-01', gender: 'male', region: '台中市' });
  book.apply(
    ev(
      'member.consent_changed',
      { memberId: 'm2', channel: 'line', granted: true, staffId: 'staff-1' },
      at10('2026-07-02'),
    ),
  );
  sell(book, 'm2', 'S3', '2026-07-14', [{ sku: 'PET-102', category: PET_HEALTH, amount: 800 }], 'silver');
  tag(book, 'm2', '品質主義');
  tag(book, 'm2', 'VIP');

  register(book, 'm3', { at: '2026-07-14T17:00:00.000Z' });
  tag(book, 'm3', 'VIP');

  register(book, 'm4', {
    at: at10('2023-01-01'),
    birthday: '2008-12-31',
    gender: 'other',
    region: '高雄市',
    consent: { sms: true, line: true, email: true },
  });
  sell(book, 'm4', 'R0', '2025-01-05', [{ sku: 'RICE-1', category: '米', amount: 100 }], 'regular');
  const riceDays = [
    '2026-03-01',
    '2026-03-11',
    '2026-03-21',
    '2026-03-31',
    '2026-04-10',
    '2026-04-20',
    '2026-04-30',
    '2026-05-10',
    '2026-05-20',
    '2026-05-30',
    '2026-06-09',
    '2026-06-19',
  ];
  riceDays.forEach((date, i) =>
    sell(book, 'm4', `R${i + 1}`, date, [{ sku: 'RICE-1', category: '米', amount: 100 }], 'regular'),
  );

  register(book, 'm5', { at: at10('2025-05-05'), birthday: '1990-08-01', gender: 'female' });
  sell(book, 'm5', 'S5', '2026-02-01', [{ sku: 'PET-101', category: PET_HEALTH, amount: 6_000 }], 'gold');
  book.apply(ev('member.erased', { memberId: 'm5', staffId: 'mgr' }, at10('2026-06-01')));

  register(book, 'm6', { at: at10('2025-02-02') });
  tag(book, 'm6', '貪小便宜');
  book.apply(ev('member.merged', { fromMemberId: 'm6', intoMemberId: 'm4', staffId: 'mgr' }, at10('2026-07-03')));
  return book;
}

const RFM: Record<string, RfmSegmentName> = { m1: 'champions', m2: 'new_customers', m4: 'loyal' };

/** The repurchase prediction, stubbed: m2 is due for 寵物保健 within 3 days or more; calls are kept. */
const isDueCalls: { memberId: string; today: string; test: object }[] = [];

function envFor(book: MemberBook, now: string, extra: Partial<SegmentEnv> = {}): SegmentEnv {
  return {
    now: new Date(now),
    timeZone: 'Asia/Taipei',
    storeId: STORE_ID,
    profile: (id) => book.profile(id),
    rfmSegment: (id) => RFM[id] ?? null,
    isDue: (record, today, test) => {
      isDueCalls.push({ memberId: record.memberId, today, test });
      return record.memberId === 'm2' && test.withinDays >= 3 && test.category === PET_HEALTH;
    },
    baseTier: 'regular',
    ...extra,
  };
}

/** 12:00 on 2026-07-15 in Taipei. */
const NOW = '2026-07-15T04:00:00.000Z';

let book: MemberBook;
beforeEach(() => {
  book = buildCast();
  isDueCalls.length = 0;
});

const ids = (records: MemberRecord[]) => records.map((r) => r.memberId).sort();

/** Who matches one node (as the whole filter), today = 2026-07-15 unless `now` says otherwise. */
function who(root: SegmentNode, now = NOW, extra: Partial<SegmentEnv> = {}): string[] {
  return ids(matchingMembers(book, { version: 1, root }, envFor(book, now, extra)));
}

// ---------------------------------------------------------------------------------------------

describe('each field', () => {
  it('birth month: fixed, this month (July) and next month (August)', () => {
    expect(who({ field: 'birthMonth', month: 8 })).toEqual(['m1']);
    expect(who({ field: 'birthMonth', month: 12 })).toEqual(['m4']);
    expect(who({ field: 'birthMonth', relative: 'this_month' })).toEqual(['m2']);
    expect(who({ field: 'birthMonth', relative: 'next_month' })).toEqual(['m1']);
  });

  it('age band by the birthday today; no birthday never matches', () => {
    expect(who({ field: 'ageBand', bands: ['30-39', '<20'] })).toEqual(['m1', 'm4']);
    expect(who({ field: 'ageBand', bands: ['50-59'] })).toEqual(['m2']);
    expect(who({ field: 'ageBand', bands: ['20-29', '40-49', '60+'] })).toEqual([]);
    // m1 turns 36 on 2026-08-20 (12:00 in Taipei that day): still 30-39
    expect(who({ field: 'ageBand', bands: ['30-39'] }, '2026-08-20T04:00:00.000Z')).toEqual(['m1']);
    // m4 turns 20 on 2028-12-31 in Taipei, which begins at 2028-12-30T16:00Z
    expect(who({ field: 'ageBand', bands: ['20-29'] }, '2028-12-30T15:59:00.000Z')).toEqual([]);
    expect(who({ field: 'ageBand', bands: ['20-29'] }, '2028-12-30T16:00:00.000Z')).toEqual(['m4']);
  });

  it('age bands agree with ageBand() around birthdays, leap days and band edges', () => {
    const birthdays = [
      '1966-07-15',
      '1966-07-16',
      '1986-07-14',
      '2006-07-15',
      '2006-07-16',
      '2008-02-29',
      '2007-03-01',
    ];
    const todays = ['2026-07-14', '2026-07-15', '2026-07-16', '2028-02-28', '2028-02-29', '2027-02-28', '2027-03-01'];
    for (const today of todays) {
      for (const birthday of birthdays) {
        const inBands = AGE_BANDS.filter((band) => {
          const { after, upTo } = birthdayRange(band, today);
          return birthday > after && birthday <= upTo;
        });
        expect(inBands, `${birthday} on ${today}`).toEqual([ageBand(birthday, today)]);
      }
    }
    expect(birthdayRange('60+', '2026-07-15')).toEqual({ after: '', upTo: '1966-07-15' });
  });

  it('gender, with no gender given as unknown', () => {
    expect(who({ field: 'gender', values: ['unknown'] })).toEqual(['m3']);
    expect(who({ field: 'gender', values: ['female', 'other'] })).toEqual(['m1', 'm4']);
  });

  it('region, exact but ignoring surrounding spaces', () => {
    expect(who({ field: 'region', values: [' 台中市 '] })).toEqual(['m2']);
    expect(who({ field: 'region', values: ['台北市', '高雄市'] })).toEqual(['m1', 'm4']);
    expect(who({ field: 'region', values: ['台北'] })).toEqual([]);
  });

  it('tier; a member with no tier yet is in the base tier', () => {
    expect(who({ field: 'tier', values: ['gold'] })).toEqual(['m1']);
    expect(who({ field: 'tier', values: ['silver', 'gold'] })).toEqual(['m1', 'm2']);
    expect(who({ field: 'tier', values: ['regular'] })).toEqual(['m3', 'm4']);
    expect(who({ field: 'tier', values: ['regular'] }, NOW, { baseTier: undefined })).toEqual(['m4']);
  });

  it('points and markdown purchases between inclusive bounds', () => {
    // points: m1 55, m2 8, m3 0, m4 13
    expect(who({ field: 'points', min: 10 })).toEqual(['m1', 'm4']);
    expect(who({ field: 'points', max: 8 })).toEqual(['m2', 'm3']);
    expect(who({ field: 'points', min: 8, max: 13 })).toEqual(['m2', 'm4']);
    expect(who({ field: 'markdownPurchases', min: 1 })).toEqual(['m1']);
    expect(who({ field: 'markdownPurchases', max: 0 })).toEqual(['m2', 'm3', 'm4']);
  });

  it('tags: any, all, none (a merged record brings its tags)', () => {
    expect(who({ field: 'tags', match: 'any', values: ['VIP', '有養寵物'] })).toEqual(['m1', 'm2', 'm3']);
    expect(who({ field: 'tags', match: 'all', values: ['VIP', '品質主義'] })).toEqual(['m2']);
    expect(who({ field: 'tags', match: 'none', values: ['VIP'] })).toEqual(['m1', 'm4']);
    expect(who({ field: 'tags', match: 'all', values: ['貪小便宜'] })).toEqual(['m4']);
  });

  it('consent per channel, as it stands now', () => {
    expect(who({ field: 'consent', channel: 'sms', granted: true })).toEqual(['m1', 'm4']);
    expect(who({ field: 'consent', channel: 'line', granted: true })).toEqual(['m2', 'm4']);
    expect(who({ field: 'consent', channel: 'email', granted: false })).toEqual(['m1', 'm2', 'm3']);
  });

  it('store: every live member of this store or none', () => {
    expect(who({ field: 'store', values: ['store-1', 'store-2'] })).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(who({ field: 'store', values: ['store-2'] })).toEqual([]);
  });

  it('member since by the Taipei date of joining (m2 joined 2026-06-30 UTC, 2026-07-01 in Taipei)', () => {
    expect(who({ field: 'memberSince', date: { after: '2026-06-30' } })).toEqual(['m2', 'm3']);
    expect(who({ field: 'memberSince', date: { before: '2026-07-01' } })).toEqual(['m1', 'm4']);
    expect(who({ field: 'memberSince', date: { from: '2026-07-01', to: '2026-07-01' } })).toEqual(['m2']);
    // m3 joined 2026-07-14T17:00Z: today in Taipei
    expect(who({ field: 'memberSince', date: { from: '2026-07-15', to: '2026-07-15' } })).toEqual(['m3']);
    // within 14 days: 2026-07-01..07-15; within 13: from 07-02
    expect(who({ field: 'memberSince', date: { withinDays: 14 } })).toEqual(['m2', 'm3']);
    expect(who({ field: 'memberSince', date: { withinDays: 13 } })).toEqual(['m3']);
    expect(who({ field: 'memberSince', date: { notWithinDays: 14 } })).toEqual(['m1', 'm4']);
  });

  it('last purchase; members who never bought match no test', () => {
    // m1 2026-06-20 (25 days ago), m2 2026-07-14 (1 day), m4 2026-06-19 (26 days), m3 never
    expect(who({ field: 'lastPurchase', date: { withinDays: 1 } })).toEqual(['m2']);
    expect(who({ field: 'lastPurchase', date: { withinDays: 25 } })).toEqual(['m1', 'm2']);
    expect(who({ field: 'lastPurchase', date: { notWithinDays: 25 } })).toEqual(['m4']);
    expect(who({ field: 'lastPurchase', date: { before: '2026-06-20' } })).toEqual(['m4']);
    expect(who({ field: 'lastPurchase', date: { after: '2026-06-19' } })).toEqual(['m1', 'm2']);
    expect(who({ field: 'lastPurchase', date: { from: '2026-06-19', to: '2026-06-20' } })).toEqual(['m1', 'm4']);
  });

  it('purchase count, all time and in windows', () => {
    // all time: m1 2, m2 1, m3 0, m4 13
    expect(who({ field: 'purchaseCount', min: 2 })).toEqual(['m1', 'm4']);
    expect(who({ field: 'purchaseCount', max: 0 })).toEqual(['m3']);
    // last 30 days = 2026-06-16..07-15: m1 06-20, m2 07-14, m4 06-19 (one each)
    expect(who({ field: 'purchaseCount', min: 1, window: { lastDays: 30 } })).toEqual(['m1', 'm2', 'm4']);
    // last 26 days = 2026-06-20..07-15: m4's 06-19 falls out
    expect(who({ field: 'purchaseCount', min: 1, window: { lastDays: 26 } })).toEqual(['m1', 'm2']);
    // first half of 2026: m1 2 (01-10, 06-20), m4 12 (03-01..06-19)
    expect(who({ field: 'purchaseCount', min: 2, max: 12, window: { from: '2026-01-01', to: '2026-06-30' } })).toEqual([
      'm1',
      'm4',
    ]);
    expect(who({ field: 'purchaseCount', min: 3, max: 11, window: { from: '2026-01-01', to: '2026-06-30' } })).toEqual(
      [],
    );
  });

  it('spend, all time and in windows', () => {
    // all time: m1 5,500, m2 800, m3 0, m4 1,300
    expect(who({ field: 'spend', min: 5_000 })).toEqual(['m1']);
    expect(who({ field: 'spend', min: 1_000, max: 1_300 })).toEqual(['m4']);
    // last 30 days: m1 2,500, m2 800, m4 100
    expect(who({ field: 'spend', min: 800, window: { lastDays: 30 } })).toEqual(['m1', 'm2']);
    expect(who({ field: 'spend', max: 100, window: { lastDays: 30 } })).toEqual(['m3', 'm4']);
    // 2025: only m4's NT$100 on 2025-01-05
    expect(who({ field: 'spend', min: 100, window: { from: '2025-01-01', to: '2025-12-31' } })).toEqual(['m4']);
  });

  it('bought a SKU or a category: ever, at least N times, in a window', () => {
    expect(who({ field: 'bought', sku: 'PET-101' })).toEqual(['m1']);
    expect(who({ field: 'bought', category: PET_HEALTH })).toEqual(['m1', 'm2']);
    expect(who({ field: 'bought', category: '米', minTimes: 13 })).toEqual(['m4']);
    expect(who({ field: 'bought', category: '米', minTimes: 14 })).toEqual([]);
    // last 30 days (06-16..07-15): m4's rice on 06-19; m2's PET-102 on 07-14
    expect(who({ field: 'bought', sku: 'RICE-1', window: { lastDays: 30 } })).toEqual(['m4']);
    expect(who({ field: 'bought', category: PET_HEALTH, window: { lastDays: 30 } })).toEqual(['m2']);
    // 2026-03-01..04-30 holds 7 rice purchases: 03-01, 03-11, 03-21, 03-31, 04-10, 04-20, 04-30
    expect(
      who({ field: 'bought', category: '米', minTimes: 7, window: { from: '2026-03-01', to: '2026-04-30' } }),
    ).toEqual(['m4']);
    expect(
      who({ field: 'bought', category: '米', minTimes: 8, window: { from: '2026-03-01', to: '2026-04-30' } }),
    ).toEqual([]);
    // the last year holds the 12 kept dates, all counted
    expect(who({ field: 'bought', sku: 'RICE-1', minTimes: 12, window: { lastDays: 365 } })).toEqual(['m4']);
  });

  it('RFM segment from the latest computation; unscored members never match', () => {
    expect(who({ field: 'rfmSegment', values: ['champions', 'loyal'] })).toEqual(['m1', 'm4']);
    expect(who({ field: 'rfmSegment', values: ['one_time'] })).toEqual([]);
  });

  it('due for repurchase asks the prediction with today, the days ahead (7 unless given) and the item', () => {
    expect(who({ field: 'dueForRepurchase', withinDays: 3, category: PET_HEALTH })).toEqual(['m2']);
    expect(isDueCalls.find((c) => c.memberId === 'm2')).toEqual({
      memberId: 'm2',
      today: '2026-07-15',
      test: { withinDays: 3, category: PET_HEALTH },
    });
    isDueCalls.length = 0;
    expect(who({ field: 'dueForRepurchase' })).toEqual([]);
    expect(isDueCalls.map((c) => c.test)).toEqual(Array(4).fill({ withinDays: 7 }));
  });
});

describe('groups', () => {
  it('NOT negates one item', () => {
    expect(who({ op: 'not', item: { field: 'tags', match: 'any', values: ['VIP'] } })).toEqual(['m1', 'm4']);
    expect(who({ op: 'not', item: { op: 'not', item: { field: 'gender', values: ['male'] } } })).toEqual(['m2']);
  });

  it('OR of ANDs, with a NOT inside', () => {
    // (female AND spend >= 5,000) -> m1; (base tier AND never bought rice) -> m3 (m4 bought rice)
    const root: SegmentNode = {
      op: 'or',
      items: [
        {
          op: 'and',
          items: [
            { field: 'gender', values: ['female'] },
            { field: 'spend', min: 5_000 },
          ],
        },
        {
          op: 'and',
          items: [
            { field: 'tier', values: ['regular'] },
            { op: 'not', item: { field: 'bought', category: '米' } },
          ],
        },
      ],
    };
    expect(who(root)).toEqual(['m1', 'm3']);
  });

  it('AND of an OR and a date test', () => {
    // (台北市 OR 台中市) AND bought within 25 days: m1 (06-20) and m2 (07-14)
    const root: SegmentNode = {
      op: 'and',
      items: [
        {
          op: 'or',
          items: [
            { field: 'region', values: ['台北市'] },
            { field: 'region', values: ['台中市'] },
          ],
        },
        { field: 'lastPurchase', date: { withinDays: 25 } },
      ],
    };
    expect(who(root)).toEqual(['m1', 'm2']);
    // 24 days reaches back to 06-21: m1 drops out
    (root.items[1] as { date: { withinDays: number } }).date.withinDays = 24;
    expect(who(root)).toEqual(['m2']);
  });

  it('AND and OR of four items', () => {
    // female or other (m1, m4), SMS consent (m1, m4), points >= 10 (m1 55, m4 13), every member
    const all: SegmentNode = {
      op: 'and',
      items: [
        { field: 'store', values: ['store-1'] },
        { field: 'gender', values: ['female', 'other'] },
        { field: 'consent', channel: 'sms', granted: true },
        { field: 'points', min: 10 },
      ],
    };
    expect(who(all)).toEqual(['m1', 'm4']);
    (all.items[3] as { min: number }).min = 14;
    expect(who(all)).toEqual(['m1']);
    // born in December (m4), tagged 品質主義 (m2), no gender (m3), 1,000+ points (nobody)
    const any: SegmentNode = {
      op: 'or',
      items: [
        { field: 'birthMonth', month: 12 },
        { field: 'tags', match: 'all', values: ['品質主義'] },
        { field: 'gender', values: ['unknown'] },
        { field: 'points', min: 1_000 },
      ],
    };
    expect(who(any)).toEqual(['m2', 'm3', 'm4']);
  });

  it('AND and OR of one item are that item', () => {
    expect(who({ op: 'and', items: [{ field: 'birthMonth', month: 12 }] })).toEqual(['m4']);
    expect(who({ op: 'or', items: [{ field: 'birthMonth', month: 12 }] })).toEqual(['m4']);
  });
});

describe("the seeds' example", () => {
  it('birthday next month AND cumulative spend >= 5000 AND ever bought 寵物保健', () => {
    const definition = SEEDS_EXAMPLE;
    // In July: August birthdays are m1 (and the erased m5, who is left out); m1 spent 5,500 and
    // bought PET-101. m2 bought 寵物保健 too but was born in July and spent 800.
    const result = runSegment(book, definition, envFor(book, NOW), 10);
    expect(result).toMatchObject({ count: 1, total: 4, asOf: '2026-07-15' });
    expect(ids(result.first)).toEqual(['m1']);
    // A month later "next month" is September: nobody.
    expect(runSegment(book, definition, envFor(book, '2026-08-15T04:00:00.000Z'), 10).count).toBe(0);
  });
});

describe('running over the book', () => {
  it('counts live members only and lists the first matches, longest-standing members first', () => {
    const all: SegmentDefinition = { version: 1, root: { field: 'store', values: ['store-1'] } };
    // joined: m4 2023-01-01, m1 2024-03-01, m2 2026-06-30T16:30Z, m3 2026-07-14T17:00Z
    const result = runSegment(book, all, envFor(book, NOW), 3);
    expect(result.count).toBe(4);
    expect(result.total).toBe(4);
    expect(result.first.map((r) => r.memberId)).toEqual(['m4', 'm1', 'm2']);
    expect(runSegment(book, all, envFor(book, NOW), 0).first).toEqual([]);
    const vip = runSegment(
      book,
      { version: 1, root: { field: 'tags', match: 'any', values: ['VIP'] } },
      envFor(book, NOW),
      5,
    );
    expect(vip.first.map((r) => r.memberId)).toEqual(['m2', 'm3']);
    expect(vip.count).toBe(2);
  });
});

describe('relative dates at month and year ends in Asia/Taipei', () => {
  let small: MemberBook;
  beforeEach(() => {
    small = new MemberBook(unseal);
    register(small, 'dec', { at: at10('2026-01-01'), birthday: '1980-12-05' });
    register(small, 'jan', { at: at10('2026-01-01'), birthday: '1985-01-20' });
    register(small, 'feb', { at: at10('2026-01-01'), birthday: '1999-02-28' });
  });
  const months = (now: string, relative: 'this_month' | 'next_month') => {
    const result = runSegment(small, { version: 1, root: { field: 'birthMonth', relative } }, envFor(small, now), 10);
    return { asOf: result.asOf, members: ids(result.first) };
  };

  it('2026-12-31T16:30Z is 2027-01-01 in Taipei: this month is January, next month February', () => {
    expect(months('2026-12-31T16:30:00.000Z', 'this_month')).toEqual({ asOf: '2027-01-01', members: ['jan'] });
    expect(months('2026-12-31T16:30:00.000Z', 'next_month')).toEqual({ asOf: '2027-01-01', members: ['feb'] });
  });

  it('a minute before Taipei midnight it is still December, and next month is January', () => {
    expect(months('2026-12-31T15:59:00.000Z', 'this_month')).toEqual({ asOf: '2026-12-31', members: ['dec'] });
    expect(months('2026-12-31T15:59:00.000Z', 'next_month')).toEqual({ asOf: '2026-12-31', members: ['jan'] });
  });

  it('2026-11-30T16:00Z is 2026-12-01 in Taipei: next month wraps to January', () => {
    expect(months('2026-11-30T16:00:00.000Z', 'this_month')).toEqual({ asOf: '2026-12-01', members: ['dec'] });
    expect(months('2026-11-30T16:00:00.000Z', 'next_month')).toEqual({ asOf: '2026-12-01', members: ['jan'] });
  });

  it('member since and "within N days" turn over at Taipei midnight', () => {
    const joins = new MemberBook(unseal);
    // 2026-07-01 00:30 in Taipei
    register(joins, 'late', { at: '2026-06-30T16:30:00.000Z' });
    // exactly 2026-07-01 00:00 in Taipei, written without milliseconds
    register(joins, 'midnight', { at: '2026-06-30T16:00:00Z' });
    // 2026-06-30 23:59:59.999 in Taipei
    register(joins, 'before', { at: '2026-06-30T15:59:59.999Z' });
    const joined = (date: DateTest, now: string) =>
      ids(matchingMembers(joins, { version: 1, root: { field: 'memberSince', date } }, envFor(joins, now)));
    expect(joined({ from: '2026-07-01', to: '2026-07-01' }, NOW)).toEqual(['late', 'midnight']);
    expect(joined({ before: '2026-07-01' }, NOW)).toEqual(['before']);
    expect(joined({ after: '2026-06-30' }, NOW)).toEqual(['late', 'midnight']);
    // 2026-07-31 23:50 in Taipei: 30 days back is 07-01
    expect(joined({ withinDays: 30 }, '2026-07-31T15:50:00.000Z')).toEqual(['late', 'midnight']);
    // 2026-08-01 00:10 in Taipei: 30 days back is 07-02; 31 days back is 07-01
    expect(joined({ withinDays: 30 }, '2026-07-31T16:10:00.000Z')).toEqual([]);
    expect(joined({ withinDays: 31 }, '2026-07-31T16:10:00.000Z')).toEqual(['late', 'midnight']);
    expect(joined({ notWithinDays: 30 }, '2026-07-31T16:10:00.000Z')).toEqual(['before', 'late', 'midnight']);
  });

  it('a window of the last day at New Year holds only 2027-01-01', () => {
    sell(small, 'dec', 'N1', '2026-12-31', [{ sku: 'RICE-1', category: '米', amount: 300 }], 'regular');
    sell(small, 'jan', 'N2', '2027-01-01', [{ sku: 'RICE-1', category: '米', amount: 300 }], 'regular');
    const spent = runSegment(
      small,
      { version: 1, root: { field: 'spend', min: 1, window: { lastDays: 1 } } },
      envFor(small, '2026-12-31T16:30:00.000Z'),
      10,
    );
    expect(ids(spent.first)).toEqual(['jan']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('validation', () => {
  const vocabulary: SegmentVocabulary = {
    skus: new Set(['PET-001', 'PET-101', 'PET-102', 'RICE-1']),
    categories: new Set([PET_HEALTH, '寵物用品', '米']),
    tiers: ['regular', 'silver', 'gold'],
  };
  const TODAY = '2026-07-15';
  const check = (input: unknown) => parseSegment(input, vocabulary, TODAY);
  const problemsOf = (root: unknown) => check({ version: 1, root }).problems;

  it('gives a valid definition back with no problems', () => {
    const input = {
      version: 1,
      root: {
        op: 'and',
        items: [
          { field: 'birthMonth', relative: 'next_month' },
          { field: 'spend', min: 5000 },
          { field: 'bought', category: PET_HEALTH },
          { op: 'not', item: { field: 'lastPurchase', date: { withinDays: 30 } } },
        ],
      },
    };
    expect(check(input)).toEqual({ definition: input, problems: [] });
  });

  it('malformed shapes: not an object, no root, extra keys, neither group nor condition', () => {
    expect(check('birthday next month').problems.map((p) => p.path)).toEqual(['']);
    expect(check(null).definition).toBeNull();
    expect(check({ version: 1 }).problems).toEqual([
      { path: '/root', message: 'missing: expected a group or a condition' },
    ]);
    expect(check({ version: 1, root: { field: 'points', min: 1 }, name: 'x' }).problems.map((p) => p.path)).toEqual([
      '/name',
    ]);
    expect(problemsOf([{ field: 'points', min: 1 }]).map((p) => p.path)).toEqual(['/root']);
    expect(problemsOf({ items: [] }).map((p) => p.path)).toEqual(['/root']);
  });

  it('version 2 is not read', () => {
    const { problems } = check({ version: 2, root: { field: 'points', min: 1 } });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toBe('/version');
    expect(problems[0]!.message).toContain('version 2');
  });

  it("wrong values are reported against the condition's own schema, at their path", () => {
    const problems = problemsOf({
      op: 'or',
      items: [
        { field: 'points', min: 1 },
        { field: 'points', min: -1 },
        { field: 'tags', match: 'some', values: [] },
        { field: 'consent', channel: 'sms', granted: 'yes' },
      ],
    });
    expect(problems).toEqual([
      { path: '/root/items/1/min', message: 'expected a whole number >= 0' },
      { path: '/root/items/2/match', message: 'expected one of: "any", "all", "none"' },
      { path: '/root/items/2/values', message: 'expected a list of 1 to 50 values' },
      { path: '/root/items/3/granted', message: 'expected true or false' },
    ]);
  });

  it('a missing or unexpected property is named', () => {
    expect(problemsOf({ field: 'tags', values: ['VIP'] })).toEqual([
      { path: '/root/match', message: 'missing: expected one of: "any", "all", "none"' },
    ]);
    const [problem] = problemsOf({ field: 'points', min: 1, minimum: 2 });
    expect(problem!.path).toBe('/root/minimum');
    expect(problem!.message).toContain('min, max');
  });

  it('an unknown field lists the known ones', () => {
    const problems = problemsOf({ op: 'and', items: [{ field: 'birthday', month: 8 }] });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toBe('/root/items/0/field');
    expect(problems[0]!.message).toContain('unknown field "birthday"');
    expect(problems[0]!.message).toContain('birthMonth');
    expect(problems[0]!.message).toContain('dueForRepurchase');
  });

  it('bounds: at least one, and min <= max', () => {
    expect(problemsOf({ field: 'points' })).toEqual([{ path: '/root', message: 'give a minimum, a maximum or both' }]);
    expect(problemsOf({ field: 'spend', min: 5000, max: 100 })).toEqual([
      { path: '/root/min', message: 'the minimum (5000) is more than the maximum (100)' },
    ]);
  });

  it('birth month: exactly one of month and relative', () => {
    expect(problemsOf({ field: 'birthMonth', month: 8, relative: 'next_month' }).map((p) => p.path)).toEqual(['/root']);
    expect(problemsOf({ field: 'birthMonth' }).map((p) => p.path)).toEqual(['/root']);
    expect(problemsOf({ field: 'birthMonth', month: 13 })).toEqual([
      { path: '/root/month', message: 'expected a whole number from 1 to 12' },
    ]);
  });

  it('bought: a SKU or a category, not both, and known ones with suggestions', () => {
    expect(problemsOf({ field: 'bought', sku: 'PET-101', category: PET_HEALTH })).toEqual([
      { path: '/root', message: 'choose a SKU or a category, not both' },
    ]);
    expect(problemsOf({ field: 'bought' })).toEqual([{ path: '/root', message: 'choose a SKU or a category' }]);
    expect(problemsOf({ field: 'bought', sku: 'PET-10' })).toEqual([
      { path: '/root/sku', message: 'no product with SKU "PET-10"; did you mean "PET-101", "PET-102", "PET-001"?' },
    ]);
    expect(problemsOf({ field: 'bought', category: '寵物保鍵' })).toEqual([
      { path: '/root/category', message: 'no category "寵物保鍵"; did you mean "寵物保健", "寵物用品"?' },
    ]);
    expect(problemsOf({ field: 'bought', sku: 'ZZZ-999' })).toEqual([
      { path: '/root/sku', message: 'no product with SKU "ZZZ-999"' },
    ]);
    expect(problemsOf({ field: 'dueForRepurchase', sku: 'PET-101', category: PET_HEALTH }).map((p) => p.path)).toEqual([
      '/root',
    ]);
  });

  it('bought within a window counts at most 12', () => {
    expect(problemsOf({ field: 'bought', sku: 'RICE-1', minTimes: 13, window: { lastDays: 90 } })).toEqual([
      {
        path: '/root/minTimes',
        message: 'within a window at most 12 can be counted: use 12 or less, or no window',
      },
    ]);
    expect(problemsOf({ field: 'bought', sku: 'RICE-1', minTimes: 13 })).toEqual([]);
  });

  it('an unknown tier suggests the close one', () => {
    expect(problemsOf({ field: 'tier', values: ['silver', 'golden'] })).toEqual([
      { path: '/root/values/1', message: 'no tier "golden"; did you mean "gold"? (tiers: regular, silver, gold)' },
    ]);
  });

  it('windows: from <= to, within the kept history, one kind at a time', () => {
    expect(problemsOf({ field: 'spend', min: 1, window: { from: '2026-05-01', to: '2026-04-01' } })).toEqual([
      { path: '/root/window/from', message: 'the window starts (2026-05-01) after it ends (2026-04-01)' },
    ]);
    // 1,095 days before 2026-07-15 is 2023-07-16 (2024 is a leap year)
    expect(problemsOf({ field: 'spend', min: 1, window: { from: '2023-07-15', to: '2023-12-31' } })).toEqual([
      {
        path: '/root/window/from',
        message: 'purchases are kept for 1095 days (3 years): start the window on or after 2023-07-16',
      },
    ]);
    expect(problemsOf({ field: 'spend', min: 1, window: { from: '2023-07-16', to: '2023-12-31' } })).toEqual([]);
    expect(problemsOf({ field: 'purchaseCount', min: 1, window: { from: '2026-01-01' } })).toEqual([
      { path: '/root/window/to', message: 'missing: expected a date as YYYY-MM-DD' },
    ]);
    expect(
      problemsOf({ field: 'spend', min: 1, window: { lastDays: 30, from: '2026-01-01' } }).map((p) => p.path),
    ).toEqual(['/root/window']);
    expect(problemsOf({ field: 'spend', min: 1, window: { lastDays: 0 } })).toEqual([
      { path: '/root/window/lastDays', message: 'expected a whole number from 1 to 1095' },
    ]);
  });

  it('date tests: one kind, real dates, from <= to', () => {
    expect(problemsOf({ field: 'memberSince', date: { since: '2026-01-01' } }).map((p) => p.path)).toEqual([
      '/root/date',
    ]);
    expect(
      problemsOf({ field: 'memberSince', date: { before: '2026-01-01', after: '2025-01-01' } }).map((p) => p.path),
    ).toEqual(['/root/date']);
    expect(problemsOf({ field: 'lastPurchase', date: { before: '2026-02-30' } })).toEqual([
      { path: '/root/date/before', message: '2026-02-30 is not a date on the calendar' },
    ]);
    expect(problemsOf({ field: 'lastPurchase', date: { from: '2026-03-01', to: '2026-02-01' } })).toEqual([
      { path: '/root/date/from', message: '"from" (2026-03-01) is after "to" (2026-02-01)' },
    ]);
    expect(problemsOf({ field: 'lastPurchase', date: { after: '2026/01/01' } })).toEqual([
      { path: '/root/date/after', message: 'expected a date as YYYY-MM-DD' },
    ]);
    expect(problemsOf({ field: 'lastPurchase' }).map((p) => p.path)).toEqual(['/root/date']);
  });

  it('groups: a known op, 1-20 items, NOT takes one item', () => {
    expect(problemsOf({ op: 'xor', items: [{ field: 'points', min: 1 }] }).map((p) => p.path)).toEqual(['/root/op']);
    expect(problemsOf({ op: 'and', items: [] }).map((p) => p.path)).toEqual(['/root/items']);
    expect(problemsOf({ op: 'not', items: [{ field: 'points', min: 1 }] })).toEqual([
      { path: '/root/items', message: 'NOT takes one "item", not a list: wrap a list in an AND or OR' },
    ]);
    const many = Array.from({ length: 21 }, () => ({ field: 'points', min: 1 }));
    expect(problemsOf({ op: 'or', items: many }).map((p) => p.path)).toEqual(['/root/items']);
  });

  it('too deep: at most 8 levels', () => {
    // 7 NOTs around a condition: 8 levels, fine; 8 NOTs: the condition is at level 9
    let node: unknown = { field: 'points', min: 1 };
    for (let i = 0; i < 7; i++) node = { op: 'not', item: node };
    expect(problemsOf(node)).toEqual([]);
    const deeper = { op: 'not', item: node };
    expect(problemsOf(deeper)).toEqual([
      {
        path: '/root' + '/item'.repeat(8),
        message: 'nested too deep: at most 8 levels of groups and conditions',
      },
    ]);
  });

  it('too many conditions: at most 100', () => {
    const group = () => ({ op: 'or', items: Array.from({ length: 20 }, () => ({ field: 'points', min: 1 })) });
    expect(problemsOf({ op: 'and', items: [group(), group(), group(), group(), group()] })).toEqual([]);
    expect(problemsOf({ op: 'and', items: [group(), group(), group(), group(), group(), group()] })).toEqual([
      { path: '/root', message: 'too many conditions (120): at most 100 in one filter' },
    ]);
  });

  it('reports every problem in one go', () => {
    const { definition, problems } = check({
      version: 1,
      root: {
        op: 'and',
        items: [
          { field: 'birthMonth', month: 8, relative: 'this_month' },
          { field: 'points', min: 'many' },
          { op: 'or', items: [{ field: 'bought', sku: 'PET-10' }, { field: 'shoeSize' }] },
        ],
      },
    });
    expect(definition).toBeNull();
    expect(problems.map((p) => p.path)).toEqual([
      '/root/items/0',
      '/root/items/1/min',
      '/root/items/2/items/0/sku',
      '/root/items/2/items/1/field',
    ]);
  });
});
