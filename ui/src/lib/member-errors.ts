/** The member and loyalty API's refusals in the counter's own words. */
import { isApiError } from './api';
import type { Message } from './errors';

/** Error codes of the member and loyalty API that have their own text under `member.errors`. */
const MEMBER_ERROR_CODES = new Set([
  'invalid_phone',
  'carrier_taken',
  'points_insufficient',
  'points_over_cap',
  'member_not_found',
  'unknown_member',
]);

/** Points the member owes (欠點) according to a `points_insufficient` refusal, 0 if none. */
function owedIn(details: unknown): number {
  if (details && typeof details === 'object' && 'owed' in details) {
    const owed = Number((details as { owed: unknown }).owed);
    if (Number.isFinite(owed) && owed > 0) return owed;
  }
  return 0;
}

/** A message for a failed member call: our own words for known codes, else the generic ones. */
export function memberErrorMessage(e: unknown): Message {
  if (isApiError(e)) {
    if (e.code === 'coupon_invalid') return couponReasonMessage(detailsReason(e.details));
    // A member who owes points has none to redeem: say so, not just "not enough".
    if (e.code === 'points_insufficient' && owedIn(e.details) > 0) {
      return { key: 'member.errors.points_owed', values: { owed: owedIn(e.details) } };
    }
    if (MEMBER_ERROR_CODES.has(e.code)) return { key: `member.errors.${e.code}` };
  }
  return { error: e };
}

/** Coupon refusal reasons the hub gives (details.reason / coupon.reason). */
export const COUPON_REASONS = [
  'unknown',
  'not_started',
  'expired',
  'used',
  'used_up',
  'min_spend',
  'member_required',
  'not_your_coupon',
  'not_first_order',
  'not_birthday_month',
  'existing_buyer',
] as const;

export function detailsReason(details: unknown): string {
  if (details && typeof details === 'object' && 'reason' in details) {
    return String((details as { reason: unknown }).reason);
  }
  return 'unknown';
}

/** Why a coupon was refused, in plain words. */
export function couponReasonMessage(reason: string, code?: string): Message {
  const known = (COUPON_REASONS as readonly string[]).includes(reason);
  return { key: `member.couponReason.${known ? reason : 'other'}`, values: { code: code ?? '' } };
}
