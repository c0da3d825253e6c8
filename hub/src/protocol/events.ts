/**
 * The event envelope and event payloads. Events are what the journal stores, what tablets are told
 * and what HQ receives, so they carry no raw personal data (no phone numbers, names or birthdays).
 */
import type { DiscountPolicy, Role, Tender } from './api.js';
import type { ConsentChannel, CouponCreateRequest } from './members.js';
import type { SegmentDefinition } from './crm.js';

export const EVENT_SCHEMA = 'ayi.event/1';

export interface EventEnvelope<TType extends string = string, TData = unknown> {
  schema: typeof EVENT_SCHEMA;
  /** UUIDv7: unique across stores, sortable by time. */
  eventId: string;
  chainId: string;
  storeId: string;
  /** Changes when a data directory is created or restored from a backup. */
  epoch: string;
  /** Per-store sequence: starts at 1, never repeats, no gaps. */
  seq: number;
  type: TType;
  /** ISO 8601 UTC time the hub recorded the event. */
  at: string;
  /**
   * Only on history imported in one go (a demo store's seeded year): when it happened in the
   * store, earlier than `at`. Projections and reports go by this time when it is there.
   */
  occurredAt?: string;
  data: TData;
  /**
   * Only on the wire to HQ, never in the journal: set by the publisher on member.registered and
   * member.profile_updated while the member exists (a re-publish after an erasure has none).
   */
  link?: HqMemberLink;
}

/** When an event happened in the store: its business time if it was imported, else when recorded. */
export function occurredAtOf(event: Pick<EventEnvelope, 'at' | 'occurredAt'>): string {
  return event.occurredAt ?? event.at;
}

/** How HQ links one person across the chain's stores without their number. */
export interface HqMemberLink {
  /** Keyed HMAC-SHA256 (hex) of the E.164 number under the chain's key (AYI_MEMBER_HASH_KEY). */
  phoneHash: string;
}

export interface ProductData {
  sku: string;
  barcodes: string[];
  name: string;
  category: string;
  /** NT$, whole dollars, tax included. */
  price: number;
  repurchaseDays: number | null;
}

export interface SaleLineData {
  lineNo: number;
  sku: string;
  name: string;
  category: string;
  qty: number;
  unitPrice: number;
  lineDiscount: number;
  /** qty * unitPrice - lineDiscount */
  lineTotal: number;
  /** This line's share of the order-level deductions (order and member discount, coupon, points). */
  orderDiscountShare: number;
}

export interface SaleCompletedData {
  saleId: string;
  idempotencyKey: string;
  /** Hash of the submitted cart: the same key with a different cart is refused. */
  requestHash: string;
  businessDate: string;
  deviceId: string;
  /** Who rang it up; their name is in the staff.added event (a sale carries no names). */
  staffId: string;
  memberId: string | null;
  lines: SaleLineData[];
  subtotal: number;
  /** Staff's discount on the order. */
  orderDiscount: number;
  /** The member's tier discount. */
  memberDiscount: number;
  couponCode: string | null;
  couponDiscount: number;
  pointsRedeemed: number;
  /** NT$ the redeemed points took off. */
  pointsDiscount: number;
  /** subtotal - orderDiscount - memberDiscount - couponDiscount - pointsDiscount */
  total: number;
  tenders: Tender[];
  change: number;
  /** The member's loyalty after this sale (null without a member). */
  loyalty: SaleLoyaltyData | null; /**
   * Staff id of the manager (or owner) who approved staff discounts over the owner's limit; null
   * when none was needed. Absent in sales recorded before approvals existed.
   */
  approvedBy?: string | null;
}

export interface SaleLoyaltyData {
  tierBefore: string;
  tierAfter: string;
  pointsEarned: number;
  /** Balance after this sale's redemption and earning. */
  pointsBalance: number;
  /** Net spend in the tier window, this sale included. */
  windowSpend: number;
}

