/**
 * Coupons (L3): every reason a coupon is refused, and the NT$ it takes off. `today` is the store's
 * date; validity dates are inclusive.
 */
import { describe, expect, it } from 'vitest';
import {
  type CouponCheck,
  type CouponRecord,
  type CouponRefusal,
  type IssuedCode,
  couponDiscount,
  newPersonalCode,
  normaliseCouponCode,
} from '../../../hub/src/domain/coupons.ts';
import { DomainError } from '../../../hub/src/domain/errors.ts';

const coupon = (extra: Partial<CouponRecord> = {}): CouponRecord => ({
  couponId: 'c1',
  staffId: 's1',
  name: '滿千折百',
  code: 'SAVE100',
  discount: { kind: 'amount', value: 100 },
  minSpend: 1_000,
  validFrom: '2026-11-01',
  validTo: '2026-11-30',
  maxUses: null,
  trigger: null,
  excludeExistingBuyers: false,
  uses: 0,
  issued: 0,
  usedByMember: {},
  ...extra,
});

const member = (extra: Partial<NonNullable<CouponCheck['customer']>> = {}): NonNullable<CouponCheck['customer']> => ({
  memberId: 'm1',
  purchaseCount: 3,
  birthMonth: 5,
  ...extra,
});

const check = (extra: Partial<CouponCheck> = {}): CouponCheck => ({
  code: 'SAVE100',
  coupon: coupon(),
  issued: undefined,
  customer: null,
  today: '2026-11-15',
  eligibleAmount: 1_500,
  ...extra,
});

const issued = (extra: Partial<IssuedCode> = {}): IssuedCode => ({
  code: 'ABCD2345',
  couponId: 'c1',
  memberId: 'm1',
  usedBySale: null,
  ...extra,
});

/** The refusal reason, or a failure if the coupon was accepted. */
function refusal(c: CouponCheck): { reason: CouponRefusal; error: DomainError } {
  try {
    couponDiscount(c);
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    const error = err as DomainError;
    expect(error.code).toBe('coupon_invalid');
    return { reason: (error.details as { reason: CouponRefusal }).reason, error };
  }
  throw new Error('expected the coupon to be refused');
}

describe('couponDiscount: refusals', () => {
  it('unknown: no coupon with that code', () => {
    expect(refusal(check({ code: 'NOSUCH', coupon: undefined })).reason).toBe('unknown');
  });

  it('not_started: the day before validFrom; the first day itself is fine', () => {
    const { reason, error } = refusal(check({ today: '2026-10-31' }));
    expect(reason).toBe('not_started');
    expect(error.message).toContain('2026-11-01');
    expect(couponDiscount(check({ today: '2026-11-01' }))).toBe(100);
  });

  it('expired: the day after validTo; the last valid day itself is fine', () => {
    expect(couponDiscount(check({ today: '2026-11-30' }))).toBe(100);
    const { reason, error } = refusal(check({ today: '2026-12-01' }));
    expect(reason).toBe('expired');
    expect(error.message).toContain('2026-11-30');
  });

  it('never expires without validTo', () => {
    expect(couponDiscount(check({ coupon: coupon({ validTo: null }), today: '2099-01-01' }))).toBe(100);
  });

  it('used: a personal code already spent', () => {
    const { reason, error } = refusal(
      check({ code: 'ABCD2345', issued: issued({ usedBySale: '20261110-000042' }), customer: member() }),
    );
    expect(reason).toBe('used');
    expect(error.message).toContain('20261110-000042');
  });

  it('used_up: a shared code at its limit; one use left is fine', () => {
    expect(refusal(check({ coupon: coupon({ maxUses: 5, uses: 5 }) })).reason).toBe('used_up');
    expect(couponDiscount(check({ coupon: coupon({ maxUses: 5, uses: 4 }) }))).toBe(100);
  });

  it('min_spend: one dollar short, with how much is missing; exactly the minimum is fine', () => {
    const { reason, error } = refusal(check({ eligibleAmount: 999 }));
    expect(reason).toBe('min_spend');
    // 1,000 - 999 = 1
    expect(error.details).toMatchObject({ minSpend: 1_000, short: 1 });
    expect(couponDiscount(check({ eligibleAmount: 1_000 }))).toBe(100);
  });

  it('member_required: a personal code, a triggered coupon or an acquisition coupon without a member', () => {
    expect(refusal(check({ code: 'ABCD2345', issued: issued() })).reason).toBe('member_required');
    expect(refusal(check({ coupon: coupon({ trigger: 'first_order' }) })).reason).toBe('member_required');
    expect(refusal(check({ coupon: coupon({ trigger: 'birthday' }) })).reason).toBe('member_required');
    expect(refusal(check({ coupon: coupon({ excludeExistingBuyers: true }) })).reason).toBe('member_required');
  });

  it('not_your_coupon: a personal code of another member', () => {
    const c = check({ code: 'ABCD2345', issued: issued({ memberId: 'm2' }), customer: member() });
    expect(refusal(c).reason).toBe('not_your_coupon');
  });

  it('a personal code works for its own member, whatever the shared limit says', () => {
    const c = check({
      code: 'ABCD2345',
      coupon: coupon({ code: undefined, maxUses: 1, uses: 1 }),
      issued: issued(),
      customer: member(),
    });
    expect(couponDiscount(c)).toBe(100);
  });

  it('not_first_order: a first-order coupon after the first purchase', () => {
    const first = coupon({ trigger: 'first_order' });
    expect(refusal(check({ coupon: first, customer: member({ purchaseCount: 1 }) })).reason).toBe('not_first_order');
    expect(couponDiscount(check({ coupon: first, customer: member({ purchaseCount: 0 }) }))).toBe(100);
  });

  it('not_birthday_month: outside the month, or without a birthday', () => {
    const birthday = coupon({ trigger: 'birthday' });
    // today is in November (11)
    expect(refusal(check({ coupon: birthday, customer: member({ birthMonth: 10 }) })).reason).toBe(
      'not_birthday_month',
    );
    const unknown = refusal(check({ coupon: birthday, customer: member({ birthMonth: null }) }));
    expect(unknown.reason).toBe('not_birthday_month');
    expect(unknown.error.message).toContain('add the member');
    expect(couponDiscount(check({ coupon: birthday, customer: member({ birthMonth: 11 }) }))).toBe(100);
  });

  it('a birthday coupon counts the month from the store date, on the first and last day', () => {
    const birthday = coupon({ trigger: 'birthday', validFrom: '2026-01-01', validTo: null });
    const may = member({ birthMonth: 5 });
    expect(couponDiscount(check({ coupon: birthday, customer: may, today: '2026-05-01' }))).toBe(100);
    expect(couponDiscount(check({ coupon: birthday, customer: may, today: '2026-05-31' }))).toBe(100);
    expect(refusal(check({ coupon: birthday, customer: may, today: '2026-06-01' })).reason).toBe('not_birthday_month');
  });

  it('existing_buyer: an acquisition coupon refuses a member who has bought before', () => {
    const acquisition = coupon({ excludeExistingBuyers: true });
    expect(refusal(check({ coupon: acquisition, customer: member({ purchaseCount: 1 }) })).reason).toBe(
      'existing_buyer',
    );
    expect(couponDiscount(check({ coupon: acquisition, customer: member({ purchaseCount: 0 }) }))).toBe(100);
  });

  it('checks the dates before the use and the spend', () => {
    // expired, used up and short at once: expired is said first
    const c = check({ coupon: coupon({ maxUses: 1, uses: 1 }), today: '2026-12-01', eligibleAmount: 10 });
    expect(refusal(c).reason).toBe('expired');
  });
});

