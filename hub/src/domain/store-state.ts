/**
 * The store's in-memory projection of the journal: catalog, recent sales and their idempotency
 * keys. Built only by applying committed events in seq order; serialisable for snapshots.
 * Sales older than the retention window are dropped from memory (they stay in the journal).
 */
import type { DiscountPolicy, Role, SaleView } from '../protocol/api.js';
import type { HubEvent, HubEventOf, ProductData, SaleCompletedData } from '../protocol/events.js';
import { occurredAtOf } from '../protocol/events.js';
import { daysBefore } from './time.js';
import { refundLinesSignature } from './sale.js';
import { MemberBook, type MemberBookData, type Seal, type Unseal } from './members.js';
import { BasketStats, type BasketStatsData } from './member-insights.js';
import type { CouponRecord, IssuedCode } from './coupons.js';
import { MessageOutbox, type MessageOutboxData } from './message-outbox.js';
import { ReportBook, type ReportBookData } from './reports.js';
import type { SegmentDefinition } from '../protocol/crm.js';

/** A saved segment (S4) or an automatic tag rule (S2): a named member filter. */
export interface SavedFilterRecord {
  id: string;
  name: string;
  definition: SegmentDefinition;
  savedAt: string;
  savedBy: string;
}

export interface TagRuleRecord extends SavedFilterRecord {
  tag: string;
}

export interface SaleRecord extends SaleCompletedData {
  seq: number;
  /**
   * The sale's number in its business day at this store, 1, 2, 3... with no gaps: the day's
   * sale.completed events counted in journal order (a voided sale keeps its number). Derived, so a
   * replay or a restart numbers every sale the same; absent in snapshots of older versions.
   */
  saleNo?: number;
  at: string;
  storeId: string;
  voided: { reason: string; staffId: string; at: string } | null;
  refundedQty: Record<number, number>;
  refundedAmount: number;
  refundKeys: string[];
  /** Refund key -> refundLinesSignature of what it refunded (absent in snapshots of older versions). */
  refundLinesByKey?: Record<string, string>;
}

export interface StoreStateData {
  lastSeq: number;
  products: ProductData[];
  sales: SaleRecord[];
  totals: { salesCount: number; revenue: number };
  members: MemberBookData;
  baskets: BasketStatsData;
  coupons: CouponRecord[];
  issuedCodes: IssuedCode[];
  messages: MessageOutboxData;
  staff: [string, { name: string; role: Role }][];
  scannerAssignments: [string, string | null][];
  segments: SavedFilterRecord[];
  tagRules: TagRuleRecord[];
  reports: ReportBookData;
  /** The owner's last recorded discount limits (absent in snapshots of older versions). */
  discountPolicy?: DiscountPolicy | null;
  /** HQ's catalog version the store runs (absent in snapshots of older versions: none). */
  catalogVersion?: number | null;
  catalogLocalChanges?: boolean;
}

