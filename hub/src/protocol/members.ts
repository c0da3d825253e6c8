/**
 * Wire schemas for members, loyalty, coupons and outbound messages (REST bodies and answers).
 * Personal data (a mobile number, a carrier barcode) only ever travels in request bodies, never in
 * a URL, so it cannot end up in an access log.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { RepurchaseBasis } from './crm.js';
import { DAY_PATTERN } from './dates.js';

const MemberId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' });

export const CONSENT_CHANNELS = ['sms', 'line', 'email'] as const;
export type ConsentChannel = (typeof CONSENT_CHANNELS)[number];
export const ConsentChannel = Type.Union(CONSENT_CHANNELS.map((c) => Type.Literal(c)));

export const GENDERS = ['female', 'male', 'other'] as const;
export type Gender = (typeof GENDERS)[number];

/** A mobile number as typed: Taiwan 09xxxxxxxx (spaces and dashes allowed) or international +E.164. */
const PhoneText = Type.String({ minLength: 3, maxLength: 24, pattern: '^[+0-9 ()-]+$' });

export const SignUpRequest = Type.Object(
  {
    phone: PhoneText,
    /** Marketing consent given at the counter; every channel defaults to no. */
    consent: Type.Optional(
      Type.Object(
        {
          sms: Type.Optional(Type.Boolean()),
          line: Type.Optional(Type.Boolean()),
          email: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type SignUpRequest = Static<typeof SignUpRequest>;

/** One box at the counter: a full number, its last 3-4 digits, a member code or a carrier barcode. */
export const LookupRequest = Type.Object(
  { query: Type.String({ minLength: 3, maxLength: 40 }) },
  { additionalProperties: false },
);
export type LookupRequest = Static<typeof LookupRequest>;

export const ProfileUpdate = Type.Object(
  {
    name: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 40 }), Type.Null()])),
    /** YYYY-MM-DD */
    birthday: Type.Optional(Type.Union([Type.String({ pattern: DAY_PATTERN }), Type.Null()])),
    gender: Type.Optional(Type.Union([...GENDERS.map((g) => Type.Literal(g)), Type.Null()])),
    /** City or county, e.g. 臺北市. */
    region: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 20 }), Type.Null()])),
    email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 120 }), Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type ProfileUpdate = Static<typeof ProfileUpdate>;

export const ConsentRequest = Type.Object(
  { channel: ConsentChannel, granted: Type.Boolean() },
  { additionalProperties: false },
);
export type ConsentRequest = Static<typeof ConsentRequest>;

export const CarrierRequest = Type.Object(
  { carrier: Type.String({ minLength: 8, maxLength: 8, pattern: '^/[0-9A-Z.+-]{7}$' }) },
  { additionalProperties: false },
);
export type CarrierRequest = Static<typeof CarrierRequest>;

export const TagRequest = Type.Object(
  { tag: Type.String({ minLength: 1, maxLength: 20, pattern: '^[^\\s/?#][^/?#]*$' }) },
  { additionalProperties: false },
);
export type TagRequest = Static<typeof TagRequest>;

export const MergeRequest = Type.Object(
  { fromMemberId: MemberId, intoMemberId: MemberId },
  { additionalProperties: false },
);
export type MergeRequest = Static<typeof MergeRequest>;

/** The manager types the member's code to confirm: erasure cannot be undone. */
export const EraseRequest = Type.Object(
  { confirmMemberCode: Type.String({ minLength: 1, maxLength: 20 }) },
  { additionalProperties: false },
);
export type EraseRequest = Static<typeof EraseRequest>;

export const MemberIdParams = Type.Object({ memberId: MemberId }, { additionalProperties: false });

export const CouponDiscount = Type.Object(
  {
    kind: Type.Union([Type.Literal('amount'), Type.Literal('percent')]),
    value: Type.Integer({ minimum: 1, maximum: 100_000 }),
  },
  { additionalProperties: false },
);

export const CouponCreateRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 40 }),
    /**
     * A shared code typed or scanned at the counter (e.g. SPRING100). Without it the coupon is
     * personal: the hub issues a one-use code to each member it is given to.
     */
    code: Type.Optional(Type.String({ minLength: 3, maxLength: 20, pattern: '^[A-Z0-9-]+$' })),
    discount: CouponDiscount,
    minSpend: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
    validFrom: Type.String({ pattern: DAY_PATTERN }),
    /** Inclusive, store-local date; null: no end. */
    validTo: Type.Union([Type.String({ pattern: DAY_PATTERN }), Type.Null()]),
    /** For a shared code: how many sales may use it in all (null: no limit). */
    maxUses: Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()]),
    /** first_order: given to each new member, usable on their first purchase; birthday: in the birthday month. */
    trigger: Type.Union([Type.Literal('first_order'), Type.Literal('birthday'), Type.Null()]),
    /** Acquisition coupon: refused for customers who have bought before. */
    excludeExistingBuyers: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type CouponCreateRequest = Static<typeof CouponCreateRequest>;

/** What a cashier sees of a member in a pick list. */
export interface MemberSummary {
  memberId: string;
  memberCode: string;
  /** 09*****678 for cashiers; the full number for managers and owners. */
  phone: string;
  name: string | null;
  tier: string;
  tierName: string;
  /** Points that can be spent (never below 0). */
  points: number;
  /** Points owed (欠點): earned points a void or refund took back after they were spent. */
  pointsOwed: number;
}

