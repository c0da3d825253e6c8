/**
 * Members at the counter (M1-M6, C1): one-step sign-up by mobile number, lookup by number, last
 * digits, member code or e-invoice carrier, the auntie's-brain card, profile, consent, tags,
 * merges and PDPA erasure. Every change is an event; personal data goes into events sealed.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { SaleView, StaffView } from '../protocol/api.js';
import {
  CONSENT_CHANNELS,
  type ConsentChannel,
  type ConsentChangeView,
  type LookupResult,
  type MemberCard,
  type MemberSummary,
  type PointsLedgerView,
  type ProfileUpdate,
  type SignUpRequest,
  type SignUpResult,
} from '../protocol/members.js';
import { DomainError } from '../domain/errors.js';
import { newPersonalCode } from '../domain/coupons.js';
import { tierRule, nextTier, type LoyaltyProgram, tierForSpend, pointsStanding } from '../domain/loyalty.js';
import { isLive, windowSpend, type MemberProfile, type MemberRecord } from '../domain/members.js';
import type { BasketStats } from '../domain/member-insights.js';
import { repurchaseDue, usualItems } from '../domain/member-insights.js';
import { StoreIntervals } from '../domain/repurchase.js';
import { displayPhone, looksLikeWholeNumber, maskPhone, parseMobile } from '../domain/phone.js';
import type { StoreState } from '../domain/store-state.js';
import { assertCalendarDate, businessDate, monthsBefore } from '../domain/time.js';
import { roleAtLeast } from './security.service.js';
import type { EventRecorder } from '../storage/event-store.js';
import type { MemberVault } from '../storage/member-vault.js';
import type { KeyedLock } from './keyed-lock.js';
import type { Actor } from './checkout.service.js';

const MEMBER_CODE = /^AYI\d{10}$/i;
const CARRIER = /^\/[0-9A-Za-z.+-]{7}$/;
const PICK_LIST_MAX = 8;
const LOOKUP_WINDOW_MS = 60_000;
const LOOKUPS_PER_WINDOW = 60;

export class MembersService {
  private readonly lookupTimes = new Map<string, number[]>();

  constructor(
    private readonly state: StoreState,
    private readonly events: EventRecorder,
    private readonly vault: MemberVault,
    readonly program: LoyaltyProgram,
    private readonly timeZone: string,
    private readonly clock: () => Date,
    readonly lock: KeyedLock,
    /** Rewrites the snapshots after an erasure (they hold members' opened data). */
    private readonly afterErasure: () => Promise<void> = async () => {},
    /** The store's median repurchase intervals (cached by the caller, rebuilt nightly). */
    private storeIntervals: () => StoreIntervals = () => StoreIntervals.empty(),
  ) {}

  /** Where the card's repurchase prediction finds the store's intervals (set once analytics exists). */
  useStoreIntervals(source: () => StoreIntervals): void {
    this.storeIntervals = source;
  }

  today(): string {
    return businessDate(this.clock(), this.timeZone);
  }

  /** The record behind an id (following merges) or 404. */
  require(memberId: string): MemberRecord {
    const record = this.state.members.resolve(memberId);
    if (!record) throw new DomainError('member_not_found', 'No such member (it may have been erased)', undefined, 404);
    return record;
  }

  windowSpendOf(record: MemberRecord, today = this.today()): number {
    return windowSpend(record, monthsBefore(today, this.program.windowMonths));
  }

  /**
   * Lookups by number are limited per tablet: a counter needs a few a minute, while guessing the
   * five hidden digits of a masked number takes up to 100,000 tries (over a day at this rate).
   */
  private limitLookups(deviceId: string): void {
    const now = this.clock().getTime();
    const recent = (this.lookupTimes.get(deviceId) ?? []).filter((t) => t > now - LOOKUP_WINDOW_MS);
    if (recent.length >= LOOKUPS_PER_WINDOW) {
      const retryAfterSeconds = Math.ceil((recent[0]! + LOOKUP_WINDOW_MS - now) / 1000);
      throw new DomainError(
        'retry_later',
        `Too many number lookups from this tablet; try again in ${retryAfterSeconds} s`,
        { retryAfterSeconds },
        429,
      );
    }
    recent.push(now);
    this.lookupTimes.set(deviceId, recent);
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
        phoneHash,
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
          sealed: this.vault.seal(memberId, profile),
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

  /**
   * History import (a demo store's seeded year): a member recorded as a sign-up records them, with
   * the whole profile sealed under the key of their own (made beforehand, MemberVault.createKeys),
   * but without a welcome SMS or a first-order coupon: they joined before this hub.
   */
  async registerImported(
    memberId: string,
    details: Omit<MemberProfile, 'phone' | 'phoneHash'> & { phone: string },
    consent: Record<ConsentChannel, boolean>,
    actor: Actor,
  ): Promise<void> {
    const phone = parseMobile(details.phone).e164;
    const profile: MemberProfile = { ...details, phone, phoneHash: this.vault.hashPhone(phone) };
    if (this.state.members.byPhoneHash.has(profile.phoneHash)) {
      throw new DomainError('member_exists', 'An imported member has the number of another member', undefined, 409);
    }
    await this.events.record('member.registered', {
      memberId,
      memberCode: this.newMemberCode(),
      sealed: this.vault.seal(memberId, profile),
      channel: 'store',
      consent,
      staffId: actor.staff.id,
      deviceId: actor.deviceId,
    });
  }

  lookup(query: string, actor: Actor): LookupResult {
    const staff = actor.staff;
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
      this.limitLookups(actor.deviceId);
      const records = new Map<string, MemberRecord>();
      for (const id of this.state.members.endingIn(text)) {
        const record = this.state.members.resolve(id);
        if (record) records.set(record.memberId, record);
      }
      const sorted = [...records.values()].sort((a, b) => (b.lastPurchase ?? '').localeCompare(a.lastPurchase ?? ''));
      return result('last_digits', sorted);
    }
    if (looksLikeWholeNumber(text)) {
      this.limitLookups(actor.deviceId);
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
      points: pointsStanding(record.points).available,
      pointsOwed: pointsStanding(record.points).owed,
    };
  }

  /** Cashiers see 09*****678; managers and owners the whole number. */
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
    const due = repurchaseDue(record, today, find, 5, this.storeIntervals());
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
      tags: record.tags.map(({ tag, source }) => ({
        tag,
        source,
        ruleName: source.startsWith('rule:') ? (this.state.tagRules.get(source.slice(5))?.name ?? null) : null,
      })),
      points: pointsStanding(record.points).available,
      pointsOwed: pointsStanding(record.points).owed,
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
    // The member's own codes and those of records merged into them.
    const codes = this.state.members.recordsOf(memberId).flatMap((id) => this.state.issuedByMember.get(id) ?? []);
    for (const code of codes) {
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

  /**
   * Members as the counter finds them (a whole mobile number, its last 3-4 digits, a member code or
   * a carrier: see lookup), else by part of a name or member code, newest first. Listing everyone,
   * with no query, is for managers: a cashier only finds the member in front of them.
   */
  search(query: string, limit: number, offset: number, actor: Actor): { members: MemberSummary[]; total: number } {
    const staff = actor.staff;
    const found = this.lookup(query, actor);
    if (found.kind !== 'unknown') {
      return { members: found.matches.slice(offset, offset + limit), total: found.matches.length };
    }
    const q = query.trim().toLowerCase();
    if (q.length < 2 && !roleAtLeast(staff.role, 'manager')) {
      throw new DomainError('query_too_short', 'Type at least 2 characters of a name or member code');
    }
    const page: MemberSummary[] = [];
    let total = 0;
    // Newest first without sorting: the map holds members in the order they signed up.
    const records = [...this.state.members.members.values()];
    for (let i = records.length - 1; i >= 0; i--) {
      const record = records[i]!;
      if (!isLive(record)) continue;
      if (q) {
        const name = this.state.members.profile(record.memberId)?.name?.toLowerCase() ?? '';
        if (!name.includes(q) && !record.memberCode.toLowerCase().includes(q)) continue;
      }
      if (total >= offset && page.length < limit) page.push(this.summary(record, staff));
      total += 1;
    }
    return { members: page, total };
  }

  /**
   * Runs `work` holding the lock of the member a record now lives in. A merge can move the record
   * while we wait for the lock; then the lock of the member it moved into is taken instead, so two
   * sales can never spend one person's points at once.
   */
  async withMember<T>(memberId: string, extraKeys: string[], work: (record: MemberRecord) => Promise<T>): Promise<T> {
    for (;;) {
      const before = this.require(memberId);
      const outcome = await this.lock.run([`member:${before.memberId}`, ...extraKeys], async () => {
        const now = this.require(memberId);
        return now.memberId === before.memberId ? { value: await work(now) } : null;
      });
      if (outcome) return outcome.value;
    }
  }

  async updateProfile(memberId: string, update: ProfileUpdate, actor: Actor): Promise<void> {
    await this.withMember(memberId, [], async (record) => {
      const current = this.state.members.profile(record.memberId);
      if (!current)
        throw new DomainError('member_not_found', 'This member has no personal data any more', undefined, 404);
      if (update.birthday) assertCalendarDate(update.birthday, 'birthday');
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
        sealed: this.vault.seal(record.memberId, { carrierHash }),
        staffId: actor.staff.id,
      });
    });
  }

  async tag(memberId: string, tag: string, actor: Actor): Promise<void> {
    const record = this.require(memberId);
    const clean = tag.trim();
    if (record.tags.some((t) => t.tag === clean)) return;
    await this.events.record('member.tagged', {
      memberId: record.memberId,
      sealed: this.vault.seal(record.memberId, { tag: clean }),
      staffId: actor.staff.id,
    });
  }

  async untag(memberId: string, tag: string, actor: Actor): Promise<void> {
    const record = this.require(memberId);
    const held = record.tags.find((t) => t.tag === tag);
    if (!held) {
      throw new DomainError('tag_not_found', `The member has no tag ${tag}`, undefined, 404);
    }
    if (held.source.startsWith('rule:')) {
      // The rule would set it again at once: the rule, not the member, has to change.
      const ruleId = held.source.slice('rule:'.length);
      const ruleName = this.state.tagRules.get(ruleId)?.name ?? null;
      throw new DomainError(
        'tag_set_by_rule',
        `The tag ${tag} is set by the automatic tag rule ${ruleName ?? ruleId}: change the rule on the automatic tags page`,
        { ruleId, ruleName },
        409,
      );
    }
    await this.events.record('member.untagged', {
      memberId: record.memberId,
      sealed: this.vault.seal(record.memberId, { tag }),
      staffId: actor.staff.id,
    });
  }

  /** Tags in use, most used first: suggestions for the tag box. */
  tags(): string[] {
    const counts = new Map<string, number>();
    for (const record of this.state.members.members.values()) {
      for (const { tag } of record.tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([tag]) => tag);
  }

  /** The spendable balance, the points owed, and the ledger (newest first) with the points owed after each line. */
  points(memberId: string): { balance: number; owed: number; entries: PointsLedgerView[] } {
    const record = this.require(memberId);
    const { available, owed } = pointsStanding(record.points);
    return {
      balance: available,
      owed,
      entries: record.ledger.map((entry) => ({ ...entry, owed: pointsStanding(entry.balance).owed })).reverse(),
    };
  }

  sales(memberId: string): SaleView[] {
    const record = this.require(memberId);
    const out: SaleView[] = [];
    for (let i = record.recentSales.length - 1; i >= 0; i--) {
      const sale = this.state.sales.get(record.recentSales[i]!);
      if (sale) out.push(this.state.saleView(sale));
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
    // Records merged into this one are the same person's: collected under the lock, after the
    // tombstone, so a merge finishing meanwhile is included.
    const records = await this.withMember(record.memberId, [], async (current) => {
      await this.events.record('member.erased', { memberId: current.memberId, staffId: actor.staff.id });
      return this.state.members.recordsOf(current.memberId);
    });
    await this.vault.destroyKeys(records);
    await this.afterErasure();
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
    const expiring = (record: MemberRecord) =>
      expiryCutoff === null
        ? 0
        : record.lots.filter((l) => l.earnedOn <= expiryCutoff).reduce((sum, l) => sum + l.points, 0);
    const falls = (record: MemberRecord) =>
      tierForSpend(this.program, this.windowSpendOf(record, today)).threshold <
      tierRule(this.program, record.tier).threshold;
    let downgraded = 0;
    let pointsExpired = 0;
    const work: Promise<unknown>[] = [];
    for (const candidate of this.state.members.members.values()) {
      if (!isLive(candidate)) continue;
      if (!falls(candidate) && expiring(candidate) === 0) continue;
      // Worked out again under the member's lock: a sale of theirs may be spending points right now.
      work.push(
        this.withMember(candidate.memberId, [], async (record) => {
          const writes: Promise<unknown>[] = [];
          if (falls(record)) {
            const spend = this.windowSpendOf(record, today);
            downgraded += 1;
            writes.push(
              this.events.record('member.tier_changed', {
                memberId: record.memberId,
                from: tierRule(this.program, record.tier).tier,
                to: tierForSpend(this.program, spend).tier,
                windowSpend: spend,
              }),
            );
          }
          const points = expiring(record);
          if (points > 0 && expiryCutoff !== null) {
            pointsExpired += points;
            writes.push(
              this.events.record('points.expired', {
                memberId: record.memberId,
                points,
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

  /**
   * What a receipt shows of a member: the code and the number, both masked (a receipt left on the
   * counter must not be enough to attach the member and spend their points), never the name.
   */
  receiptMember(memberId: string): { memberCode: string; maskedPhone: string } | null {
    const record = this.state.members.resolve(memberId);
    const profile = record && this.state.members.profile(record.memberId);
    return record
      ? {
          memberCode: `${record.memberCode.slice(0, 3)}*******${record.memberCode.slice(-3)}`,
          maskedPhone: profile ? maskPhone(displayPhone(profile.phone)) : '',
        }
      : null;
  }

  /**
   * The cross-store link HQ gets with a member's events: the keyed hash of their number, while the
   * member exists (none for an erased one, so a re-publish after an erasure carries nothing).
   */
  hqLink(memberId: string): { phoneHash: string } | null {
    const profile = this.state.members.profile(memberId);
    return profile && this.state.members.resolve(memberId) ? { phoneHash: profile.phoneHash } : null;
  }

  /** For the SMS queue: where to send, or null when the member is gone. */
  recipient(memberId: string): { phone: string; name: string | null } | null {
    const record = this.state.members.resolve(memberId);
    const profile = record && this.state.members.profile(record.memberId);
    return profile ? { phone: profile.phone, name: profile.name } : null;
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
