/** A manager's approval is good for one sale: reserved by the sale using it, given back if that sale fails. */
import { describe, expect, it } from 'vitest';
import { DiscountApprovalService, type ApprovalUse } from '../../../hub/src/services/discount-approval.service.ts';
import { DomainError } from '../../../hub/src/domain/errors.ts';

const manager = { id: 'staff-m', name: '阿明', role: 'manager' as const };
const approvals = () =>
  new DiscountApprovalService(
    { discountPolicy: null },
    { record: () => Promise.reject(new Error('not used')) },
    { maxLinePercent: 20, maxOrderPercent: 20 },
    { verifyPin: () => Promise.resolve(manager) },
    () => new Date('2026-12-07T10:00:00Z'),
  );
const use: ApprovalUse = { deviceId: 'tablet-1', staffId: 'staff-c', idempotencyKey: 'k1', discountsHash: 'h1' };
const invalid = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.code : err;
  }
  return 'accepted';
};

describe('DiscountApprovalService.reserve', () => {
  it('lets only one sale hold an approval at a time; a failed sale gives it back; a recorded one uses it up', async () => {
    const service = approvals();
    const { approvalToken } = await service.approve(use, '222222');
    expect(service.reserve(approvalToken, use)).toBe('staff-m');
    // a second sale while the first is being written is refused at once
    expect(invalid(() => service.reserve(approvalToken, use))).toBe('discount_approval_invalid');
    service.release(approvalToken);
    expect(service.reserve(approvalToken, use)).toBe('staff-m');
    service.consume(approvalToken);
    service.release(approvalToken);
    expect(invalid(() => service.reserve(approvalToken, use))).toBe('discount_approval_invalid');
  });

  it('is for the tablet, the cashier, the key and the discounts it was asked for', async () => {
    const service = approvals();
    const { approvalToken } = await service.approve(use, '222222');
    for (const other of [
      { ...use, deviceId: 'tablet-2' },
      { ...use, staffId: 'staff-c2' },
      { ...use, idempotencyKey: 'k2' },
      { ...use, discountsHash: 'h2' },
    ]) {
      expect(invalid(() => service.reserve(approvalToken, other))).toBe('discount_approval_invalid');
    }
    expect(service.reserve(approvalToken, use)).toBe('staff-m');
  });
});
