/**
 * The members projection: every member's identity indexes, points, tier, tags, consent and the
 * purchase facts the counter needs (M1-M6, C1, L1, L2). Built only by applying committed events;
 * personal data is kept sealed in snapshots and opened in memory through `unseal` (crypto-shredding:
 * an erased member's key is gone, so their sealed data opens to nothing).
 */
import type { HubEvent, PointsReversalData, SaleCompletedData, SaleLineData, SealedData } from '../protocol/events.js';
import { occurredAtOf } from '../protocol/events.js';
import { CONSENT_CHANNELS, type ConsentChannel, type Gender, type PointsLedgerEntry } from '../protocol/members.js';
import { MemberColumns } from './member-columns.js';
import { daysBefore } from './time.js';
import { splitAgainstOwed } from './loyalty.js';

/** What a member's sealed record holds. */
export interface MemberProfile {
  /** E.164 */
  phone: string;
  /** Keyed HMAC of the number: the lookup index (and, for HQ, the same person in every store). */
  phoneHash: string;
  name: string | null;
  birthday: string | null;
  gender: Gender | null;
  region: string | null;
  email: string | null;
}

/** Coarse facts for statistics (age band, gender, region, birth month), worked out from the profile. */
export interface MemberDemographics {
  /** e.g. "30-39" */
  ageBand: string | null;
  gender: Gender | null;
  region: string | null;
  birthMonth: number | null;
}

export const NO_DEMOGRAPHICS: MemberDemographics = { ageBand: null, gender: null, region: null, birthMonth: null };

export function ageBand(birthday: string | null, today: string): string | null {
  if (!birthday) return null;
  let age = Number(today.slice(0, 4)) - Number(birthday.slice(0, 4));
  if (today.slice(5) < birthday.slice(5)) age -= 1;
  if (age < 20) return '<20';
  if (age >= 60) return '60+';
  const low = Math.floor(age / 10) * 10;
  return `${low}-${low + 9}`;
}

export function demographicsOf(profile: MemberProfile | null, today: string): MemberDemographics {
  if (!profile) return NO_DEMOGRAPHICS;
  return {
    ageBand: ageBand(profile.birthday, today),
    gender: profile.gender,
    region: profile.region,
    birthMonth: profile.birthday ? Number(profile.birthday.slice(5, 7)) : null,
  };
}

export interface SkuHistory {
  /** Sales that had this SKU. */
  count: number;
  qty: number;
  /** Dates of the latest purchases, oldest first (at most SKU_DATES_KEPT). */
  dates: string[];
}

export interface PointsLot {
  earnedOn: string;
  points: number;
}

export interface SpendEntry {
  date: string;
  saleId: string;
  amount: number;
}

/** What a ledger line tells besides its kind and points (see PointsLedgerEntry). */
type LedgerDetail = Pick<PointsLedgerEntry, 'cause' | 'amount' | 'earnedOnOrBefore' | 'mergedFrom'>;

/**
 * A ledger line from a snapshot written before lines were told by structured fields: its English
 * note ("void: points earned taken back", "NT$504 paid", ...) becomes those fields.
 */
function ledgerLineOfOlderSnapshot(line: PointsLedgerEntry & { note?: string }): PointsLedgerEntry {
  const { note, ...entry } = line;
  if (note === undefined) return line;
  const cause = /^(void|refund):/.exec(note)?.[1] as 'void' | 'refund' | undefined;
  const amount = /^NT\$(\d+) /.exec(note)?.[1];
  const day = /on or before (\d{4}-\d{2}-\d{2})$/.exec(note)?.[1];
  const code = /^merged from member (\S+)$/.exec(note)?.[1];
  return {
    ...entry,
    ...(cause ? { cause } : {}),
    ...(amount ? { amount: Number(amount) } : {}),
    ...(day ? { earnedOnOrBefore: day } : {}),
    ...(code ? { mergedFrom: code } : {}),
  };
}

