/**
 * The member filter and saved segments (S3, S4): validate a definition against the store's
 * vocabulary, count and list matches as a manager edits, save segments as events, and export a
 * segment as CSV for one intended channel, leaving out members who did not consent to it.
 */
import { v7 as uuidv7 } from 'uuid';
import { stringify } from 'csv-stringify/sync';
import {
  CONTACT_COLUMNS,
  EXPORT_HEADERS,
  EXPORT_VALUES,
  RFM_SEGMENTS,
  type ExportColumn,
  type SavedSegmentView,
  type SegmentDefinition,
  type SegmentExportRequest,
  type SegmentMatchView,
  type SegmentPreviewResult,
} from '../protocol/crm.js';
import { CONSENT_CHANNELS, type ConsentChannel } from '../protocol/members.js';
import type { StaffView } from '../protocol/api.js';
import type { EventStore } from '../storage/event-store.js';
import type { SavedFilterRecord, StoreState } from '../domain/store-state.js';
import type { MemberRecord } from '../domain/members.js';
import { ageBand } from '../domain/members.js';
import { DomainError } from '../domain/errors.js';
import { businessDate } from '../domain/time.js';
import { tierRule } from '../domain/loyalty.js';
import { matchingMembers, parseSegment, runSegment, type SegmentVocabulary } from '../domain/segments.js';
import type { MembersService } from './members.service.js';
import { KeyedLock } from './keyed-lock.js';
import type { AnalyticsService } from './analytics.service.js';

export interface SegmentOptions {
  products: { sku: string; name: string; category: string }[];
  categories: string[];
  tiers: { tier: string; name: string }[];
  tags: string[];
  regions: string[];
  rfmSegments: readonly string[];
  storeId: string;
  channels: readonly ConsentChannel[];
}

export interface SegmentExport {
  csv: string;
  filename: string;
  exported: number;
  leftOut: number;
}

type Actor = { deviceId: string; staff: StaffView };

/** The contact columns each intended channel may carry (LINE audiences are matched by mobile number). */
const CONTACT_FOR: Record<SegmentExportRequest['purpose'], readonly ExportColumn[]> = {
  sms: ['phone', 'name'],
  line: ['phone', 'name'],
  email: ['email', 'name'],
  analysis: [],
};

export class SegmentsService {
  constructor(
    private readonly state: StoreState,
    private readonly events: EventStore,
    private readonly members: MembersService,
    private readonly analytics: AnalyticsService,
    private readonly storeId: string,
    private readonly timeZone: string,
  ) {}

  private readonly saves = new KeyedLock();
  private readonly staffName = (staffId: string): string => this.state.staffName(staffId);

  /** What the builder's pickers offer. */
  options(): SegmentOptions {
    const products = [...this.state.products.values()]
      .map((p) => ({ sku: p.sku, name: p.name, category: p.category }))
      .sort((a, b) => a.category.localeCompare(b.category) || a.sku.localeCompare(b.sku));
    const regions = new Set<string>();
    for (const record of this.state.members.members.values()) {
      if (record.demographics.region) regions.add(record.demographics.region);
    }
    return {
      products,
      categories: [...this.vocabulary().categories].sort(),
      tiers: this.members.program.tiers.map((t) => ({ tier: t.tier, name: t.name })),
      tags: this.members.tags(),
      regions: [...regions].sort(),
      rfmSegments: RFM_SEGMENTS,
      storeId: this.storeId,
      channels: CONSENT_CHANNELS,
    };
  }

  /** Known SKUs and categories: the catalog's, and those of past purchases (a product may be gone). */
  vocabulary(): SegmentVocabulary {
    const categories = new Set<string>();
    for (const product of this.state.products.values()) categories.add(product.category);
    for (const category of this.state.reports.categoriesSold()) categories.add(category);
    const skus = new Set<string>(this.state.products.keys());
    for (const sku of this.state.reports.skusSold()) skus.add(sku);
    return { skus, categories, tiers: this.members.program.tiers.map((t) => t.tier) };
  }