/** Points a void or refund takes back (earned) and gives back (redeemed). */
export interface PointsReversalData {
  memberId: string;
  pointsReversed: number;
  pointsReturned: number;
  /** The store-local day of the void or refund: points given back count as earned on it. */
  businessDate: string;
}

export interface SaleVoidedData {
  saleId: string;
  reason: string;
  staffId: string;
  deviceId: string;
  loyalty: PointsReversalData | null;
}

export interface SaleRefundedData {
  saleId: string;
  refundId: string;
  idempotencyKey: string;
  lines: { lineNo: number; qty: number; amount: number }[];
  amount: number;
  reason: string;
  staffId: string;
  deviceId: string;
  loyalty: PointsReversalData | null;
}

export interface CatalogImportedData {
  /** csv, demo: products added or updated; hq: the chain's catalog version, the whole catalog. */
  source: 'csv' | 'demo' | 'hq';
  /** source hq: the version HQ published (ayi.catalog/1). */
  version?: number;
  products: ProductData[];
}

export interface DevicePairedData {
  deviceId: string;
  name: string;
}

export interface DeviceRevokedData {
  deviceId: string;
}

/** A manager sent a barcode scanner's scans to another tablet (or to none). */
export interface ScannerAssignedData {
  scannerId: string;
  /** The paired tablet, or null: the scanner's scans go nowhere. */
  deviceId: string | null;
  staffId: string;
}

/** The owner changed the discount limits cashiers may give without a manager's approval. */
export interface DiscountPolicyChangedData {
  staffId: string;
  deviceId: string;
  /** The limits in force before (the defaults or discounts.json when never changed). */
  previous: DiscountPolicy;
  /** The limits in force from this event on. */
  limits: DiscountPolicy;
}

/** A tablet locked by wrong PINs was unlocked. */
export interface DeviceUnlockedData {
  deviceId: string;
  /** The manager who unlocked it from another tablet; null: the technician (`ayi unlock`). */
  byStaffId: string | null;
  byDeviceId: string | null;
}

export interface StaffRemovedData {
  staffId: string;
}

export interface StaffPinChangedData {
  staffId: string;
}

export interface StaffAddedData {
  staffId: string;
  name: string;
  role: Role;
}

export interface StaffLoggedInData {
  staffId: string;
  role: Role;
  deviceId: string;
}

/**
 * Personal data of one member (number, name, birthday, e-mail, carrier, tags), AES-256-GCM under a
 * key of that member's own. Erasing the member destroys the key, which makes every copy in the
 * journal unreadable at once (crypto-shredding); the snapshots are rewritten without them.
 */
export interface SealedData {
  iv: string;
  tag: string;
  data: string;
}

export interface MemberRegisteredData {
  memberId: string;
  /** The number on the member card (QR / CODE128). */
  memberCode: string;
  /** The sealed MemberProfile: number, its keyed hash, name, birthday, gender, region, e-mail. */
  sealed: SealedData;
  channel: 'store';
  consent: Record<ConsentChannel, boolean>;
  staffId: string;
  deviceId: string;
}

export interface MemberProfileUpdatedData {
  memberId: string;
  /** The whole sealed MemberProfile after the change. */
  sealed: SealedData;
  staffId: string;
}

/** An e-invoice carrier barcode bound to a member; sealed: `{carrierHash}` (its keyed HMAC). */
export interface MemberCarrierBoundData {
  memberId: string;
  sealed: SealedData;
  staffId: string;
}

export interface MemberConsentChangedData {
  memberId: string;
  channel: ConsentChannel;
  granted: boolean;
  staffId: string;
}

/** A tag says something about a person ("有養寵物"), so it is sealed too: `{tag}`. */
export interface MemberTagData {
  memberId: string;
  sealed: SealedData;
  staffId: string;
}

export interface MemberMergedData {
  fromMemberId: string;
  intoMemberId: string;
  staffId: string;
}

/** PDPA erasure: the tombstone. The member's sales stay (anonymous) so statistics add up. */
export interface MemberErasedData {
  memberId: string;
  staffId: string;
}