/**
 * One member in the projection. The journal holds their personal data sealed; the projection holds
 * the lookup hashes, tags and demographics opened in memory. Snapshots seal the tags and
 * demographics again under the member's key (see MemberSnapshotRecord), and an erasure is still
 * followed at once by a fresh snapshot and the removal of the older ones.
 */
export interface MemberRecord {
  memberId: string;
  memberCode: string;
  phoneHash: string;
  sealed: SealedData | null;
  demographics: MemberDemographics;
  since: string;
  tier: string;
  points: number;
  lots: PointsLot[];
  ledger: PointsLedgerEntry[];
  tags: { tag: string; source: string }[];
  consent: Record<ConsentChannel, { granted: boolean; at: string | null }>;
  consentHistory: { channel: ConsentChannel; granted: boolean; at: string; staffId: string | null }[];
  purchaseCount: number;
  lastPurchase: string | null;
  cumulativeSpend: number;
  /** Sales within the longest tier window (pruned as time passes). */
  spendLog: SpendEntry[];
  skus: Record<string, SkuHistory>;
  /** The same per product category (a sale counts once per category). */
  categories: Record<string, SkuHistory>;
  /** Purchases that had a marked-down item (a line discount). */
  markdownPurchases: number;
  recentSales: string[];
  carrierHashes: string[];
  mergedInto: string | null;
  erased: boolean;
}

/** What a snapshot's record seals under the member's key: everything the journal seals, opened. */
interface MemberTraits {
  tags: MemberRecord['tags'];
  demographics: MemberDemographics;
}

/**
 * A member as a snapshot holds them: tags, region, gender, age band and birth month are sealed
 * under the member's own key, as the journal holds them, so nothing it seals sits in clear in the
 * data directory and destroying the key (erasure) makes the snapshot's copy unreadable too.
 */
export interface MemberSnapshotRecord extends Omit<MemberRecord, 'tags' | 'demographics'> {
  /** The sealed MemberTraits; null when there are none (an erased record, no tags or profile). */
  traits: SealedData | null;
}

export interface MemberBookData {
  members: MemberSnapshotRecord[];
}

export const LEDGER_KEPT = 200;
export const SKU_DATES_KEPT = 12;
export const RECENT_SALES_KEPT = 20;
export const CONSENT_HISTORY_KEPT = 50;
/** Spend older than this is not needed by any tier window (36 months at most). */
const SPEND_LOG_DAYS = 1100;

/** Opens what was sealed under a member's key; null once the key is destroyed (or the data is damaged). */
export type Unseal = (memberId: string, sealed: SealedData) => unknown;
/** Seals a value under a member's key (throws when the member has no key). */
export type Seal = (memberId: string, value: unknown) => SealedData;

export class MemberBook {
  readonly members = new Map<string, MemberRecord>();
  /** Opened personal data; never serialised. */
  readonly profiles = new Map<string, MemberProfile>();
  readonly byPhoneHash = new Map<string, string>();
  readonly byCode = new Map<string, string>();
  readonly byCarrier = new Map<string, string>();
  readonly byLast4 = new Map<string, Set<string>>();
  readonly byLast3 = new Map<string, Set<string>>();
  /** Kept member -> the records merged into it. */
  private readonly mergedFrom = new Map<string, string[]>();
  /** The member filter's columns: built on first use, never serialised. */
  private memberColumns: MemberColumns | null = null;
  /**
   * Each member's traits as last sealed for a snapshot: a snapshot seals again only the members
   * changed since (sealing every member each time would cost one AES-GCM round per member).
   * changed() forgets a member's. Never serialised as such.
   */
  private readonly sealedTraits = new Map<string, SealedData>();
  constructor(private readonly unseal: Unseal) {}

