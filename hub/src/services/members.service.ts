/**
 * Members at the counter (M1-M6, C1): one-step sign-up by mobile number, lookup by number, last
 * digits, member code or e-invoice carrier, the auntie's-brain card, profile, consent, tags,
 * merges and PDPA erasure. Every change is an event; personal data goes into events sealed.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { SaleView, StaffView } from '../protocol/api.js';
import type { MemberDemographics } from '../protocol/events.js';
import {
  CONSENT_CHANNELS,
  type ConsentChannel,
  type ConsentChangeView,
  type LookupResult,
  type MemberCard,
  type MemberSummary,
  type PointsLedgerEntry,
  type ProfileUpdate,
  type SignUpRequest,
  type SignUpResult,
} from '../protocol/members.js';
import { DomainError } from '../domain/errors.js';
import { newPersonalCode } from '../domain/coupons.js';
import { tierRule, nextTier, type LoyaltyProgram, tierForSpend } from '../domain/loyalty.js';
import { windowSpend, type MemberProfile, type MemberRecord } from '../domain/members.js';
import type { BasketStats } from '../domain/member-insights.js';
import { repurchaseDue, usualItems } from '../domain/member-insights.js';
import { looksLikeWholeNumber, maskPhone, parseMobile } from '../domain/phone.js';
import { toSaleView, type StoreState } from '../domain/store-state.js';
import { businessDate, monthsBefore } from '../domain/time.js';
import { roleAtLeast } from './security.service.js';
import type { EventStore } from '../storage/event-store.js';
import type { MemberVault } from '../storage/member-vault.js';
import type { KeyedLock } from './keyed-lock.js';
import type { Actor } from './checkout.service.js';

const MEMBER_CODE = /^AYI\d{10}$/i;
const CARRIER = /^\/[0-9A-Za-z.+-]{7}$/;
const PICK_LIST_MAX = 8;

/** How a Taiwan number is written at the counter; other countries stay in E.164. */
export function displayPhone(e164: string): string {
  return e164.startsWith('+886') ? `0${e164.slice(4)}` : e164;
}

export function ageBand(birthday: string | null, today: string): string | null {
  if (!birthday) return null;
  let age = Number(today.slice(0, 4)) - Number(birthday.slice(0, 4));
  if (today.slice(5) < birthday.slice(5)) age -= 1;
  if (age < 20) return '<20';
  if (age >= 60) return '60+';
  const low = Math.floor(age / 10) * 10;
  return `${low}-${low + 9}`;
}

export class MembersService {
  constructor(
    private readonly state: StoreState,
    private readonly events: EventStore,
    private readonly vault: MemberVault,
    readonly program: LoyaltyProgram,
    private readonly timeZone: string,
    private readonly clock: () => Date,
    readonly lock: KeyedLock,
  ) {}

  today(): string {
    return businessDate(this.clock(), this.timeZone);
  }

  /** The record behind an id (following merges) or 404. */
  require(memberId: string): MemberRecord {
    const record = this.state.members.resolve(memberId);
    if (!record) throw new DomainError('member_not_found', 'No such member (it may have been erased)', undefined, 404);
    return record;
  }

  profileOf(memberId: string): MemberProfile | undefined {
    return this.state.members.profile(memberId);
  }

  windowSpendOf(record: MemberRecord, today = this.today()): number {
    return windowSpend(record, monthsBefore(today, this.program.windowMonths));
  }

