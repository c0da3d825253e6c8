/**
 * CRM analytics (A1-A6, R5): RFM scores, repurchase predictions, cross-sell pairs and the reports,
 * all read from the projections. RFM and the store's median intervals are whole-store passes, so
 * they are computed once and kept: nightly (node-cron), on demand, and on first use.
 */
import type { ProductData } from '../protocol/events.js';
import type {
  CrossSellReport,
  MemberMetrics,
  ProductReport,
  RepurchaseDueEntry,
  RepurchaseDueReport,
  RepurchasePredictionView,
  RfmReport,
  RfmSegmentName,
} from '../protocol/crm.js';
import type { StaffView } from '../protocol/api.js';
import type { StoreState } from '../domain/store-state.js';
import type { MemberRecord } from '../domain/members.js';
import { DomainError } from '../domain/errors.js';
import { assertCalendarDate, businessDate, daysAfter, daysBefore, daysBetween } from '../domain/time.js';
import { scoreRfm, type RfmTable } from '../domain/rfm.js';
import {
  StoreIntervals,
  anyDue,
  anyDueBetween,
  dueBetween,
  isDue,
  dueFactsOf,
  predictRepurchase,
  type DueFacts,
} from '../domain/repurchase.js';
import type { HubEvent } from '../protocol/events.js';
import { memberMetrics, productReport } from '../domain/reports.js';
import type { SegmentEnv } from '../domain/segments.js';
import type { MembersService } from './members.service.js';

export const DEFAULT_ACTIVE_DAYS = 90;
export const DEFAULT_CHURNED_DAYS = 180;
export const DEFAULT_IDLE_DAYS = 30;
/** A report may span at most this many days (the members' purchase history kept is about 3 years). */
export const MAX_REPORT_DAYS = 1100;
/** How far back members' own purchase history is complete (see MemberRecord.spendLog). */
const MEMBER_HISTORY_DAYS = 1095;
/** "Due this week": within 7 days, as the counter card and the filter count it. */
const WEEK_AHEAD_DAYS = 7;

export class AnalyticsService {
  private rfmTable: RfmTable | null = null;
  private rfmReport: RfmReport | null = null;
  private intervals: StoreIntervals | null = null;
  /** Each member's predictions in compact form, for "due for repurchase" in filters; valid for one day. */
  private dueCache = new Map<string, DueFacts>();
  private dueCacheDay = '';

  constructor(
    private readonly state: StoreState,
    private readonly members: MembersService,
    private readonly storeId: string,
    private readonly timeZone: string,
    private readonly clock: () => Date,
  ) {}

  today(): string {
    return businessDate(this.clock(), this.timeZone);
  }

  /** A1: scores every member now and keeps the result for segments and the reports page. */
  recomputeRfm(): RfmReport {
    const started = performance.now();
    const table = scoreRfm(this.state.members.members.values(), this.today());
    const tookMs = Math.round((performance.now() - started) * 10) / 10;
    this.rfmTable = table;
    this.rfmReport = table.report(this.clock().toISOString(), tookMs);
    return this.rfmReport;
  }

  rfm(): RfmReport {
    return this.rfmReport ?? this.recomputeRfm();
  }

  rfmSegmentOf(memberId: string): RfmSegmentName | null {
    if (!this.rfmTable) this.recomputeRfm();
    return this.rfmTable!.segmentOf(memberId) ?? null;
  }

  /** A6: the store's median intervals per SKU and category, for members with too little history. */
  storeIntervals(): StoreIntervals {
    return (this.intervals ??= StoreIntervals.from(this.state.members.members.values()));
  }

  recomputeIntervals(): void {
    this.intervals = StoreIntervals.from(this.state.members.members.values());
    this.dueCache.clear();
  }

  /** Forgets cached predictions an event makes stale: the member's purchases, or the catalog's cycles. */
  noteCommitted(event: HubEvent): void {
    switch (event.type) {
      case 'sale.completed':
        if (event.data.memberId) this.dueCache.delete(event.data.memberId);
        break;
      case 'sale.voided':
      case 'sale.refunded':
        if (event.data.loyalty) this.dueCache.delete(event.data.loyalty.memberId);
        break;
      case 'member.merged':
        this.dueCache.delete(event.data.intoMemberId);
        break;
      case 'catalog.imported':
        this.dueCache.clear();
        break;
      default:
        break;
    }
  }

  private dueFacts(record: MemberRecord, today: string): DueFacts {
    if (today !== this.dueCacheDay) {
      this.dueCache.clear();
      this.dueCacheDay = today;
    }
    let facts = this.dueCache.get(record.memberId);
    if (!facts) {
      facts = dueFactsOf(this.predictionsOf(record, today));
      this.dueCache.set(record.memberId, facts);
    }
    return facts;
  }

  /** The nightly pass: RFM and the store's intervals from the day's state. */
  nightly(): { rfmMs: number; scored: number } {
    this.recomputeIntervals();
    // The filter's column index, and the prediction cache, filled now so the day's first filter is quick.
    this.state.members.columns();
    const today = this.today();
    for (const record of this.state.members.live()) this.dueFacts(record, today);
    const report = this.recomputeRfm();
    return { rfmMs: report.tookMs, scored: report.scored };
  }

  private findProduct = (sku: string): ProductData | undefined => this.state.products.get(sku);

  predictionsOf(record: MemberRecord, today = this.today()): RepurchasePredictionView[] {
    return predictRepurchase(record, today, { findProduct: this.findProduct, storeIntervals: this.storeIntervals() });
  }