  /** Validates untrusted JSON into a definition, or answers 400 with every problem found. */
  parse(input: unknown): SegmentDefinition {
    const parsed = parseSegment(input, this.vocabulary(), this.analytics.today());
    if (parsed.definition === null) {
      const first = parsed.problems[0];
      throw new DomainError(
        'invalid_segment',
        first ? `${first.path || '/'}: ${first.message}` : 'The filter is not valid',
        { problems: parsed.problems },
        400,
      );
    }
    return parsed.definition;
  }

  preview(input: unknown, limit: number, staff: StaffView): SegmentPreviewResult {
    return this.run(this.parse(input), limit, staff);
  }

  previewSaved(segmentId: string, limit: number, staff: StaffView): SegmentPreviewResult {
    return this.run(this.require(segmentId).definition, limit, staff);
  }

  private run(definition: SegmentDefinition, limit: number, staff: StaffView): SegmentPreviewResult {
    const started = performance.now();
    const result = runSegment(this.state.members, definition, this.analytics.segmentEnv(), limit);
    const tookMs = Math.round((performance.now() - started) * 10) / 10;
    return {
      count: result.count,
      total: result.total,
      first: result.first.map((record) => this.matchView(record, staff)),
      tookMs,
      asOf: result.asOf,
    };
  }

  private matchView(record: MemberRecord, staff: StaffView): SegmentMatchView {
    const summary = this.members.summary(record, staff);
    return {
      memberId: record.memberId,
      memberCode: record.memberCode,
      phone: summary.phone,
      name: summary.name,
      tier: summary.tier,
      tierName: summary.tierName,
      points: record.points,
      purchaseCount: record.purchaseCount,
      cumulativeSpend: record.cumulativeSpend,
      lastPurchase: record.lastPurchase,
      rfmSegment: this.analytics.rfmSegmentOf(record.memberId),
    };
  }