  async signUp(request: SignUpRequest, actor: Actor): Promise<SignUpResult> {
    const phone = parseMobile(request.phone);
    const phoneHash = this.vault.hashPhone(phone.e164);
    // The same number from two tablets at once still makes one member.
    return this.lock.run([`phone:${phoneHash}`], async () => {
      const existingId = this.state.members.byPhoneHash.get(phoneHash);
      const existing = existingId === undefined ? undefined : this.state.members.resolve(existingId);
      if (existing) return { member: this.summary(existing, actor.staff), existing: true, firstOrderCoupon: null };

      const memberId = uuidv7();
      const memberCode = this.newMemberCode();
      await this.vault.createKey(memberId);
      const profile: MemberProfile = {
        phone: phone.e164,
        name: null,
        birthday: null,
        gender: null,
        region: null,
        email: null,
      };
      const consent = Object.fromEntries(CONSENT_CHANNELS.map((c) => [c, request.consent?.[c] ?? false])) as Record<
        ConsentChannel,
        boolean
      >;
      // Recorded together: one fsync for the member, their first-order coupon and the welcome SMS.
      const writes: Promise<unknown>[] = [
        this.events.record('member.registered', {
          memberId,
          memberCode,
          phoneHash,
          sealed: this.vault.seal(memberId, profile),
          demographics: this.demographicsOf(profile),
          channel: 'store',
          consent,
          staffId: actor.staff.id,
          deviceId: actor.deviceId,
        }),
      ];
      const coupon = this.firstOrderCoupon();
      const couponCode = coupon ? this.newCouponCode() : null;
      if (coupon && couponCode) {
        writes.push(this.events.record('coupon.issued', { couponId: coupon.couponId, code: couponCode, memberId }));
      }
      writes.push(
        this.events.record('message.queued', {
          messageId: uuidv7(),
          memberId,
          channel: 'sms',
          template: 'welcome',
          params: couponCode ? { couponCode } : {},
        }),
      );
      await Promise.all(writes);
      return {
        member: this.summary(this.require(memberId), actor.staff),
        existing: false,
        firstOrderCoupon: couponCode,
      };
    });
  }

  lookup(query: string, staff: StaffView): LookupResult {
    const text = query.trim();
    const result = (kind: LookupResult['kind'], records: MemberRecord[], extra: Partial<LookupResult> = {}) => ({
      kind,
      matches: records.slice(0, PICK_LIST_MAX).map((r) => this.summary(r, staff)),
      truncated: records.length > PICK_LIST_MAX,
      unboundCarrier: false,
      canSignUp: false,
      ...extra,
    });
    if (CARRIER.test(text)) {
      const id = this.state.members.byCarrier.get(this.vault.hashCarrier(text.toUpperCase()));
      const record = id === undefined ? undefined : this.state.members.resolve(id);
      return result('carrier', record ? [record] : [], { unboundCarrier: !record });
    }
    if (MEMBER_CODE.test(text)) {
      const id = this.state.members.byCode.get(text.toUpperCase());
      const record = id === undefined ? undefined : this.state.members.resolve(id);
      return result('member_code', record ? [record] : []);
    }
    if (/^\d{3,4}$/.test(text)) {
      const records = new Map<string, MemberRecord>();
      for (const id of this.state.members.endingIn(text)) {
        const record = this.state.members.resolve(id);
        if (record) records.set(record.memberId, record);
      }
      const sorted = [...records.values()].sort((a, b) => (b.lastPurchase ?? '').localeCompare(a.lastPurchase ?? ''));
      return result('last_digits', sorted);
    }
    if (looksLikeWholeNumber(text)) {
      const phone = parseMobile(text);
      const id = this.state.members.byPhoneHash.get(this.vault.hashPhone(phone.e164));
      const record = id === undefined ? undefined : this.state.members.resolve(id);
      return result('phone', record ? [record] : [], { canSignUp: !record });
    }
    return result('unknown', []);
  }

  summary(record: MemberRecord, staff: StaffView): MemberSummary {
    const profile = this.state.members.profile(record.memberId);
    const rule = tierRule(this.program, record.tier);
    return {
      memberId: record.memberId,
      memberCode: record.memberCode,
      phone: profile ? this.phoneFor(profile.phone, staff) : '',
      name: profile?.name ?? null,
      tier: rule.tier,
      tierName: rule.name,
      points: record.points,
    };
  }

  /** Cashiers see 0912***678; managers and owners the whole number. */
  private phoneFor(e164: string, staff: StaffView): string {
    const display = displayPhone(e164);
    return roleAtLeast(staff.role, 'manager') ? display : maskPhone(display);
  }

