/**
 * Staff PINs are short, so the hub limits guessing per tablet: back-off after 5 wrong PINs, a
 * 15-minute lock-out after 10, lifted early only by the technician. Time is moved with a fake clock.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { TabletClient, newPairingCode, startTestHub } from '../support/test-hub.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const WRONG = '9999'; // no demo staff has it (1111, 2222, 3333)
const temp = new TempDirs();
let clock: FakeClock;
let hub: Hub;
let tablet: TabletClient;

beforeEach(async () => {
  clock = new FakeClock('2026-11-22T02:00:00Z');
  hub = await startTestHub({ dataDir: temp.make(), clock: clock.now });
  tablet = new TabletClient(hub.url);
  await tablet.pair(await newPairingCode(hub), 'Counter');
});
afterEach(async () => {
  await hub.stop();
  temp.removeAll();
});

async function tryPin(pin: string, on: TabletClient = tablet) {
  const response = await fetch(`${hub.url}/api/session`, {
    method: 'POST',
    headers: on.headers({ 'content-type': 'application/json' }),
    body: JSON.stringify({ pin }),
  });
  const body = (await response.json()) as {
    error?: { code: string; details?: Record<string, unknown> };
    token?: string;
    staff?: { name: string };
  };
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
}

/** Five wrong PINs in a row, each answered 401 wrong_pin. */
async function failFiveTimes() {
  for (let i = 1; i <= 5; i++) {
    const res = await tryPin(WRONG);
    expect(res.status, `failure ${i}`).toBe(401);
    expect(res.body.error?.code).toBe('wrong_pin');
  }
}

describe('staff PIN', () => {
  it('logs in with a right PIN and refuses a wrong one with 401 wrong_pin', async () => {
    const wrong = await tryPin(WRONG);
    expect(wrong.status).toBe(401);
    expect(wrong.body.error?.code).toBe('wrong_pin');
    const right = await tryPin('1111');
    expect(right.status).toBe(200);
    expect(right.body.staff).toMatchObject({ name: '小美', role: 'cashier' });
    expect(right.body.token).toEqual(expect.any(String));
  });

  it('after 5 failures makes the tablet wait, doubling the wait (429 retry_later with Retry-After)', async () => {
    await failFiveTimes();
    // at once: wait 1 s - even the right PIN is not tried
    for (const pin of [WRONG, '1111']) {
      const res = await tryPin(pin);
      expect(res.status).toBe(429);
      expect(res.body.error?.code).toBe('retry_later');
      expect(res.retryAfter).toBe('1');
      expect(res.body.error?.details).toEqual({ retryAfterSeconds: 1 });
    }
    clock.advance(1000);
    expect((await tryPin(WRONG)).status).toBe(401); // 6th failure
    const after6 = await tryPin(WRONG);
    expect(after6.status).toBe(429);
    expect(after6.retryAfter).toBe('2');
    clock.advance(1500);
    expect((await tryPin(WRONG)).retryAfter).toBe('1'); // half a second left, rounded up
    clock.advance(500);
    expect((await tryPin(WRONG)).status).toBe(401); // 7th failure
    expect((await tryPin(WRONG)).retryAfter).toBe('4');
  });

  it('the right PIN after waiting logs in and starts the count again', async () => {
    await failFiveTimes();
    clock.advance(1000);
    expect((await tryPin('1111')).status).toBe(200);
    // the count starts from zero: four wrong PINs do not make anyone wait
    for (let i = 0; i < 4; i++) expect((await tryPin(WRONG)).status).toBe(401);
    expect((await tryPin('2222')).status).toBe(200);
  });

  it('locks the tablet out after 10 failures (423), for 15 minutes', async () => {
    await failFiveTimes();
    // failures 6..10, each after its wait of 1, 2, 4, 8, 16 s
    const statuses: number[] = [];
    for (const waitS of [1, 2, 4, 8, 16]) {
      clock.advance(waitS * 1000);
      statuses.push((await tryPin(WRONG)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 423]);

    const locked = await tryPin('1111');
    expect(locked.status).toBe(423);
    expect(locked.body.error?.code).toBe('locked_out');

    // other tablets are not locked
    const other = new TabletClient(hub.url);
    await other.pair(await newPairingCode(hub), 'Other counter');
    expect((await tryPin('1111', other)).status).toBe(200);

    clock.advance(14 * 60_000);
    expect((await tryPin('1111')).status).toBe(423);
    clock.advance(60_000 + 1);
    expect((await tryPin('1111')).status).toBe(200);
  });

  it('is unlocked early by the technician (admin socket unlock)', async () => {
    await failFiveTimes();
    for (const waitS of [1, 2, 4, 8, 16]) {
      clock.advance(waitS * 1000);
      await tryPin(WRONG);
    }
    expect((await tryPin('1111')).status).toBe(423);

    const socket = path.join(hub.config.dataDir, 'ayi.sock');
    expect(await adminRequest(socket, 'unlock', [tablet.deviceId!])).toEqual({ unlocked: tablet.deviceId });
    const res = await tryPin('1111');
    expect(res.status).toBe(200);
    expect(res.body.staff?.name).toBe('小美');
  });

  it('keeps counting failures across a hub restart', async () => {
    await failFiveTimes();
    const dataDir = hub.config.dataDir;
    await hub.stop();
    hub = await startTestHub({ dataDir, clock: clock.now });
    tablet = Object.assign(new TabletClient(hub.url), { deviceToken: tablet.deviceToken, deviceId: tablet.deviceId });
    expect((await tryPin('1111')).status).toBe(429);
  });
});

describe('pairing codes over time', () => {
  it('expire after 10 minutes', async () => {
    const code = await newPairingCode(hub);
    clock.advance(10 * 60_000);
    const res = await new TabletClient(hub.url).request('POST', '/api/pair', { code, name: 'Late' });
    expect(res.status).toBe(401);
    const fresh = await newPairingCode(hub);
    clock.advance(9 * 60_000);
    await new TabletClient(hub.url).pair(fresh, 'In time');
  });
});

describe('staff sessions', () => {
  it('end at log-out', async () => {
    await tablet.login('1111');
    expect((await tablet.request('GET', '/api/me')).body.staff).toMatchObject({ role: 'cashier' });
    expect((await tablet.request('DELETE', '/api/session')).status).toBe(204);
    expect((await tablet.request('GET', '/api/me')).body.staff).toBeNull();
    const res = await tablet.request('GET', '/api/products');
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('staff_login_required');
  });

  it('expire after 12 hours', async () => {
    await tablet.login('1111');
    clock.advance(12 * 60 * 60_000 - 1000);
    expect((await tablet.request('GET', '/api/products')).status).toBe(200);
    clock.advance(2000);
    expect((await tablet.request('GET', '/api/products')).body.error?.code).toBe('staff_login_required');
  });

  it('belong to the tablet they were opened on', async () => {
    await tablet.login('1111');
    const other = new TabletClient(hub.url);
    await other.pair(await newPairingCode(hub), 'Other');
    other.sessionToken = tablet.sessionToken;
    const res = await other.request('GET', '/api/products');
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('staff_login_required');
  });
});