export class StoreState {
  lastSeq = 0;
  /** The business day of the last sale the window was checked for, and the window's start then. */
  private prunedForDay = '';
  private prunedBefore = '';
  readonly products = new Map<string, ProductData>();
  /** Goes up with every product written: lets the catalog's answer be kept until it changes. */
  catalogRevision = 0;
  /** The version of HQ's catalog the store runs (null: none applied). */
  catalogVersion: number | null = null;
  /** A local CSV import changed the catalog after HQ's version (the next version replaces it). */
  catalogLocalChanges = false;
  readonly barcodes = new Map<string, string>();
  /** Insertion order is seq order. */
  readonly sales = new Map<string, SaleRecord>();
  /** Business day -> the last sale number given that day (the days of the kept sales). */
  private readonly lastSaleNo = new Map<string, number>();
  /**
   * The same sales in seq order, from `saleQueueHead` on, for pruning: walking the map from its
   * start at every new day would step over every slot its deletions left (a replay does it daily).
   */
  private saleQueue: SaleRecord[] = [];
  /** One copy of each product name, category, device and staff id the kept sales repeat. */
  private readonly texts = new TextPool();
  private saleQueueHead = 0;
  readonly saleKeys = new Map<string, string>();
  readonly refundKeys = new Map<string, string>();
  totals = { salesCount: 0, revenue: 0 };
  members: MemberBook;
  baskets = new BasketStats();
  /** staffId -> name and role, for sale views and receipts. */
  readonly staff = new Map<string, { name: string; role: Role }>();
  /** scannerId -> the tablet its scans go to, as managers last set it (over the device file's). */
  readonly scannerAssignments = new Map<string, string | null>();
  /** The outbound SMS queue (the journal is its durable store). */
  messages = new MessageOutbox();
  readonly coupons = new Map<string, CouponRecord>();
  /** Shared coupon code -> couponId. */
  readonly couponCodes = new Map<string, string>();
  /** Personal one-use codes. */
  readonly issuedCodes = new Map<string, IssuedCode>();
  /** memberId -> their personal codes. */
  readonly issuedByMember = new Map<string, string[]>();
  /** Saved member filters (S4) and automatic tag rules (S2), by id. */
  readonly segments = new Map<string, SavedFilterRecord>();
  readonly tagRules = new Map<string, TagRuleRecord>();
  /** Day totals for the reports (A2-A5): kept for every day, unlike `sales`. */
  reports = new ReportBook();
  /** The owner's discount limits as last changed (null: never changed through the hub). */
  discountPolicy: DiscountPolicy | null = null;
  /**
   * Called with a kept sale just before an event changes it (a void, a refund): a snapshot being
   * written a slice at a time keeps the sale as it was (see SnapshotService).
   */
  beforeSaleChange: ((sale: SaleRecord) => void) | null = null;

  constructor(
    readonly retentionDays: number,
    unseal: Unseal,
  ) {
    this.members = new MemberBook(unseal);
  }

  static fromData(data: StoreStateData, retentionDays: number, unseal: Unseal): StoreState {
    const state = new StoreState(retentionDays, unseal);
    state.lastSeq = data.lastSeq;
    for (const product of data.products) state.putProduct(product);
    for (const sale of data.sales) state.putSale(sale);
    state.totals = { ...data.totals };
    state.members = MemberBook.fromData(data.members, unseal);
    state.baskets = BasketStats.fromData(data.baskets);
    for (const coupon of data.coupons) state.putCoupon(coupon);
    for (const issued of data.issuedCodes) state.putIssued(issued);
    state.messages = MessageOutbox.fromData(data.messages);
    for (const [staffId, staff] of data.staff) state.staff.set(staffId, staff);
    for (const [scannerId, deviceId] of data.scannerAssignments) state.scannerAssignments.set(scannerId, deviceId);
    for (const segment of data.segments) state.segments.set(segment.id, segment);
    for (const rule of data.tagRules) state.tagRules.set(rule.id, rule);
    state.reports = ReportBook.fromData(data.reports);
    state.discountPolicy = data.discountPolicy ?? null;
    state.catalogVersion = data.catalogVersion ?? null;
    state.catalogLocalChanges = data.catalogLocalChanges ?? false;
    return state;
  }

  /** The projection for a snapshot; members' personal traits are sealed with `seal` (their own keys). */
  toData(seal: Seal): StoreStateData {
    return {
      lastSeq: this.lastSeq,
      products: [...this.products.values()],
      sales: [...this.sales.values()],
      totals: { ...this.totals },
      members: this.members.toData(seal),
      baskets: this.baskets.toData(),
      coupons: [...this.coupons.values()],
      issuedCodes: [...this.issuedCodes.values()],
      messages: this.messages.toData(),
      staff: [...this.staff],
      scannerAssignments: [...this.scannerAssignments],
      segments: [...this.segments.values()],
      tagRules: [...this.tagRules.values()],
      reports: this.reports.toData(),
      discountPolicy: this.discountPolicy,
      catalogVersion: this.catalogVersion,
      catalogLocalChanges: this.catalogLocalChanges,
    };
  }

  /**
   * Takes over a projection rebuilt from the journal (after events were restored into it), in
   * place: services keep this object. The SMS outbox object is kept too (the sender holds it), with
   * the rebuilt contents, and so is a snapshot's hook.
   */
  adopt(rebuilt: StoreState): void {
    const { messages, beforeSaleChange, catalogRevision } = this;
    Object.assign(this, rebuilt);
    Object.assign(messages, rebuilt.messages);
    this.messages = messages;
    this.beforeSaleChange = beforeSaleChange;
    // A revision never seen before: an answer cached for an earlier one is not reused.
    this.catalogRevision = Math.max(catalogRevision, rebuilt.catalogRevision) + 1;
  }

