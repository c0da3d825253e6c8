/**
 * The cart on this tablet. It keeps one idempotency key for its whole life: every submit of this
 * cart (including retries after a timeout or a lost connection) uses the same key, so the hub can
 * never book it twice. The cart is saved in localStorage, so a reload keeps both the lines and the key.
 */
import type { CheckoutRequest, Discount, ProductView, QuoteRequest, Tender } from '$protocol/api';
import type { MemberSummary } from '$protocol/members';
import { isIdempotencyKey, newIdempotencyKey } from './ids';
import { cartTotals, discountProblem, priceLine } from './pricing';

export interface CartItem {
  sku: string;
  name: string;
  unitPrice: number;
  qty: number;
  discount?: Discount;
}

/**
 * The member attached to the cart, as much as the counter needs to show before the card loads.
 * No phone number: nothing personal is kept in the tablet's storage.
 */
export type CartMember = Omit<MemberSummary, 'phone'>;

export interface SavedCart {
  v: 1;
  /** The staff member whose sale this is (parked under them when someone else logs in). */
  ownerId?: string | null;
  key: string;
  items: CartItem[];
  orderDiscount?: Discount;
  attempted: boolean;
  member?: CartMember | null;
  couponCode?: string | null;
  redeemPoints?: number;
}

function isCartMember(m: unknown): m is CartMember {
  if (!m || typeof m !== 'object') return false;
  const v = m as Record<string, unknown>;
  return (
    typeof v.memberId === 'string' &&
    typeof v.memberCode === 'string' &&
    typeof v.tier === 'string' &&
    typeof v.tierName === 'string' &&
    typeof v.points === 'number' &&
    (v.name === null || typeof v.name === 'string')
  );
}

const STORAGE_KEY = 'ayi.cart';
export const MAX_QTY = 9999;
export const MAX_LINES = 200;

function loadSaved(): SavedCart | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? checkSaved(JSON.parse(raw)) : null;
  } catch {
    return null;
  }
}

/** A saved cart read back (from this tablet's storage): what does not look right is dropped. */
export function checkSaved(data: unknown): SavedCart | null {
  try {
    const v = data as Partial<SavedCart>;
    if (v.v !== 1 || !isIdempotencyKey(v.key) || !Array.isArray(v.items)) return null;
    const items = v.items.filter(
      (i): i is CartItem =>
        !!i &&
        typeof i.sku === 'string' &&
        typeof i.name === 'string' &&
        Number.isInteger(i.unitPrice) &&
        Number.isInteger(i.qty) &&
        i.qty >= 1,
    );
    return {
      v: 1,
      ownerId: typeof v.ownerId === 'string' ? v.ownerId : null,
      key: v.key,
      items,
      orderDiscount: v.orderDiscount,
      attempted: !!v.attempted,
      member: isCartMember(v.member) ? v.member : null,
      couponCode: typeof v.couponCode === 'string' ? v.couponCode : null,
      redeemPoints: Number.isInteger(v.redeemPoints) && (v.redeemPoints ?? 0) > 0 ? v.redeemPoints : 0,
    };
  } catch {
    return null;
  }
}

class Cart {
  items = $state<CartItem[]>([]);
  orderDiscount = $state<Discount | undefined>(undefined);
  /** Idempotency key of this cart: made when the cart is, kept across retries. */
  key = $state(newIdempotencyKey());
  /** A submit was sent at least once (the hub may already have this sale). */
  attempted = $state(false);
  /** SKU of the line touched last (highlighted and scrolled into view). */
  lastSku = $state<string | null>(null);
  /** The member this sale is for (null: a walk-in customer). */
  member = $state<CartMember | null>(null);
  /** A coupon code to apply (checked by the hub's quote). */
  couponCode = $state<string | null>(null);
  /** Points the member redeems as cash off this sale (0: none). */
  redeemPoints = $state(0);
  /** The staff member whose sale this is (null: nobody yet). */
  ownerId = $state<string | null>(null);

  readonly totals = $derived(cartTotals(this.items, this.orderDiscount));
  readonly isEmpty = $derived(this.items.length === 0);
  /** Totals come from the hub's quote: a member, a coupon or points are involved. */
  readonly needsQuote = $derived(!!this.member || !!this.couponCode || this.redeemPoints > 0);
  /** SKUs in the cart, for the member card's cross-sell (stable order). */
  readonly skus = $derived(this.items.map((i) => i.sku));
  readonly problems = $derived.by(() => {
    const out: string[] = [];
    for (const i of this.items) {
      const p = discountProblem(i.unitPrice * i.qty, i.discount);
      if (p) out.push(`${i.sku}:${p}`);
    }
    const op = discountProblem(this.totals.subtotal, this.orderDiscount);
    if (op) out.push(`order:${op}`);
    return out;
  });

