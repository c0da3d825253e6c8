/**
 * Hand-made journal events for the domain tests that feed the members projection: events numbered
 * as the journal numbers them, personal data "sealed" as plain JSON (so no keys are needed to open
 * it), a member's profile and registration, and a completed cash sale.
 */
import type { MemberProfile, Seal, Unseal } from '../../hub/src/domain/members.ts';
import {
  EVENT_SCHEMA,
  type EventPayloads,
  type EventType,
  type HubEvent,
  type MemberRegisteredData,
  type SaleCompletedData,
  type SaleLineData,
  type SaleLoyaltyData,
  type SaleRefundedData,
  type SaleVoidedData,
  type SealedData,
} from '../../hub/src/protocol/events.ts';
import type { ConsentChannel } from '../../hub/src/protocol/members.ts';

/** The store every hand-made event comes from. */
export const STORE_ID = 'store-1';

/** "Seals" a value the way `unseal` opens it: as JSON in the data field. */
export const seal = (value: unknown): SealedData => ({ iv: 'iv', tag: 'tag', data: JSON.stringify(value) });

export const unseal: Unseal = (_memberId, sealed) => JSON.parse(sealed.data) as unknown;

/** `seal` with the projection's signature (a member's id first), for snapshots made in tests. */
export const sealFor: Seal = (_memberId, value) => seal(value);

/** 10:00 in Taipei on a store date. */
export const at10 = (date: string): string => `${date}T02:00:00.000Z`;

/**
 * Events numbered 1, 2, 3... in the order they are made, as the journal numbers them. A projection
 * skips events numbered at or below the last one it applied, so a test that builds a fresh one
 * from the start calls `restart` first.
 */
export class EventSequence {
  #seq = 0;

  /** The number of the last event made; 0 before the first. */
  get lastSeq(): number {
    return this.#seq;
  }

  restart(): void {
    this.#seq = 0;
  }

  /** The next event: `type` with `data`, committed at `at` (ISO). */
  readonly ev = <K extends EventType>(type: K, data: EventPayloads[K], at: string): HubEvent => {
    this.#seq += 1;
    return {
      schema: EVENT_SCHEMA,
      eventId: `ev-${this.#seq}`,
      chainId: 'c',
      storeId: STORE_ID,
      epoch: 'e1',
      seq: this.#seq,
      type,
      at,
      data,
    } as HubEvent;
  };
}

/**
 * A member's profile: nothing but the number and its hash unless `fields` gives more. The number
 * is made of the digits in the member id (m12 -> +886900000012); the hash is hash-<member id>.
 */
export function memberProfile(memberId: string, fields: Partial<MemberProfile> = {}): MemberProfile {
  return {
    phone: fields.phone ?? `+8869${memberId.replace(/\D/g, '').padStart(8, '0')}`,
    phoneHash: fields.phoneHash ?? `hash-${memberId}`,
    name: fields.name ?? null,
    birthday: fields.birthday ?? null,
    gender: fields.gender ?? null,
    region: fields.region ?? null,
    email: fields.email ?? null,
  };
}

/** A sign-up at the counter (code AYI-<member id>), with consent only where `consent` gives it. */
export function registration(
  memberId: string,
  profile: MemberProfile,
  consent: Partial<Record<ConsentChannel, boolean>> = {},
): MemberRegisteredData {
  return {
    memberId,
    memberCode: `AYI-${memberId}`,
    sealed: seal(profile),
    channel: 'store',
    consent: { sms: false, line: false, email: false, ...consent },
    staffId: 'staff-1',
    deviceId: 'dev-1',
  };
}

/** One of a SKU at `lineTotal`, named after the SKU, with nothing off unless `fields` says so. */
export function saleLine(
  lineNo: number,
  sku: string,
  lineTotal: number,
  fields: Partial<SaleLineData> = {},
): SaleLineData {
  return {
    lineNo,
    sku,
    name: sku,
    category: 'x',
    qty: 1,
    unitPrice: lineTotal,
    lineDiscount: 0,
    lineTotal,
    orderDiscountShare: 0,
    ...fields,
  };
}

/** What a test chooses of a completed sale; see completedSale for the rest. */
export interface SaleSpec extends Partial<Omit<SaleCompletedData, 'loyalty'>> {
  saleId: string;
  businessDate: string;
  memberId: string | null;
  lines: SaleLineData[];
  /** A member's loyalty after the sale, over a regular member who earned nothing. */
  loyalty?: Partial<SaleLoyaltyData>;
}

/**
 * A sale rung up by staff-1 on dev-1 and paid in cash to the dollar. The subtotal is the lines'
 * sum and the total the subtotal less the discounts given; a sale to a member carries the
 * member's loyalty (a regular member who earned nothing unless `loyalty` says otherwise), a sale
 * without one none.
 */
export function completedSale(spec: SaleSpec): SaleCompletedData {
  const { loyalty, ...chosen } = spec;
  const subtotal = spec.subtotal ?? spec.lines.reduce((sum, line) => sum + line.lineTotal, 0);
  const total =
    spec.total ??
    subtotal -
      (spec.orderDiscount ?? 0) -
      (spec.memberDiscount ?? 0) -
      (spec.couponDiscount ?? 0) -
      (spec.pointsDiscount ?? 0);
  return {
    idempotencyKey: `key-${spec.saleId}`,
    requestHash: 'h',
    deviceId: 'dev-1',
    staffId: 'staff-1',
    orderDiscount: 0,
    memberDiscount: 0,
    couponCode: null,
    couponDiscount: 0,
    pointsRedeemed: 0,
    pointsDiscount: 0,
    tenders: [{ type: 'cash', amount: total }],
    change: 0,
    approvedBy: null,
    ...chosen,
    subtotal,
    total,
    loyalty:
      spec.memberId === null
        ? null
        : {
            tierBefore: 'regular',
            tierAfter: 'regular',
            pointsEarned: 0,
            pointsBalance: 0,
            windowSpend: 0,
            ...loyalty,
          },
  };
}

/** A void by staff-1 on dev-1 of a sale without a member. */
export function voidedSale(saleId: string): SaleVoidedData {
  return { saleId, reason: '打錯', staffId: 'staff-1', deviceId: 'dev-1', loyalty: null };
}

/** A refund of NT$`amount` on line 2 of a sale without a member, by staff-1 on dev-1. */
export function refundedSale(saleId: string, amount: number): SaleRefundedData {
  return {
    saleId,
    refundId: `r-${saleId}`,
    idempotencyKey: `k-${saleId}`,
    lines: [{ lineNo: 2, qty: 1, amount }],
    amount,
    reason: '退貨',
    staffId: 'staff-1',
    deviceId: 'dev-1',
    loyalty: null,
  };
}
