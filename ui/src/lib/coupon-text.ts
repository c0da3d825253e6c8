/** How a coupon held by a member reads at the counter: "NT$50 off" / "10% off, from NT$300". */
import type { CouponHoldingView } from '$protocol/members';
import type { Translate } from './errors';
import { formatMoney } from './money';

export function couponOffText(c: Pick<CouponHoldingView, 'discount' | 'minSpend'>, t: Translate): string {
  const off =
    c.discount.kind === 'amount'
      ? t('member.coupon.amountOff', { values: { amount: formatMoney(c.discount.value) } })
      : t('member.coupon.percentOff', { values: { percent: c.discount.value } });
  return c.minSpend > 0 ? t('member.coupon.withMin', { values: { min: formatMoney(c.minSpend), off } }) : off;
}
