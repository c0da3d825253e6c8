/**
 * The owner's discount limits and managers' approvals of discounts above them.
 *
 * A manager types their PIN on the cashier's tablet; the hub checks it through the same PIN guard
 * as a login (a wrong PIN counts as a failed login on that tablet) and answers a random approval
 * token. The token is good once, for a few minutes, on that tablet, for that sale's idempotency
 * key and the discounts it was asked for: it cannot approve another sale or bigger discounts.
 * Tokens live in memory only (a restart asks for the PIN again); the hub keeps only their hash.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Low } from 'lowdb';
import type { StaffView } from '../protocol/api.js';
import type { DiscountPolicy } from '../domain/discount-policy.js';
import { DomainError } from '../domain/errors.js';
import { roleAtLeast, type SecurityService } from './security.service.js';

export const APPROVAL_TTL_MS = 10 * 60_000;

interface PendingApproval {
  deviceId: string;
  idempotencyKey: string;
  discountsHash: string;
  staffId: string;
  expiresAt: number;
}

export interface ApprovalGrant {
  approvalToken: string;
  approvedBy: { id: string; name: string };
  expiresAt: string;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

export class DiscountApprovalService {
  private readonly pending = new Map<string, PendingApproval>();

  constructor(
    private readonly policyFile: Low<DiscountPolicy>,
    private readonly security: Pick<SecurityService, 'verifyPin'>,
    private readonly clock: () => Date,
  ) {}

  get policy(): DiscountPolicy {
    return this.policyFile.data;
  }

  /** Written (fsync'd) before it is answered; the schema has been checked by the route. */
  async setPolicy(policy: DiscountPolicy): Promise<DiscountPolicy> {
    await this.policyFile.update((data) => Object.assign(data, policy));
    return this.policy;
  }

  /**
   * Checks an approver's PIN typed on `deviceId` and grants one approval. The PIN goes through the
   * login guard (backoff and lock-out count wrong PINs here too, a short manager's PIN is refused)
   * without opening a session, so the approver is not logged in on the cashier's tablet.
   */
  async approve(deviceId: string, pin: string, idempotencyKey: string, discountsHash: string): Promise<ApprovalGrant> {
    const staff = await this.security.verifyPin(deviceId, pin);
    if (!roleAtLeast(staff.role, 'manager')) {
      throw new DomainError(
        'approver_not_manager',
        'Only a manager or the owner can approve this discount; ask them to type their own PIN',
        undefined,
        403,
      );
    }
    const now = this.clock().getTime();
    for (const [hash, approval] of this.pending) if (approval.expiresAt <= now) this.pending.delete(hash);
    const approvalToken = randomBytes(32).toString('base64url');
    const expiresAt = now + APPROVAL_TTL_MS;
    this.pending.set(hashOf(approvalToken), { deviceId, idempotencyKey, discountsHash, staffId: staff.id, expiresAt });
    return { approvalToken, approvedBy: approverOf(staff), expiresAt: new Date(expiresAt).toISOString() };
  }

  /** The approver's staff id if the token approves this sale; throws otherwise. Does not use it up. */
  check(token: string | undefined, deviceId: string, idempotencyKey: string, discountsHash: string): string {
    const approval = token ? this.pending.get(hashOf(token)) : undefined;
    if (
      !approval ||
      approval.expiresAt <= this.clock().getTime() ||
      approval.deviceId !== deviceId ||
      approval.idempotencyKey !== idempotencyKey ||
      approval.discountsHash !== discountsHash
    ) {
      throw new DomainError(
        'discount_approval_invalid',
        'This approval is not valid for this sale (used, expired, from another tablet or for other discounts); ask a manager again',
        undefined,
        403,
      );
    }
    return approval.staffId;
  }

  /** Uses the approval up once its sale is on disk. */
  consume(token: string): void {
    this.pending.delete(hashOf(token));
  }
}

function approverOf(staff: StaffView): { id: string; name: string } {
  return { id: staff.id, name: staff.name };
}
