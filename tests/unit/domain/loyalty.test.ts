/**
 * The loyalty program (L1, L2) with the default 一般 / 銀卡 / 金卡 program: 銀卡 from NT$10,000 in the
 * window (3% off, 1.5x points), 金卡 from NT$30,000 (5% off, 2x points), 1 point per NT$100 paid,
 * 1 point = NT$1, at most 50% of a purchase in points. Every expected figure is worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PROGRAM,
  type LoyaltyProgram,
  checkProgram,
  maxRedeemable,
  nextTier,
  balanceAfterReversal,
  pointsEarned,
  pointsStanding,
  pointsToReverse,
  splitAgainstOwed,
  redeemValue,
  tierAfterSale,
  tierForSpend,
  tierRule,
} from '../../../hub/src/domain/loyalty.ts';
import { DomainError } from '../../../hub/src/domain/errors.ts';

const P = DEFAULT_PROGRAM;

function domainError(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  }
  throw new Error('expected a DomainError, nothing was thrown');
}

describe('tiers on window spend', () => {
  it('reaches a tier at exactly its threshold, not a dollar before', () => {
    expect(tierForSpend(P, 0).tier).toBe('regular');
    expect(tierForSpend(P, 9_999).tier).toBe('regular');
    expect(tierForSpend(P, 10_000).tier).toBe('silver');
    expect(tierForSpend(P, 29_999).tier).toBe('silver');
    expect(tierForSpend(P, 30_000).tier).toBe('gold');
    expect(tierForSpend(P, 1_000_000).tier).toBe('gold');
  });

  it('treats negative net spend (refunds) as the first tier', () => {
    expect(tierForSpend(P, -500).tier).toBe('regular');
  });

  it('falls back to the first tier for an unknown or empty tier id', () => {
    expect(tierRule(P, '').tier).toBe('regular');
    expect(tierRule(P, 'platinum').tier).toBe('regular');
    expect(tierRule(P, 'gold')).toMatchObject({ name: '金卡', discountPercent: 5, pointsMultiplier: 2 });
  });

  it('tierAfterSale raises a tier with the qualifying sale', () => {
    expect(tierAfterSale(P, 'regular', 9_999)).toBe('regular');
    expect(tierAfterSale(P, 'regular', 10_000)).toBe('silver');
    // straight from 一般 to 金卡 in one big sale
    expect(tierAfterSale(P, 'regular', 30_000)).toBe('gold');
    expect(tierAfterSale(P, 'silver', 30_000)).toBe('gold');
    // a new member's tier is '' until the first sale
    expect(tierAfterSale(P, '', 10_000)).toBe('silver');
    expect(tierAfterSale(P, '', 100)).toBe('regular');
  });

  it('tierAfterSale never lowers a tier (the nightly review does that)', () => {
    expect(tierAfterSale(P, 'gold', 0)).toBe('gold');
    expect(tierAfterSale(P, 'gold', 29_999)).toBe('gold');
    expect(tierAfterSale(P, 'silver', 9_999)).toBe('silver');
    expect(tierAfterSale(P, 'silver', -100)).toBe('silver');
  });

  it('nextTier says how much more is needed', () => {
    // 10,000 - 8,760 = 1,240
    expect(nextTier(P, 'regular', 8_760)).toEqual({
      tier: 'silver',
      tierName: '銀卡',
      threshold: 10_000,
      remaining: 1_240,
    });
    // 30,000 - 12,000 = 18,000
    expect(nextTier(P, 'silver', 12_000)).toEqual({
      tier: 'gold',
      tierName: '金卡',
      threshold: 30_000,
      remaining: 18_000,
    });
    // 10,000 - 9,999 = 1
    expect(nextTier(P, 'regular', 9_999)?.remaining).toBe(1);
    expect(nextTier(P, '', 0)).toMatchObject({ tier: 'silver', remaining: 10_000 });
  });

  it('nextTier never goes below zero and ends at the top tier', () => {
    // a 銀卡 member whose spend fell (before the nightly review) still sees 金卡 as next
    expect(nextTier(P, 'silver', 5_000)).toMatchObject({ tier: 'gold', remaining: 25_000 });
    // still 一般 with 10,500 (e.g. a stale tier): nothing more needed, not -500
    expect(nextTier(P, 'regular', 10_500)).toMatchObject({ tier: 'silver', remaining: 0 });
    expect(nextTier(P, 'gold', 50_000)).toBeNull();
  });
});

describe('pointsEarned', () => {
  it('earns one point per whole NT$100 paid, rounded down', () => {
    expect(pointsEarned(P, 'regular', 0)).toBe(0);
    expect(pointsEarned(P, 'regular', -50)).toBe(0);
    expect(pointsEarned(P, 'regular', 99)).toBe(0);
    expect(pointsEarned(P, 'regular', 100)).toBe(1);
    // floor(1,149 / 100) = 11
    expect(pointsEarned(P, 'regular', 1_149)).toBe(11);
  });

  it('applies the tier multiplier to the whole points, then rounds down', () => {
    // 銀卡 1.5x: floor(1,149 / 100) = 11; 11 x 1.5 = 16.5 -> 16
    expect(pointsEarned(P, 'silver', 1_149)).toBe(16);
    // 12 x 1.5 = 18 exactly
    expect(pointsEarned(P, 'silver', 1_200)).toBe(18);
    // floor(387 / 100) = 3; 3 x 1.5 = 4.5 -> 4
    expect(pointsEarned(P, 'silver', 387)).toBe(4);
    // 金卡 2x: 11 x 2 = 22
    expect(pointsEarned(P, 'gold', 1_149)).toBe(22);
    // an unknown tier earns at the first tier's 1x
    expect(pointsEarned(P, 'nope', 1_149)).toBe(11);
  });

  it('follows a configured rate', () => {
    // one point per NT$30: floor(100 / 30) = 3, x 1.5 = 4.5 -> 4
    const program: LoyaltyProgram = { ...P, amountPerPoint: 30 };
    expect(pointsEarned(program, 'silver', 100)).toBe(4);
  });
});

describe('redeeming points', () => {
  it('allows at most half of the purchase, and never more than the balance', () => {
    // 50% of NT$15 = 7.5 -> 7 points
    expect(maxRedeemable(P, 15, 100)).toBe(7);
    // 50% of 1,000 = 500, but only 300 points held
    expect(maxRedeemable(P, 1_000, 300)).toBe(300);
    // 50% of 1,000 = 500 with 800 held
    expect(maxRedeemable(P, 1_000, 800)).toBe(500);
    expect(maxRedeemable(P, 1_000, 0)).toBe(0);
    expect(maxRedeemable(P, 0, 100)).toBe(0);
  });

  it('allows nothing while the balance is negative (points taken back after being spent)', () => {
    expect(maxRedeemable(P, 1_000, -5)).toBe(0);
  });

  it('counts whole points when a point is worth more than NT$1', () => {
    // point = NT$2: 50% of 15 = 7 (NT$) -> floor(7 / 2) = 3 points
    const program: LoyaltyProgram = { ...P, pointValue: 2 };
    expect(maxRedeemable(program, 15, 100)).toBe(3);
    // 3 points x NT$2 = NT$6 off
    expect(redeemValue(program, 3, 15, 100)).toBe(6);
  });

  it('gives the NT$ taken off, up to the cap exactly', () => {
    // 7 points = NT$7 on a NT$15 purchase (cap 7)
    expect(redeemValue(P, 7, 15, 11)).toBe(7);
    // partial redemption: 4 of 11 points
    expect(redeemValue(P, 4, 15, 11)).toBe(4);
    expect(redeemValue(P, 0, 15, 11)).toBe(0);
  });

  it('refuses more points than the member has', () => {
    const err = domainError(() => redeemValue(P, 12, 30, 11));
    expect(err.code).toBe('points_insufficient');
    expect(err.details).toEqual({ balance: 11, owed: 0, requested: 12 });
  });

  it('refuses more than the cap, saying what the cap is', () => {
    // NT$15 purchase: cap 7; 8 asked for (the member has 11)
    const err = domainError(() => redeemValue(P, 8, 15, 11));
    expect(err.code).toBe('points_over_cap');
    expect(err.details).toEqual({ max: 7, requested: 8 });
    expect(err.message).toContain('At most 7 points');
  });

  it('checks the balance before the cap', () => {
    // 20 asked, 11 held, cap 7: the balance is the first problem
    expect(domainError(() => redeemValue(P, 20, 15, 11)).code).toBe('points_insufficient');
  });
});

describe('pointsToReverse on refunds', () => {
  it('takes back and gives back everything on a full refund or void', () => {
    expect(pointsToReverse(11, 10, 0, 1)).toEqual({ reversed: 11, returned: 10 });
  });

  it('refunding a sale in thirds adds up exactly to what it earned and redeemed', () => {
    // earned 11: cumulative round(11/3 = 3.67) = 4, round(22/3 = 7.33) = 7, 11 -> steps 4, 3, 4
    // redeemed 10: cumulative round(3.33) = 3, round(6.67) = 7, 10 -> steps 3, 4, 3
    const steps = [
      pointsToReverse(11, 10, 0, 1 / 3),
      pointsToReverse(11, 10, 1 / 3, 2 / 3),
      pointsToReverse(11, 10, 2 / 3, 1),
    ];
    expect(steps).toEqual([
      { reversed: 4, returned: 3 },
      { reversed: 3, returned: 4 },
      { reversed: 4, returned: 3 },
    ]);
    expect(steps.reduce((s, x) => s + x.reversed, 0)).toBe(11);
    expect(steps.reduce((s, x) => s + x.returned, 0)).toBe(10);
  });

  it('rounds a half up and still adds up', () => {
    // earned 11, half refunded: round(5.5) = 6, then 11 - 6 = 5
    expect(pointsToReverse(11, 0, 0, 0.5)).toEqual({ reversed: 6, returned: 0 });
    expect(pointsToReverse(11, 0, 0.5, 1)).toEqual({ reversed: 5, returned: 0 });
  });

  it('a refund of 890 of 1,109 takes back 9 of 11 points, the rest 2', () => {
    // 11 x 890 / 1,109 = 8.83 -> 9; 11 - 9 = 2
    expect(pointsToReverse(11, 0, 0, 890 / 1_109)).toEqual({ reversed: 9, returned: 0 });
    expect(pointsToReverse(11, 0, 890 / 1_109, 1)).toEqual({ reversed: 2, returned: 0 });
  });

  it('adds up over many small refunds (ten tenths of 7 points)', () => {
    let reversed = 0;
    for (let i = 0; i < 10; i++) reversed += pointsToReverse(7, 0, i / 10, (i + 1) / 10).reversed;
    expect(reversed).toBe(7);
  });

  it('reverses nothing when nothing was earned or redeemed', () => {
    expect(pointsToReverse(0, 0, 0, 1)).toEqual({ reversed: 0, returned: 0 });
  });
});

describe('checkProgram', () => {
  it('finds nothing wrong with the default program', () => {
    expect(checkProgram(P)).toEqual([]);
  });

  it('requires the first tier to start at 0', () => {
    const program: LoyaltyProgram = { ...P, tiers: [{ ...P.tiers[0]!, threshold: 100 }, ...P.tiers.slice(1)] };
    expect(checkProgram(program)).toEqual(['the first tier must have threshold 0']);
  });

  it('requires thresholds to ascend strictly', () => {
    // 金卡 at 10,000 like 銀卡
    const program: LoyaltyProgram = { ...P, tiers: [P.tiers[0]!, P.tiers[1]!, { ...P.tiers[2]!, threshold: 10_000 }] };
    expect(checkProgram(program)).toEqual(['tier gold: thresholds must ascend']);
  });

  it('requires distinct tier ids, and reports every problem at once', () => {
    const program: LoyaltyProgram = {
      ...P,
      tiers: [
        { ...P.tiers[0]!, threshold: 5 },
        { ...P.tiers[1]!, tier: 'regular', threshold: 1 },
      ],
    };
    expect(checkProgram(program)).toEqual([
      'the first tier must have threshold 0',
      'tier regular: thresholds must ascend',
      'tier ids repeat',
    ]);
  });
});

describe('points owed (欠點)', () => {
  it('a balance below 0 is points owed, with nothing to spend', () => {
    expect(pointsStanding(12)).toEqual({ available: 12, owed: 0 });
    expect(pointsStanding(0)).toEqual({ available: 0, owed: 0 });
    expect(pointsStanding(-8)).toEqual({ available: 0, owed: 8 });
  });

  it('points coming in pay off what is owed first', () => {
    expect(splitAgainstOwed(-8, 3)).toEqual({ repaid: 3, kept: 0 });
    expect(splitAgainstOwed(-8, 11)).toEqual({ repaid: 8, kept: 3 });
    expect(splitAgainstOwed(5, 11)).toEqual({ repaid: 0, kept: 11 });
  });

  it('a void of a sale whose 11 points were spent, with 3 left, leaves 8 owed', () => {
    expect(pointsStanding(balanceAfterReversal(3, 11, 0))).toEqual({ available: 0, owed: 8 });
    // a void also gives back points the sale spent: they pay off owed points too
    expect(pointsStanding(balanceAfterReversal(3, 11, 5))).toEqual({ available: 0, owed: 3 });
  });

  it('owed points can never be redeemed, and the refusal says they are owed', () => {
    expect(maxRedeemable(DEFAULT_PROGRAM, 1_000, -8)).toBe(0);
    try {
      redeemValue(DEFAULT_PROGRAM, 1, 1_000, -8);
      expect.unreachable('redeemed points that are owed');
    } catch (err) {
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).code).toBe('points_insufficient');
      expect((err as DomainError).details).toEqual({ balance: 0, owed: 8, requested: 1 });
      expect((err as DomainError).message).toContain('owes 8 points');
    }
  });
});
