/** Whole-dollar NT$ arithmetic. */
import type { Discount } from '../protocol/api.js';
import { DomainError } from './errors.js';

/** Rounds half up: NT$ 12.5 -> 13. Inputs are non-negative. */
export function roundHalfUp(value: number): number {
  return Math.floor(value + 0.5);
}

/** The NT$ amount a discount takes off `base`; refuses a discount larger than the base. */
export function discountAmount(base: number, discount: Discount | undefined, what: string): number {
  if (!discount) return 0;
  if (discount.kind === 'percent') {
    if (discount.value > 100) {
      throw new DomainError('invalid_discount', `${what}: a percent discount must be between 0 and 100`, {
        value: discount.value,
      });
    }
    return roundHalfUp((base * discount.value) / 100);
  }
  if (discount.value > base) {
    throw new DomainError('discount_too_large', `${what}: discount NT$${discount.value} is more than NT$${base}`, {
      base,
      value: discount.value,
    });
  }
  return discount.value;
}

/**
 * Splits `amount` over `weights` in proportion, in whole dollars, so the parts add up exactly
 * (largest remainder; ties go to the earlier weight).
 */
export function allocateProportionally(amount: number, weights: number[]): number[] {
  const totalWeight = weights.reduce((sum, w) => sum + w, 0);
  if (amount === 0 || totalWeight === 0) return weights.map(() => 0);
  const exact = weights.map((w) => (amount * w) / totalWeight);
  const parts = exact.map(Math.floor);
  let left = amount - parts.reduce((sum, p) => sum + p, 0);
  const order = exact
    .map((value, index) => ({ index, remainder: value - Math.floor(value) }))
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of order) {
    if (left === 0) break;
    parts[index]! += 1;
    left -= 1;
  }
  return parts;
}