  constructor() {
    const saved = typeof localStorage === 'undefined' ? null : loadSaved();
    if (saved) this.#restore(saved);
  }

  #restore(saved: SavedCart): void {
    this.ownerId = saved.ownerId ?? null;
    this.items = saved.items;
    this.orderDiscount = saved.orderDiscount;
    this.key = saved.key;
    this.attempted = saved.attempted;
    this.member = saved.member ?? null;
    this.couponCode = saved.couponCode ?? null;
    this.redeemPoints = saved.member ? (saved.redeemPoints ?? 0) : 0;
  }

  /** Lines, a member, a coupon or a sent submit: something a customer would not want the next one to see. */
  get inProgress(): boolean {
    return this.items.length > 0 || this.attempted || !!this.member || !!this.couponCode;
  }

  /** The cart as saved, for parking it. */
  snapshot(): SavedCart {
    return {
      v: 1,
      ownerId: this.ownerId,
      key: this.key,
      items: $state.snapshot(this.items),
      orderDiscount: $state.snapshot(this.orderDiscount),
      attempted: this.attempted,
      member: $state.snapshot(this.member),
      couponCode: this.couponCode,
      redeemPoints: this.redeemPoints,
    };
  }

  /** Puts a parked cart back (same key: a sale sent before parking is never booked twice). */
  restore(saved: SavedCart, ownerId: string): void {
    this.#restore(saved);
    this.ownerId = ownerId;
    this.lastSku = null;
    this.approval = null;
    this.#save();
  }

  /** Whose sale this is from now on (the cart itself is unchanged). */
  setOwner(ownerId: string | null): void {
    this.ownerId = ownerId;
    this.#save();
  }

  #save(): void {
    try {
      if (!this.inProgress) {
        localStorage.removeItem(STORAGE_KEY);
        return;
      }
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.snapshot()));
    } catch {
      // storage full or unavailable: the cart still works, it just won't survive a reload
    }
  }

  /** Adds one of a product; the same SKU again adds to its line. Returns the new quantity. */
  add(p: ProductView, qty = 1): number {
    const line = this.items.find((i) => i.sku === p.sku);
    this.lastSku = p.sku;
    if (line) {
      line.qty = Math.min(MAX_QTY, line.qty + qty);
      this.#save();
      return line.qty;
    }
    if (this.items.length >= MAX_LINES) throw new Error('cart_full');
    this.items.push({ sku: p.sku, name: p.name, unitPrice: p.price, qty: Math.min(MAX_QTY, qty) });
    this.#save();
    return qty;
  }

  setQty(sku: string, qty: number): void {
    const line = this.items.find((i) => i.sku === sku);
    if (!line) return;
    this.lastSku = sku;
    if (qty <= 0) {
      this.remove(sku);
      return;
    }
    line.qty = Math.min(MAX_QTY, Math.floor(qty));
    this.#save();
  }

  inc(sku: string): void {
    const line = this.items.find((i) => i.sku === sku);
    if (line) this.setQty(sku, line.qty + 1);
  }

  dec(sku: string): void {
    const line = this.items.find((i) => i.sku === sku);
    if (line && line.qty > 1) this.setQty(sku, line.qty - 1);
  }

  remove(sku: string): void {
    this.items = this.items.filter((i) => i.sku !== sku);
    if (this.lastSku === sku) this.lastSku = null;
    this.#save();
  }

  setLineDiscount(sku: string, d: Discount | undefined): void {
    const line = this.items.find((i) => i.sku === sku);
    if (!line) return;
    if (d && d.value > 0) line.discount = { kind: d.kind, value: d.value };
    else delete line.discount;
    this.#save();
  }

  setOrderDiscount(d: Discount | undefined): void {
    this.orderDiscount = d && d.value > 0 ? { kind: d.kind, value: d.value } : undefined;
    this.#save();
  }

  /** Attaches a member (or detaches with null). Points belong to the member, so they are cleared. */
  setMember(m: CartMember | null): void {
    const same = !!m && !!this.member && m.memberId === this.member.memberId;
    this.member = m ? { ...m } : null;
    if (!same) this.redeemPoints = 0;
    this.#save();
  }

  setCoupon(code: string | null): void {
    this.couponCode = code ? code.trim().toUpperCase() : null;
    this.#save();
  }

  setRedeemPoints(points: number): void {
    this.redeemPoints = this.member && Number.isFinite(points) ? Math.max(0, Math.floor(points)) : 0;
    this.#save();
  }

  /**
   * A manager's approval of this cart's discounts (over the owner's limit), held in memory only:
   * it is good for this key and exactly these discounts, once, for a few minutes.
   */
  approval = $state<{ token: string; approverName: string; discounts: string; key: string } | null>(null);

  /** The lines and order discount an approval covers, as the hub compares them. */
  discountsSignature(): string {
    return JSON.stringify([this.#lines(), this.orderDiscount ?? null]);
  }

  /** Discounts approved by a manager for the cart as it is now (null once lines or discounts change). */
  get approvedBy(): string | null {
    const a = this.approval;
    return a && a.key === this.key && a.discounts === this.discountsSignature() ? a.approverName : null;
  }

  setApproval(token: string, approverName: string): void {
    this.approval = { token, approverName, discounts: this.discountsSignature(), key: this.key };
  }

  /** The lines and order discount, for asking a manager's approval. */
  approvalCart(): { idempotencyKey: string; lines: CheckoutRequest['lines']; orderDiscount: Discount | undefined } {
    return { idempotencyKey: this.key, lines: this.#lines(), orderDiscount: this.orderDiscount };
  }

  /** The cart for POST /api/sales/quote, or null when there is nothing to quote. */
  quoteRequest(): QuoteRequest | null {
    if (this.items.length === 0) return null;
    const req: QuoteRequest = { lines: this.#lines() };
    this.#addExtras(req);
    return req;
  }

  #lines(): CheckoutRequest['lines'] {
    return this.items.map((i) =>
      i.discount ? { sku: i.sku, qty: i.qty, discount: { ...i.discount } } : { sku: i.sku, qty: i.qty },
    );
  }

  #addExtras(req: QuoteRequest | CheckoutRequest): void {
    if (this.orderDiscount) req.orderDiscount = { ...this.orderDiscount };
    if (this.member) req.memberId = this.member.memberId;
    if (this.couponCode) req.couponCode = this.couponCode;
    if (this.member && this.redeemPoints > 0) req.redeemPoints = this.redeemPoints;
  }

  linePrice(item: CartItem) {
    return priceLine(item.unitPrice, item.qty, item.discount);
  }

  /** The request for the hub, with this cart's idempotency key. Marks the cart as attempted. */
  toRequest(tenders: Tender[]): CheckoutRequest {
    const req: CheckoutRequest = {
      idempotencyKey: this.key,
      lines: this.#lines(),
      tenders: tenders.map((t) => ({ type: t.type, amount: t.amount })),
    };
    this.#addExtras(req);
    if (this.approvedBy !== null) req.approvalToken = this.approval!.token;
    this.attempted = true;
    this.#save();
    return req;
  }

  /** The hub gave a definite "no" (e.g. 422): nothing was booked under this key. */
  markNotBooked(): void {
    this.attempted = false;
    this.#save();
  }

  /**
   * After a "key already used for a different cart" answer, once the cashier has checked the
   * history: charge this cart under a fresh key.
   */
  renewKey(): void {
    this.key = newIdempotencyKey();
    this.approval = null;
    this.attempted = false;
    this.#save();
  }

  /** Names and prices follow the catalog after it changes (the hub prices from its catalog anyway). */
  syncWithCatalog(find: (sku: string) => { name: string; price: number } | undefined): void {
    let changed = false;
    for (const item of this.items) {
      const p = find(item.sku);
      if (p && (p.price !== item.unitPrice || p.name !== item.name)) {
        item.unitPrice = p.price;
        item.name = p.name;
        changed = true;
      }
    }
    if (changed) this.#save();
  }

  /** Empties the cart and starts a new one with a fresh key (after a sale, or "new sale"). */
  reset(): void {
    this.items = [];
    this.orderDiscount = undefined;
    this.key = newIdempotencyKey();
    this.attempted = false;
    this.lastSku = null;
    this.member = null;
    this.couponCode = null;
    this.redeemPoints = 0;
    this.approval = null;
    this.#save();
  }
}

export const cart = new Cart();
