/**
 * Points owed (欠點): a void takes back points a sale earned even when the member has spent them
 * since. What is left is shown as owed (card, pick list, ledger, receipt), never as spendable, and
 * later earnings pay it off first. The manager sees it before confirming the void.
 * Demo program: 1 point per NT$100 at 一般; FOD-001 NT$399, DRK-001 NT$15.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { QuoteView, RefundPreview, SaleView, VoidPreview } from '../../hub/src/protocol/api.ts';
import type { MemberCard, PointsLedgerView } from '../../hub/src/protocol/members.ts';
import { type TabletClient, pairedTablet, startTestHub, demoPin, signUpMember } from '../support/test-hub.ts';
import { checkoutRequest, newKey, sell } from '../support/sales.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
// 20:00 in Taipei: every sale and the void fall on the same business day
const clock = new FakeClock('2026-11-22T12:00:00Z');
let hub: Hub;
let cashier: TabletClient;
let manager: TabletClient;
let memberId: string;

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make(), clock: clock.now });
  cashier = await pairedTablet(hub, demoPin('cashier'), 'Counter');
  manager = await pairedTablet(hub, demoPin('manager'), 'Back office');
  memberId = await signUpMember(cashier, '0955123789');
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

const card = async () => (await cashier.request('GET', `/api/members/${memberId}/card`)).body as unknown as MemberCard;
const ledger = async () =>
  (await cashier.request('GET', `/api/members/${memberId}/points`)).body as unknown as {
    balance: number;
    owed: number;
    entries: PointsLedgerView[];
  };
const receiptText = async (saleId: string) =>
  ((await cashier.request('GET', `/api/sales/${saleId}/receipt`)).body as unknown as { jobs: { text: string }[] })
    .jobs[0]?.text ?? '';

/**
 * 3 x 399 = 1197 earns the member 11 points, then all 11 are spent on one more FOD-001 (388 paid, 3
 * earned): balance 3. Returns the sale that earned the 11.
 */
async function earnThenSpendAll(member: string): Promise<SaleView> {
  const earning = await sell(
    cashier,
    checkoutRequest([{ sku: 'FOD-001', qty: 3 }], [{ type: 'cash', amount: 1197 }], { memberId: member }),
  );
  await sell(
    cashier,
    checkoutRequest([{ sku: 'FOD-001', qty: 1 }], [{ type: 'cash', amount: 388 }], {
      memberId: member,
      redeemPoints: 11,
    }),
  );
  return earning;
}

describe('points owed after a void', () => {
  let earning: SaleView;

  it('a void of a sale whose points were spent leaves points owed, shown before and after the void', async () => {
    // 3 x 399 = 1197: 11 points
    earning = await sell(
      cashier,
      checkoutRequest([{ sku: 'FOD-001', qty: 3 }], [{ type: 'cash', amount: 1197 }], { memberId }),
    );
    expect(earning.loyalty?.pointsEarned).toBe(11);
    // 11 points spent on one FOD-001: 388 paid, 3 points earned -> balance 3
    const spending = await sell(
      cashier,
      checkoutRequest([{ sku: 'FOD-001', qty: 1 }], [{ type: 'cash', amount: 388 }], { memberId, redeemPoints: 11 }),
    );
    expect(spending.loyalty?.pointsBalance).toBe(3);

    // Before confirming, the manager sees that the member will owe 11 - 3 = 8 points.
    const preview = await manager.request('GET', `/api/sales/${earning.saleId}/void-preview`);
    expect(preview.status).toBe(200);
    expect((preview.body as unknown as VoidPreview).member).toEqual({
      memberId,
      pointsReversed: 11,
      pointsReturned: 0,
      pointsBefore: 3,
      owedBefore: 0,
      pointsAfter: 0,
      owedAfter: 8,
    });
    expect((await cashier.request('GET', `/api/sales/${earning.saleId}/void-preview`)).status).toBe(403);

    const voided = await manager.request('POST', `/api/sales/${earning.saleId}/void`, { reason: 'wrong member' });
    expect(voided.status).toBe(200);

    expect(await card()).toMatchObject({ points: 0, pointsOwed: 8 });
    const lookup = await cashier.request('POST', '/api/members/lookup', { query: '0955123789' });
    expect((lookup.body as { matches: { points: number; pointsOwed: number }[] }).matches[0]).toMatchObject({
      points: 0,
      pointsOwed: 8,
    });
    const points = await ledger();
    expect(points).toMatchObject({ balance: 0, owed: 8 });
    expect(points.entries[0]).toMatchObject({
      kind: 'reversed',
      points: -11,
      balance: -8,
      owed: 8,
      saleId: earning.saleId,
    });
  });

  it('owed points cannot be redeemed', async () => {
    const cart = { lines: [{ sku: 'FOD-001', qty: 1 }], memberId, redeemPoints: 1 };
    const quote = (await cashier.request('POST', '/api/sales/quote', cart)).body as unknown as QuoteView;
    expect(quote).toMatchObject({ maxRedeemablePoints: 0, pointsRedeemed: 0 });
    const res = await cashier.request(
      'POST',
      '/api/sales',
      checkoutRequest(cart.lines, [{ type: 'cash', amount: 399 }], { memberId, redeemPoints: 1 }),
    );
    expect(res.status).toBe(422);
    expect(res.body.error?.code).toBe('points_insufficient');
    expect(res.body.error?.message).toContain('owes 8 points');
    expect((res.body.error as { details?: unknown }).details).toMatchObject({ balance: 0, owed: 8 });
  });

  it('the next earnings pay the points owed first; the receipt says what is still owed', async () => {
    // 399 paid: 3 points, all to the 8 owed -> 5 owed
    const first = await sell(
      cashier,
      checkoutRequest([{ sku: 'FOD-001', qty: 1 }], [{ type: 'cash', amount: 399 }], { memberId }),
    );
    expect(first.loyalty).toMatchObject({ pointsEarned: 3, pointsBalance: -5 });
    expect(await card()).toMatchObject({ points: 0, pointsOwed: 5 });
    expect((await ledger()).entries[0]).toMatchObject({ kind: 'earned', points: 3, owedRepaid: 3, owed: 5 });
    await expect.poll(() => receiptText(first.saleId)).toMatch(/欠點 POINTS OWED\s+5\b/);
    expect(await receiptText(first.saleId)).not.toContain('點數餘額');

    // 1197 paid: 11 points, 5 to the debt, 6 to spend
    const second = await sell(
      cashier,
      checkoutRequest([{ sku: 'FOD-001', qty: 3 }], [{ type: 'cash', amount: 1197 }], { memberId }),
    );
    expect(second.loyalty).toMatchObject({ pointsEarned: 11, pointsBalance: 6 });
    expect(await card()).toMatchObject({ points: 6, pointsOwed: 0 });
    expect((await ledger()).entries[0]).toMatchObject({ kind: 'earned', points: 11, owedRepaid: 5, owed: 0 });
    await expect.poll(() => receiptText(second.saleId)).toMatch(/點數餘額\s+6\b/);

    // and the 6 can be spent
    const spend = await sell(
      cashier,
      checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 9 }], { memberId, redeemPoints: 6 }),
    );
    expect(spend.pointsRedeemed).toBe(6);
  });

  it('a sale without a member previews no points change', async () => {
    const sale = await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]));
    const preview = await manager.request('GET', `/api/sales/${sale.saleId}/void-preview`);
    expect(preview.body).toEqual({ saleId: sale.saleId, member: null });
  });
});

