/**
 * Selling: checkout with idempotency keys, voids and refunds. Each is one event; the tablet is
 * answered only once that event is on disk.
 */
import { createHash } from 'node:crypto';
import type { CheckoutRequest, RefundRequest, SaleView, StaffView } from '../protocol/api.js';
import { DomainError } from '../domain/errors.js';
import { computeRefund, priceCart, settleTenders } from '../domain/sale.js';
import { toSaleView, type SaleRecord, type StoreState } from '../domain/store-state.js';
import { businessDate } from '../domain/time.js';
import type { EventStore } from '../storage/event-store.js';

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
  });
  return createHash('sha256').update(canonical).digest('hex');
}

export class CheckoutService {
  private readonly inFlight = new Map<string, { hash: string; result: Promise<CheckoutResult> }>();
  private readonly busySales = new Set<string>();

  constructor(
    private readonly state: StoreState,
    private readonly events: EventStore,
    private readonly timeZone: string,
    private readonly clock: () => Date,
  ) {}

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
      return { sale: toSaleView(existing), replayed: true };
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
    const priced = priceCart(request, (sku) => this.state.products.get(sku));
    const { change } = settleTenders(priced.total, request.tenders);
    const event = await this.events.record('sale.completed', ({ seq, at }) => {
      const date = businessDate(at, this.timeZone);
      return {
        saleId: `${date.replaceAll('-', '')}-${String(seq).padStart(6, '0')}`,
        idempotencyKey: request.idempotencyKey,
        requestHash: hash,
        businessDate: date,
        deviceId: actor.deviceId,
        staffId: actor.staff.id,
        staffName: actor.staff.name,
        memberId: null,
        ...priced,
        tenders: request.tenders,
        change,
      };
    });
    return { sale: toSaleView(this.requireSale(event.data.saleId)), replayed: false };
  }

  list(limit: number, beforeSeq?: number): SaleView[] {
    const out: SaleView[] = [];
    const sales = [...this.state.sales.values()];
    for (let i = sales.length - 1; i >= 0 && out.length < limit; i--) {
      const sale = sales[i]!;
      if (beforeSeq === undefined || sale.seq < beforeSeq) out.push(toSaleView(sale));
    }
    return out;
  }

  get(saleId: string): SaleView {
    return toSaleView(this.requireSale(saleId));
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
      await this.events.record('sale.voided', { saleId, reason, staffId: actor.staff.id, deviceId: actor.deviceId });
      return toSaleView(sale);
    });
  }

  async refund(saleId: string, request: RefundRequest, actor: Actor): Promise<SaleView> {
    return this.exclusive(saleId, async () => {
      const sale = this.requireSale(saleId);
      const refundedSale = this.state.refundKeys.get(request.idempotencyKey);
      if (refundedSale !== undefined) {
        if (refundedSale !== saleId) {
          throw new DomainError('idempotency_key_reused', 'This refund key belongs to another sale', undefined, 409);
        }
        return toSaleView(sale);
      }
      if (sale.voided)
        throw new DomainError('already_voided', `Sale ${saleId} is voided; nothing to refund`, undefined, 409);
      const refund = computeRefund(sale.lines, sale.refundedQty, request.lines);
      await this.events.record('sale.refunded', ({ seq }) => ({
        saleId,
        refundId: `${saleId}-r${seq}`,
        idempotencyKey: request.idempotencyKey,
        lines: refund.lines,
        amount: refund.amount,
        reason: request.reason,
        staffId: actor.staff.id,
        deviceId: actor.deviceId,
      }));
      return toSaleView(sale);
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