  card(memberId: string, cartSkus: string[], staff: StaffView): MemberCard {
    const record = this.require(memberId);
    const profile = this.state.members.profile(record.memberId);
    const today = this.today();
    const find = (sku: string) => this.state.products.get(sku);
    const spend = this.windowSpendOf(record, today);
    const rule = tierRule(this.program, record.tier);
    const usual = usualItems(record, today, find);
    const due = repurchaseDue(record, today, find);
    const inCart = new Set(cartSkus);
    const anchors = cartSkus.length > 0 ? cartSkus : usual.map((u) => u.sku);
    const crossSell = this.crossSell(this.state.baskets, anchors, new Set([...inCart, ...usual.map((u) => u.sku)]));
    const birthMonth = profile?.birthday ? Number(profile.birthday.slice(5, 7)) : null;
    return {
      memberId: record.memberId,
      memberCode: record.memberCode,
      phone: profile ? this.phoneFor(profile.phone, staff) : '',
      name: profile?.name ?? null,
      birthday: profile?.birthday ?? null,
      gender: profile?.gender ?? null,
      region: profile?.region ?? null,
      email: profile?.email ?? null,
      memberSince: record.since,
      channel: 'store',
      tags: record.tags,
      points: record.points,
      tier: {
        tier: rule.tier,
        tierName: rule.name,
        discountPercent: rule.discountPercent,
        pointsMultiplier: rule.pointsMultiplier,
        windowSpend: spend,
        next: nextTier(this.program, rule.tier, spend),
      },
      stats: {
        purchaseCount: record.purchaseCount,
        lastPurchase: record.lastPurchase,
        cumulativeSpend: record.cumulativeSpend,
        averageOrder: record.purchaseCount > 0 ? Math.round(record.cumulativeSpend / record.purchaseCount) : 0,
      },
      consent: CONSENT_CHANNELS.map((channel) => ({ channel, ...record.consent[channel] })),
      usualItems: usual,
      repurchaseDue: due,
      crossSell,
      coupons: this.couponsHeld(record.memberId, today),
      hasCarrier: record.carrierHashes.length > 0,
      birthdayThisMonth: birthMonth === Number(today.slice(5, 7)),
    };
  }

  private crossSell(baskets: BasketStats, anchors: string[], exclude: Set<string>) {
    return baskets.suggest(anchors, exclude, (sku) => this.state.products.get(sku));
  }

  private couponsHeld(memberId: string, today: string): MemberCard['coupons'] {
    const held: MemberCard['coupons'] = [];
    for (const code of this.state.issuedByMember.get(memberId) ?? []) {
      const issued = this.state.issuedCodes.get(code);
      const coupon = issued && this.state.coupons.get(issued.couponId);
      if (!issued || !coupon || issued.usedBySale !== null) continue;
      if (coupon.validTo !== null && coupon.validTo < today) continue;
      held.push({
        code,
        name: coupon.name,
        discount: coupon.discount,
        minSpend: coupon.minSpend,
        validTo: coupon.validTo,
        trigger: coupon.trigger,
      });
    }
    return held;
  }

  /** Members by name or member code (never by number: that is lookup's job, in a body). */
  list(query: string, limit: number, offset: number, staff: StaffView): { members: MemberSummary[]; total: number } {
    const q = query.trim().toLowerCase();
    const found: MemberRecord[] = [];
    for (const record of this.state.members.members.values()) {
      if (record.erased || record.mergedInto) continue;
      if (q) {
        const name = this.state.members.profile(record.memberId)?.name?.toLowerCase() ?? '';
        if (!name.includes(q) && !record.memberCode.toLowerCase().includes(q)) continue;
      }
      found.push(record);
    }
    found.sort((a, b) => b.since.localeCompare(a.since));
    return {
      members: found.slice(offset, offset + limit).map((r) => this.summary(r, staff)),
      total: found.length,
    };
  }

  async updateProfile(memberId: string, update: ProfileUpdate, actor: Actor): Promise<void> {
    const record = this.require(memberId);
    await this.lock.run([`member:${record.memberId}`], async () => {
      const current = this.state.members.profile(record.memberId);
      if (!current)
        throw new DomainError('member_not_found', 'This member has no personal data any more', undefined, 404);
      if (update.birthday && update.birthday > this.today()) {
        throw new DomainError('invalid_birthday', 'The birthday is in the future');
      }
      const profile: MemberProfile = { ...current };
      for (const key of ['name', 'birthday', 'gender', 'region', 'email'] as const) {
        if (update[key] !== undefined) (profile as unknown as Record<string, unknown>)[key] = update[key];
      }
      await this.events.record('member.profile_updated', {
        memberId: record.memberId,
        sealed: this.vault.seal(record.memberId, profile),
        demographics: this.demographicsOf(profile),
        staffId: actor.staff.id,
      });
    });
  }