export interface MemberTierChangedData {
  memberId: string;
  from: string;
  to: string;
  windowSpend: number;
}

export interface PointsExpiredData {
  memberId: string;
  points: number;
  /** Points earned on or before this date have expired. */
  earnedOnOrBefore: string;
}

export interface CouponCreatedData extends CouponCreateRequest {
  couponId: string;
  staffId: string;
}

export interface CouponIssuedData {
  couponId: string;
  code: string;
  memberId: string;
}

export interface MessageQueuedData {
  messageId: string;
  memberId: string;
  channel: 'sms';
  /** Template name; the text is rendered when it is sent, in the member's language. */
  template: 'welcome';
  params: Record<string, string>;
}

export interface MessageAttemptedData {
  messageId: string;
  attempt: number;
  ok: boolean;
  /** Why it failed (provider's status or network error), never the number or the text. */
  error: string | null;
  /** When the next try is due; null after success or when it gave up. */
  retryAt: string | null;
}

/** An automatic tag (S2) set or taken away because a tag rule now holds, or no longer does. */
export interface MemberAutoTagData {
  memberId: string;
  /**
   * `{tag, ruleId}` sealed under the member's key: which rule matched says what kind of customer
   * this is (a rule may read birthdays, gender, region), so it is as personal as the tag. (The run
   * right after a rule is saved still shows, by its timing, whom that rule matched: see crm.md.)
   */
  sealed: SealedData;
}

/** A saved member filter (S3/S4); the definition is the versioned condition language of protocol/crm.ts. */
export interface SegmentSavedData {
  segmentId: string;
  name: string;
  definition: SegmentDefinition;
  staffId: string;
}

export interface SegmentDeletedData {
  segmentId: string;
  staffId: string;
}

/** An automatic tag rule (S2): members matching the definition carry the tag. */
export interface TagRuleSavedData {
  ruleId: string;
  name: string;
  tag: string;
  definition: SegmentDefinition;
  staffId: string;
}

export interface TagRuleDeletedData {
  ruleId: string;
  staffId: string;
}

export interface EventPayloads {
  'sale.completed': SaleCompletedData;
  'sale.voided': SaleVoidedData;
  'sale.refunded': SaleRefundedData;
  'catalog.imported': CatalogImportedData;
  'device.paired': DevicePairedData;
  'device.revoked': DeviceRevokedData;
  'device.unlocked': DeviceUnlockedData;
  'staff.added': StaffAddedData;
  'staff.removed': StaffRemovedData;
  'staff.pin_changed': StaffPinChangedData;
  'scanner.assigned': ScannerAssignedData;
  'settings.discount_policy_changed': DiscountPolicyChangedData;
  'member.registered': MemberRegisteredData;
  'member.profile_updated': MemberProfileUpdatedData;
  'member.carrier_bound': MemberCarrierBoundData;
  'member.consent_changed': MemberConsentChangedData;
  'member.tagged': MemberTagData;
  'member.untagged': MemberTagData;
  'member.merged': MemberMergedData;
  'member.erased': MemberErasedData;
  'member.tier_changed': MemberTierChangedData;
  'points.expired': PointsExpiredData;
  'coupon.created': CouponCreatedData;
  'coupon.issued': CouponIssuedData;
  'message.queued': MessageQueuedData;
  'message.attempted': MessageAttemptedData;
  'member.auto_tagged': MemberAutoTagData;
  'member.auto_untagged': MemberAutoTagData;
  'segment.saved': SegmentSavedData;
  'segment.deleted': SegmentDeletedData;
  'tag_rule.saved': TagRuleSavedData;
  'tag_rule.deleted': TagRuleDeletedData;
}

export type EventType = keyof EventPayloads;
export type HubEvent = { [K in EventType]: EventEnvelope<K, EventPayloads[K]> }[EventType];
export type HubEventOf<K extends EventType> = EventEnvelope<K, EventPayloads[K]>;
