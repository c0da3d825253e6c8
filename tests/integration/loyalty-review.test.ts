/**
 * The nightly loyalty review (L1, L2) on a real hub with a clock the test moves: a member reaches
 * 銀卡 with NT$10,680 on 2026-01-10, keeps it while that sale is inside the 12-month window, is
 * downgraded once it falls out, and the points of that sale expire 24 months after the day they were
 * earned, while later points stay. Every review run twice changes nothing the second time.
 * Default program: 1 point per NT$100, 銀卡 from NT$10,000 (1.5x points), points expire after 24 months.
 * Demo prices: PET-001 NT$890, FOD-001 NT$399. All times are 10:00 in Taipei (02:00 UTC).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { MemberCard, PointsLedgerEntry } from '../../hub/src/protocol/members.ts';
import type { MemberTierChangedData, PointsExpiredData } from '../../hub/src/protocol/events.ts';
import { type TabletClient, pairedTablet, startTestHub, signUpMember } from '../support/test-hub.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { scanJournal } from '../support/journal-files.ts';

const temp = new TempDirs();
const clock = new FakeClock('2026-01-10T02:00:00Z');
let dataDir: string;
let hub: Hub;
let cashier: TabletClient;
let memberId: string;

/** Moves the clock to 10:00 Taipei time on a store date; the next shift logs in again. */
async function moveTo(date: string): Promise<void> {
  clock.set(`${date}T02:00:00Z`);
  // Staff sessions last 12 hours.
  await cashier.login('1111');
}

const card = async () => {
  const res = await cashier.request('GET', `/api/members/${memberId}/card`);
  expect(res.status).toBe(200);
  return res.body as unknown as MemberCard;
};
const points = async () => {
  const res = await cashier.request('GET', `/api/members/${memberId}/points`);
  expect(res.status).toBe(200);
  return res.body as unknown as { balance: number; entries: PointsLedgerEntry[] };
};
const journalOf = <T>(type: string) =>
  scanJournal(dataDir)
    .events.filter((e) => e.type === type)
    .map((e) => e.data as T);

/** Runs the review twice: the second run must find nothing left to do. */
async function review() {
  const first = await hub.members.reviewLoyalty();
  const second = await hub.members.reviewLoyalty();
  expect(second).toEqual({ downgraded: 0, pointsExpired: 0 });
  return first;
}

beforeAll(async () => {
  dataDir = temp.make();
  hub = await startTestHub({ dataDir, clock: clock.now });
  cashier = await pairedTablet(hub, '1111', 'Counter');
  memberId = await signUpMember(cashier, '0955123456');
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

describe('nightly loyalty review', () => {
  it('a member reaches 銀卡 with NT$10,000 in 12 months', async () => {
    // 12 x 890 = 10,680 >= 10,000; earned at 一般 (1x): floor(10,680 / 100) = 106 points
    const sale = await sell(
      cashier,
      checkoutRequest([{ sku: 'PET-001', qty: 12 }], [{ type: 'cash', amount: 10_680 }], { memberId }),
    );
    expect(sale.total).toBe(10_680);
    expect(sale.loyalty).toMatchObject({
      tierBefore: 'regular',
      tierAfter: 'silver',
      pointsEarned: 106,
      windowSpend: 10_680,
    });
    const c = await card();
    // next: 金卡 at 30,000: 30,000 - 10,680 = 19,320 more
    expect(c.tier).toMatchObject({
      tier: 'silver',
      tierName: '銀卡',
      windowSpend: 10_680,
      next: { tier: 'gold', remaining: 19_320 },
    });
    expect(c.points).toBe(106);
    // nothing to review on the day of the sale
    expect(await review()).toEqual({ downgraded: 0, pointsExpired: 0 });
  });

  it('keeps 銀卡 while the sale is inside the window (12 months less a day)', async () => {
    // on 2027-01-09 the window starts after 2026-01-09: the 2026-01-10 sale still counts
    await moveTo('2027-01-09');
    expect(await review()).toEqual({ downgraded: 0, pointsExpired: 0 });
    expect((await card()).tier).toMatchObject({ tier: 'silver', windowSpend: 10_680 });
  });

  it('13 months on, downgrades to 一般 (member.tier_changed), once', async () => {
    // on 2027-02-10 the window starts after 2026-02-10: nothing in it
    await moveTo('2027-02-10');
    expect(await review()).toEqual({ downgraded: 1, pointsExpired: 0 });
    const c = await card();
    expect(c.tier).toMatchObject({
      tier: 'regular',
      tierName: '一般',
      discountPercent: 0,
      windowSpend: 0,
      next: { tier: 'silver', remaining: 10_000 },
    });
    // the points are not touched by the downgrade
    expect(c.points).toBe(106);
    expect(journalOf<MemberTierChangedData>('member.tier_changed')).toEqual([
      { memberId, from: 'silver', to: 'regular', windowSpend: 0 },
    ]);
  });

  it('earns at the lower tier afterwards', async () => {
    // 399 at 一般 (1x): floor(3.99) = 3 points, earned 2027-02-10; 106 + 3 = 109
    const sale = await sell(
      cashier,
      checkoutRequest([{ sku: 'FOD-001', qty: 1 }], [{ type: 'cash', amount: 399 }], { memberId }),
    );
    expect(sale).toMatchObject({ memberDiscount: 0, total: 399 });
    expect(sale.loyalty).toMatchObject({
      tierBefore: 'regular',
      tierAfter: 'regular',
      pointsEarned: 3,
      pointsBalance: 109,
    });
  });

  it('does not expire points a day before they are 24 months old', async () => {
    // on 2028-01-09 the cutoff is 2026-01-09: the lot of 2026-01-10 is not yet expired
    await moveTo('2028-01-09');
    expect(await review()).toEqual({ downgraded: 0, pointsExpired: 0 });
    expect((await points()).balance).toBe(109);
  });

  it('25 months on, expires the points older than 24 months and keeps the later ones', async () => {
    // on 2028-02-10 the cutoff is 2026-02-10: the 106 points of 2026-01-10 expire,
    // the 3 of 2027-02-10 stay; the 2027-02-10 sale has left the window but the tier is 一般 already
    await moveTo('2028-02-10');
    expect(await review()).toEqual({ downgraded: 0, pointsExpired: 106 });
    expect((await card()).points).toBe(3);
    const ledger = await points();
    expect(ledger.balance).toBe(3);
    // newest first: expired -106 (109 - 106 = 3), earned 3 (106 + 3 = 109), earned 106
    expect(ledger.entries.map((e) => [e.kind, e.points, e.balance])).toEqual([
      ['expired', -106, 3],
      ['earned', 3, 109],
      ['earned', 106, 106],
    ]);
    expect(ledger.entries[0]).toMatchObject({ saleId: null, earnedOnOrBefore: '2026-02-10' });
    expect(journalOf<PointsExpiredData>('points.expired')).toEqual([
      { memberId, points: 106, earnedOnOrBefore: '2026-02-10' },
    ]);
  });

  it('after a restart the review still finds nothing to do, and the card is the same', async () => {
    const before = await card();
    await hub.stop();
    hub = await startTestHub({ dataDir, clock: clock.now });
    cashier = await pairedTablet(hub, '1111', 'Counter');
    expect(await hub.members.reviewLoyalty()).toEqual({ downgraded: 0, pointsExpired: 0 });
    expect(await card()).toMatchObject({ points: before.points, tier: before.tier });
    expect(journalOf('member.tier_changed')).toHaveLength(1);
    expect(journalOf('points.expired')).toHaveLength(1);
  });
});
