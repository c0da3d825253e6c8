/**
 * Random but realistic neighbourhood-store baskets, built from the hub's own catalog (GET
 * /api/products): 1 to 6 lines (mostly 1 to 3), an occasional line or order discount, and payment
 * by cash (usually with change), card, LINE Pay or JKO Pay, sometimes cash plus a mobile wallet.
 * The total is worked out with the hub's pricing rules, as a tablet shows it before payment.
 * Used by scripts/simulate-store.ts, the crash test and the bench.
 */
import type { CheckoutRequest, Discount, ProductView, Tender } from '../../hub/src/protocol/api.ts';
import { DEFAULT_DISCOUNT_POLICY, discountsOverLimit } from '../../hub/src/domain/discount-policy.ts';
import { priceCart } from '../../hub/src/domain/sale.ts';

export type Rng = () => number;

/** A small seedable generator (mulberry32), so a run can be repeated. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick<T>(items: readonly T[], rng: Rng): T {
  return items[Math.floor(rng() * items.length)]!;
}

function weighted<T>(choices: readonly [T, number][], rng: Rng): T {
  const total = choices.reduce((sum, [, w]) => sum + w, 0);
  let r = rng() * total;
  for (const [value, w] of choices) {
    r -= w;
    if (r < 0) return value;
  }
  return choices.at(-1)![0];
}

export type Basket = Omit<CheckoutRequest, 'idempotencyKey'>;

export interface BasketWithTotal {
  basket: Basket;
  total: number;
  payment: 'cash' | 'card' | 'linepay' | 'jkopay' | 'cash+linepay';
}

/** Cheap everyday goods are bought more often than a 2 kg bag of cat food. */
function productWeight(product: ProductView): number {
  return product.price <= 50 ? 5 : product.price <= 150 ? 3 : product.price <= 400 ? 1.5 : 0.6;
}

function randomDiscount(base: number, rng: Rng): Discount | undefined {
  if (rng() < 0.6) {
    const value = pick([5, 10, 10, 15, 20], rng);
    return { kind: 'percent', value };
  }
  const value = pick([5, 10, 20, 50], rng);
  // Within a cashier's default limit (20 %): bigger discounts need a manager's approval.
  return value * 100 <= base * DEFAULT_DISCOUNT_POLICY.maxLinePercent ? { kind: 'amount', value } : undefined;
}

/** A cash amount a customer would hand over: exact, or the next 100, 500 or 1000 note. */
function cashHandedOver(total: number, rng: Rng): number {
  const choice = weighted<'exact' | 100 | 500 | 1000>(
    [
      ['exact', 2],
      [100, 4],
      [500, 3],
      [1000, 2],
    ],
    rng,
  );
  if (choice === 'exact' || total === 0) return Math.max(total, 1);
  const rounded = Math.ceil(total / choice) * choice;
  return rounded === total ? total + choice : rounded;
}

export function randomBasket(products: ProductView[], rng: Rng = Math.random): BasketWithTotal {
  if (products.length === 0) throw new Error('the catalog is empty: nothing to sell');
  const bySku = new Map(products.map((p) => [p.sku, p]));
  const weights = products.map((p) => [p, productWeight(p)] as [ProductView, number]);
  const lineCount = weighted<number>(
    [
      [1, 30],
      [2, 28],
      [3, 20],
      [4, 11],
      [5, 7],
      [6, 4],
    ],
    rng,
  );
  const lines: CheckoutRequest['lines'] = [];
  const used = new Set<string>();
  for (let i = 0; i < lineCount && used.size < products.length; i++) {
    let product = weighted(weights, rng);
    for (let tries = 0; used.has(product.sku) && tries < 10; tries++) product = weighted(weights, rng);
    if (used.has(product.sku)) continue;
    used.add(product.sku);
    const qty =
      product.price <= 50
        ? weighted<number>(
            [
              [1, 6],
              [2, 3],
              [3, 1],
              [6, 0.3],
            ],
            rng,
          )
        : rng() < 0.9
          ? 1
          : 2;
    const line: CheckoutRequest['lines'][number] = { sku: product.sku, qty };
    if (rng() < 0.07) {
      const discount = randomDiscount(product.price * qty, rng);
      if (discount) line.discount = discount;
    }
    lines.push(line);
  }
  const basket: Basket = { lines, tenders: [] };
  const subtotal = priceCart(basket, (sku) => bySku.get(sku)).subtotal;
  if (rng() < 0.05) {
    const discount = randomDiscount(subtotal, rng);
    if (discount) basket.orderDiscount = discount;
    // Line and order discounts together also stay within the limit (the hub checks the sum).
    const priced = priceCart(basket, (sku) => bySku.get(sku));
    if (discountsOverLimit(basket, priced, DEFAULT_DISCOUNT_POLICY).length > 0) delete basket.orderDiscount;
  }
  const { total } = priceCart(basket, (sku) => bySku.get(sku));
  const payment = weighted<BasketWithTotal['payment']>(
    [
      ['cash', 50],
      ['card', 18],
      ['linepay', 18],
      ['jkopay', 11],
      ['cash+linepay', 3],
    ],
    rng,
  );
  let tenders: Tender[];
  if (total === 0) {
    tenders = [{ type: 'cash', amount: 1 }];
  } else if (payment === 'cash') {
    tenders = [{ type: 'cash', amount: cashHandedOver(total, rng) }];
  } else if (payment === 'cash+linepay' && total >= 2) {
    const wallet = Math.max(1, Math.floor(total * (0.3 + rng() * 0.5)));
    tenders = [
      { type: 'linepay', amount: wallet },
      { type: 'cash', amount: cashHandedOver(total - wallet, rng) },
    ];
  } else {
    tenders = [{ type: payment === 'cash+linepay' ? 'linepay' : payment, amount: total }];
  }
  basket.tenders = tenders;
  return { basket, total, payment: total === 0 ? 'cash' : payment };
}