  static fromData(data: MemberBookData, unseal: Unseal): MemberBook {
    const book = new MemberBook(unseal);
    for (const stored of data.members) {
      const { traits: sealed, ...rest } = stored;
      const traits = sealed ? book.openTraits(rest.memberId, sealed) : null;
      const record: MemberRecord = {
        ...rest,
        tags: traits?.tags ?? [],
        demographics: traits?.demographics ?? NO_DEMOGRAPHICS,
      };
      record.ledger = record.ledger.map(ledgerLineOfOlderSnapshot);
      record.skus = keyedByText(record.skus);
      record.categories = keyedByText(record.categories);
      if (traits && sealed) book.sealedTraits.set(record.memberId, sealed);
      book.members.set(record.memberId, record);
      book.index(record);
    }
    return book;
  }

  /** The book for a snapshot, each member's tags and demographics sealed under their own key. */
  toData(seal: Seal): MemberBookData {
    const members: MemberSnapshotRecord[] = [];
    for (const record of this.members.values()) {
      const { tags: _tags, demographics: _demographics, ...rest } = record;
      members.push({ ...rest, traits: this.sealTraits(record, seal) });
    }
    return { members };
  }

  private sealTraits(record: MemberRecord, seal: Seal): SealedData | null {
    const { tags, demographics } = record;
    const none =
      tags.length === 0 &&
      demographics.ageBand === null &&
      demographics.gender === null &&
      demographics.region === null &&
      demographics.birthMonth === null;
    if (record.erased || none) {
      this.sealedTraits.delete(record.memberId);
      return null;
    }
    const cached = this.sealedTraits.get(record.memberId);
    if (cached) return cached;
    let sealed: SealedData;
    try {
      sealed = seal(record.memberId, { tags, demographics } satisfies MemberTraits);
    } catch {
      // No key for this member any more: nothing readable of theirs may be written.
      return null;
    }
    this.sealedTraits.set(record.memberId, sealed);
    return sealed;
  }

  private openTraits(memberId: string, sealed: SealedData): MemberTraits | null {
    const opened = this.unseal(memberId, sealed) as Partial<MemberTraits> | null;
    if (!opened || !Array.isArray(opened.tags) || typeof opened.demographics !== 'object' || !opened.demographics) {
      return null;
    }
    return { tags: opened.tags, demographics: opened.demographics };
  }

  /** The member a record now lives in (following merges); undefined if unknown or erased. */
  resolve(memberId: string): MemberRecord | undefined {
    let record = this.members.get(memberId);
    for (let hops = 0; record?.mergedInto && hops < 16; hops++) record = this.members.get(record.mergedInto);
    return record && isLive(record) ? record : undefined;
  }

  /** Members as the store knows them now (not erased, not merged into another), in sign-up order. */
  *live(): Generator<MemberRecord> {
    for (const record of this.members.values()) if (isLive(record)) yield record;
  }

  /**
   * The members by column (see member-columns.ts), up to date with every event applied: built on
   * first use, then only the rows of members changed since the last call are rewritten.
   */
  columns(): MemberColumns {
    if (this.memberColumns === null) this.memberColumns = MemberColumns.of(this.members.values(), this.members.size);
    else this.memberColumns.refresh(this.members);
    return this.memberColumns;
  }

  /** Every change to a record goes through here, so the columns know which rows to rewrite. */
  private changed(record: MemberRecord): void {
    this.memberColumns?.markDirty(record.memberId);
    this.sealedTraits.delete(record.memberId);
  }

  profile(memberId: string): MemberProfile | undefined {
    return this.profiles.get(memberId);
  }

  /** Members whose number ends in these 3 or 4 digits. */
  endingIn(digits: string): string[] {
    const set = (digits.length === 4 ? this.byLast4 : this.byLast3).get(digits);
    return set ? [...set] : [];
  }

