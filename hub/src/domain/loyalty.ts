/**
 * The store's loyalty program (L1, L2): tiers on rolling spend, points per NT$ spent, points as cash
 * off. Pure: every figure a sale records is computed here from the program and the member's state.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DomainError } from './errors.js';

export const TierRule = Type.Object(
  {
    tier: Type.String({ pattern: '^[a-z][a-z0-9_]{0,19}$' }),
    name: Type.String({ minLength: 1, maxLength: 10 }),
    /** Net spend (NT$) within the window that reaches this tier; the first tier must be 0. */
    threshold: Type.Integer({ minimum: 0 }),
    /** Whole percent off every purchase. */
    discountPercent: Type.Integer({ minimum: 0, maximum: 50 }),
    /** Points multiplier, e.g. 1.5. */
    pointsMultiplier: Type.Number({ minimum: 0, maximum: 10 }),
  },
  { additionalProperties: false },
);
export type TierRule = Static<typeof TierRule>;

export const LoyaltyProgram = Type.Object(
  {
    /** Lowest first. */
    tiers: Type.Array(TierRule, { minItems: 1, maxItems: 8 }),
    /** Rolling window for tier spend, in months. */
    windowMonths: Type.Integer({ minimum: 1, maximum: 36 }),
    /** One point for every this many NT$ paid. */
    amountPerPoint: Type.Integer({ minimum: 1, maximum: 10_000 }),
    /** NT$ one point takes off when redeemed. */
    pointValue: Type.Integer({ minimum: 1, maximum: 100 }),
    /** At most this share of a purchase may be paid with points. */
    maxRedeemPercent: Type.Integer({ minimum: 1, maximum: 100 }),
    /** Points expire this many months after the day they were earned; null: never. */
    expiryMonths: Type.Union([Type.Integer({ minimum: 1, maximum: 120 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type LoyaltyProgram = Static<typeof LoyaltyProgram>;

/** Resembles a Taiwanese chain's program: 一般 / 銀卡 / 金卡, 1 point per NT$100, 1 point = NT$1. */
export const DEFAULT_PROGRAM: LoyaltyProgram = {
  tiers: [
    { tier: 'regular', name: '一般', threshold: 0, discountPercent: 0, pointsMultiplier: 1 },
    { tier: 'silver', name: '銀卡', threshold: 10_000, discountPercent: 3, pointsMultiplier: 1.5 },
    { tier: 'gold', name: '金卡', threshold: 30_000, discountPercent: 5, pointsMultiplier: 2 },
  ],
  windowMonths: 12,
  amountPerPoint: 100,
  pointValue: 1,
  maxRedeemPercent: 50,
  expiryMonths: 24,
};

/** Checks what the schema cannot: tiers ascend from 0 and have distinct ids. */
export function checkProgram(program: LoyaltyProgram): string[] {
  const problems: string[] = [];
  if (program.tiers[0]!.threshold !== 0) problems.push('the first tier must have threshold 0');
  for (let i = 1; i < program.tiers.length; i++) {
    if (program.tiers[i]!.threshold <= program.tiers[i - 1]!.threshold) {
      problems.push(`tier ${program.tiers[i]!.tier}: thresholds must ascend`);
    }
  }
  if (new Set(program.tiers.map((t) => t.tier)).size !== program.tiers.length) problems.push('tier ids repeat');
  return problems;
}

export function tierRule(program: LoyaltyProgram, tier: string): TierRule {
  return program.tiers.find((t) => t.tier === tier) ?? program.tiers[0]!;
}

/** The highest tier whose threshold the spend reaches. */
export function tierForSpend(program: LoyaltyProgram, windowSpend: number): TierRule {
  let best = program.tiers[0]!;
  for (const rule of program.tiers) if (windowSpend >= rule.threshold) best = rule;
  return best;
}

/** A sale can only raise a tier; lowering waits for the nightly review. */
export function tierAfterSale(program: LoyaltyProgram, currentTier: string, windowSpend: number): string {
  const reached = tierForSpend(program, windowSpend);
  const current = tierRule(program, currentTier);
  return reached.threshold > current.threshold ? reached.tier : current.tier;
}

export function nextTier(
  program: LoyaltyProgram,
  currentTier: string,
  windowSpend: number,
): { tier: string; tierName: string; threshold: number; remaining: number } | null {
  const current = tierRule(program, currentTier);
  const next = program.tiers.find((t) => t.threshold > current.threshold);
  if (!next) return null;
  return {
    tier: next.tier,
    tierName: next.name,
    threshold: next.threshold,
    remaining: Math.max(0, next.threshold - windowSpend),
  };
}

/** Points a payment of `paid` NT$ earns at a tier: whole points, rounded down. */
export function pointsEarned(program: LoyaltyProgram, tier: string, paid: number): number {
  if (paid <= 0) return 0;
  return Math.floor(Math.floor(paid / program.amountPerPoint) * tierRule(program, tier).pointsMultiplier);
}

/** The most points a purchase of `payable` NT$ may use, given the balance. */
export function maxRedeemable(program: LoyaltyProgram, payable: number, balance: number): number {
  const capNt = Math.floor((payable * program.maxRedeemPercent) / 100);
  return Math.max(0, Math.min(balance, Math.floor(capNt / program.pointValue)));
}

/**
 * A balance as staff and members see it: points that can be spent, and points owed (欠點): earned
 * points a void or refund took back after they had been spent. Owed points are never spendable;
 * later earnings pay them off first.
 */
export function pointsStanding(balance: number): { available: number; owed: number } {
  return { available: Math.max(0, balance), owed: Math.max(0, -balance) };
}

/** How points coming in (earned, or given back by a refund) split between paying off owed points and the balance. */
export function splitAgainstOwed(balance: number, points: number): { repaid: number; kept: number } {
  const repaid = Math.min(points, pointsStanding(balance).owed);
  return { repaid, kept: points - repaid };
}

/** The balance once a void or refund has taken back `reversed` earned points and given back `returned` redeemed ones. */
export function balanceAfterReversal(balance: number, reversed: number, returned: number): number {
  return balance - reversed + returned;
}

/** Checks a redemption and gives the NT$ it takes off. */
export function redeemValue(program: LoyaltyProgram, points: number, payable: number, balance: number): number {
  const { available, owed } = pointsStanding(balance);
  if (points > available) {
    throw new DomainError(
      'points_insufficient',
      owed > 0
        ? `The member owes ${owed} points (taken back by a void or refund); nothing can be redeemed until later purchases pay them off`
        : `The member has ${available} points; ${points} asked for`,
      { balance: available, owed, requested: points },
    );
  }
  const max = maxRedeemable(program, payable, balance);
  if (points > max) {
    throw new DomainError(
      'points_over_cap',
      `At most ${max} points on this purchase (up to ${program.maxRedeemPercent}% of NT$${payable})`,
      { max, requested: points },
    );
  }
  return points * program.pointValue;
}

/**
 * Points a refund takes back and gives back, as cumulative differences so that refunding a sale in
 * several goes takes back exactly what it earned. `fraction` is the share of the sale refunded so far.
 */
export function pointsToReverse(
  earned: number,
  redeemed: number,
  fractionBefore: number,
  fractionAfter: number,
): { reversed: number; returned: number } {
  const part = (total: number, f: number) => (f >= 1 ? total : Math.round(total * f));
  return {
    reversed: part(earned, fractionAfter) - part(earned, fractionBefore),
    returned: part(redeemed, fractionAfter) - part(redeemed, fractionBefore),
  };
}