describe('points owed after a refund', () => {
  it('the refund preview tells the manager what the member will owe before they confirm', async () => {
    const refundee = await signUpMember(cashier, '0955123790');
    const refundeeCard = async () =>
      (await cashier.request('GET', `/api/members/${refundee}/card`)).body as unknown as MemberCard;
    // 3 x 399 = 1197: 11 points, then all 11 spent on one more FOD-001 (3 earned -> balance 3)
    const earning = await earnThenSpendAll(refundee);
    expect(await refundeeCard()).toMatchObject({ points: 3, pointsOwed: 0 });

    const lines = [{ lineNo: 1, qty: 2 }];
    const preview = await manager.request('POST', `/api/sales/${earning.saleId}/refund-preview`, { lines });
    expect(preview.status).toBe(200);
    const { amount, member } = preview.body as unknown as RefundPreview;
    // two of three units back: 2/3 of 11 points taken back (7), 3 available, so 4 owed
    expect(member).toEqual({
      memberId: refundee,
      pointsReversed: 7,
      pointsReturned: 0,
      pointsBefore: 3,
      owedBefore: 0,
      pointsAfter: 0,
      owedAfter: 4,
    });
    expect(amount).toBe(798);
    // a preview records nothing, is for managers only and refuses what the refund would refuse
    expect(await refundeeCard()).toMatchObject({ points: 3, pointsOwed: 0 });
    expect((await cashier.request('POST', `/api/sales/${earning.saleId}/refund-preview`, { lines })).status).toBe(403);
    const tooMany = await manager.request('POST', `/api/sales/${earning.saleId}/refund-preview`, {
      lines: [{ lineNo: 1, qty: 4 }],
    });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.error?.code).toBe('refund_exceeds_sale');

    // the refund does what the preview said
    const refunded = await manager.request('POST', `/api/sales/${earning.saleId}/refund`, {
      idempotencyKey: newKey(),
      lines,
      reason: 'returned',
    });
    expect(refunded.status).toBe(200);
    expect((refunded.body as unknown as SaleView).refundedAmount).toBe(amount);
    expect(await refundeeCard()).toMatchObject({ points: 0, pointsOwed: 4 });
  });
});

describe('points owed and a merge', () => {
  it('points a merged record brings pay off what the kept member owed, and its ledger line says so', async () => {
    const kept = await signUpMember(cashier, '0955123791');
    const other = await signUpMember(cashier, '0955123792');
    // kept: 11 earned, spent, sale voided -> owes 8
    const earning = await earnThenSpendAll(kept);
    await manager.request('POST', `/api/sales/${earning.saleId}/void`, { reason: 'wrong member' });
    // other: 11 points
    await sell(
      cashier,
      checkoutRequest([{ sku: 'FOD-001', qty: 3 }], [{ type: 'cash', amount: 1197 }], { memberId: other }),
    );
    const merged = await manager.request('POST', '/api/members/merge', { fromMemberId: other, intoMemberId: kept });
    expect(merged.status).toBe(200);
    const points = (await cashier.request('GET', `/api/members/${kept}/points`)).body as unknown as {
      balance: number;
      owed: number;
      entries: PointsLedgerView[];
    };
    expect(points).toMatchObject({ balance: 3, owed: 0 });
    expect(points.entries[0]).toMatchObject({ kind: 'merged', points: 11, balance: 3, owedRepaid: 8, owed: 0 });
  });
});
