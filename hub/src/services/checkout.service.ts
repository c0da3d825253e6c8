/**
 * Selling: checkout with idempotency keys, voids and refunds. Each is one event; the tablet is
 * answered only once that event is on disk.
 */
import { createHash } from 'node:crypto';
import type {
  CheckoutRequest,
  DiscountApprovalRequest,
  DiscountApprovalView,
  PointsReversalPreview,
  QuoteRequest,
  QuoteView,
  RefundPreview,
  RefundPreviewRequest,
  RefundRequest,
  SaleView,
  StaffView,
  VoidPreview,
} from '../protocol/api.js';
import type { PointsReversalData, SaleLoyaltyData } from '../protocol/events.js';
import { DomainError } from '../domain/errors.js';
import {
  computeRefund,
  priceCart,
  refundLinesSignature,
  refundedFraction,
  settleTenders,
  type PricedCart,
} from '../domain/sale.js';
import { type SaleRecord, type StoreState } from '../domain/store-state.js';
import { businessDate } from '../domain/time.js';
import { couponDiscount, normaliseCouponCode } from '../domain/coupons.js';
import {
  balanceAfterReversal,
  maxRedeemable,
  pointsStanding,
  pointsEarned,
  pointsToReverse,
  redeemValue,
  tierAfterSale,
  tierRule,
} from '../domain/loyalty.js';
import { roundHalfUp } from '../domain/money.js';
import type { MemberRecord } from '../domain/members.js';
import type { EventRecorder } from '../storage/event-store.js';
import type { MembersService } from './members.service.js';
import type { DiscountApprovalService } from './discount-approval.service.js';
import { discountsOverLimit } from '../domain/discount-policy.js';
import { roleAtLeast } from './security.service.js';

export interface Actor {
  deviceId: string;
  staff: StaffView;
}

export interface CheckoutResult {
  sale: SaleView;
  /** True when this answers a retry of a sale already recorded. */
  replayed: boolean;
}