  apply(event: HubEvent, sale?: SaleCompletedData & { seq: number; at: string }): void {
    // Imported history happened before it was recorded: it dates by when it happened.
    const at = occurredAtOf(event);
    switch (event.type) {
      case 'member.registered': {
        const d = event.data;
        const profile = this.openProfile(d.memberId, d.sealed);
        const consent = Object.fromEntries(
          CONSENT_CHANNELS.map((c) => [c, { granted: d.consent[c], at: d.consent[c] ? at : null }]),
        ) as MemberRecord['consent'];
        const record: MemberRecord = {
          memberId: d.memberId,
          memberCode: d.memberCode,
          phoneHash: profile?.phoneHash ?? '',
          sealed: d.sealed,
          demographics: demographicsOf(profile, at.slice(0, 10)),
          since: at,
          tier: '',
          points: 0,
          lots: [],
          ledger: [],
          tags: [],
          consent,
          consentHistory: CONSENT_CHANNELS.filter((c) => d.consent[c]).map((c) => ({
            channel: c,
            granted: true,
            at: at,
            staffId: d.staffId,
          })),
          purchaseCount: 0,
          lastPurchase: null,
          cumulativeSpend: 0,
          spendLog: [],
          skus: keyedByText({}),
          categories: keyedByText({}),
          markdownPurchases: 0,
          recentSales: [],
          carrierHashes: [],
          mergedInto: null,
          erased: false,
        };
        this.members.set(record.memberId, record);
        this.index(record);
        this.changed(record);
        break;
      }
      case 'member.profile_updated': {
        const record = this.members.get(event.data.memberId);
        if (!record || record.erased) break;
        const profile = this.openProfile(record.memberId, event.data.sealed);
        if (!profile) break;
        this.unindexPhone(record);
        record.sealed = event.data.sealed;
        record.demographics = demographicsOf(profile, at.slice(0, 10));
        this.index(record);
        this.changed(record);
        break;
      }
      case 'member.carrier_bound': {
        const record = this.resolve(event.data.memberId);
        const opened = this.unseal(event.data.memberId, event.data.sealed) as { carrierHash?: string } | null;
        if (!record || !opened?.carrierHash) break;
        record.carrierHashes.push(opened.carrierHash);
        this.byCarrier.set(opened.carrierHash, record.memberId);
        this.changed(record);
        break;
      }
      case 'member.consent_changed': {
        const record = this.resolve(event.data.memberId);
        if (!record) break;
        const { channel, granted, staffId } = event.data;
        record.consent[channel] = { granted, at: at };
        record.consentHistory.push({ channel, granted, at: at, staffId });
        if (record.consentHistory.length > CONSENT_HISTORY_KEPT) record.consentHistory.shift();
        this.changed(record);
        break;
      }
      case 'member.tagged': {
        const record = this.resolve(event.data.memberId);
        const tag = this.openTag(event.data.memberId, event.data.sealed);
        if (!record || tag === null || record.tags.some((t) => t.tag === tag)) break;
        record.tags.push({ tag, source: 'staff' });
        this.changed(record);
        break;
      }
      case 'member.auto_tagged': {
        const record = this.resolve(event.data.memberId);
        const opened = this.openRuleTag(event.data.memberId, event.data.sealed);
        if (!record || !opened || record.tags.some((t) => t.tag === opened.tag)) break;
        record.tags.push({ tag: opened.tag, source: `rule:${opened.ruleId}` });
        this.changed(record);
        break;
      }
      case 'member.auto_untagged': {
        const record = this.resolve(event.data.memberId);
        const opened = this.openRuleTag(event.data.memberId, event.data.sealed);
        if (!record || !opened) break;
        // Only the rule's own tag goes: a tag staff set by hand stays.
        const source = `rule:${opened.ruleId}`;
        record.tags = record.tags.filter((t) => !(t.tag === opened.tag && t.source === source));
        this.changed(record);
        break;
      }
      case 'member.untagged': {
        const record = this.resolve(event.data.memberId);
        const tag = this.openTag(event.data.memberId, event.data.sealed);
        if (!record || tag === null) break;
        record.tags = record.tags.filter((t) => t.tag !== tag);
        this.changed(record);
        break;
      }
      case 'member.merged':
        this.merge(event.data.fromMemberId, event.data.intoMemberId, event.seq, at);
        break;
      case 'member.erased':
        this.erase(event.data.memberId);
        break;
      case 'member.tier_changed': {
        const record = this.resolve(event.data.memberId);
        if (!record) break;
        record.tier = event.data.to;
        this.changed(record);
        break;
      }
      case 'points.expired': {
        const record = this.resolve(event.data.memberId);
        if (!record) break;
        record.lots = record.lots.filter((lot) => lot.earnedOn > event.data.earnedOnOrBefore);
        record.points -= event.data.points;
        this.ledger(record, event.seq, at, 'expired', -event.data.points, null, {
          earnedOnOrBefore: event.data.earnedOnOrBefore,
        });
        this.changed(record);
        break;
      }
      case 'sale.completed':
        if (event.data.memberId) this.applySale(event.data.memberId, event.data, event.seq, at);
        break;
      case 'sale.voided': {
        if (!sale?.memberId || !event.data.loyalty) break;
        const record = this.resolve(event.data.loyalty.memberId);
        if (!record) break;
        record.purchaseCount = Math.max(0, record.purchaseCount - 1);
        record.cumulativeSpend -= sale.total;
        record.spendLog = record.spendLog.filter((s) => s.saleId !== sale.saleId);
        unrecordPurchase(record.skus, sale.lines, (line) => line.sku, sale.businessDate);
        unrecordPurchase(record.categories, sale.lines, (line) => line.category, sale.businessDate);
        if (sale.lines.some((line) => line.lineDiscount > 0)) {
          record.markdownPurchases = Math.max(0, record.markdownPurchases - 1);
        }
        record.lastPurchase = record.spendLog.at(-1)?.date ?? (record.purchaseCount > 0 ? record.lastPurchase : null);
        this.reversePoints(record, event.data.loyalty, event.seq, at, sale.saleId, 'void');
        this.changed(record);
        break;
      }
      case 'sale.refunded': {
        if (!sale?.memberId || !event.data.loyalty) break;
        const record = this.resolve(event.data.loyalty.memberId);
        if (!record) break;
        record.cumulativeSpend -= event.data.amount;
        const entry = record.spendLog.find((s) => s.saleId === sale.saleId);
        if (entry) entry.amount -= event.data.amount;
        this.reversePoints(record, event.data.loyalty, event.seq, at, sale.saleId, 'refund');
        this.changed(record);
        break;
      }
      default:
        break;
    }
  }

