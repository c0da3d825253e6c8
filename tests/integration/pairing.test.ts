/**
 * Pairing a tablet with a one-time code, and the wall it puts in front of everything else:
 * no API answers an unpaired device, and the open health check gives away nothing personal.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import { TabletClient, newPairingCode, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
let hub: Hub;

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make() });
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

/** A code that is certainly not outstanding (differs from every code issued in this test). */
function wrongCodeFor(...valid: string[]): string {
  let n = 12_345_678;
  while (valid.includes(String(n))) n += 1;
  return String(n);
}

describe('pairing', () => {
  it('refuses a wrong code with 401 and pairs with the right one (201, token, cookie)', async () => {
    const code = await newPairingCode(hub);
    const tablet = new TabletClient(hub.url);
    const wrong = await tablet.request('POST', '/api/pair', {
      code: wrongCodeFor(code, hub.pairingCode),
      name: 'Counter 1',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error?.code).toBe('pairing_code_invalid');

    const response = await fetch(`${hub.url}/api/pair`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, name: 'Counter 1' }),
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { deviceId: string; name: string; token: string };
    expect(body.name).toBe('Counter 1');
    expect(body.deviceId).toMatch(/^tab-/);
    // 256 random bits, base64url
    expect(Buffer.from(body.token, 'base64url')).toHaveLength(32);
    const cookie = response.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`ayi_device=${body.token}`);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);

    // the token identifies the tablet
    tablet.deviceToken = body.token;
    const me = await tablet.request('GET', '/api/me');
    expect(me.status).toBe(200);
    expect(me.body.device).toEqual({ deviceId: body.deviceId, name: 'Counter 1' });
    expect(me.body.staff).toBeNull();
  });

  it('accepts the device cookie as well as the bearer header', async () => {
    const code = await newPairingCode(hub);
    const paired = await fetch(`${hub.url}/api/pair`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, name: 'Cookie tablet' }),
    });
    const { token } = (await paired.json()) as { token: string };
    const me = await fetch(`${hub.url}/api/me`, { headers: { cookie: `ayi_device=${token}` } });
    expect(me.status).toBe(200);
  });

  it('lets a code pair only one tablet', async () => {
    const code = await newPairingCode(hub);
    await new TabletClient(hub.url).pair(code, 'First');
    const second = await new TabletClient(hub.url).request('POST', '/api/pair', { code, name: 'Second' });
    expect(second.status).toBe(401);
    expect(second.body.error?.code).toBe('pairing_code_invalid');
  });
});

describe('wrong pairing codes', () => {
  // Each test counts wrong codes from zero, so each gets a hub of its own.
  let fresh: Hub;
  beforeEach(async () => {
    fresh = await startTestHub({ dataDir: temp.make() });
  });
  afterEach(async () => {
    await fresh.stop();
  });

  it('cancels every outstanding code after 5 wrong codes in a row', async () => {
    // the code printed at start-up and two issued by the technician
    const codes = [fresh.pairingCode, await newPairingCode(fresh), await newPairingCode(fresh)];
    const guesser = new TabletClient(fresh.url);
    for (let i = 1; i <= 5; i++) {
      const res = await guesser.request('POST', '/api/pair', { code: wrongCodeFor(...codes), name: 'Guesser' });
      expect(res.status).toBe(401);
      if (i === 5)
        expect((res.body.error as { details?: unknown } | undefined)?.details).toEqual({ codesCancelled: true });
    }
    for (const code of codes) {
      const res = await new TabletClient(fresh.url).request('POST', '/api/pair', { code, name: 'Too late' });
      expect(res.status, `code ${code} should be cancelled`).toBe(401);
    }
    // a code issued afterwards works
    await new TabletClient(fresh.url).pair(await newPairingCode(fresh), 'After');
  });

  it('does not cancel codes after 4 wrong ones and a right one (the count starts again)', async () => {
    const first = await newPairingCode(fresh);
    const second = await newPairingCode(fresh);
    const guesser = new TabletClient(fresh.url);
    for (let i = 0; i < 4; i++)
      await guesser.request('POST', '/api/pair', { code: wrongCodeFor(first, second, fresh.pairingCode), name: 'x' });
    await new TabletClient(fresh.url).pair(first, 'Good one');
    for (let i = 0; i < 4; i++)
      await guesser.request('POST', '/api/pair', { code: wrongCodeFor(first, second, fresh.pairingCode), name: 'x' });
    await new TabletClient(fresh.url).pair(second, 'Still valid');
  });
});

