/** Coupons a manager defines (L3); the checkout applies them and the sign-up issues first-order ones. */
import { assertCalendarDate } from '../domain/time.js';
import { v7 as uuidv7 } from 'uuid';
import type { CouponCreateRequest, CouponView } from '../protocol/members.js';
import { DomainError } from '../domain/errors.js';
import { toCouponView } from '../domain/coupons.js';
import type { StoreState } from '../domain/store-state.js';
import type { EventStore } from '../storage/event-store.js';
import type { Actor } from './checkout.service.js';

export class CouponsService {
  constructor(
    private readonly state: StoreState,
    private readonly events: EventStore,
  ) {}

  list(): CouponView[] {
    return [...this.state.coupons.values()].map(toCouponView).reverse();
  }

  async create(request: CouponCreateRequest, actor: Pick<Actor, 'staff'>): Promise<CouponView> {
    const code = request.code?.toUpperCase();
    if (code && (this.state.couponCodes.has(code) || this.state.issuedCodes.has(code))) {
      throw new DomainError('coupon_code_taken', `Coupon code ${code} is already in use`, undefined, 409);
    }
    assertCalendarDate(request.validFrom, 'validFrom');
    if (request.validTo !== null) assertCalendarDate(request.validTo, 'validTo');
    if (request.validTo !== null && request.validTo < request.validFrom) {
      throw new DomainError('invalid_coupon', 'The coupon ends before it starts');
    }
    if (request.discount.kind === 'percent' && request.discount.value > 100) {
      throw new DomainError('invalid_coupon', 'A percent discount must be between 1 and 100');
    }
    if (request.trigger === 'first_order' && code) {
      throw new DomainError(
        'invalid_coupon',
        'A first-order coupon is personal: leave the code empty and each new member gets a one-use code',
      );
    }
    const couponId = uuidv7();
    await this.events.record('coupon.created', {
      ...request,
      ...(code ? { code } : {}),
      couponId,
      staffId: actor.staff.id,
    });
    return toCouponView(this.state.coupons.get(couponId)!);
  }
}