  staffName(staffId: string): string {
    return this.staff.get(staffId)?.name ?? staffId;
  }

  saleView(sale: SaleRecord): SaleView {
    return toSaleView(sale, this.staffName(sale.staffId), sale.approvedBy ? this.staffName(sale.approvedBy) : null);
  }

  findByBarcode(code: string): ProductData | undefined {
    const sku = this.barcodes.get(code);
    return sku === undefined ? undefined : this.products.get(sku);
  }

  apply(event: HubEvent): void {
    if (event.seq <= this.lastSeq) return; // already in the snapshot
    this.lastSeq = event.seq;
    switch (event.type) {
      case 'catalog.imported':
        if (event.data.source === 'hq') {
          // HQ's version is the whole catalog: products it no longer has leave the counter.
          this.products.clear();
          this.barcodes.clear();
          this.catalogVersion = event.data.version ?? this.catalogVersion;
          this.catalogLocalChanges = false;
        } else if (this.catalogVersion !== null) {
          this.catalogLocalChanges = true;
        }
        for (const product of event.data.products) this.putProduct(product);
        this.catalogRevision++;
        break;
      case 'sale.completed': {
        this.putSale(saleRecordOf(event, this.texts, this.nextSaleNo(event.data.businessDate)));
        this.totals.salesCount += 1;
        this.totals.revenue += event.data.total;
        this.baskets.count(event.data.lines, 1);
        this.useCoupon(event.data, 1);
        this.members.apply(event);
        this.reports.recordSale(event.data);
        this.pruneFor(event.data.businessDate);
        break;
      }
      case 'sale.voided': {
        const sale = this.sales.get(event.data.saleId);
        if (!sale) break;
        this.beforeSaleChange?.(sale);
        sale.voided = { reason: event.data.reason, staffId: event.data.staffId, at: occurredAtOf(event) };
        this.totals.salesCount -= 1;
        this.totals.revenue -= sale.total;
        this.baskets.count(sale.lines, -1);
        this.useCoupon(sale, -1);
        this.members.apply(event, sale);
        this.reports.voidSale(sale);
        break;
      }
      case 'sale.refunded': {
        const sale = this.sales.get(event.data.saleId);
        if (!sale) break;
        this.beforeSaleChange?.(sale);
        this.members.apply(event, sale);
        this.reports.refundSale(sale, event.data);
        for (const line of event.data.lines) {
          sale.refundedQty[line.lineNo] = (sale.refundedQty[line.lineNo] ?? 0) + line.qty;
        }
        sale.refundedAmount += event.data.amount;
        sale.refundKeys.push(event.data.idempotencyKey);
        (sale.refundLinesByKey ??= {})[event.data.idempotencyKey] = refundLinesSignature(event.data.lines);
        this.refundKeys.set(event.data.idempotencyKey, sale.saleId);
        this.totals.revenue -= event.data.amount;
        break;
      }
      case 'coupon.created':
        this.putCoupon({ ...event.data, uses: 0, issued: 0, usedByMember: {} });
        break;
      case 'coupon.issued': {
        const coupon = this.coupons.get(event.data.couponId);
        if (coupon) coupon.issued += 1;
        this.putIssued({ ...event.data, usedBySale: null });
        break;
      }
      case 'settings.discount_policy_changed':
        this.discountPolicy = { ...event.data.limits };
        break;
      case 'scanner.assigned':
        this.scannerAssignments.set(event.data.scannerId, event.data.deviceId);
        break;
      case 'staff.added':
        this.staff.set(event.data.staffId, { name: event.data.name, role: event.data.role });
        break;
      case 'staff.removed': // past sales keep the name; logging in is security.json's business
      case 'staff.pin_changed':
      case 'device.unlocked':
        break;
      case 'message.queued':
      case 'message.attempted':
        this.messages.apply(event);
        break;
      case 'segment.saved': {
        const { segmentId: id, name, definition, staffId } = event.data;
        this.segments.set(id, { id, name, definition, savedAt: event.at, savedBy: staffId });
        break;
      }
      case 'segment.deleted':
        this.segments.delete(event.data.segmentId);
        break;
      case 'tag_rule.saved': {
        const { ruleId: id, name, tag, definition, staffId } = event.data;
        this.tagRules.set(id, { id, name, tag, definition, savedAt: event.at, savedBy: staffId });
        break;
      }
      case 'tag_rule.deleted':
        this.tagRules.delete(event.data.ruleId);
        break;
      default:
        // Member events (and the points and tiers the nightly review changes).
        this.members.apply(event);
        break;
    }
  }

