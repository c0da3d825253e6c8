/**
 * The owner's discount limits and managers' approvals of discounts above them.
 *
 * A manager types their PIN on the cashier's tablet; the hub checks it through the same PIN guard
 * as a login (a wrong PIN counts as a failed login on that tablet) and answers a random approval
 * token. The token is good once, for a few minutes, on that tablet, for the cashier who asked for
 * it, for that sale's idempotency key and the discounts it was asked for: it cannot approve another
 * sale, another cashier's sale or bigger discounts. A sale reserves it while its event is written
 * (a second sale is refused at once) and gives it back if the write fails.
 * Tokens live in memory only (a restart asks for the PIN again); the hub keeps only their hash.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { StaffView } from '../protocol/api.js';
import type { DiscountPolicy } from '../domain/discount-policy.js';
import { DomainError } from '../domain/errors.js';
import type { EventStore } from '../storage/event-store.js';
import type { StoreState } from '../domain/store-state.js';
import { roleAtLeast, type SecurityService } from './security.service.js';

export const APPROVAL_TTL_MS = 10 * 60_000;

interface PendingApproval {
  deviceId: string;
  /** The cashier logged in on `deviceId` who asked for it. */
  requestedBy: string;
  idempotencyKey: string;
  discountsHash: string;
  staffId: string;
  expiresAt: number;
  /** Held by a sale being written. */
  reserved: boolean;
}

/** The sale this approval is checked for. */
export interface ApprovalUse {
  deviceId: string;
  staffId: string;
  idempotencyKey: string;
  discountsHash: string;
}

export interface ApprovalGrant {
  approvalToken: string;
  approvedBy: { id: string; name: string };
  expiresAt: string;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

export class DiscountApprovalService {
  private readonly pending = new Map<string, PendingApproval>();

  /**
   * @param initialPolicy the limits before the first recorded change: `discounts.json` of data
   *   directories from before the limits were journalled, else the defaults.
   */
  constructor(
    private readonly state: Pick<StoreState, 'discountPolicy'>,
    private readonly events: Pick<EventStore, 'record'>,
    private readonly initialPolicy: DiscountPolicy,
    private readonly security: Pick<SecurityService, 'verifyPin'>,
    private readonly clock: () => Date,
  ) {}

  /** The limits in force: the last `settings.discount_policy_changed` event's, else the initial ones. */
  get policy(): DiscountPolicy {
    return this.state.discountPolicy ?? this.initialPolicy;
  }

  /**
   * Records the owner's new limits as a journal event; they apply only once it is on disk (a failed
   * write leaves the old limits in force). The schema has been checked by the route.
   */
  async setPolicy(policy: DiscountPolicy, by: { staffId: string; deviceId: string }): Promise<DiscountPolicy> {
    const limits = { maxLinePercent: policy.maxLinePercent, maxOrderPercent: policy.maxOrderPercent };
    await this.events.record('settings.discount_policy_changed', {
      staffId: by.staffId,
      deviceId: by.deviceId,
      previous: { ...this.policy },
      limits,
    });
    return this.policy;
  }

  /**
   * Checks an approver's PIN typed on `deviceId` and grants one approval. The PIN goes through the
   * login guard (backoff and lock-out count wrong PINs here too, a short manager's PIN is refused)
   * without opening a session, so the approver is not logged in on the cashier's tablet.
   */
  async approve(use: ApprovalUse, pin: string): Promise<ApprovalGrant> {
    const { deviceId, idempotencyKey, discountsHash } = use;
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
    this.pending.set(hashOf(approvalToken), {
      deviceId,
      requestedBy: use.staffId,
      idempotencyKey,
      discountsHash,
      staffId: staff.id,
      expiresAt,
      reserved: false,
    });
    return { approvalToken, approvedBy: approverOf(staff), expiresAt: new Date(expiresAt).toISOString() };
  }

  /**
   * The approver's staff id if the token approves this sale; throws otherwise. Reserves the token
   * at once, so no other sale can use it meanwhile: `consume` it once the sale is on disk, or
   * `release` it if the sale fails.
   */
  reserve(token: string | undefined, use: ApprovalUse): string {
    const approval = token ? this.pending.get(hashOf(token)) : undefined;
    if (
      !approval ||
      approval.reserved ||
      approval.expiresAt <= this.clock().getTime() ||
      approval.deviceId !== use.deviceId ||
      approval.requestedBy !== use.staffId ||
      approval.idempotencyKey !== use.idempotencyKey ||
      approval.discountsHash !== use.discountsHash
    ) {
      throw new DomainError(
        'discount_approval_invalid',
        'This approval is not valid for this sale (used, expired, from another tablet or cashier, or for other discounts); ask a manager again',
        undefined,
        403,
      );
    }
    approval.reserved = true;
    return approval.staffId;
  }

  /** Gives a reserved approval back: its sale was not recorded. */
  release(token: string): void {
    const approval = this.pending.get(hashOf(token));
    if (approval) approval.reserved = false;
  }

  /** Uses the approval up once its sale is on disk. */
  consume(token: string): void {
    this.pending.delete(hashOf(token));
  }
}

function approverOf(staff: StaffView): { id: string; name: string } {
  return { id: staff.id, name: staff.name };
}
