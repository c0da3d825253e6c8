/**
 * Coupons (L3): shared codes and personal one-use codes, minimum spend, validity window,
 * first-order and birthday-month coupons, acquisition coupons that refuse existing buyers.
 * Pure: `today` is the store-local date, passed in.
 */
import type { CouponCreatedData } from '../protocol/events.js';
import type { CouponView } from '../protocol/members.js';
import { DomainError } from './errors.js';
import { roundHalfUp } from './money.js';

export interface CouponRecord extends CouponCreatedData {
  uses: number;
  issued: number;
  /** memberId -> the day they last used this coupon (a birthday coupon is once a year each). */
  usedByMember: Record<string, string>;
}

/** A personal code issued to one member. */
export interface IssuedCode {
  code: string;
  couponId: string;
  memberId: string;
  usedBySale: string | null;
}

export type CouponRefusal =
  | 'unknown'
  | 'not_started'
  | 'expired'
  | 'used'
  | 'used_up'
  | 'min_spend'
  | 'member_required'
  | 'not_your_coupon'
  | 'not_first_order'
  | 'not_birthday_month'
  | 'existing_buyer';

export interface CouponCustomer {
  memberId: string;
  purchaseCount: number;
  birthMonth: number | null;
}

export interface CouponCheck {
  code: string;
  coupon: CouponRecord | undefined;
  /** Set when the code is a personal one. */
  issued: IssuedCode | undefined;
  customer: CouponCustomer | null;
  /** The day this customer last used this coupon, if ever. */
  lastUsedByCustomer?: string | null;
  today: string;
  /** What the coupon applies to: the cart after the staff's and the tier's discounts. */
  eligibleAmount: number;
}

export function normaliseCouponCode(code: string): string {
  return code.trim().toUpperCase();
}

function refuse(reason: CouponRefusal, message: string, details: Record<string, unknown> = {}): never {
  throw new DomainError('coupon_invalid', message, { reason, ...details });
}

/** The NT$ the coupon takes off, or a DomainError `coupon_invalid` whose details.reason says why not. */
export function couponDiscount(check: CouponCheck): number {
  const { coupon, issued, customer, today, eligibleAmount, code } = check;
  if (!coupon) refuse('unknown', `No coupon with code ${code}`);
  if (today < coupon.validFrom) refuse('not_started', `Coupon ${code} is valid from ${coupon.validFrom}`);
  if (coupon.validTo !== null && today > coupon.validTo)
    refuse('expired', `Coupon ${code} expired on ${coupon.validTo}`);
  if (issued) {
    if (issued.usedBySale !== null) refuse('used', `Coupon ${code} was already used (sale ${issued.usedBySale})`);
    if (!customer) refuse('member_required', `Coupon ${code} belongs to a member: attach the member first`);
    if (customer.memberId !== issued.memberId) refuse('not_your_coupon', `Coupon ${code} belongs to another member`);
  } else if (coupon.maxUses !== null && coupon.uses >= coupon.maxUses) {
    refuse('used_up', `Coupon ${code} has been used ${coupon.uses} times, its limit`);
  }
  const needsMember = coupon.trigger !== null || coupon.excludeExistingBuyers;
  if (needsMember && !customer) refuse('member_required', `Coupon ${code} is for members: attach the member first`);
  if (customer) {
    if (coupon.trigger === 'first_order' && customer.purchaseCount > 0) {
      refuse('not_first_order', `Coupon ${code} is for a first purchase only`);
    }
    if (coupon.excludeExistingBuyers && customer.purchaseCount > 0) {
      refuse('existing_buyer', `Coupon ${code} is for new customers; this member has bought before`);
    }
    const lastUsed = check.lastUsedByCustomer ?? null;
    if (coupon.trigger === 'birthday' && lastUsed !== null && lastUsed.slice(0, 4) === today.slice(0, 4)) {
      refuse('used', `Coupon ${code} is once a year; this member used it on ${lastUsed}`);
    }
    if (coupon.trigger === 'birthday' && customer.birthMonth !== Number(today.slice(5, 7))) {
      refuse(
        'not_birthday_month',
        customer.birthMonth === null
          ? `Coupon ${code} is for the birthday month: add the member's birthday first`
          : `Coupon ${code} is for the birthday month only`,
      );
    }
  }
  if (eligibleAmount < coupon.minSpend) {
    refuse('min_spend', `Coupon ${code} needs a purchase of NT$${coupon.minSpend}; this one is NT$${eligibleAmount}`, {
      minSpend: coupon.minSpend,
      short: coupon.minSpend - eligibleAmount,
    });
  }
  return coupon.discount.kind === 'amount'
    ? Math.min(coupon.discount.value, eligibleAmount)
    : Math.min(eligibleAmount, roundHalfUp((eligibleAmount * coupon.discount.value) / 100));
}

export function toCouponView(coupon: CouponRecord): CouponView {
  return {
    couponId: coupon.couponId,
    name: coupon.name,
    code: coupon.code ?? null,
    discount: coupon.discount,
    minSpend: coupon.minSpend,
    validFrom: coupon.validFrom,
    validTo: coupon.validTo,
    maxUses: coupon.maxUses,
    uses: coupon.uses,
    trigger: coupon.trigger,
    excludeExistingBuyers: coupon.excludeExistingBuyers,
    issued: coupon.issued,
  };
}

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A personal one-use code: 8 characters without 0/O or 1/I, easy to read out from an SMS. */
export function newPersonalCode(randomBytes: Uint8Array): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += CODE_ALPHABET[randomBytes[i]! % CODE_ALPHABET.length];
  return code;
}