describe('without a paired device', () => {
  // Every endpoint of hub/docs/api.md except health and pair.
  const routes: [string, string, unknown?][] = [
    ['GET', '/api/me'],
    ['POST', '/api/session', { pin: '1111' }],
    ['DELETE', '/api/session'],
    ['GET', '/api/products'],
    ['GET', '/api/products/barcode/4710000010003'],
    ['POST', '/api/catalog/import?dryRun=true', 'sku,barcodes,name,category,price,repurchase_days\nA,,a,b,1,\n'],
    [
      'POST',
      '/api/sales',
      { idempotencyKey: 'unpaired-0001', lines: [{ sku: 'DRK-001', qty: 1 }], tenders: [{ type: 'cash', amount: 15 }] },
    ],
    ['GET', '/api/sales?limit=10'],
    ['GET', '/api/sales/20261122-000001'],
    ['GET', '/api/sales/20261122-000001/receipt'],
    ['POST', '/api/sales/20261122-000001/reprint'],
    ['POST', '/api/sales/20261122-000001/void', { reason: 'test' }],
    [
      'POST',
      '/api/sales/20261122-000001/refund',
      { idempotencyKey: 'refund-0001', lines: [{ lineNo: 1, qty: 1 }], reason: 'x' },
    ],
    ['GET', '/api/devices'],
    ['DELETE', '/api/devices/tab-000000000000'],
    ['GET', '/api/ws'],
  ];

  it.each(routes)('%s %s answers 401 device_not_paired', async (method, url, body) => {
    const stranger = new TabletClient(hub.url);
    const contentType = typeof body === 'string' ? 'text/csv' : 'application/json';
    const res = await stranger.request(method, url, body, contentType);
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('device_not_paired');
    expect(typeof res.body.error?.message).toBe('string');
  });

  it.each([
    ['GET', '/api/no-such-thing'],
    ['POST', '/api/sales/20261122-000001/no-such-action'],
    ['GET', '/api'],
    ['PUT', '/api/health'],
  ])('%s %s (no such endpoint) answers 401 device_not_paired, and 404 only once paired', async (method, url) => {
    const stranger = new TabletClient(hub.url);
    const res = await stranger.request(method, url);
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('device_not_paired');

    const tablet = await pairedTablet(hub, '1111');
    const paired = await tablet.request(method, url);
    expect(paired.status).toBe(404);
    expect(paired.body.error?.code).toBe('not_found');
  });

  it('refuses a made-up or malformed token the same way', async () => {
    for (const token of ['A'.repeat(43), 'not a token', '']) {
      const res = await fetch(`${hub.url}/api/products`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
    }
  });

  it('refuses a staff session token without a device token', async () => {
    const tablet = await pairedTablet(hub, '1111');
    const res = await fetch(`${hub.url}/api/products`, { headers: { 'x-ayi-session': tablet.sessionToken! } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('device_not_paired');
  });
});

describe('GET /api/health', () => {
  it('answers without auth and holds nothing personal', async () => {
    // a staff member logged in, so there are names, PINs and tokens the hub could leak
    const tablet = await pairedTablet(hub, '3333', 'Owner tablet');
    const res = await fetch(`${hub.url}/api/health`);
    expect(res.status).toBe(200);
    const health = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(health).sort()).toEqual(
      [
        'chainId',
        'epoch',
        'hq',
        'journal',
        'lastSeq',
        'problems',
        'status',
        'storage',
        'storeId',
        'undeliveredEvents',
        'uptimeSeconds',
        'version',
      ].sort(),
    );
    expect(health).toMatchObject({ storeId: 'store-001', chainId: 'demo', journal: { missingSeqs: [] } });
    // ok unless this machine's own disk is under the free-space threshold (then storage_low says so).
    expect(health.status).toBe((health.problems as string[]).length === 0 ? 'ok' : 'degraded');
    expect(health.lastSeq).toBe(hub.events.lastSeq);

    const text = JSON.stringify(health);
    // (PINs are checked as whole values: the random epoch could hold "1111" by chance)
    const values = Object.values(health).map(String);
    for (const pin of ['1111', '2222', '3333']) expect(values).not.toContain(pin);
    for (const secret of [
      '小美',
      '阿明',
      '王老闆',
      'Owner tablet',
      tablet.deviceToken!,
      tablet.sessionToken!,
      tablet.deviceId!,
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(res.headers.get('set-cookie')).toBeNull();
  });
});