  private applySale(memberId: string, data: SaleCompletedData, seq: number, at: string): void {
    const record = this.resolve(memberId);
    if (!record) return;
    record.purchaseCount += 1;
    record.lastPurchase = data.businessDate;
    record.cumulativeSpend += data.total;
    record.spendLog.push({ date: data.businessDate, saleId: data.saleId, amount: data.total });
    const oldest = daysBefore(data.businessDate, SPEND_LOG_DAYS);
    while (record.spendLog.length > 0 && record.spendLog[0]!.date < oldest) record.spendLog.shift();
    recordPurchase(record.skus, data.lines, (line) => line.sku, data.businessDate);
    recordPurchase(record.categories, data.lines, (line) => line.category, data.businessDate);
    if (data.lines.some((line) => line.lineDiscount > 0)) record.markdownPurchases += 1;
    record.recentSales.push(data.saleId);
    if (record.recentSales.length > RECENT_SALES_KEPT) record.recentSales.shift();
    if (data.pointsRedeemed > 0) {
      this.takePoints(record, data.pointsRedeemed);
      this.ledger(record, seq, at, 'redeemed', -data.pointsRedeemed, data.saleId, { amount: data.pointsDiscount });
    }
    if (data.loyalty) {
      if (data.loyalty.pointsEarned > 0) {
        const repaid = this.addPoints(record, data.loyalty.pointsEarned, data.businessDate);
        const paid = { amount: data.total };
        this.ledger(record, seq, at, 'earned', data.loyalty.pointsEarned, data.saleId, paid, repaid);
      }
      record.tier = data.loyalty.tierAfter;
    }
    this.changed(record);
  }