  /** A6 for one member: every prediction, soonest first. */
  memberPredictions(memberId: string): RepurchasePredictionView[] {
    const record = this.members.require(memberId);
    return this.predictionsOf(record).sort((a, b) => a.dueOn.localeCompare(b.dueOn));
  }

  /**
   * A6: who is due to buy what. Without dates: due within the coming week (today and the next 6
   * days) or overdue by less than one interval, as the counter card shows them; with dates: due
   * between them. A number is shown only for members who consented to SMS (the list is for
   * contacting them).
   */
  repurchaseDue(staff: StaffView, from?: string, to?: string, limit = 200): RepurchaseDueReport {
    const today = this.today();
    const start = from ?? today;
    const end = to ?? daysAfter(today, WEEK_AHEAD_DAYS);
    checkRange(start, end, 366);
    const explicit = from !== undefined || to !== undefined;
    const entries: RepurchaseDueEntry[] = [];
    for (const record of this.state.members.live()) {
      // The day's cached facts rule out most members without building their predictions.
      const facts = this.dueFacts(record, today);
      if (!explicit && !anyDue(facts, today, { withinDays: WEEK_AHEAD_DAYS })) continue;
      if (explicit && !anyDueBetween(facts, start, end)) continue;
      const predictions = this.predictionsOf(record, today);
      const due = explicit
        ? dueBetween(predictions, start, end)
        : predictions.filter((p) => isDue(p, today, WEEK_AHEAD_DAYS));
      if (due.length === 0) continue;
      const summary = this.members.summary(record, staff);
      const phone = record.consent.sms.granted ? summary.phone : '';
      for (const prediction of due) {
        entries.push({
          ...prediction,
          memberId: record.memberId,
          memberCode: record.memberCode,
          phone,
          name: summary.name,
        });
      }
    }
    entries.sort((a, b) => a.dueOn.localeCompare(b.dueOn) || a.memberCode.localeCompare(b.memberCode));
    return { asOf: today, from: start, to: end, entries: entries.slice(0, limit), total: entries.length };
  }

  /** R5: pairs bought together, for one product or the whole store. */
  crossSell(sku: string | undefined, limit: number): CrossSellReport {
    if (sku !== undefined && !this.state.products.has(sku)) {
      throw new DomainError('product_not_found', `There is no product ${sku} in the catalog`, undefined, 404);
    }
    return this.state.baskets.pairsReport(this.findProduct, { sku, limit });
  }

  memberReport(query: { from: string; to: string; activeDays?: number; churnedDays?: number }): MemberMetrics {
    checkRange(query.from, query.to, MAX_REPORT_DAYS);
    // Members' own sales are kept about 3 years: an older start would undercount them silently.
    const earliest = daysBefore(this.today(), MEMBER_HISTORY_DAYS);
    if (query.from < earliest) {
      throw new DomainError(
        'range_too_old',
        `Member figures reach back to ${earliest} (3 years of members' purchases are kept); product figures reach further`,
        { earliest },
        400,
      );
    }
    const activeDays = query.activeDays ?? DEFAULT_ACTIVE_DAYS;
    const churnedDays = query.churnedDays ?? DEFAULT_CHURNED_DAYS;
    checkDays('activeDays', activeDays, 730);
    checkDays('churnedDays', churnedDays, 1095);
    if (activeDays >= churnedDays) {
      throw new DomainError(
        'invalid_thresholds',
        `A member is churned only after being dormant: churnedDays (${churnedDays}) must be more than activeDays (${activeDays})`,
        undefined,
        400,
      );
    }
    return memberMetrics(this.state.reports, this.state.members, {
      from: query.from,
      to: query.to,
      activeDays,
      churnedDays,
      timeZone: this.timeZone,
    });
  }

  productReport(query: { from: string; to: string; idleDays?: number; category?: string }, limit = 20): ProductReport {
    checkRange(query.from, query.to, MAX_REPORT_DAYS);
    if (query.idleDays !== undefined) checkDays('idleDays', query.idleDays, 1095);
    return productReport(this.state.reports, this.state.products, {
      from: query.from,
      to: query.to,
      idleDays: query.idleDays ?? DEFAULT_IDLE_DAYS,
      category: query.category,
      limit,
    });
  }

  /** What the member filter needs besides the records, as of now. */
  segmentEnv(): SegmentEnv {
    return {
      now: this.clock(),
      timeZone: this.timeZone,
      storeId: this.storeId,
      profile: (memberId) => this.state.members.profile(memberId),
      rfmSegment: (memberId) => this.rfmSegmentOf(memberId),
      isDue: (record, today, test) => anyDue(this.dueFacts(record, today), today, test),
      baseTier: this.members.program.tiers[0]?.tier,
    };
  }
}

function checkDays(name: string, days: number, max: number): void {
  if (days < 1 || days > max) {
    throw new DomainError('invalid_days', `${name} must be a whole number of days from 1 to ${max}`, undefined, 400);
  }
}

function checkRange(from: string, to: string, maxDays: number): void {
  assertCalendarDate(from, 'from');
  assertCalendarDate(to, 'to');
  if (from > to) {
    throw new DomainError('invalid_range', `The range starts (${from}) after it ends (${to})`, undefined, 400);
  }
  if (daysBetween(from, to) >= maxDays) {
    throw new DomainError('invalid_range', `A range may span at most ${maxDays} days`, undefined, 400);
  }
}