  async setConsent(memberId: string, channel: ConsentChannel, granted: boolean, actor: Actor): Promise<void> {
    const record = this.require(memberId);
    if (record.consent[channel].granted === granted && record.consent[channel].at !== null) return;
    await this.events.record('member.consent_changed', {
      memberId: record.memberId,
      channel,
      granted,
      staffId: actor.staff.id,
    });
  }

  consentHistory(memberId: string): ConsentChangeView[] {
    return [...this.require(memberId).consentHistory].reverse();
  }

  async bindCarrier(memberId: string, carrier: string, actor: Actor): Promise<void> {
    const record = this.require(memberId);
    const carrierHash = this.vault.hashCarrier(carrier.toUpperCase());
    await this.lock.run([`carrier:${carrierHash}`], async () => {
      const holder = this.state.members.byCarrier.get(carrierHash);
      const holderRecord = holder === undefined ? undefined : this.state.members.resolve(holder);
      if (holderRecord?.memberId === record.memberId) return;
      if (holderRecord) {
        throw new DomainError(
          'carrier_taken',
          'This carrier barcode already belongs to another member',
          undefined,
          409,
        );
      }
      await this.events.record('member.carrier_bound', {
        memberId: record.memberId,
        carrierHash,
        staffId: actor.staff.id,
      });
    });
  }

  async tag(memberId: string, tag: string, actor: Actor): Promise<void> {
    const record = this.require(memberId);
    const clean = tag.trim();
    if (record.tags.some((t) => t.tag === clean)) return;
    await this.events.record('member.tagged', { memberId: record.memberId, tag: clean, staffId: actor.staff.id });
  }

  async untag(memberId: string, tag: string, actor: Actor): Promise<void> {
    const record = this.require(memberId);
    if (!record.tags.some((t) => t.tag === tag)) {
      throw new DomainError('tag_not_found', `The member has no tag ${tag}`, undefined, 404);
    }
    await this.events.record('member.untagged', { memberId: record.memberId, tag, staffId: actor.staff.id });
  }

