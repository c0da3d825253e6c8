/**
 * RFM (A1): quintile scores by rank with ties scored alike, the named segments and the report.
 * Today is 2026-06-30. Ten scored members; a value's percentile rank is (worse + same / 2) / 10, where
 * `worse` counts the members with a strictly worse value and `same` those with this value (itself
 * included), and its score 1 + floor(5 x rank) = 1 + floor((worse + same / 2) / 2):
 *
 *   member  last purchase     days  R | purchases  F | spend   M | segment
 *   m01     2026-06-30           0  5 |        10  5 |  9000   5 | champions
 *   m02     2026-06-30           0  5 |         1  1 |   300   1 | new_customers (one purchase, R 3+)
 *   m03     2026-06-25           5  4 |         6  5 |  5000   5 | champions
 *   m04     2026-06-20          10  4 |         2  2 |  5000   5 | promising
 *   m05     2026-06-10          20  3 |         6  5 |  2000   3 | loyal
 *   m06     2026-05-31          30  3 |         2  2 |  1500   3 | needs_attention
 *   m07     2026-05-01          60  2 |         3  3 |  1200   2 | at_risk
 *   m08     2026-04-01          90  2 |         2  2 |   800   2 | hibernating
 *   m09     2026-03-02         120  1 |         1  1 |   100   1 | one_time (one purchase, R below 3)
 *   m10     2025-12-12         200  1 |         5  4 |  3000   4 | at_risk
 *
 * R: 0 days (two members) 8 + 1 -> 5; 5 and 10: 7.5, 6.5 -> 4; 20 and 30 -> 3; 60 and 90 -> 2; 120 and
 * 200 -> 1. F: 1 (two) 0 + 1 -> 1; 2 (three) 2 + 1.5 -> 2; 3: 5.5 -> 3; 5: 6.5 -> 4; 6 (two) 7 + 1 -> 5;
 * 10: 9.5 -> 5. M: 5000 (two members) 7 + 1 -> 5; 3000: 6.5 -> 4; the rest as R.
 */
import { describe, expect, it } from 'vitest';
import { rfmSegment, scoreRfm } from '../../../hub/src/domain/rfm.ts';
import type { MemberRecord } from '../../../hub/src/domain/members.ts';
import { memberRecord } from '../../support/member-record.ts';

const TODAY = '2026-06-30';

const member = (memberId: string, lastPurchase: string | null, purchaseCount: number, cumulativeSpend: number) =>
  memberRecord(memberId, { lastPurchase, purchaseCount, cumulativeSpend });

const store = (): MemberRecord[] => [
  member('m01', '2026-06-30', 10, 9000),
  member('m02', '2026-06-30', 1, 300),
  member('m03', '2026-06-25', 6, 5000),
  member('m04', '2026-06-20', 2, 5000),
  member('m05', '2026-06-10', 6, 2000),
  member('m06', '2026-05-31', 2, 1500),
  member('m07', '2026-05-01', 3, 1200),
  member('m08', '2026-04-01', 2, 800),
  member('m09', '2026-03-02', 1, 100),
  member('m10', '2025-12-12', 5, 3000),
  // never bought: counted as unscored
  member('m11', null, 0, 0),
  // an erased member and one merged into m01 are not members any more: neither scored nor counted
  { ...member('gone', '2026-06-30', 50, 99_999), erased: true },
  { ...member('old', '2026-06-30', 40, 88_888), mergedInto: 'm01' },
];

