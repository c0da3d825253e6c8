/**
 * Money settings and approvals on a full disk, for real (the data directory on a small tmpfs): the
 * owner's new discount limits take effect only once their journal event is on disk, and a sale
 * whose write fails gives its manager's approval back for the retry.
 *
 * Needs root (mount -t tmpfs); skipped with a message where mounting is not permitted.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { DiscountApprovalView, SaleView } from '../../hub/src/protocol/api.ts';
import { type TabletClient, pairedTablet, startTestHub, demoPin } from '../support/test-hub.ts';
import { checkoutRequest } from '../support/sales.ts';
import { scanJournal } from '../support/journal-files.ts';
import { mountSmallDisk } from '../support/small-disk.ts';

const disk = mountSmallDisk({ prefix: 'ayi-money-disk-', label: 'money full-disk tests' });
const dataDir = path.join(disk.mountPoint, 'data');

describe.skipIf(disk.problem !== null)('discount limits and approvals on a full disk', () => {
  let hub: Hub;
  let cashier: TabletClient;
  let owner: TabletClient;

  beforeAll(async () => {
    hub = await startTestHub({ dataDir });
    cashier = await pairedTablet(hub, demoPin('cashier'), 'Counter');
    owner = await pairedTablet(hub, demoPin('owner'), 'Office');
  });
  afterAll(async () => {
    await hub?.stop();
    disk.remove();
  });

  /** Fills the disk and uses up what a file's last page still holds, until a write is refused. */
  const fillUntilRefused = async () => {
    disk.fill();
    for (let attempt = 0; attempt < 50; attempt++) {
      const res = await cashier.request(
        'POST',
        '/api/sales',
        checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]),
      );
      if (res.status === 507) return;
      expect(res.status).toBe(201);
    }
    throw new Error('the full disk never refused a sale');
  };

  it('a change of the limits that cannot be written leaves the old limits in force, and is recorded once space is back', async () => {
    await fillUntilRefused();
    const refused = await owner.request('PUT', '/api/settings/discounts', {
      maxLinePercent: 100,
      maxOrderPercent: 100,
    });
    expect(refused.status).toBe(507);
    expect(refused.body.error?.code).toBe('storage_full');
    expect((await cashier.request('GET', '/api/settings/discounts')).body).toEqual({
      maxLinePercent: 20,
      maxOrderPercent: 20,
    });
    // still judged by the old limits
    const {
      idempotencyKey: _k,
      tenders: _t,
      ...cart
    } = checkoutRequest([{ sku: 'FOD-001', qty: 1, discount: { kind: 'percent', value: 100 } }], []);
    const quote = await cashier.request('POST', '/api/sales/quote', cart);
    expect((quote.body.discountsOverLimit as unknown[]).length).toBeGreaterThan(0);

    rmSync(disk.filler);
    const set = await owner.request('PUT', '/api/settings/discounts', { maxLinePercent: 30, maxOrderPercent: 25 });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ maxLinePercent: 30, maxOrderPercent: 25 });
    const changes = scanJournal(dataDir).events.filter((e) => e.type === 'settings.discount_policy_changed');
    expect(changes.map((e) => e.data)).toEqual([
      {
        staffId: expect.any(String),
        deviceId: owner.deviceId,
        previous: { maxLinePercent: 20, maxOrderPercent: 20 },
        limits: { maxLinePercent: 30, maxOrderPercent: 25 },
      },
    ]);
    await owner.request('PUT', '/api/settings/discounts', { maxLinePercent: 20, maxOrderPercent: 20 });
  });

  it('a sale with an approval whose write fails gives the approval back for its retry', async () => {
    const request = checkoutRequest(
      [
        { sku: 'FOD-001', qty: 1, discount: { kind: 'percent', value: 100 } },
        { sku: 'DRK-001', qty: 1 },
      ],
      [{ type: 'cash', amount: 15 }],
    );
    const approval = await cashier.request('POST', '/api/sales/approvals', {
      idempotencyKey: request.idempotencyKey,
      pin: demoPin('manager'),
      lines: request.lines,
    });
    expect(approval.status).toBe(201);
    const grant = approval.body as unknown as DiscountApprovalView;

    await fillUntilRefused();
    const failed = await cashier.request('POST', '/api/sales', { ...request, approvalToken: grant.approvalToken });
    expect(failed.status).toBe(507);

    rmSync(disk.filler);
    const retried = await cashier.request('POST', '/api/sales', { ...request, approvalToken: grant.approvalToken });
    expect(retried.status).toBe(201);
    expect((retried.body as unknown as SaleView).approvedBy).toBe(grant.approvedBy.id);
  });
});
