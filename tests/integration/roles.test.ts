/**
 * Who may do what: cashiers sell; managers also void, refund and import the catalog; owners also
 * manage the paired tablets. Revoking a tablet shuts it out at once, WebSocket included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { TabletClient, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { checkoutRequest, newKey, sell } from '../support/sales.ts';
import { openTabletSocket } from '../support/ws-client.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
let hub: Hub;
let cashier: TabletClient;
let manager: TabletClient;
let owner: TabletClient;

const CSV = 'sku,barcodes,name,category,price,repurchase_days\nNEW-001,4719999000001,新品,測試,50,\n';

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make() });
  [cashier, manager, owner] = await Promise.all([
    pairedTablet(hub, '1111', 'Cashier tablet'),
    pairedTablet(hub, '222222', 'Manager tablet'),
    pairedTablet(hub, '333333', 'Owner tablet'),
  ]);
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

// DRK-001 is NT$15 in the demo catalog: 2 x 15 = 30, paid 50 -> 20 change
const saleBy = (tablet: TabletClient) =>
  sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 2 }], [{ type: 'cash', amount: 50 }]));

describe('cashier', () => {
  it('can sell and look at sales', async () => {
    const sale = await saleBy(cashier);
    expect(sale).toMatchObject({ total: 30, change: 20, staffName: '小美' });
    expect((await cashier.request('GET', `/api/sales/${sale.saleId}`)).status).toBe(200);
    expect((await cashier.request('POST', `/api/sales/${sale.saleId}/reprint`)).status).toBe(200);
  });

  it('gets 403 role_required for void, refund, catalog import and devices', async () => {
    const sale = await saleBy(cashier);
    const attempts = [
      await cashier.request('POST', `/api/sales/${sale.saleId}/void`, { reason: 'mistake' }),
      await cashier.request('POST', `/api/sales/${sale.saleId}/refund`, {
        idempotencyKey: newKey(),
        lines: [{ lineNo: 1, qty: 1 }],
        reason: 'broken',
      }),
      await cashier.request('POST', '/api/catalog/import', CSV, 'text/csv'),
      await cashier.request('GET', '/api/devices'),
      await cashier.request('DELETE', `/api/devices/${owner.deviceId}`),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(403);
      expect(res.body.error?.code).toBe('role_required');
    }
    // and none of it happened
    const after = (await manager.request('GET', `/api/sales/${sale.saleId}`)).body as unknown as SaleView;
    expect(after).toMatchObject({ status: 'completed', refundedAmount: 0 });
    expect((await cashier.request('GET', '/api/products/barcode/4719999000001')).status).toBe(404);
    expect((await owner.request('GET', '/api/me')).status).toBe(200);
  });
});

describe('manager', () => {
  it('can void and refund', async () => {
    const toVoid = await saleBy(cashier);
    const voided = await manager.request('POST', `/api/sales/${toVoid.saleId}/void`, {
      reason: 'customer changed mind',
    });
    expect(voided.status).toBe(200);
    expect(voided.body.status).toBe('voided');

    const toRefund = await saleBy(cashier);
    const refunded = await manager.request('POST', `/api/sales/${toRefund.saleId}/refund`, {
      idempotencyKey: newKey(),
      lines: [{ lineNo: 1, qty: 1 }],
      reason: 'dented can',
    });
    expect(refunded.status).toBe(200);
    // one of two NT$15 units
    expect(refunded.body).toMatchObject({ status: 'partially_refunded', refundedAmount: 15 });
  });

  it('cannot manage devices', async () => {
    expect((await manager.request('GET', '/api/devices')).status).toBe(403);
  });
});

describe('owner', () => {
  it('lists the paired devices', async () => {
    const res = await owner.request('GET', '/api/devices');
    expect(res.status).toBe(200);
    const devices = res.body.devices as {
      deviceId: string;
      name: string;
      pairedAt: string;
      lastSeenAt: string | null;
    }[];
    const names = new Map(devices.map((d) => [d.deviceId, d.name]));
    expect(names.get(cashier.deviceId!)).toBe('Cashier tablet');
    expect(names.get(manager.deviceId!)).toBe('Manager tablet');
    expect(names.get(owner.deviceId!)).toBe('Owner tablet');
    for (const device of devices) {
      expect(Date.parse(device.pairedAt)).not.toBeNaN();
      // the hub keeps only token hashes and never hands them out
      expect(JSON.stringify(device)).not.toMatch(/token/i);
    }
  });

  it('revokes a device: its token is refused and its open WebSocket is closed with 4401', async () => {
    const doomed = await pairedTablet(hub, '1111', 'Lost tablet');
    const socket = await openTabletSocket(doomed);
    await socket.next('hello');
    const bystander = await openTabletSocket(cashier);
    await bystander.next('hello');

    const res = await owner.request('DELETE', `/api/devices/${doomed.deviceId}`);
    expect(res.status).toBe(204);
    expect(await socket.closed).toBe(4401);

    for (const url of ['/api/me', '/api/products', '/api/sales']) {
      const after = await doomed.request('GET', url);
      expect(after.status).toBe(401);
      expect(after.body.error?.code).toBe('device_not_paired');
    }
    const resold = await doomed.request(
      'POST',
      '/api/sales',
      checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]),
    );
    expect(resold.status).toBe(401);

    // the other tablets carry on
    expect(bystander.ws.readyState).toBe(bystander.ws.OPEN);
    expect((await cashier.request('GET', '/api/products')).status).toBe(200);
    await bystander.close();

    // a revoked device is listed as such, and cannot be revoked twice
    const listed = (await owner.request('GET', '/api/devices')).body.devices as {
      deviceId: string;
      revokedAt: string | null;
    }[];
    expect(listed.find((d) => d.deviceId === doomed.deviceId)?.revokedAt).toEqual(expect.any(String));
    expect((await owner.request('DELETE', `/api/devices/${doomed.deviceId}`)).status).toBe(404);
  });
});

describe('API routes without a role check', () => {
  it('are exactly these: health, pairing, who am I, log-in and log-out, and the WebSocket', () => {
    // A route added without a role check, or one that lost its check, shows up here.
    const open = hub
      .apiRoutes()
      .filter((route) => route.url.startsWith('/api') && route.role === null)
      .map((route) => `${route.method} ${route.url}`)
      .sort();
    expect(open).toEqual(
      [
        'GET /api/health',
        'POST /api/pair',
        'GET /api/me',
        'POST /api/session',
        'DELETE /api/session',
        'GET /api/ws',
      ].sort(),
    );
  });
});

describe('a cashier at a manager’s or owner’s route', () => {
  /** Every route that needs more than a cashier, with its path parameters filled in (badly). */
  const guarded = () =>
    hub
      .apiRoutes()
      .filter((route) => route.role === 'manager' || route.role === 'owner')
      .map((route) => ({ ...route, path: route.url.replace(/:[A-Za-z]+/g, 'no such id!') }));

  it('covers every such route of the API', () => {
    const routes = guarded().map((r) => `${r.method} ${r.url}`);
    for (const known of [
      'POST /api/sales/:saleId/void',
      'POST /api/sales/:saleId/refund',
      'POST /api/catalog/import',
      'GET /api/devices',
      'DELETE /api/devices/:deviceId',
      'POST /api/devices/:deviceId/unlock',
      'POST /api/segments',
      'POST /api/coupons',
    ]) {
      expect(routes).toContain(known);
    }
    expect(routes.length).toBeGreaterThan(25);
  });

  it.each([
    ['a malformed JSON body', '{"lines": [', 'application/json'],
    ['a body of the wrong shape', JSON.stringify({ surprise: true, reason: 7 }), 'application/json'],
    ['a body of a type no route takes', '<xml/>', 'application/xml'],
  ])('gets 403 role_required, not a validation error, for %s', async (_what, body, contentType) => {
    for (const route of guarded()) {
      const hasBody = route.method !== 'GET' && route.method !== 'DELETE';
      const url = encodeURI(route.path) + (hasBody ? '' : '?limit=many&surprise=1');
      const response = await fetch(cashier.baseUrl + url, {
        method: route.method,
        headers: cashier.headers(hasBody ? { 'content-type': contentType } : {}),
        ...(hasBody ? { body } : {}),
      });
      const answer = (await response.json()) as { error?: { code: string } };
      expect({ route: `${route.method} ${route.url}`, status: response.status, code: answer.error?.code }).toEqual({
        route: `${route.method} ${route.url}`,
        status: 403,
        code: 'role_required',
      });
    }
  });
});

describe('without a staff session', () => {
  it('a paired tablet gets 401 staff_login_required for staff actions', async () => {
    const loggedOut = new TabletClient(hub.url);
    loggedOut.deviceToken = cashier.deviceToken;
    for (const [method, url] of [
      ['GET', '/api/products'],
      ['GET', '/api/sales'],
      ['GET', '/api/devices'],
    ] as const) {
      const res = await loggedOut.request(method, url);
      expect(res.status).toBe(401);
      expect(res.body.error?.code).toBe('staff_login_required');
    }
  });
});