export interface LookupResult {
  /** How the query was read. */
  kind: 'phone' | 'last_digits' | 'member_code' | 'carrier' | 'unknown';
  matches: MemberSummary[];
  /** More members end in these digits than are listed: type more of the number. */
  truncated: boolean;
  /** A carrier barcode that no member has yet: attach a member, then bind it. */
  unboundCarrier: boolean;
  /** A well-formed mobile number with no member: offer sign-up. */
  canSignUp: boolean;
}

export interface SignUpResult {
  member: MemberSummary;
  /** The number already belonged to this member: no new member was made. */
  existing: boolean;
  /** The first-order coupon code issued to the new member, if the store has one. */
  firstOrderCoupon: string | null;
}

export interface ConsentView {
  channel: ConsentChannel;
  granted: boolean;
  at: string | null;
}

export interface ConsentChangeView {
  channel: ConsentChannel;
  granted: boolean;
  at: string;
  staffId: string | null;
}

export interface UsualItemView {
  sku: string;
  name: string;
  price: number;
  timesBought: number;
  lastBought: string;
}

export interface RepurchaseDueView {
  sku: string;
  name: string;
  price: number;
  lastBought: string;
  dueOn: string;
  intervalDays: number;
  /**
   * own: the member's own median interval; product: the product's repurchase cycle; store: the
   * median interval of the store's members for it.
   */
  basis: RepurchaseBasis;
  /** How many intervals the basis came from (the member's own, or the store's); 0 for a product cycle. */
  samples: number;
}

export interface CrossSellView {
  sku: string;
  name: string;
  price: number;
  /** The product in the cart or usual basket that suggested it. */
  becauseOf: string;
  becauseOfName: string;
  /** Share of baskets with becauseOf that also had sku, 0..1. */
  confidence: number;
  lift: number;
}

export interface TierProgressView {
  tier: string;
  tierName: string;
  discountPercent: number;
  pointsMultiplier: number;
  windowSpend: number;
  next: { tier: string; tierName: string; threshold: number; remaining: number } | null;
}

export interface CouponHoldingView {
  code: string;
  name: string;
  discount: { kind: 'amount' | 'percent'; value: number };
  minSpend: number;
  validTo: string | null;
  trigger: 'first_order' | 'birthday' | null;
}

/** The "auntie's brain" panel at the counter (C1) and the profile page (M4). */
export interface MemberCard {
  memberId: string;
  memberCode: string;
  phone: string;
  name: string | null;
  birthday: string | null;
  gender: Gender | null;
  region: string | null;
  email: string | null;
  memberSince: string;
  channel: 'store';
  /** source: `staff`, or `rule:<ruleId>` for an automatic tag, with the rule's name (null once deleted). */
  tags: { tag: string; source: string; ruleName: string | null }[];
  /** Points that can be spent (never below 0). */
  points: number;
  /** Points owed (欠點): never redeemable, paid off first from later earnings. */
  pointsOwed: number;
  tier: TierProgressView;
  stats: {
    purchaseCount: number;
    lastPurchase: string | null;
    cumulativeSpend: number;
    averageOrder: number;
  };
  consent: ConsentView[];
  usualItems: UsualItemView[];
  repurchaseDue: RepurchaseDueView[];
  crossSell: CrossSellView | null;
  coupons: CouponHoldingView[];
  hasCarrier: boolean;
  birthdayThisMonth: boolean;
}

/**
 * One line of a member's points, told by what happened (the UI words it in its own language):
 * earned on a sale, redeemed on a sale, earned points taken back or redeemed points given back
 * (`cause`: the sale was voided or refunded), expired, or merged in from another record.
 */
export interface PointsLedgerEntry {
  at: string;
  seq: number;
  kind: 'earned' | 'redeemed' | 'reversed' | 'returned' | 'expired' | 'merged';
  /** reversed and returned lines: the sale was voided or (partly) refunded. */
  cause?: 'void' | 'refund';
  points: number;
  /** The balance after this line; below 0 it is points owed (欠點). */
  balance: number;
  saleId: string | null;
  /** earned: NT$ paid on the sale; redeemed: NT$ the points took off. */
  amount?: number;
  /** expired: the points earned on or before this day (YYYY-MM-DD) went. */
  earnedOnOrBefore?: string;
  /** merged: the member code of the record merged into this one. */
  mergedFrom?: string;
  /** Of this line's points, how many paid off points owed (absent: none). */
  owedRepaid?: number;
}

/** A ledger line as the API shows it: with the points owed after it. */
export interface PointsLedgerView extends PointsLedgerEntry {
  /** Points owed after this line (0: none). */
  owed: number;
}

export interface MessageView {
  messageId: string;
  memberId: string;
  channel: 'sms';
  template: string;
  status: 'queued' | 'sent' | 'failed';
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string | null;
  queuedAt: string;
  sentAt: string | null;
}

export interface CouponView {
  couponId: string;
  name: string;
  code: string | null;
  discount: { kind: 'amount' | 'percent'; value: number };
  minSpend: number;
  validFrom: string;
  validTo: string | null;
  maxUses: number | null;
  uses: number;
  trigger: 'first_order' | 'birthday' | null;
  excludeExistingBuyers: boolean;
  issued: number;
}
