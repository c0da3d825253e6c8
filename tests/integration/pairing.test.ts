/**
 * Pairing a tablet with a one-time code, and the wall it puts in front of everything else:
 * no API answers an unpaired device, and the open health check gives away nothing personal.
 */
import http from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import { TabletClient, newPairingCode, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { Low, Memory } from 'lowdb';
import { SecurityService, newSecurityData, type SecurityData } from '../../hub/src/services/security.service.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { NO_SECURITY_EVENTS } from '../support/security-events.ts';

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

/** POST /api/pair from another address of this machine (the hub sees it as request.ip). */
function pairFrom(
  localAddress: string,
  baseUrl: string,
  code: string,
): Promise<{ status: number; code: string | undefined; retryAfter: string | undefined }> {
  const body = JSON.stringify({ code, name: 'Guesser' });
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${baseUrl}/api/pair`,
      {
        method: 'POST',
        localAddress,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          const parsed = JSON.parse(text) as { error?: { code: string } };
          const retryAfter = response.headers['retry-after'];
          resolve({ status: response.statusCode ?? 0, code: parsed.error?.code, retryAfter });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

describe('wrong pairing codes', () => {
  // Each test counts wrong codes from zero, so each gets a hub of its own.
  const ATTACKER = '127.0.0.2';
  let fresh: Hub;
  let clock: FakeClock;
  beforeEach(async () => {
    clock = new FakeClock('2026-11-22T02:00:00Z');
    fresh = await startTestHub({ dataDir: temp.make(), clock: clock.now });
  });
  afterEach(async () => {
    await fresh.stop();
  });

  it('from one client never stop another from pairing, however fast they come', async () => {
    // the code printed at start-up and ten issued by the technician
    const codes = [fresh.pairingCode];
    for (let i = 0; i < 10; i++) codes.push(await newPairingCode(fresh));
    const wrong = wrongCodeFor(...codes);

    // a device on the LAN sends wrong codes as fast as it can (bounded), two at a time
    const answers: { status: number; code: string | undefined; retryAfter: string | undefined }[] = [];
    let stop = false;
    const flood = async () => {
      for (let i = 0; i < 400 && !stop; i++) answers.push(await pairFrom(ATTACKER, fresh.url, wrong));
    };
    const attacker = Promise.all([flood(), flood()]);
    // meanwhile every real tablet pairs with its code, from the hub's usual address
    while (answers.length < 20) await new Promise((resolve) => setTimeout(resolve, 5));
    const paired: string[] = [];
    for (const code of codes) {
      const tablet = new TabletClient(fresh.url);
      await tablet.pair(code, `Counter ${paired.length + 1}`);
      paired.push(tablet.deviceId!);
    }
    stop = true;
    await attacker;
    expect(new Set(paired).size).toBe(codes.length);

    // the guesser got 10 answers, then only "wait"
    expect(answers.slice(0, 10).map((a) => a.status)).toEqual(Array(10).fill(401));
    const refused = answers.slice(10);
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of refused) {
      expect(answer).toMatchObject({ status: 429, code: 'pairing_retry_later' });
      expect(Number(answer.retryAfter)).toBeGreaterThan(0);
    }
  });

  it('refuse a client over its limit even with a right code, which stays good for others', async () => {
    const code = await newPairingCode(fresh);
    const wrong = wrongCodeFor(code, fresh.pairingCode);
    for (let i = 0; i < 10; i++) expect((await pairFrom(ATTACKER, fresh.url, wrong)).status).toBe(401);
    // a guess that happens to be right is not even looked at
    expect(await pairFrom(ATTACKER, fresh.url, code)).toMatchObject({ status: 429, retryAfter: '600' });
    await new TabletClient(fresh.url).pair(code, 'Counter');
    // ten minutes after its last wrong code the client may try again
    clock.advance(10 * 60_000);
    expect((await pairFrom(ATTACKER, fresh.url, wrong)).status).toBe(401);
  });

  it('are forgotten when the technician issues a code (tablets behind one NAT share an address)', async () => {
    const wrong = wrongCodeFor(fresh.pairingCode);
    for (let i = 0; i < 10; i++) expect((await pairFrom(ATTACKER, fresh.url, wrong)).status).toBe(401);
    expect((await pairFrom(ATTACKER, fresh.url, wrong)).status).toBe(429);
    // `ayi pair`: a new code, and the address may pair with it at once
    const code = await newPairingCode(fresh);
    expect((await pairFrom(ATTACKER, fresh.url, code)).status).toBe(201);
  });
});

describe('wrong pairing codes counted per client', () => {
  /** A security service of its own (lowdb in memory), paired against from made-up addresses. */
  async function service() {
    const db = new Low<SecurityData>(new Memory<SecurityData>(), newSecurityData());
    const security = new SecurityService(db, () => new Date('2026-11-22T02:00:00Z'), NO_SECURITY_EVENTS);
    const wrong = wrongCodeFor(security.issuePairingCode().code);
    const tryFrom = async (address: string) => {
      try {
        await security.pair(wrong, 'Guesser', address);
        return 'paired';
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    return { tryFrom };
  }

  it('take an IPv4 address and the same address mapped into IPv6 (::ffff:a.b.c.d) as one client', async () => {
    const { tryFrom } = await service();
    for (let i = 0; i < 5; i++) expect(await tryFrom('192.168.1.23')).toBe('pairing_code_invalid');
    for (let i = 0; i < 5; i++) expect(await tryFrom('::ffff:192.168.1.23')).toBe('pairing_code_invalid');
    expect(await tryFrom('192.168.1.23')).toBe('pairing_retry_later');
    expect(await tryFrom('::FFFF:192.168.1.23')).toBe('pairing_retry_later');
    expect(await tryFrom('192.168.1.24')).toBe('pairing_code_invalid');
  });

  it('count an IPv6 client by its /64 (it can pick any address in it)', async () => {
    const { tryFrom } = await service();
    for (let i = 1; i <= 10; i++) expect(await tryFrom(`2001:db8:0:7::${i.toString(16)}`)).toBe('pairing_code_invalid');
    expect(await tryFrom('2001:db8:0:7:8a2e:370:7334:1')).toBe('pairing_retry_later');
    expect(await tryFrom('2001:0db8:0000:0007::ffff')).toBe('pairing_retry_later');
    expect(await tryFrom('2001:db8:0:8::1')).toBe('pairing_code_invalid');
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
    const tablet = await pairedTablet(hub, '333333', 'Owner tablet');
    const res = await fetch(`${hub.url}/api/health`);
    expect(res.status).toBe(200);
    const health = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(health).sort()).toEqual(
      [
        'backup',
        'chainId',
        'clock',
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
        'wentBackInTime',
      ].sort(),
    );
    expect(health).toMatchObject({ storeId: 'store-001', chainId: 'demo', journal: { missingSeqs: [] } });
    // ok unless this machine's own disk is under the free-space threshold (then storage_low says so).
    expect(health.status).toBe((health.problems as string[]).length === 0 ? 'ok' : 'degraded');
    expect(health.lastSeq).toBe(hub.events.lastSeq);

    const text = JSON.stringify(health);
    // (PINs are checked as whole values: the random epoch could hold "1111" by chance)
    const values = Object.values(health).map(String);
    for (const pin of ['1111', '222222', '333333']) expect(values).not.toContain(pin);
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