/** Same cart, same hash: the fields that define a sale, in a fixed order. */
export function cartHash(request: CheckoutRequest): string {
  const canonical = JSON.stringify({
    lines: request.lines.map((l) => [l.sku, l.qty, l.discount?.kind ?? null, l.discount?.value ?? null]),
    orderDiscount: request.orderDiscount ? [request.orderDiscount.kind, request.orderDiscount.value] : null,
    tenders: request.tenders.map((t) => [t.type, t.amount]),
    member: request.memberId ?? null,
    coupon: request.couponCode ? normaliseCouponCode(request.couponCode) : null,
    points: request.redeemPoints ?? 0,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** The staff discounts of a cart, which a manager's approval covers. */
export function discountsHash(request: Pick<CheckoutRequest, 'lines' | 'orderDiscount'>): string {
  const canonical = JSON.stringify({
    lines: request.lines.map((l) => [l.sku, l.qty, l.discount?.kind ?? null, l.discount?.value ?? null]),
    orderDiscount: request.orderDiscount ? [request.orderDiscount.kind, request.orderDiscount.value] : null,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

interface MemberPricing {
  priced: PricedCart;
  member: MemberRecord | null;
  couponCode: string | null;
  coupon: QuoteView['coupon'];
  pointsRedeemed: number;
  maxRedeemablePoints: number;
  pointsToEarn: number;
}

export class CheckoutService {
  private readonly inFlight = new Map<string, { hash: string; result: Promise<CheckoutResult> }>();
  private readonly busySales = new Set<string>();
  /** Refunds being written, by idempotency key: a retry joins the first instead of finding the sale busy. */
  private readonly refundsInFlight = new Map<string, { saleId: string; lines: string; result: Promise<SaleView> }>();

  constructor(
    private readonly state: StoreState,
    private readonly events: EventRecorder,
    private readonly members: MembersService,
    private readonly timeZone: string,
    private readonly clock: () => Date,
    private readonly approvals: DiscountApprovalService,
    /**
     * Ends every sale id of a store restored from a backup, or that went back in time (see hub.ts):
     * its seqs after the backup were the old box's too, and a sale id must never name two sales.
     */
    private readonly saleIdSuffix: () => string = () => '',
  ) {}

  /** What the cart costs now, with the member's discount, the coupon and points; nothing is recorded. */
  quote(request: QuoteRequest): QuoteView {
    const p = this.price(request, 'quote');
    return {
      lines: p.priced.lines.map((line) => ({
        lineNo: line.lineNo,
        sku: line.sku,
        name: line.name,
        category: line.category,
        qty: line.qty,
        unitPrice: line.unitPrice,
        lineDiscount: line.lineDiscount,
        lineTotal: line.lineTotal,
        refundedQty: 0,
      })),
      subtotal: p.priced.subtotal,
      orderDiscount: p.priced.orderDiscount,
      memberDiscount: p.priced.memberDiscount,
      coupon: p.coupon,
      couponDiscount: p.priced.couponDiscount,
      pointsRedeemed: p.pointsRedeemed,
      pointsDiscount: p.priced.pointsDiscount,
      maxRedeemablePoints: p.maxRedeemablePoints,
      total: p.priced.total,
      pointsToEarn: p.pointsToEarn,
      discountsOverLimit: discountsOverLimit(request, p.priced, this.approvals.policy),
    };
  }

  /**
   * A manager's PIN, typed on the cashier's tablet, approves this cart's staff discounts for the
   * sale with this idempotency key. Refused when nothing needs approving.
   */
  async approveDiscounts(request: DiscountApprovalRequest, actor: Actor): Promise<DiscountApprovalView> {
    const over = discountsOverLimit(
      request,
      priceCart(request, (sku) => this.state.products.get(sku)),
      this.approvals.policy,
    );
    if (over.length === 0) {
      throw new DomainError('approval_not_needed', 'These discounts are within the limits; no approval is needed');
    }
    return this.approvals.approve(this.approvalUse(request, actor), request.pin);
  }

  private approvalUse(request: Pick<CheckoutRequest, 'idempotencyKey' | 'lines' | 'orderDiscount'>, actor: Actor) {
    return {
      deviceId: actor.deviceId,
      staffId: actor.staff.id,
      idempotencyKey: request.idempotencyKey,
      discountsHash: discountsHash(request),
    };
  }

  /**
   * Who approved this sale's staff discounts: nobody when they are within the owner's limits, the
   * seller when a manager sells, otherwise the manager whose approval token came with the request
   * (reserved for this sale: the caller consumes or releases it).
   */
  private approverOf(request: CheckoutRequest, priced: PricedCart, actor: Actor): string | null {
    const over = discountsOverLimit(request, priced, this.approvals.policy);
    if (over.length === 0) return null;
    if (roleAtLeast(actor.staff.role, 'manager')) return actor.staff.id;
    if (!request.approvalToken) {
      throw new DomainError(
        'discount_approval_required',
        'Discounts over the limit set by the owner need a manager’s PIN on this tablet',
        { discountsOverLimit: over },
        403,
      );
    }
    return this.approvals.reserve(request.approvalToken, this.approvalUse(request, actor));
  }

  /**
   * Prices a cart for a quote (a bad coupon is reported, too many points are cut to the most
   * allowed) or for a sale (both are refused with a clear reason).
   */
  private price(request: QuoteRequest, mode: 'quote' | 'sale'): MemberPricing {
    const member = request.memberId ? this.members.require(request.memberId) : null;
    if (request.redeemPoints && !member) {
      throw new DomainError('member_required', 'Attach the member whose points are to be redeemed');
    }
    const program = this.members.program;
    const rule = member ? tierRule(program, member.tier) : null;
    const today = businessDate(this.clock(), this.timeZone);
    const couponCode = request.couponCode ? normaliseCouponCode(request.couponCode) : null;
    let coupon: QuoteView['coupon'] = null;
    let pointsRedeemed = 0;
    let maxPoints = 0;
    const priced = priceCart(request, (sku) => this.state.products.get(sku), {
      memberDiscount: (after) => (rule ? roundHalfUp((after * rule.discountPercent) / 100) : 0),
      couponDiscount: (eligibleAmount) => {
        if (!couponCode) return 0;
        const issuedTo = this.state.issuedCodes.get(couponCode);
        // A code issued to a record since merged into another belongs to the member kept.
        const issued = issuedTo && {
          ...issuedTo,
          memberId: this.state.members.resolve(issuedTo.memberId)?.memberId ?? issuedTo.memberId,
        };
        const record = this.state.coupons.get(issued?.couponId ?? this.state.couponCodes.get(couponCode) ?? '');
        try {
          const discount = couponDiscount({
            code: couponCode,
            coupon: record,
            issued,
            lastUsedByCustomer: member && record ? (record.usedByMember[member.memberId] ?? null) : null,
            customer: member
              ? {
                  memberId: member.memberId,
                  purchaseCount: member.purchaseCount,
                  birthMonth: member.demographics.birthMonth,
                }
              : null,
            today,
            eligibleAmount,
          });
          coupon = { code: couponCode, ok: true, discount, name: record!.name };
          return discount;
        } catch (err) {
          if (mode === 'sale' || !(err instanceof DomainError)) throw err;
          const reason = (err.details as { reason: string }).reason;
          coupon = { code: couponCode, ok: false, reason, message: err.message };
          return 0;
        }
      },
      pointsDiscount: (payable) => {
        if (!member) return 0;
        maxPoints = maxRedeemable(program, payable, member.points);
        const wanted = request.redeemPoints ?? 0;
        pointsRedeemed = mode === 'quote' ? Math.min(wanted, maxPoints) : wanted;
        return pointsRedeemed === 0 ? 0 : redeemValue(program, pointsRedeemed, payable, member.points);
      },
    });
    return {
      priced,
      member,
      couponCode,
      coupon,
      pointsRedeemed,
      maxRedeemablePoints: maxPoints,
      pointsToEarn: rule ? pointsEarned(program, rule.tier, priced.total) : 0,
    };
  }

  async checkout(request: CheckoutRequest, actor: Actor): Promise<CheckoutResult> {
    const hash = cartHash(request);
    const key = request.idempotencyKey;
    const running = this.inFlight.get(key);
    if (running) {
      this.assertSameCart(running.hash, hash);
      return { ...(await running.result), replayed: true };
    }
    const existingId = this.state.saleKeys.get(key);
    if (existingId !== undefined) {
      const existing = this.state.sales.get(existingId)!;
      this.assertSameCart(existing.requestHash, hash);
      return { sale: this.state.saleView(existing), replayed: true };
    }
    const result = this.record(request, hash, actor);
    this.inFlight.set(key, { hash, result });
    try {
      return await result;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private assertSameCart(recorded: string, submitted: string): void {
    if (recorded !== submitted) {
      throw new DomainError(
        'idempotency_key_reused',
        'This idempotency key was already used for a different cart; start a new sale',
        undefined,
        409,
      );
    }
  }

  private async record(request: CheckoutRequest, hash: string, actor: Actor): Promise<CheckoutResult> {
    const couponKeys = request.couponCode ? [`coupon:${normaliseCouponCode(request.couponCode)}`] : [];
    // A member's points and a one-use coupon are spent by one sale at a time (priced inside the lock).
    const sell = async (): Promise<CheckoutResult> => {
      const p = this.price(request, 'sale');
      const { change } = settleTenders(p.priced.total, request.tenders);
      const loyalty = p.member ? this.loyaltyAfter(p.member, p) : null;
      const approvedBy = this.approverOf(request, p.priced, actor);
      const reserved = approvedBy !== null && approvedBy !== actor.staff.id ? request.approvalToken : undefined;
      const event = await this.events
        .record('sale.completed', ({ seq, at }) => {
          const date = businessDate(at, this.timeZone);
          return {
            saleId: `${date.replaceAll('-', '')}-${String(seq).padStart(6, '0')}${this.saleIdSuffix()}`,
            idempotencyKey: request.idempotencyKey,
            requestHash: hash,
            businessDate: date,
            deviceId: actor.deviceId,
            staffId: actor.staff.id,
            memberId: p.member?.memberId ?? null,
            lines: p.priced.lines,
            subtotal: p.priced.subtotal,
            orderDiscount: p.priced.orderDiscount,
            memberDiscount: p.priced.memberDiscount,
            couponCode: p.couponCode,
            couponDiscount: p.priced.couponDiscount,
            pointsRedeemed: p.pointsRedeemed,
            pointsDiscount: p.priced.pointsDiscount,
            total: p.priced.total,
            tenders: request.tenders,
            change,
            loyalty,
            approvedBy,
          };
        })
        .catch((err: unknown) => {
          if (reserved) this.approvals.release(reserved);
          throw err;
        });
      if (reserved) this.approvals.consume(reserved);
      return { sale: this.state.saleView(this.requireSale(event.data.saleId)), replayed: false };
    };
    return request.memberId
      ? this.members.withMember(request.memberId, couponKeys, sell)
      : this.members.lock.run(couponKeys, sell);
  }

  private loyaltyAfter(member: MemberRecord, p: MemberPricing): SaleLoyaltyData {
    const program = this.members.program;
    const tierBefore = tierRule(program, member.tier).tier;
    const windowSpend = this.members.windowSpendOf(member) + p.priced.total;
    return {
      tierBefore,
      tierAfter: tierAfterSale(program, tierBefore, windowSpend),
      pointsEarned: p.pointsToEarn,
      pointsBalance: member.points - p.pointsRedeemed + p.pointsToEarn,
      windowSpend,
    };
  }

  /** Points a void or refund of a member's sale takes back and gives back. */
  private pointsReversal(sale: SaleRecord, fractionBefore: number, fractionAfter: number): PointsReversalData | null {
    if (!sale.memberId || !sale.loyalty) return null;
    const member = this.state.members.resolve(sale.memberId);
    const { reversed, returned } = pointsToReverse(
      sale.loyalty.pointsEarned,
      sale.pointsRedeemed,
      fractionBefore,
      fractionAfter,
    );
    return {
      memberId: member?.memberId ?? sale.memberId,
      pointsReversed: reversed,
      pointsReturned: returned,
      businessDate: businessDate(this.clock(), this.timeZone),
    };
  }

  private memberKeys(sale: SaleRecord): string[] {
    const member = sale.memberId ? this.state.members.resolve(sale.memberId) : undefined;
    return member ? [`member:${member.memberId}`] : [];
  }

  list(limit: number, beforeSeq?: number): SaleView[] {
    const out: SaleView[] = [];
    const sales = [...this.state.sales.values()];
    for (let i = sales.length - 1; i >= 0 && out.length < limit; i--) {
      const sale = sales[i]!;
      if (beforeSeq === undefined || sale.seq < beforeSeq) out.push(this.state.saleView(sale));
    }
    return out;
  }

  get(saleId: string): SaleView {
    return this.state.saleView(this.requireSale(saleId));
  }

  /**
   * What a void of this sale would do to its member's points, for the manager to see before they
   * confirm: points taken back and given back, and the points owed it would leave.
   */
  voidPreview(saleId: string): VoidPreview {
    const sale = this.requireSale(saleId);
    return { saleId, member: sale.voided ? null : this.reversalPreview(this.pointsReversal(sale, 0, 1)) };
  }

  /**
   * What refunding these lines would give back and do to the member's points, for the manager to
   * see before they confirm (refused like the refund would be: too many units, a voided sale).
   */
  refundPreview(saleId: string, request: RefundPreviewRequest): RefundPreview {
    const sale = this.requireSale(saleId);
    if (sale.voided) {
      throw new DomainError('already_voided', `Sale ${saleId} is voided; nothing to refund`, undefined, 409);
    }
    const { refund, loyalty } = this.refundOf(sale, request.lines);
    return { saleId, amount: refund.amount, member: this.reversalPreview(loyalty) };
  }

  /** The refund of these lines and the points it takes back and gives back. */
  private refundOf(sale: SaleRecord, lines: RefundRequest['lines']) {
    const refund = computeRefund(sale.lines, sale.refundedQty, lines);
    const after = { ...sale.refundedQty };
    for (const line of refund.lines) after[line.lineNo] = (after[line.lineNo] ?? 0) + line.qty;
    const loyalty = this.pointsReversal(
      sale,
      refundedFraction(sale.lines, sale.refundedQty),
      refundedFraction(sale.lines, after),
    );
    return { refund, loyalty };
  }

  private reversalPreview(reversal: PointsReversalData | null): PointsReversalPreview | null {
    const member = reversal ? this.state.members.resolve(reversal.memberId) : undefined;
    if (!reversal || !member) return null;
    const before = pointsStanding(member.points);
    const after = pointsStanding(balanceAfterReversal(member.points, reversal.pointsReversed, reversal.pointsReturned));
    return {
      memberId: member.memberId,
      pointsReversed: reversal.pointsReversed,
      pointsReturned: reversal.pointsReturned,
      pointsBefore: before.available,
      owedBefore: before.owed,
      pointsAfter: after.available,
      owedAfter: after.owed,
    };
  }

  async void(saleId: string, reason: string, actor: Actor): Promise<SaleView> {
    return this.exclusive(saleId, async () => {
      const sale = this.requireSale(saleId);
      if (sale.voided) throw new DomainError('already_voided', `Sale ${saleId} is already voided`, undefined, 409);
      if (sale.refundedAmount > 0 || sale.refundKeys.length > 0) {
        throw new DomainError('void_after_refund', `Sale ${saleId} has refunds; refund the rest instead of voiding`);
      }
      const today = businessDate(this.clock(), this.timeZone);
      if (sale.businessDate !== today) {
        throw new DomainError(
          'void_not_same_day',
          `Sale ${saleId} is from ${sale.businessDate}; only today's sales can be voided, use a refund`,
        );
      }
      await this.members.lock.run(this.memberKeys(sale), () =>
        this.events.record('sale.voided', {
          saleId,
          reason,
          staffId: actor.staff.id,
          deviceId: actor.deviceId,
          loyalty: this.pointsReversal(sale, 0, 1),
        }),
      );
      return this.state.saleView(sale);
    });
  }

  /**
   * Refunds lines of a sale. A retry with the same key and lines while the first is still being
   * written gets the first one's answer; with other lines (or for another sale) it is refused.
   */
  async refund(saleId: string, request: RefundRequest, actor: Actor): Promise<SaleView> {
    const key = request.idempotencyKey;
    const lines = refundLinesSignature(request.lines);
    const running = this.refundsInFlight.get(key);
    if (running) {
      if (running.saleId !== saleId || running.lines !== lines) {
        throw new DomainError(
          'idempotency_key_reused',
          'This refund key is already being used for other lines; start a new refund',
          undefined,
          409,
        );
      }
      return running.result;
    }
    const result = this.recordRefund(saleId, request, actor);
    this.refundsInFlight.set(key, { saleId, lines, result });
    try {
      return await result;
    } finally {
      this.refundsInFlight.delete(key);
    }
  }

  private async recordRefund(saleId: string, request: RefundRequest, actor: Actor): Promise<SaleView> {
    return this.exclusive(saleId, async () => {
      const sale = this.requireSale(saleId);
      const refundedSale = this.state.refundKeys.get(request.idempotencyKey);
      if (refundedSale !== undefined) {
        if (refundedSale !== saleId) {
          throw new DomainError('idempotency_key_reused', 'This refund key belongs to another sale', undefined, 409);
        }
        const recorded = sale.refundLinesByKey?.[request.idempotencyKey];
        if (recorded !== undefined && recorded !== refundLinesSignature(request.lines)) {
          throw new DomainError(
            'idempotency_key_reused',
            'This refund key was already used for other lines; start a new refund',
            undefined,
            409,
          );
        }
        return this.state.saleView(sale);
      }
      if (sale.voided)
        throw new DomainError('already_voided', `Sale ${saleId} is voided; nothing to refund`, undefined, 409);
      const { refund, loyalty } = this.refundOf(sale, request.lines);
      await this.members.lock.run(this.memberKeys(sale), () =>
        this.events.record('sale.refunded', ({ seq }) => ({
          saleId,
          refundId: `${saleId}-r${seq}`,
          idempotencyKey: request.idempotencyKey,
          lines: refund.lines,
          amount: refund.amount,
          reason: request.reason,
          staffId: actor.staff.id,
          deviceId: actor.deviceId,
          loyalty,
        })),
      );
      return this.state.saleView(sale);
    });
  }

  private requireSale(saleId: string): SaleRecord {
    const sale = this.state.sales.get(saleId);
    if (!sale) {
      throw new DomainError(
        'not_found',
        `No sale ${saleId} in the last ${this.state.retentionDays} days`,
        undefined,
        404,
      );
    }
    return sale;
  }

  /** Voids and refunds of one sale run one at a time, so two managers cannot both void it. */
  private async exclusive<T>(saleId: string, work: () => Promise<T>): Promise<T> {
    if (this.busySales.has(saleId)) {
      throw new DomainError(
        'sale_busy',
        `Sale ${saleId} is being changed on another tablet; try again`,
        undefined,
        409,
      );
    }
    this.busySales.add(saleId);
    try {
      return await work();
    } finally {
      this.busySales.delete(saleId);
    }
  }
}
