/**
 * RFM (A1): recency, frequency and monetary scores 1-5 over the store's members, and the named
 * segments a store owner acts on (champions to thank, one-time buyers to win back). Pure: `today`
 * is passed in; recomputed nightly and on demand by the caller.
 */
import { RFM_SEGMENTS, type RfmReport, type RfmScores, type RfmSegmentName } from '../protocol/crm.js';
import { isLive, type MemberRecord } from './members.js';
import { daysBetween } from './time.js';

export interface RfmEntry extends RfmScores {
  segment: RfmSegmentName;
}

/** Quintile bounds (1..4) in the dimension's own unit: days since, purchases, NT$. */
export interface RfmThresholds {
  r: number[];
  f: number[];
  m: number[];
}

/**
 * The named segment of a scored member: the first rule that holds. One-time buyers are told apart
 * first (their F is meaningless), then the rest by recency and frequency.
 */
export function rfmSegment(scores: RfmScores, purchaseCount: number): RfmSegmentName {
  const { r, f } = scores;
  if (purchaseCount === 1) return r >= 3 ? 'new_customers' : 'one_time';
  if (r >= 4 && f >= 4) return 'champions';
  if (r >= 3 && f >= 3) return 'loyal';
  if (r >= 4) return 'promising';
  if (r === 3) return 'needs_attention';
  if (f >= 3) return 'at_risk';
  return 'hibernating';
}

/**
 * Scores by percentile rank where higher is better: a value's rank is the share of members with a
 * worse value plus half the share of those with the same value, and its score 1 + floor(5 x rank)
 * (at most 5). Equal values score alike, and a value everyone shares sits in the middle (3): on a
 * store's first day nobody is "worse" than anybody. Also gives, for each score 1..4, the best value
 * that scores no more than it.
 */
export function quintiles(values: Float64Array): { scores: Uint8Array; bounds: number[] } {
  const n = values.length;
  const sorted = values.slice().sort();
  const scoreOf = new Map<number, number>();
  const bestWithScore: (number | undefined)[] = [];
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && sorted[end] === sorted[start]) end++;
    const score = Math.min(5, 1 + Math.floor((5 * (start + (end - start) / 2)) / n));
    scoreOf.set(sorted[start]!, score);
    bestWithScore[score] = sorted[start]!;
    start = end;
  }
  const scores = new Uint8Array(n);
  for (let i = 0; i < n; i++) scores[i] = scoreOf.get(values[i]!)!;
  const bounds: number[] = [];
  let bound: number | undefined;
  for (let score = 1; score <= 4 && n > 0; score++) {
    // No value scores this low: the worst value bounds it (nobody is below).
    bound = bestWithScore[score] ?? bound ?? sorted[0];
    bounds.push(bound!);
  }
  return { scores, bounds };
}

/** The scores and segments of one run, by member id. */
export class RfmTable {
  private constructor(
    readonly asOf: string,
    /** Member id -> row of the columns below. */
    private readonly rows: Map<string, number>,
    private readonly r: Uint8Array,
    private readonly f: Uint8Array,
    private readonly m: Uint8Array,
    /** Index into RFM_SEGMENTS. */
    private readonly segments: Uint8Array,
    private readonly spend: Float64Array,
    readonly unscored: number,
    readonly thresholds: RfmThresholds,
  ) {}

  /**
   * Scores the live members (not erased, not merged away) who bought at least once. R is days
   * since the last purchase (fewer is better), F the purchase count, M the all-time net spend.
   */
  static score(members: Iterable<MemberRecord>, today: string): RfmTable {
    const scored: MemberRecord[] = [];
    let unscored = 0;
    for (const record of members) {
      if (!isLive(record)) continue;
      if (record.purchaseCount > 0 && record.lastPurchase) scored.push(record);
      else unscored += 1;
    }
    const n = scored.length;
    // Recency is negated so that for all three higher is better.
    const recency = new Float64Array(n);
    const frequency = new Float64Array(n);
    const monetary = new Float64Array(n);
    // Many members share a last purchase day: work each day out once.
    const daysSince = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const record = scored[i]!;
      const last = record.lastPurchase!;
      let days = daysSince.get(last);
      if (days === undefined) daysSince.set(last, (days = daysBetween(last, today)));
      recency[i] = 0 - days;
      frequency[i] = record.purchaseCount;
      monetary[i] = record.cumulativeSpend;
    }
    const r = quintiles(recency);
    const f = quintiles(frequency);
    const m = quintiles(monetary);
    const rows = new Map<string, number>();
    const segments = new Uint8Array(n);
    const segmentIndex = new Map(RFM_SEGMENTS.map((segment, index) => [segment, index]));
    for (let i = 0; i < n; i++) {
      const record = scored[i]!;
      const segment = rfmSegment({ r: r.scores[i]!, f: f.scores[i]!, m: m.scores[i]! }, record.purchaseCount);
      segments[i] = segmentIndex.get(segment)!;
      rows.set(record.memberId, i);
    }
    const thresholds = { r: r.bounds.map((days) => 0 - days), f: f.bounds, m: m.bounds };
    return new RfmTable(today, rows, r.scores, f.scores, m.scores, segments, monetary, unscored, thresholds);
  }

  get scored(): number {
    return this.rows.size;
  }

  get(memberId: string): RfmEntry | undefined {
    const row = this.rows.get(memberId);
    if (row === undefined) return undefined;
    return { r: this.r[row]!, f: this.f[row]!, m: this.m[row]!, segment: RFM_SEGMENTS[this.segments[row]!]! };
  }

  /** null for a member who never bought (or is not in the table). */
  segmentOf(memberId: string): RfmSegmentName | null {
    const row = this.rows.get(memberId);
    return row === undefined ? null : RFM_SEGMENTS[this.segments[row]!]!;
  }

  /**
   * Counts, revenue (sum of the members' all-time net spend) and share of the scored members per
   * segment, every segment listed in RFM_SEGMENTS order; shares rounded to 3 decimals.
   *
   * thresholds.f[q-1] and thresholds.m[q-1] (q = 1..4) are the highest purchase count and spend
   * that score q or less: above them scores more. thresholds.r[q-1] is the fewest days since the last
   * purchase that still score q or less: more recent scores more. Empty when nobody is scored.
   */
  report(computedAt: string, tookMs: number): RfmReport {
    const members = new Array<number>(RFM_SEGMENTS.length).fill(0);
    const revenue = new Array<number>(RFM_SEGMENTS.length).fill(0);
    for (let row = 0; row < this.segments.length; row++) {
      members[this.segments[row]!]! += 1;
      revenue[this.segments[row]!]! += this.spend[row]!;
    }
    const scored = this.segments.length;
    return {
      computedAt,
      asOf: this.asOf,
      scored,
      unscored: this.unscored,
      segments: RFM_SEGMENTS.map((segment, index) => ({
        segment,
        members: members[index]!,
        revenue: revenue[index]!,
        share: scored > 0 ? Math.round((members[index]! / scored) * 1000) / 1000 : 0,
      })),
      thresholds: { r: [...this.thresholds.r], f: [...this.thresholds.f], m: [...this.thresholds.m] },
      tookMs,
    };
  }
}

/** Scores the store's members as of `today` (see RfmTable.score). */
export function scoreRfm(members: Iterable<MemberRecord>, today: string): RfmTable {
  return RfmTable.score(members, today);
}
