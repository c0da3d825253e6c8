/**
 * The member at the counter: lookup (full number, last digits, member code, carrier barcode),
 * one-tap sign-up, the "auntie's brain" card of the member attached to the cart, carrier binding,
 * and the store's loyalty program (tier names, point value).
 *
 * Which member is attached lives in the cart (it is part of the sale and survives a reload); this
 * store keeps what is shown about them and refreshes it on `member.changed` from the hub.
 */
import type { LookupResult, MemberCard, MemberSummary, SignUpResult } from '$protocol/members';
import { api, isApiError } from './api';
import { cart, type CartMember } from './cart.svelte';
import { hubSocket } from './hub-socket.svelte';

export interface LoyaltyTier {
  tier: string;
  name: string;
  threshold: number;
  discountPercent: number;
  pointsMultiplier: number;
}

export interface LoyaltyProgram {
  tiers: LoyaltyTier[];
  amountPerPoint: number;
  pointValue: number;
  maxRedeemPercent: number;
  expiryMonths: number | null;
  windowMonths: number;
}

export { COUPON_REASONS, couponReasonMessage, detailsReason, memberErrorMessage } from './member-errors';

export function toCartMember(m: MemberSummary | MemberCard): CartMember {
  if ('tier' in m && typeof m.tier === 'object') {
    const c = m as MemberCard;
    return {
      memberId: c.memberId,
      memberCode: c.memberCode,
      name: c.name,
      tier: c.tier.tier,
      tierName: c.tier.tierName,
      points: c.points,
      pointsOwed: c.pointsOwed,
    };
  }
  const s = m as MemberSummary;
  return {
    memberId: s.memberId,
    memberCode: s.memberCode,
    name: s.name,
    tier: s.tier,
    tierName: s.tierName,
    points: s.points,
    pointsOwed: s.pointsOwed,
  };
}

const CARD_DEBOUNCE_MS = 350;

/** What a lookup came to, for the member box to show. */
export type LookupOutcome =
  | { type: 'attached'; member: MemberSummary }
  | { type: 'pick'; matches: MemberSummary[]; truncated: boolean }
  | { type: 'signup'; phone: string }
  | { type: 'carrier_unbound'; carrier: string }
  | { type: 'none'; kind: LookupResult['kind']; query: string }
  /** Typed at the member box but no mobile number, last digits, member code or carrier: not asked. */
  | { type: 'not_mobile'; query: string };

class MemberDesk {
  /** The card of the attached member (null until loaded, or none attached). */
  card = $state<MemberCard | null>(null);
  cardLoading = $state(false);
  cardError = $state<unknown>(null);
  /** A carrier barcode scanned that nobody has: offered for binding to the attached member. */
  pendingCarrier = $state<string | null>(null);
  /** The first-order coupon the hub just issued to a new member (shown with one-tap apply). */
  newCoupon = $state<{ memberId: string; code: string } | null>(null);
  /** The member was just created at this counter. */
  justSignedUp = $state<string | null>(null);
  loyalty = $state<LoyaltyProgram | null>(null);
  /** The last lookup's outcome (pick list, sign-up offer, "not found"), until the next one. */
  outcome = $state<LookupOutcome | null>(null);

  #cardSeq = 0;
  #cardTimer: ReturnType<typeof setTimeout> | null = null;
  #loyaltyPromise: Promise<LoyaltyProgram | null> | null = null;

  constructor() {
    hubSocket.onMemberChanged((memberId) => {
      if (cart.member?.memberId === memberId) this.scheduleCard(0);
    });
    // Changes while the link was down were not announced; a card or program asked for then failed.
    hubSocket.onReconnect(() => {
      if (cart.member) this.scheduleCard(0);
      if (!this.loyalty) void this.loadLoyalty();
    });
  }

  /** Asks the hub what a query at the member box (or a scan) is. */
  lookup(query: string): Promise<LookupResult> {
    return api.post<LookupResult>('/api/members/lookup', { query: query.trim() }, { timeoutMs: 8000 });
  }

  /**
   * Looks a query up and acts on a certain answer: one member by full number, member code or carrier
   * is attached at once; last digits always give a pick list (the cashier confirms the person).
   */
  async find(query: string): Promise<LookupOutcome> {
    const q = query.trim();
    const res = await this.lookup(q);
    let outcome: LookupOutcome;
    const only = res.matches.length === 1 ? res.matches[0] : undefined;
    if (only && res.kind !== 'last_digits') {
      this.attach(only);
      outcome = { type: 'attached', member: only };
    } else if (res.matches.length > 0) {
      outcome = { type: 'pick', matches: res.matches, truncated: res.truncated };
    } else if (res.canSignUp) {
      outcome = { type: 'signup', phone: q };
    } else if (res.kind === 'carrier' && res.unboundCarrier) {
      this.pendingCarrier = q.toUpperCase();
      outcome = { type: 'carrier_unbound', carrier: this.pendingCarrier };
    } else {
      outcome = { type: 'none', kind: res.kind, query: q };
    }
    this.outcome = outcome.type === 'attached' ? null : outcome;
    return outcome;
  }