  private reversePoints(
    record: MemberRecord,
    loyalty: PointsReversalData,
    seq: number,
    at: string,
    saleId: string,
    why: 'void' | 'refund',
  ): void {
    if (loyalty.pointsReversed > 0) {
      this.takePoints(record, loyalty.pointsReversed);
      this.ledger(record, seq, at, 'reversed', -loyalty.pointsReversed, saleId, { cause: why });
    }
    if (loyalty.pointsReturned > 0) {
      const repaid = this.addPoints(record, loyalty.pointsReturned, loyalty.businessDate);
      this.ledger(record, seq, at, 'returned', loyalty.pointsReturned, saleId, { cause: why }, repaid);
    }
  }

  /**
   * Adds a lot of points; points owed (taken back after being spent) are paid off first. Answers
   * how many went to the points owed.
   */
  private addPoints(record: MemberRecord, points: number, earnedOn: string): number {
    const { repaid, kept } = splitAgainstOwed(record.points, points);
    record.points += points;
    if (kept > 0) record.lots.push({ earnedOn, points: kept });
    return repaid;
  }

  /** Takes points oldest first; more than the balance leaves it negative. */
  private takePoints(record: MemberRecord, points: number): void {
    record.points -= points;
    let left = points;
    while (left > 0 && record.lots.length > 0) {
      const lot = record.lots[0]!;
      const used = Math.min(lot.points, left);
      lot.points -= used;
      left -= used;
      if (lot.points === 0) record.lots.shift();
    }
  }

  private ledger(
    record: MemberRecord,
    seq: number,
    at: string,
    kind: PointsLedgerEntry['kind'],
    points: number,
    saleId: string | null,
    detail: LedgerDetail,
    owedRepaid = 0,
  ): void {
    const entry: PointsLedgerEntry = { at, seq, kind, points, balance: record.points, saleId, ...detail };
    if (owedRepaid > 0) entry.owedRepaid = owedRepaid;
    record.ledger.push(entry);
    // The oldest lines go; the first kept line's balance still explains the rest.
    if (record.ledger.length > LEDGER_KEPT) record.ledger.shift();
  }

  private merge(fromId: string, intoId: string, seq: number, at: string): void {
    const from = this.resolve(fromId);
    const into = this.resolve(intoId);
    if (!from || !into || from === into) return;
    into.purchaseCount += from.purchaseCount;
    into.cumulativeSpend += from.cumulativeSpend;
    into.spendLog = [...into.spendLog, ...from.spendLog].sort((a, b) => a.date.localeCompare(b.date));
    if (from.lastPurchase && (!into.lastPurchase || from.lastPurchase > into.lastPurchase)) {
      into.lastPurchase = from.lastPurchase;
    }
    mergeHistories(into.skus, from.skus);
    mergeHistories(into.categories, from.categories);
    into.markdownPurchases += from.markdownPurchases;
    into.recentSales = [...into.recentSales, ...from.recentSales].slice(-RECENT_SALES_KEPT);
    for (const tag of from.tags) {
      const kept = into.tags.find((t) => t.tag === tag.tag);
      if (!kept) into.tags.push(tag);
      // Typed by staff on either record: it stays staff's, so no rule may take it away later.
      else if (tag.source === 'staff') kept.source = 'staff';
    }
    if (from.points !== 0) {
      // Points the merged record brings pay off what the kept one owed first, as an earning does.
      const owedRepaid = from.points > 0 ? Math.min(from.points, Math.max(0, -into.points)) : 0;
      into.points += from.points;
      into.lots = [...into.lots, ...from.lots].sort((a, b) => a.earnedOn.localeCompare(b.earnedOn));
      // One side's debt (a negative balance) is paid from the other's lots, oldest first.
      let excess = into.lots.reduce((sum, lot) => sum + lot.points, 0) - Math.max(0, into.points);
      while (excess > 0 && into.lots.length > 0) {
        const lot = into.lots[0]!;
        const used = Math.min(lot.points, excess);
        lot.points -= used;
        excess -= used;
        if (lot.points === 0) into.lots.shift();
      }
      this.ledger(into, seq, at, 'merged', from.points, null, { mergedFrom: from.memberCode }, owedRepaid);
    }
    if (from.since < into.since) into.since = from.since;
    from.points = 0;
    from.lots = [];
    this.unindexDigits(from.memberId);
    from.mergedInto = into.memberId;
    into.carrierHashes.push(...from.carrierHashes);
    // The old number, code and carriers now find the kept member.
    this.index(from);
    this.changed(from);
    this.changed(into);
  }