  list(): SavedSegmentView[] {
    return [...this.state.segments.values()]
      .map((s) => toView(s, this.staffName))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get(segmentId: string): SavedSegmentView {
    return toView(this.require(segmentId), this.staffName);
  }

  /** Saves a new segment, or replaces one (`segmentId` given); names are unique in the store. */
  async save(segmentId: string | null, name: string, input: unknown, actor: Actor): Promise<SavedSegmentView> {
    // One save at a time, so two saves cannot both pass the unique-name check.
    return this.saves.run(['segments'], () => this.saveNow(segmentId, name, input, actor));
  }

  private async saveNow(
    segmentId: string | null,
    name: string,
    input: unknown,
    actor: Actor,
  ): Promise<SavedSegmentView> {
    const definition = this.parse(input);
    const id = segmentId ?? uuidv7();
    if (segmentId !== null) this.require(segmentId);
    const clean = name.trim();
    if (!clean) throw new DomainError('invalid_name', 'Give the segment a name', undefined, 400);
    for (const other of this.state.segments.values()) {
      if (other.id !== id && other.name === clean) {
        throw new DomainError('name_taken', `A segment named ${clean} already exists`, undefined, 409);
      }
    }
    await this.events.record('segment.saved', { segmentId: id, name: clean, definition, staffId: actor.staff.id });
    return this.get(id);
  }

  async delete(segmentId: string, actor: Actor): Promise<void> {
    // Under the saves' lock, so a save racing the delete cannot bring the segment back.
    await this.saves.run(['segments'], async () => {
      this.require(segmentId);
      await this.events.record('segment.deleted', { segmentId, staffId: actor.staff.id });
    });
  }

  /**
   * S4: the segment's members as CSV (UTF-8 with a BOM, so Excel shows Chinese), for one intended
   * channel: members who did not consent to it are left out. `analysis` carries no contact data.
   */
  export(segmentId: string, request: SegmentExportRequest): SegmentExport {
    const segment = this.require(segmentId);
    const contact = request.columns.filter((c) => CONTACT_COLUMNS.includes(c));
    if (request.purpose === 'analysis' && contact.length > 0) {
      throw new DomainError(
        'contact_needs_channel',
        `Contact columns (${contact.join(', ')}) are only exported for a channel the members consented to: choose SMS, LINE or e-mail`,
        { columns: contact },
        400,
      );
    }
    // Consent is per channel: an SMS list carries numbers, an e-mail list addresses, never the other.
    const foreign = contact.filter((c) => !CONTACT_FOR[request.purpose].includes(c));
    if (foreign.length > 0) {
      throw new DomainError(
        'column_not_for_channel',
        `A ${request.purpose} list cannot carry ${foreign.join(', ')}: members consented to ${request.purpose} only`,
        { columns: foreign },
        400,
      );
    }
    const matches = matchingMembers(this.state.members, segment.definition, this.analytics.segmentEnv());
    const purpose = request.purpose;
    // Left out: members without consent for the channel, or without its contact (no e-mail address).
    const consented =
      purpose === 'analysis'
        ? matches
        : matches.filter(
            (record) =>
              record.consent[purpose].granted === true &&
              (purpose !== 'email' || Boolean(this.state.members.profile(record.memberId)?.email)),
          );
    const today = this.analytics.today();
    const language = request.language ?? 'zh-TW';
    const words = EXPORT_VALUES[language];
    const rows = consented.map((record) => request.columns.map((column) => this.cell(record, column, today, words)));
    const headers = EXPORT_HEADERS[language];
    const csv = stringify([request.columns.map((column) => headers[column]), ...rows], { bom: true });
    return {
      csv,
      filename: `${segment.name}-${today}.csv`,
      exported: consented.length,
      leftOut: matches.length - consented.length,
    };
  }

  private cell(
    record: MemberRecord,
    column: ExportColumn,
    today: string,
    words: (typeof EXPORT_VALUES)['en'],
  ): string | number {
    const profile = this.state.members.profile(record.memberId);
    switch (column) {
      case 'memberCode':
        return record.memberCode;
      case 'phone':
        // E.164, as SMS gateways and ad platforms (custom audiences) take numbers.
        return profile?.phone ?? '';
      case 'name':
        return asText(profile?.name ?? '');
      case 'email':
        return asText(profile?.email ?? '');
      case 'tier': {
        const name = tierRule(this.members.program, record.tier).name;
        return words.tier[name] ?? name;
      }
      case 'points':
        return record.points;
      case 'tags':
        return asText(record.tags.map((t) => t.tag).join('|'));
      case 'since':
        return businessDate(new Date(record.since), this.timeZone);
      case 'purchaseCount':
        return record.purchaseCount;
      case 'cumulativeSpend':
        return record.cumulativeSpend;
      case 'lastPurchase':
        return record.lastPurchase ?? '';
      case 'rfmSegment': {
        const group = this.analytics.rfmSegmentOf(record.memberId);
        return group ? (words.rfmSegment[group] ?? group) : '';
      }
      case 'birthMonth':
        return record.demographics.birthMonth ?? '';
      case 'ageBand':
        return (profile ? ageBand(profile.birthday, today) : null) ?? '';
      case 'gender': {
        const gender = record.demographics.gender;
        return gender ? (words.gender[gender] ?? gender) : '';
      }
      case 'region':
        return asText(record.demographics.region ?? '');
    }
  }

  private require(segmentId: string): SavedFilterRecord {
    const segment = this.state.segments.get(segmentId);
    if (!segment) throw new DomainError('segment_not_found', 'There is no such saved segment', undefined, 404);
    return segment;
  }
}

/**
 * Text typed at the counter, made safe for Excel: a cell starting with = + - @ (or a tab / CR) would
 * run as a formula when the file is opened, so it gets a leading apostrophe. Numbers the hub writes
 * itself (an E.164 +886…) are left as they are: gateways read them.
 */
function asText(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

function toView(record: SavedFilterRecord, staffName: (staffId: string) => string): SavedSegmentView {
  return {
    segmentId: record.id,
    name: record.name,
    definition: record.definition,
    savedAt: record.savedAt,
    savedBy: staffName(record.savedBy),
  };
}