describe('couponDiscount: amounts', () => {
  it('takes a fixed amount off', () => {
    expect(couponDiscount(check({ coupon: coupon({ minSpend: 0 }), eligibleAmount: 1_500 }))).toBe(100);
  });

  it('never takes more than the eligible amount', () => {
    // NT$100 off a NT$60 cart -> 60 (the cart is free, never negative)
    expect(couponDiscount(check({ coupon: coupon({ minSpend: 0 }), eligibleAmount: 60 }))).toBe(60);
    expect(couponDiscount(check({ coupon: coupon({ minSpend: 0 }), eligibleAmount: 0 }))).toBe(0);
  });

  it('rounds a percent off half up to the dollar', () => {
    const pct = (value: number) => coupon({ minSpend: 0, discount: { kind: 'percent', value } });
    // 10% of 125 = 12.5 -> 13
    expect(couponDiscount(check({ coupon: pct(10), eligibleAmount: 125 }))).toBe(13);
    // 10% of 124 = 12.4 -> 12
    expect(couponDiscount(check({ coupon: pct(10), eligibleAmount: 124 }))).toBe(12);
    // 15% of 30 = 4.5 -> 5
    expect(couponDiscount(check({ coupon: pct(15), eligibleAmount: 30 }))).toBe(5);
    // 12% of 1,149 = 137.88 -> 138
    expect(couponDiscount(check({ coupon: pct(12), eligibleAmount: 1_149 }))).toBe(138);
    // 100% of 399 = 399
    expect(couponDiscount(check({ coupon: pct(100), eligibleAmount: 399 }))).toBe(399);
  });
});

describe('codes', () => {
  it('normalises what is typed', () => {
    expect(normaliseCouponCode('  save100 ')).toBe('SAVE100');
  });

  it('makes 8-character personal codes without 0, O, 1 or I', () => {
    // the alphabet has 32 letters: byte 0 -> A, 31 -> 9, 32 -> A again, 255 % 32 = 31 -> 9
    expect(newPersonalCode(new Uint8Array([0, 1, 2, 3, 31, 32, 255, 8]))).toBe('ABCD9A9J');
    const code = newPersonalCode(new Uint8Array(8).map((_, i) => i * 37));
    expect(code).toMatch(/^[A-HJ-NP-Z2-9]{8}$/);
  });
});

describe('birthday coupons are once a year per member', () => {
  const birthday = coupon({ trigger: 'birthday', code: 'BDAY10', minSpend: 0, validTo: null });
  const check = (lastUsedByCustomer: string | null, today = '2026-11-22') =>
    couponDiscount({
      code: 'BDAY10',
      coupon: birthday,
      issued: undefined,
      customer: member({ birthMonth: 11 }),
      lastUsedByCustomer,
      today,
      eligibleAmount: 500,
    });

  it('refuses a second use in the same year, with the day of the first', () => {
    expect(() => check('2026-11-03')).toThrow(/once a year.*2026-11-03/);
    try {
      check('2026-11-03');
    } catch (err) {
      expect((err as DomainError).details).toMatchObject({ reason: 'used' });
    }
  });

  it('allows it again in the next birthday month', () => {
    expect(check('2025-11-20')).toBe(100);
    expect(check(null)).toBe(100);
  });
});