  /** Ids of a member and of every record merged into it (one person's records). */
  recordsOf(memberId: string): string[] {
    const ids = [memberId];
    for (let i = 0; i < ids.length; i++) {
      for (const from of this.mergedFrom.get(ids[i]!) ?? []) if (!ids.includes(from)) ids.push(from);
    }
    return ids;
  }

  /** Erasure covers the person: the member and every record merged into it. */
  private erase(memberId: string): void {
    for (const id of this.recordsOf(memberId)) this.eraseRecord(id);
  }

  private eraseRecord(memberId: string): void {
    const record = this.members.get(memberId);
    if (!record || record.erased) return;
    this.unindexPhone(record);
    // A merged record's number and code point at the kept member: they go too.
    const owner = record.mergedInto ?? memberId;
    for (const id of [memberId, owner]) {
      if (this.byPhoneHash.get(record.phoneHash) === id) this.byPhoneHash.delete(record.phoneHash);
      if (this.byCode.get(record.memberCode) === id) this.byCode.delete(record.memberCode);
    }
    for (const carrier of record.carrierHashes) this.byCarrier.delete(carrier);
    // The tombstone keeps only what statistics need: counts and amounts, no identity.
    record.erased = true;
    record.sealed = null;
    record.phoneHash = '';
    record.memberCode = '';
    record.carrierHashes = [];
    record.tags = [];
    record.consentHistory = [];
    record.demographics = NO_DEMOGRAPHICS;
    record.ledger = [];
    record.recentSales = [];
    this.changed(record);
  }

  /**
   * Indexes a record's number, code, carriers and last digits. A record merged into another is
   * indexed to that one (lookups follow merges from there), so the old number still finds the person.
   */
  private index(record: MemberRecord): void {
    if (record.mergedInto) {
      const list = this.mergedFrom.get(record.mergedInto);
      if (!list) this.mergedFrom.set(record.mergedInto, [record.memberId]);
      else if (!list.includes(record.memberId)) list.push(record.memberId);
    }
    if (record.erased) return;
    const owner = record.mergedInto ?? record.memberId;
    this.byPhoneHash.set(record.phoneHash, owner);
    this.byCode.set(record.memberCode, owner);
    for (const carrier of record.carrierHashes) this.byCarrier.set(carrier, owner);
    const profile = record.sealed ? this.openProfile(record.memberId, record.sealed) : null;
    if (!profile) return;
    this.profiles.set(record.memberId, profile);
    this.indexDigits(owner, profile.phone);
  }

  private openProfile(memberId: string, sealed: SealedData): MemberProfile | null {
    return (this.unseal(memberId, sealed) as MemberProfile | null) ?? null;
  }