  private putIssued(issued: IssuedCode): void {
    this.issuedCodes.set(issued.code, issued);
    const codes = this.issuedByMember.get(issued.memberId);
    if (codes) codes.push(issued.code);
    else this.issuedByMember.set(issued.memberId, [issued.code]);
  }

  private putCoupon(coupon: CouponRecord): void {
    this.coupons.set(coupon.couponId, coupon);
    if (coupon.code) this.couponCodes.set(coupon.code, coupon.couponId);
  }

  /** A sale uses a coupon (+1); a void gives it back (-1). */
  private useCoupon(
    sale: Pick<SaleCompletedData, 'couponCode' | 'saleId' | 'memberId' | 'businessDate'>,
    delta: 1 | -1,
  ): void {
    const code = sale.couponCode;
    if (!code) return;
    const issued = this.issuedCodes.get(code);
    const coupon = this.coupons.get(issued?.couponId ?? this.couponCodes.get(code) ?? '');
    if (issued) issued.usedBySale = delta === 1 ? sale.saleId : null;
    if (!coupon) return;
    coupon.uses += delta;
    if (sale.memberId) {
      if (delta === 1) coupon.usedByMember[sale.memberId] = sale.businessDate;
      else delete coupon.usedByMember[sale.memberId];
    }
  }

  private putProduct(product: ProductData): void {
    const previous = this.products.get(product.sku);
    for (const code of previous?.barcodes ?? []) this.barcodes.delete(code);
    this.products.set(product.sku, product);
    this.catalogRevision++;
    for (const code of product.barcodes) this.barcodes.set(code, product.sku);
  }

  /** The number the next sale of `businessDate` gets. */
  private nextSaleNo(businessDate: string): number {
    return (this.lastSaleNo.get(businessDate) ?? 0) + 1;
  }

  private putSale(sale: SaleRecord): void {
    // A snapshot keeps whole days of sales, in seq order: its older sales are numbered here alike.
    sale.saleNo ??= this.nextSaleNo(sale.businessDate);
    this.lastSaleNo.set(sale.businessDate, Math.max(sale.saleNo, this.lastSaleNo.get(sale.businessDate) ?? 0));
    this.sales.set(sale.saleId, sale);
    this.saleQueue.push(sale);
    this.saleKeys.set(sale.idempotencyKey, sale.saleId);
    for (const key of sale.refundKeys) this.refundKeys.set(key, sale.saleId);
  }

  /**
   * Drops the sales a sale of `businessDate` pushes out of the window, once per new day: walking
   * the map from its start at every sale costs more and more as its deleted slots pile up, and a
   * replay does it 200,000 times.
   */
  private pruneFor(businessDate: string): void {
    if (businessDate === this.prunedForDay) return;
    this.prunedForDay = businessDate;
    const oldestKeptDate = daysBefore(businessDate, this.retentionDays);
    if (oldestKeptDate <= this.prunedBefore) return;
    this.prunedBefore = oldestKeptDate;
    this.pruneBefore(oldestKeptDate);
  }

  private pruneBefore(oldestKeptDate: string): void {
    const queue = this.saleQueue;
    let head = this.saleQueueHead;
    while (head < queue.length && queue[head]!.businessDate < oldestKeptDate) {
      const sale = queue[head]!;
      queue[head++] = undefined as never;
      this.sales.delete(sale.saleId);
      this.saleKeys.delete(sale.idempotencyKey);
      for (const key of sale.refundKeys) this.refundKeys.delete(key);
    }
    for (const day of this.lastSaleNo.keys()) if (day < oldestKeptDate) this.lastSaleNo.delete(day);
    // The pruned front is cut off once it is most of the array, so it costs O(1) a sale.
    if (head > 1024 && head * 2 > queue.length) {
      this.saleQueue = queue.slice(head);
      head = 0;
    }
    this.saleQueueHead = head;
  }
}