describe('scoreRfm', () => {
  const table = scoreRfm(store(), TODAY);

  it('scores quintiles by rank, ties alike', () => {
    const scores = Object.fromEntries(
      ['m01', 'm02', 'm03', 'm04', 'm05', 'm06', 'm07', 'm08', 'm09', 'm10'].map((id) => {
        const e = table.get(id)!;
        return [id, `${e.r}${e.f}${e.m}`];
      }),
    );
    expect(scores).toEqual({
      m01: '555',
      m02: '511',
      m03: '455',
      m04: '425',
      m05: '353',
      m06: '323',
      m07: '232',
      m08: '222',
      m09: '111',
      m10: '144',
    });
  });

  it('names the segments', () => {
    expect(table.get('m01')).toEqual({ r: 5, f: 5, m: 5, segment: 'champions' });
    const segments = ['m01', 'm02', 'm03', 'm04', 'm05', 'm06', 'm07', 'm08', 'm09', 'm10'].map((id) =>
      table.segmentOf(id),
    );
    expect(segments).toEqual([
      'champions',
      'new_customers',
      'champions',
      'promising',
      'loyal',
      'needs_attention',
      'at_risk',
      'hibernating',
      'one_time',
      'at_risk',
    ]);
  });

  it('leaves out members who never bought, erased and merged-away records', () => {
    expect(table.get('m11')).toBeUndefined();
    expect(table.segmentOf('m11')).toBeNull();
    expect(table.get('gone')).toBeUndefined();
    expect(table.get('old')).toBeUndefined();
    expect(table.segmentOf('nobody')).toBeNull();
  });

  it('reports counts, revenue and share per segment, and the quintile bounds', () => {
    expect(table.report('2026-06-30T20:00:00.000Z', 12)).toEqual({
      computedAt: '2026-06-30T20:00:00.000Z',
      asOf: TODAY,
      scored: 10,
      unscored: 1,
      segments: [
        { segment: 'champions', members: 2, revenue: 14_000, share: 0.2 },
        { segment: 'loyal', members: 1, revenue: 2000, share: 0.1 },
        { segment: 'promising', members: 1, revenue: 5000, share: 0.1 },
        { segment: 'new_customers', members: 1, revenue: 300, share: 0.1 },
        { segment: 'needs_attention', members: 1, revenue: 1500, share: 0.1 },
        { segment: 'at_risk', members: 2, revenue: 4200, share: 0.2 },
        { segment: 'hibernating', members: 1, revenue: 800, share: 0.1 },
        { segment: 'one_time', members: 1, revenue: 100, share: 0.1 },
      ],
      // R: the fewest days that still score 1, 2, 3, 4 (120 scores 1, 90 and 60 score 2, ...);
      // F and M: the most purchases / spend that score 1, 2, 3, 4.
      thresholds: { r: [120, 60, 20, 5], f: [1, 2, 3, 5], m: [300, 1200, 2000, 3000] },
      tookMs: 12,
    });
  });

  it('scores by percentile rank, ties at the middle of their ranks', () => {
    // Six distinct spends: rank (w + 0.5) / 6 -> 1 + floor(5 x rank) = 1, 2, 3, 3, 4, 5
    const six = [100, 200, 300, 400, 500, 600].map((spend, i) => member(`s${i}`, TODAY, 2, spend));
    expect(six.map((r) => scoreRfm(six, TODAY).get(r.memberId)!.m)).toEqual([1, 2, 3, 3, 4, 5]);
    // Five members, three tied at the top: rank (2 + 1.5) / 5 = 0.7 -> 4
    const tied = [100, 200, 900, 900, 900].map((spend, i) => member(`t${i}`, TODAY, 2, spend));
    const scored = scoreRfm(tied, TODAY);
    expect(tied.map((r) => scored.get(r.memberId)!.m)).toEqual([1, 2, 4, 4, 4]);
    // Everyone alike (a store's first day): all in the middle, rank 0.5 -> 3, not "hibernating"
    const same = ['a', 'b', 'c'].map((id) => member(id, TODAY, 4, 500));
    const flat = scoreRfm(same, TODAY);
    expect(same.map((r) => flat.get(r.memberId))).toEqual(
      Array.from({ length: 3 }, () => ({ r: 3, f: 3, m: 3, segment: 'loyal' })),
    );
    // First-day one-time buyers are new customers, not customers to win back.
    const firstDay = ['x', 'y'].map((id) => member(id, TODAY, 1, 300));
    expect(scoreRfm(firstDay, TODAY).segmentOf('x')).toBe('new_customers');
    expect(flat.report('t', 0).thresholds).toEqual({ r: [0, 0, 0, 0], f: [4, 4, 4, 4], m: [500, 500, 500, 500] });
  });

  it('reports an empty store without dividing by zero', () => {
    const report = scoreRfm([member('n', null, 0, 0)], TODAY).report('t', 0);
    expect(report.scored).toBe(0);
    expect(report.unscored).toBe(1);
    expect(report.segments.every((s) => s.members === 0 && s.revenue === 0 && s.share === 0)).toBe(true);
    expect(report.thresholds).toEqual({ r: [], f: [], m: [] });
  });
});

describe('rfmSegment', () => {
  // Every rule, at its edges; the first rule that holds wins.
  it.each([
    [{ r: 4, f: 1, m: 1 }, 1, 'new_customers'],
    [{ r: 5, f: 1, m: 5 }, 1, 'new_customers'],
    [{ r: 3, f: 1, m: 5 }, 1, 'new_customers'],
    [{ r: 2, f: 1, m: 5 }, 1, 'one_time'],
    [{ r: 1, f: 1, m: 1 }, 1, 'one_time'],
    [{ r: 4, f: 4, m: 1 }, 7, 'champions'],
    [{ r: 5, f: 5, m: 5 }, 30, 'champions'],
    [{ r: 3, f: 3, m: 1 }, 4, 'loyal'],
    [{ r: 4, f: 3, m: 5 }, 4, 'loyal'],
    [{ r: 3, f: 5, m: 5 }, 9, 'loyal'],
    [{ r: 4, f: 2, m: 1 }, 2, 'promising'],
    [{ r: 5, f: 1, m: 1 }, 2, 'promising'],
    [{ r: 3, f: 2, m: 5 }, 2, 'needs_attention'],
    [{ r: 3, f: 1, m: 1 }, 2, 'needs_attention'],
    [{ r: 2, f: 3, m: 1 }, 4, 'at_risk'],
    [{ r: 1, f: 5, m: 5 }, 9, 'at_risk'],
    [{ r: 2, f: 2, m: 5 }, 2, 'hibernating'],
    [{ r: 1, f: 1, m: 1 }, 2, 'hibernating'],
  ] as const)('%o after %i purchases: %s', (scores, purchases, segment) => {
    expect(rfmSegment(scores, purchases)).toBe(segment);
  });
});