  private openRuleTag(memberId: string, sealed: SealedData): { tag: string; ruleId: string } | null {
    const opened = this.unseal(memberId, sealed) as { tag?: unknown; ruleId?: unknown } | null;
    return typeof opened?.tag === 'string' && typeof opened.ruleId === 'string'
      ? { tag: opened.tag, ruleId: opened.ruleId }
      : null;
  }

  private openTag(memberId: string, sealed: SealedData): string | null {
    const opened = this.unseal(memberId, sealed) as { tag?: string } | null;
    return typeof opened?.tag === 'string' ? opened.tag : null;
  }

  private unindexPhone(record: MemberRecord): void {
    this.unindexDigits(record.memberId);
    this.profiles.delete(record.memberId);
  }

  private indexDigits(memberId: string, e164: string): void {
    for (const [map, n] of [
      [this.byLast4, 4],
      [this.byLast3, 3],
    ] as const) {
      const key = e164.slice(-n);
      let set = map.get(key);
      if (!set) map.set(key, (set = new Set()));
      set.add(memberId);
    }
  }

  private unindexDigits(memberId: string): void {
    const profile = this.profiles.get(memberId);
    if (!profile) return;
    this.byLast4.get(profile.phone.slice(-4))?.delete(memberId);
    this.byLast3.get(profile.phone.slice(-3))?.delete(memberId);
  }
}

/** Net spend of a member in the tier window ending today (inclusive). */
export function windowSpend(record: MemberRecord, sinceDate: string): number {
  let sum = 0;
  for (const entry of record.spendLog) if (entry.date > sinceDate) sum += entry.amount;
  return sum;
}

/** Counts a sale once per key (SKU or category) it had, however many lines. */
function recordPurchase(
  histories: Record<string, SkuHistory>,
  lines: SaleLineData[],
  keyOf: (line: SaleLineData) => string,
  date: string,
): void {
  const seen = new Set<string>();
  for (const line of lines) {
    const key = keyOf(line);
    const history = (histories[key] ??= { count: 0, qty: 0, dates: [] });
    history.qty += line.qty;
    if (seen.has(key)) continue;
    seen.add(key);
    history.count += 1;
    history.dates.push(date);
    if (history.dates.length > SKU_DATES_KEPT) history.dates.shift();
  }
}

/** Undoes a voided sale's purchases, as recordPurchase counted them. */
function unrecordPurchase(
  histories: Record<string, SkuHistory>,
  lines: SaleLineData[],
  keyOf: (line: SaleLineData) => string,
  date: string,
): void {
  const qtyByKey = new Map<string, number>();
  for (const line of lines) qtyByKey.set(keyOf(line), (qtyByKey.get(keyOf(line)) ?? 0) + line.qty);
  for (const [key, qty] of qtyByKey) {
    const history = histories[key];
    if (!history) continue;
    history.qty = Math.max(0, history.qty - qty);
    const at = history.dates.lastIndexOf(date);
    if (at >= 0) {
      history.dates.splice(at, 1);
      history.count = Math.max(0, history.count - 1);
    }
    if (history.count === 0) delete histories[key];
  }
}

function mergeHistories(into: Record<string, SkuHistory>, from: Record<string, SkuHistory>): void {
  for (const [key, history] of Object.entries(from)) {
    const target = (into[key] ??= { count: 0, qty: 0, dates: [] });
    target.count += history.count;
    target.qty += history.qty;
    target.dates = [...target.dates, ...history.dates].sort().slice(-SKU_DATES_KEPT);
  }
}

/**
 * Purchase histories are keyed by SKUs and category names, which are text a manager typed: with no
 * prototype, a category named "constructor" or "__proto__" is an ordinary key, not Object's own.
 */
export function keyedByText<T>(from: Record<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, from);
}

/** A record that is a member now: neither erased nor merged into another record. */
export function isLive(record: MemberRecord): boolean {
  return !record.erased && !record.mergedInto;
}