/**
 * A new sale's record, field by field: spreading the event's data (objects of many shapes, fresh
 * from JSON.parse) takes V8's slow path, about 30 times slower, and a replay does it for every sale.
 */
function saleRecordOf(event: HubEventOf<'sale.completed'>, texts: TextPool, saleNo: number): SaleRecord {
  const d = event.data;
  // Every sale parsed from the journal brings its own copy of these strings: a month of kept
  // sales would hold tens of thousands of copies of the same few hundred names. (JSON.parse
  // already shares strings of up to 10 characters, such as SKUs and most categories.)
  for (const line of d.lines) line.name = texts.one(line.name);
  const record = {
    saleId: d.saleId,
    idempotencyKey: d.idempotencyKey,
    requestHash: d.requestHash,
    businessDate: d.businessDate,
    deviceId: texts.one(d.deviceId),
    staffId: texts.one(d.staffId),
    memberId: d.memberId,
    lines: d.lines,
    subtotal: d.subtotal,
    orderDiscount: d.orderDiscount,
    memberDiscount: d.memberDiscount,
    couponCode: d.couponCode,
    couponDiscount: d.couponDiscount,
    pointsRedeemed: d.pointsRedeemed,
    pointsDiscount: d.pointsDiscount,
    total: d.total,
    tenders: d.tenders,
    change: d.change,
    loyalty: d.loyalty,
    approvedBy: d.approvedBy ?? null,
    seq: event.seq,
    saleNo,
    at: occurredAtOf(event),
    storeId: event.storeId,
    voided: null,
    refundedQty: {},
    refundedAmount: 0,
    refundKeys: [],
  } satisfies SaleRecord;
  // `satisfies` catches a required field left out; this catches an optional one added later.
  const everyFieldCopied: Exclude<keyof SaleCompletedData, keyof typeof record> extends never ? true : false = true;
  void everyFieldCopied;
  return record;
}

/** Equal strings shared as one, up to a bound (a catalog's names, a store's tablets and staff). */
class TextPool {
  private readonly pool = new Map<string, string>();

  constructor(private readonly limit = 20_000) {}

  one(text: string): string {
    const kept = this.pool.get(text);
    if (kept !== undefined) return kept;
    if (this.pool.size < this.limit) this.pool.set(text, text);
    return text;
  }
}

export function saleStatus(sale: SaleRecord): SaleView['status'] {
  if (sale.voided) return 'voided';
  if (sale.refundedAmount === 0 && Object.keys(sale.refundedQty).length === 0) return 'completed';
  const allBack = sale.lines.every((line) => (sale.refundedQty[line.lineNo] ?? 0) >= line.qty);
  return allBack ? 'refunded' : 'partially_refunded';
}

export function toSaleView(sale: SaleRecord, staffName: string, approverName: string | null = null): SaleView {
  return {
    saleId: sale.saleId,
    seq: sale.seq,
    saleNo: sale.saleNo ?? 0,
    at: sale.at,
    businessDate: sale.businessDate,
    storeId: sale.storeId,
    deviceId: sale.deviceId,
    staffId: sale.staffId,
    staffName,
    memberId: sale.memberId,
    lines: sale.lines.map((line) => ({
      lineNo: line.lineNo,
      sku: line.sku,
      name: line.name,
      category: line.category,
      qty: line.qty,
      unitPrice: line.unitPrice,
      lineDiscount: line.lineDiscount,
      lineTotal: line.lineTotal,
      refundedQty: sale.refundedQty[line.lineNo] ?? 0,
    })),
    subtotal: sale.subtotal,
    orderDiscount: sale.orderDiscount,
    memberDiscount: sale.memberDiscount,
    couponCode: sale.couponCode,
    couponDiscount: sale.couponDiscount,
    pointsRedeemed: sale.pointsRedeemed,
    pointsDiscount: sale.pointsDiscount,
    loyalty: sale.loyalty,
    total: sale.total,
    tenders: sale.tenders,
    change: sale.change,
    status: saleStatus(sale),
    refundedAmount: sale.refundedAmount,
    approvedBy: sale.approvedBy ?? null,
    approvedByName: approverName,
  };
}