  /** Tags in use, most used first: suggestions for the tag box. */
  tags(): string[] {
    const counts = new Map<string, number>();
    for (const record of this.state.members.members.values()) {
      for (const { tag } of record.tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([tag]) => tag);
  }

  points(memberId: string): { balance: number; entries: PointsLedgerEntry[] } {
    const record = this.require(memberId);
    return { balance: record.points, entries: [...record.ledger].reverse() };
  }

  sales(memberId: string): SaleView[] {
    const record = this.require(memberId);
    const out: SaleView[] = [];
    for (let i = record.recentSales.length - 1; i >= 0; i--) {
      const sale = this.state.sales.get(record.recentSales[i]!);
      if (sale) out.push(toSaleView(sale));
    }
    return out;
  }

  async merge(fromMemberId: string, intoMemberId: string, actor: Actor): Promise<string> {
    const from = this.require(fromMemberId);
    const into = this.require(intoMemberId);
    if (from.memberId === into.memberId) {
      throw new DomainError('merge_same_member', 'Both records are the same member already');
    }
    await this.lock.run([`member:${from.memberId}`, `member:${into.memberId}`], () =>
      this.events.record('member.merged', {
        fromMemberId: from.memberId,
        intoMemberId: into.memberId,
        staffId: actor.staff.id,
      }),
    );
    return into.memberId;
  }

  /**
   * PDPA erasure: the tombstone event first (so HQ erases its copy too), then the member's key is
   * destroyed, which makes their sealed data unreadable everywhere.
   */
  async erase(memberId: string, confirmMemberCode: string, actor: Actor): Promise<void> {
    const record = this.require(memberId);
    if (confirmMemberCode.trim().toUpperCase() !== record.memberCode) {
      throw new DomainError('erase_not_confirmed', 'Type the member code shown on the profile to confirm the erasure');
    }
    const records = this.state.members.recordsOf(record.memberId);
    await this.lock.run([`member:${record.memberId}`], () =>
      this.events.record('member.erased', { memberId: record.memberId, staffId: actor.staff.id }),
    );
    await this.vault.destroyKeys(records);
  }

  /**
   * Keys of erased members that are still on disk (the hub stopped between the tombstone and the
   * key's destruction): destroyed at start-up.
   */
  async finishErasures(): Promise<number> {
    const left = [...this.state.members.members.values()]
      .filter((r) => r.erased && this.vault.hasKey(r.memberId))
      .map((r) => r.memberId);
    await this.vault.destroyKeys(left);
    return left.length;
  }

  /**
   * The nightly review (L1, L2): tiers fall to what the window's spend supports, and points older
   * than the expiry period expire. Returns how many of each.
   */
  async reviewLoyalty(): Promise<{ downgraded: number; pointsExpired: number }> {
    const today = this.today();
    const expiryCutoff = this.program.expiryMonths === null ? null : monthsBefore(today, this.program.expiryMonths);
    let downgraded = 0;
    let pointsExpired = 0;
    const work: Promise<unknown>[] = [];
    for (const record of this.state.members.members.values()) {
      if (record.erased || record.mergedInto) continue;
      const current = tierRule(this.program, record.tier);
      const spend = this.windowSpendOf(record, today);
      const reached = tierForSpend(this.program, spend);
      const expiring =
        expiryCutoff === null
          ? 0
          : record.lots.filter((l) => l.earnedOn <= expiryCutoff).reduce((s, l) => s + l.points, 0);
      if (reached.threshold >= current.threshold && expiring === 0) continue;
      work.push(
        this.lock.run([`member:${record.memberId}`], async () => {
          const writes: Promise<unknown>[] = [];
          if (reached.threshold < current.threshold) {
            downgraded += 1;
            writes.push(
              this.events.record('member.tier_changed', {
                memberId: record.memberId,
                from: current.tier,
                to: reached.tier,
                windowSpend: spend,
              }),
            );
          }
          if (expiring > 0 && expiryCutoff !== null) {
            pointsExpired += expiring;
            writes.push(
              this.events.record('points.expired', {
                memberId: record.memberId,
                points: expiring,
                earnedOnOrBefore: expiryCutoff,
              }),
            );
          }
          await Promise.all(writes);
        }),
      );
    }
    await Promise.all(work);
    return { downgraded, pointsExpired };
  }

  /** What a receipt shows of a member: the code and the masked number, never the name. */
  receiptMember(memberId: string): { memberCode: string; maskedPhone: string } | null {
    const record = this.state.members.resolve(memberId);
    const profile = record && this.state.members.profile(record.memberId);
    return record
      ? { memberCode: record.memberCode, maskedPhone: profile ? maskPhone(displayPhone(profile.phone)) : '' }
      : null;
  }

  /** For the SMS queue: where to send, or null when the member is gone. */
  recipient(memberId: string): { phone: string; name: string | null } | null {
    const record = this.state.members.resolve(memberId);
    const profile = record && this.state.members.profile(record.memberId);
    return profile ? { phone: profile.phone, name: profile.name } : null;
  }

  private demographicsOf(profile: MemberProfile): MemberDemographics {
    return {
      ageBand: ageBand(profile.birthday, this.today()),
      gender: profile.gender,
      region: profile.region,
      birthMonth: profile.birthday ? Number(profile.birthday.slice(5, 7)) : null,
    };
  }

  private firstOrderCoupon() {
    const today = this.today();
    for (const coupon of this.state.coupons.values()) {
      if (coupon.trigger !== 'first_order' || coupon.code) continue;
      if (coupon.validFrom > today || (coupon.validTo !== null && coupon.validTo < today)) continue;
      return coupon;
    }
    return undefined;
  }

  private newMemberCode(): string {
    for (;;) {
      const code = `AYI${String(randomInt(0, 1e10)).padStart(10, '0')}`;
      if (!this.state.members.byCode.has(code)) return code;
    }
  }

  newCouponCode(): string {
    for (;;) {
      const code = newPersonalCode(randomBytes(8));
      if (!this.state.issuedCodes.has(code) && !this.state.couponCodes.has(code)) return code;
    }
  }
}