  /** A member picked from the list. */
  pick(m: MemberSummary): void {
    this.outcome = null;
    this.attach(m);
  }

  /** Signs up a mobile number and attaches the new (or existing) member at once. */
  async signUp(phone: string): Promise<SignUpResult> {
    const res = await api.post<SignUpResult>('/api/members', { phone: phone.trim() }, { timeoutMs: 10_000 });
    this.outcome = null;
    this.attach(res.member);
    if (!res.existing) this.justSignedUp = res.member.memberId;
    if (res.firstOrderCoupon) this.newCoupon = { memberId: res.member.memberId, code: res.firstOrderCoupon };
    return res;
  }

  /** Attaches a member to the cart and loads their card. */
  attach(m: MemberSummary | CartMember): void {
    const prev = cart.member?.memberId;
    const summary = 'phone' in m ? toCartMember(m) : m;
    cart.setMember(summary);
    if (prev !== summary.memberId) {
      this.card = null;
      this.cardError = null;
      this.newCoupon = null;
      this.justSignedUp = null;
    }
    void this.loadLoyalty();
    this.scheduleCard(0);
  }

  detach(): void {
    cart.setMember(null);
    this.clear();
  }

  /** Forgets what is shown (the cart has been reset or the member detached). */
  clear(): void {
    this.#cardSeq++;
    if (this.#cardTimer) clearTimeout(this.#cardTimer);
    this.#cardTimer = null;
    this.card = null;
    this.cardError = null;
    this.cardLoading = false;
    this.pendingCarrier = null;
    this.newCoupon = null;
    this.justSignedUp = null;
    this.outcome = null;
  }

  /** Loads the card soon (coalescing bursts, e.g. scans that change the cart's SKUs). */
  scheduleCard(delayMs = CARD_DEBOUNCE_MS): void {
    if (this.#cardTimer) clearTimeout(this.#cardTimer);
    this.#cardTimer = setTimeout(() => {
      this.#cardTimer = null;
      void this.loadCard();
    }, delayMs);
  }

  async loadCard(): Promise<void> {
    const member = cart.member;
    if (!member) return;
    const seq = ++this.#cardSeq;
    this.cardLoading = true;
    const skus = [...new Set(cart.skus)].slice(0, 50);
    const qs = skus.length > 0 ? `?cart=${encodeURIComponent(skus.join(','))}` : '';
    try {
      const card = await api.get<MemberCard>(`/api/members/${encodeURIComponent(member.memberId)}/card${qs}`, {
        timeoutMs: 8000,
      });
      if (seq !== this.#cardSeq || cart.member?.memberId !== member.memberId) return;
      this.card = card;
      this.cardError = null;
      // Keep the cart's copy (shown before the card loads, kept across a reload) up to date.
      const fresh = toCartMember(card);
      if (
        fresh.points !== member.points ||
        fresh.tier !== member.tier ||
        fresh.name !== member.name ||
        fresh.tierName !== member.tierName
      ) {
        cart.setMember(fresh);
      }
    } catch (e) {
      if (seq !== this.#cardSeq) return;
      if (isApiError(e) && e.status === 404) {
        // Merged away or erased since it was attached.
        cart.setMember(null);
        this.clear();
        this.cardError = e;
        return;
      }
      this.cardError = e;
    } finally {
      if (seq === this.#cardSeq) this.cardLoading = false;
    }
  }

  /** Binds the pending carrier barcode to the attached member. */
  async bindCarrier(): Promise<void> {
    const member = cart.member;
    const carrier = this.pendingCarrier;
    if (!member || !carrier) return;
    const card = await api.post<MemberCard>(
      `/api/members/${encodeURIComponent(member.memberId)}/carrier`,
      { carrier },
      { timeoutMs: 8000 },
    );
    this.pendingCarrier = null;
    if (cart.member?.memberId === card.memberId) this.card = card;
  }

  /** The store's loyalty program (tier names and thresholds, point value); loaded once. */
  loadLoyalty(): Promise<LoyaltyProgram | null> {
    if (this.loyalty) return Promise.resolve(this.loyalty);
    this.#loyaltyPromise ??= api
      .get<LoyaltyProgram>('/api/loyalty', { timeoutMs: 8000 })
      .then((p) => {
        this.loyalty = p;
        return p;
      })
      .catch(() => null)
      .finally(() => {
        this.#loyaltyPromise = null;
      });
    return this.#loyaltyPromise;
  }

  tierName(tier: string): string {
    return this.loyalty?.tiers.find((t) => t.tier === tier)?.name ?? tier;
  }
}

export const memberDesk = new MemberDesk();
