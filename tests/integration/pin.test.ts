/**
 * Staff PINs are short, so the hub limits guessing: wrong PINs are counted over a sliding hour per
 * tablet and for the whole store, and a right PIN does not wipe them. Back-off after 5 on a tablet,
 * the tablet locked after 10 until a manager on another tablet or the technician unlocks it, and at
 * most 20 a tablet and 60 a store in any hour whatever is unlocked. Time is moved with a fake clock.
 */
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { runAyi } from '../support/ayi-cli.ts';
import { TabletClient, newPairingCode, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { newKey } from '../support/sales.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { scanJournal } from '../support/journal-files.ts';

const journalOf = (type: string) => scanJournal(hub.config.dataDir).events.filter((e) => e.type === type);

const WRONG = '9999'; // no demo staff has it (1111, 222222, 333333)
const CASHIER_PIN = '1111';
const MANAGER_PIN = '222222';
const HOUR_MS = 60 * 60_000;
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
    error?: { code: string; message: string; details?: Record<string, unknown> };
    token?: string;
    staff?: { name: string; role: string };
  };
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
}

/** `n` wrong PINs in a row, each answered 401 wrong_pin. */
async function failTimes(n: number) {
  for (let i = 1; i <= n; i++) {
    const res = await tryPin(WRONG);
    expect(res.status, `failure ${i}`).toBe(401);
    expect(res.body.error?.code).toBe('wrong_pin');
  }
}

/** Ten wrong PINs, each after the wait the hub asks for: the tablet is locked by the tenth. */
async function lockTablet() {
  await failTimes(5);
  const statuses: number[] = [];
  for (const waitS of [1, 2, 4, 8, 16]) {
    clock.advance(waitS * 1000);
    statuses.push((await tryPin(WRONG)).status);
  }
  expect(statuses).toEqual([401, 401, 401, 401, 423]);
}

const socketPath = () => path.join(hub.config.dataDir, 'ayi.sock');

describe('staff PIN', () => {
  it('logs in with a right PIN and refuses a wrong one with 401 wrong_pin', async () => {
    const wrong = await tryPin(WRONG);
    expect(wrong.status).toBe(401);
    expect(wrong.body.error?.code).toBe('wrong_pin');
    expect(wrong.body.error?.details).toEqual({ failures: 1, triesBeforeLock: 9 });
    const right = await tryPin(CASHIER_PIN);
    expect(right.status).toBe(200);
    expect(right.body.staff).toMatchObject({ name: '小美', role: 'cashier' });
    expect(right.body.token).toEqual(expect.any(String));
  });

  it('after 5 failures makes the tablet wait, doubling the wait (429 retry_later with Retry-After)', async () => {
    await failTimes(5);
    // at once: wait 1 s - even the right PIN is not tried
    for (const pin of [WRONG, CASHIER_PIN]) {
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

  it('counts wrong PINs sent all at once as if sent one by one', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => tryPin(String(700_000 + i))));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([...Array(5).fill(401), ...Array(25).fill(429)]);
  });

  it('a right PIN does not wipe the wrong ones: logging in between guesses gains nothing', async () => {
    await failTimes(5);
    clock.advance(1000);
    expect((await tryPin(CASHIER_PIN)).status).toBe(200);
    // still counted: the next wrong PIN is the 6th, and the wait after it is 2 s
    const sixth = await tryPin(WRONG);
    expect(sixth.body.error?.details).toEqual({ failures: 6, triesBeforeLock: 4 });
    expect((await tryPin(CASHIER_PIN)).retryAfter).toBe('2');
  });

  it('forgets wrong PINs an hour after they were sent', async () => {
    await failTimes(5);
    clock.advance(HOUR_MS);
    const res = await tryPin(WRONG);
    expect(res.status).toBe(401);
    expect(res.body.error?.details).toEqual({ failures: 1, triesBeforeLock: 9 });
  });

  it('locks the tablet after 10 failures (423) until it is unlocked, however long one waits', async () => {
    await lockTablet();
    const locked = await tryPin(CASHIER_PIN);
    expect(locked.status).toBe(423);
    expect(locked.body.error?.code).toBe('locked_out');
    expect(locked.body.error?.message).toMatch(/another tablet/);

    // other tablets are not locked
    const other = new TabletClient(hub.url);
    await other.pair(await newPairingCode(hub), 'Other counter');
    expect((await tryPin(CASHIER_PIN, other)).status).toBe(200);

    clock.advance(3 * HOUR_MS);
    expect((await tryPin(CASHIER_PIN)).status).toBe(423);
  });

  it('a manager on another tablet unlocks it (POST /api/devices/:id/unlock)', async () => {
    const manager = await pairedTablet(hub, MANAGER_PIN, 'Office');
    await lockTablet();

    // the locked tablet is listed as such
    const listed = (await manager.request('GET', '/api/hardware')).body.tablets as {
      deviceId: string;
      lockedAt: string | null;
    }[];
    expect(listed.find((t) => t.deviceId === tablet.deviceId)?.lockedAt).toBe(clock.now().toISOString());
    expect(listed.find((t) => t.deviceId === manager.deviceId)?.lockedAt).toBeNull();

    const unlocked = await manager.request('POST', `/api/devices/${tablet.deviceId}/unlock`);
    expect(unlocked.status).toBe(200);
    expect(unlocked.body).toEqual({ deviceId: tablet.deviceId, wasLocked: true });
    const res = await tryPin(CASHIER_PIN);
    expect(res.status).toBe(200);
    expect(res.body.staff?.name).toBe('小美');
    const after = (await manager.request('GET', '/api/hardware')).body.tablets as {
      deviceId: string;
      lockedAt: null;
    }[];
    expect(after.find((t) => t.deviceId === tablet.deviceId)?.lockedAt).toBeNull();
    // the journal (and so HQ) keeps who unlocked it, from which tablet
    expect(journalOf('device.unlocked').map((e) => e.data)).toEqual([
      { deviceId: tablet.deviceId, byStaffId: expect.stringMatching(/^stf-/), byDeviceId: manager.deviceId },
    ]);
  });

  it('a tablet cannot unlock itself, and a cashier cannot unlock one', async () => {
    // a manager's session opened on the tablet before it was locked stays open
    await tablet.login(MANAGER_PIN);
    const cashier = await pairedTablet(hub, CASHIER_PIN, 'Counter 2');
    await lockTablet();

    const self = await tablet.request('POST', `/api/devices/${tablet.deviceId}/unlock`);
    expect(self.status).toBe(403);
    expect(self.body.error?.code).toBe('unlock_from_another_tablet');
    const byCashier = await cashier.request('POST', `/api/devices/${tablet.deviceId}/unlock`);
    expect(byCashier.status).toBe(403);
    expect(byCashier.body.error?.code).toBe('role_required');
    expect((await tryPin(CASHIER_PIN)).status).toBe(423);
  });

  it('is unlocked by the technician (admin socket unlock)', async () => {
    await lockTablet();
    expect(await adminRequest(socketPath(), 'unlock', [tablet.deviceId!])).toEqual({
      unlocked: tablet.deviceId,
      wasLocked: true,
    });
    const res = await tryPin(CASHIER_PIN);
    expect(res.status).toBe(200);
    expect(res.body.staff?.name).toBe('小美');
    expect(journalOf('device.unlocked').map((e) => e.data)).toEqual([
      { deviceId: tablet.deviceId, byStaffId: null, byDeviceId: null },
    ]);
  });

  it('is cleared entirely by the technician’s last resort (ayi unlock all)', async () => {
    await lockTablet();
    const cleared = await adminRequest<{ unlocked: string[] }>(socketPath(), 'unlock', ['all']);
    expect(cleared.unlocked).toEqual([tablet.deviceId]);
    expect(journalOf('device.unlocked').map((e) => e.data)).toEqual([
      { deviceId: tablet.deviceId, byStaffId: null, byDeviceId: null },
    ]);
    const wrong = await tryPin(WRONG);
    expect(wrong.body.error?.details).toEqual({ failures: 1, triesBeforeLock: 9 });
  });

  it('keeps counting failures, and keeps a lock, across a hub restart', async () => {
    await failTimes(5);
    const dataDir = hub.config.dataDir;
    const restart = async () => {
      await hub.stop();
      hub = await startTestHub({ dataDir, clock: clock.now });
      tablet = Object.assign(new TabletClient(hub.url), { deviceToken: tablet.deviceToken, deviceId: tablet.deviceId });
    };
    await restart();
    expect((await tryPin(CASHIER_PIN)).status).toBe(429);
    for (const waitS of [1, 2, 4, 8]) {
      clock.advance(waitS * 1000);
      expect((await tryPin(WRONG)).status).toBe(401);
    }
    clock.advance(16_000);
    expect((await tryPin(WRONG)).status).toBe(423);
    await restart();
    expect((await tryPin(CASHIER_PIN)).status).toBe(423);
  });
});

/**
 * A cashier who knows their own PIN goes through a list of guesses for the manager's PIN as fast
 * as the hub lets them: waiting exactly as long as each 429 says, logging in with their own PIN
 * between guesses, and - the worst case - a manager unlocking the tablet each time it locks.
 */
describe('a data directory of an older version', () => {
  it('keeps its lock-outs: a running one becomes a lock, its failures count for the hour', async () => {
    const other = new TabletClient(hub.url);
    await other.pair(await newPairingCode(hub), 'Other counter');
    const dataDir = hub.config.dataDir;
    await hub.stop();
    // what the previous version wrote: a count, the last failure, a 15-minute lock-out
    const file = path.join(dataDir, 'security.json');
    const data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const at = clock.now().toISOString();
    data.pinGuards = {
      [tablet.deviceId!]: {
        failures: 10,
        lastFailureAt: at,
        lockedUntil: new Date(clock.now().getTime() + 900_000).toISOString(),
      },
      [other.deviceId!]: { failures: 5, lastFailureAt: at, lockedUntil: null },
    };
    delete data.storePinFailures;
    writeFileSync(file, JSON.stringify(data));

    hub = await startTestHub({ dataDir, clock: clock.now });
    const again = (t: TabletClient) =>
      Object.assign(new TabletClient(hub.url), { deviceToken: t.deviceToken, deviceId: t.deviceId });
    expect((await tryPin(CASHIER_PIN, again(tablet))).status).toBe(423);
    expect((await tryPin(CASHIER_PIN, again(other))).retryAfter).toBe('1');
    clock.advance(1000);
    expect((await tryPin(WRONG, again(other))).body.error?.details).toEqual({ failures: 6, triesBeforeLock: 4 });
  });
});

describe('a cashier guessing the manager’s PIN for an hour', () => {
  interface Attack {
    /** Guesses the hub answered (401, or the 423 of the lock it caused). */
    guessesAnswered: number;
    foundManager: boolean;
    /** When the store's limit was first met: what a right PIN got on the manager's tablet. */
    rightPinMeanwhile?: Awaited<ReturnType<typeof tryPin>>;
  }

  async function guessForAnHour(tablets: TabletClient[], guesses: string[], unlocker: TabletClient): Promise<Attack> {
    const end = clock.now().getTime() + HOUR_MS - 1000;
    const readyAt = new Map<TabletClient, number>(tablets.map((t) => [t, 0]));
    let next = 0;
    let answered = 0;
    let rightPinMeanwhile: Attack['rightPinMeanwhile'];
    for (let step = 0; step < 5000 && clock.now().getTime() < end && next < guesses.length; step++) {
      const now = clock.now().getTime();
      const ready = tablets.find((t) => readyAt.get(t)! <= now);
      if (!ready) {
        clock.set(new Date(Math.min(...readyAt.values())));
        continue;
      }
      clock.advance(200); // a fast hand on the keypad
      const res = await tryPin(guesses[next]!, ready);
      if (res.status === 200) {
        if (res.body.staff?.role !== 'cashier') {
          return { guessesAnswered: answered + 1, foundManager: true, rightPinMeanwhile };
        }
        next += 1; // (the cashier's own PIN: no news)
      } else if (res.status === 401) {
        answered += 1;
        next += 1;
        // their own PIN between guesses (refused while the tablet must wait)
        expect([200, 429]).toContain((await tryPin(CASHIER_PIN, ready)).status);
      } else if (res.status === 423) {
        answered += 1;
        next += 1;
        const unlock = await unlocker.request('POST', `/api/devices/${ready.deviceId}/unlock`);
        expect(unlock.status).toBe(200);
      } else if (res.status === 429) {
        expect(['retry_later', 'store_pin_limit']).toContain(res.body.error?.code);
        const waitMs = Number(res.retryAfter) * 1000;
        if (res.body.error?.code === 'store_pin_limit') {
          rightPinMeanwhile ??= await tryPin(CASHIER_PIN, unlocker);
          for (const t of tablets) readyAt.set(t, now + waitMs);
        } else readyAt.set(ready, now + waitMs);
      } else {
        throw new Error(`unexpected answer ${res.status}: ${JSON.stringify(res.body)}`);
      }
    }
    return { guessesAnswered: answered, foundManager: false, rightPinMeanwhile };
  }

  /** Wrong guesses (none is a staff PIN), with the manager's PIN as guess number `at`. */
  function guessList(at: number): string[] {
    const wrong = Array.from({ length: 400 }, (_, i) => String(500_000 + i));
    wrong.splice(at - 1, 0, MANAGER_PIN);
    return wrong;
  }

  it('tries at most 20 PINs an hour from one tablet', async () => {
    const manager = await pairedTablet(hub, MANAGER_PIN, 'Office');
    const attack = await guessForAnHour([tablet], guessList(21), manager);
    expect(attack.foundManager).toBe(false);
    expect(attack.guessesAnswered).toBe(20);
    // an hour later the 21st guess is tried: the count above is the hub's limit, not the test's
    clock.advance(HOUR_MS);
    await tablet.login(CASHIER_PIN);
    expect((await tryPin(MANAGER_PIN)).body.staff?.role).toBe('manager');
  });

  it('tries at most 60 PINs an hour from all the store’s tablets together', async () => {
    const manager = await pairedTablet(hub, MANAGER_PIN, 'Office');
    const counters = [tablet];
    for (let i = 2; i <= 8; i++) {
      const counter = new TabletClient(hub.url);
      await counter.pair(await newPairingCode(hub), `Counter ${i}`);
      counters.push(counter);
    }
    const attack = await guessForAnHour(counters, guessList(61), manager);
    expect(attack.foundManager).toBe(false);
    expect(attack.guessesAnswered).toBe(60);
    // meanwhile no tablet could even try its right PIN, and the answer said why and for how long
    const blocked = attack.rightPinMeanwhile!;
    expect(blocked.status).toBe(429);
    expect(blocked.body.error?.code).toBe('store_pin_limit');
    expect(Number(blocked.retryAfter)).toBeGreaterThan(0);
  });
});

describe('staff PINs when they are set', () => {
  it('refuse a manager or owner PIN under 6 digits with a clear message (ayi add-staff)', async () => {
    for (const role of ['manager', 'owner']) {
      await expect(adminRequest(socketPath(), 'add-staff', ['阿華', role, '4321'])).rejects.toThrow(
        `A ${role}'s PIN is at least 6 digits`,
      );
    }
    const cashier = await adminRequest<{ role: string }>(socketPath(), 'add-staff', ['阿華', 'cashier', '4321']);
    expect(cashier.role).toBe('cashier');
    const manager = await adminRequest<{ role: string }>(socketPath(), 'add-staff', ['阿強', 'manager', '765432']);
    expect(manager.role).toBe('manager');
    expect((await tryPin('765432')).body.staff?.role).toBe('manager');
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
    await tablet.login(CASHIER_PIN);
    expect((await tablet.request('GET', '/api/me')).body.staff).toMatchObject({ role: 'cashier' });
    expect((await tablet.request('DELETE', '/api/session')).status).toBe(204);
    expect((await tablet.request('GET', '/api/me')).body.staff).toBeNull();
    const res = await tablet.request('GET', '/api/products');
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('staff_login_required');
  });

  it('expire after 12 hours', async () => {
    await tablet.login(CASHIER_PIN);
    clock.advance(12 * 60 * 60_000 - 1000);
    expect((await tablet.request('GET', '/api/products')).status).toBe(200);
    clock.advance(2000);
    expect((await tablet.request('GET', '/api/products')).body.error?.code).toBe('staff_login_required');
  });

  it('belong to the tablet they were opened on', async () => {
    await tablet.login(CASHIER_PIN);
    const other = new TabletClient(hub.url);
    await other.pair(await newPairingCode(hub), 'Other');
    other.sessionToken = tablet.sessionToken;
    const res = await other.request('GET', '/api/products');
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('staff_login_required');
  });
});

/** security.json of a stopped hub, to write what an older version left there. */
function securityFile(dataDir: string) {
  const file = path.join(dataDir, 'security.json');
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    pinSecret: string;
    staff: { staffId: string; name: string; role: string; pinHmac: string }[];
    sessions: { staffId: string; deviceId: string; tokenHash: string }[];
  };
  const hmac = (pin: string) => createHmac('sha256', data.pinSecret).update(pin).digest('hex');
  return { data, hmac, save: () => writeFileSync(file, JSON.stringify(data)) };
}

/** The technician's `npm run ayi -- …` against the running hub, with `stdin` piped in. */
const ayi = (args: string[], stdin = '') => runAyi(args, hub.config.dataDir, {}, stdin);

describe('a manager’s or owner’s PIN of fewer than 6 digits (set by an older version)', () => {
  const OLD_PIN = '4321';

  /** The demo manager gets the 4-digit PIN an older version allowed. */
  async function restartWithShortManagerPin(config: { demo?: boolean } = {}) {
    const dataDir = hub.config.dataDir;
    await hub.stop();
    const file = securityFile(dataDir);
    const manager = file.data.staff.find((s) => s.role === 'manager')!;
    manager.pinHmac = file.hmac(OLD_PIN);
    file.save();
    hub = await startTestHub({ dataDir, clock: clock.now, config });
    tablet = Object.assign(new TabletClient(hub.url), { deviceToken: tablet.deviceToken, deviceId: tablet.deviceId });
    return manager.staffId;
  }

  it('no longer logs in nor approves a discount: 403 pin_change_required, asking for the technician', async () => {
    await restartWithShortManagerPin();
    const login = await tryPin(OLD_PIN);
    expect(login.status).toBe(403);
    expect(login.body.error?.code).toBe('pin_change_required');
    expect(login.body.error?.message).toMatch(/technician/);
    expect(login.body.token).toBeUndefined();

    await tablet.login(CASHIER_PIN);
    // a 100 % line discount, which needs a manager's PIN on the cashier's tablet
    const approval = await tablet.request('POST', '/api/sales/approvals', {
      idempotencyKey: newKey(),
      pin: OLD_PIN,
      lines: [{ sku: 'FOD-001', qty: 1, discount: { kind: 'percent', value: 100 } }],
    });
    expect(approval.status).toBe(403);
    expect(approval.body.error?.code).toBe('pin_change_required');
  });

  it('works again once the technician sets a new one (ayi set-pin, the PIN read from stdin)', async () => {
    const staffId = await restartWithShortManagerPin();
    // a PIN on the command line is refused: it would stay in the shell's history
    const inArgs = await ayi(['set-pin', staffId, '765432']);
    expect(inArgs.code).toBe(1);
    expect(inArgs.stderr).toMatch(/no PIN on the command line/);
    // still too short
    const short = await ayi(['set-pin', staffId], '54321\n');
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/at least 6 digits/);

    const set = await ayi(['set-pin', staffId], '765432\n');
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ id: staffId, role: 'manager' });
    expect(set.stdout).not.toContain('765432');
    expect((await tryPin('765432')).body.staff).toMatchObject({ id: staffId, role: 'manager' });
    expect((await tryPin(OLD_PIN)).body.error?.code).toBe('wrong_pin');
    const changed = journalOf('staff.pin_changed');
    expect(changed.map((e) => e.data)).toEqual([{ staffId }]);
    expect(JSON.stringify(changed)).not.toContain('765432');
  });

  it('of the demo manager (2222) and owner (3333) become the demo PINs printed at start-up', async () => {
    const dataDir = hub.config.dataDir;
    await hub.stop();
    const file = securityFile(dataDir);
    file.data.staff.find((s) => s.role === 'manager')!.pinHmac = file.hmac('2222');
    file.data.staff.find((s) => s.role === 'owner')!.pinHmac = file.hmac('3333');
    file.save();

    hub = await startTestHub({ dataDir, clock: clock.now, config: { demo: true } });
    tablet = Object.assign(new TabletClient(hub.url), { deviceToken: tablet.deviceToken, deviceId: tablet.deviceId });
    expect((await tryPin('222222')).body.staff?.role).toBe('manager');
    expect((await tryPin('333333')).body.staff?.role).toBe('owner');
    expect((await tryPin('2222')).body.error?.code).toBe('wrong_pin');
  });
});

describe('the technician’s staff commands', () => {
  it('add-staff reads the PIN from stdin; remove-staff ends that PIN and its sessions', async () => {
    const added = await ayi(['add-staff', '阿華', 'cashier'], '4321\n');
    expect(added.code, added.stderr).toBe(0);
    const staffId = (JSON.parse(added.stdout) as { id: string }).id;
    expect(staffId).toMatch(/^stf-/);
    await tablet.login('4321');
    expect((await tablet.request('GET', '/api/me')).body.staff).toMatchObject({ id: staffId });

    const listed = await ayi(['staff']);
    expect(JSON.parse(listed.stdout)).toContainEqual({ id: staffId, name: '阿華', role: 'cashier' });

    const removed = await ayi(['remove-staff', staffId]);
    expect(removed.code, removed.stderr).toBe(0);
    expect((await tablet.request('GET', '/api/me')).body.staff).toBeNull();
    expect((await tryPin('4321')).body.error?.code).toBe('wrong_pin');
    expect((await ayi(['remove-staff', staffId])).stderr).toMatch(/No staff member/);
    expect(journalOf('staff.removed').map((e) => e.data)).toEqual([{ staffId }]);
  });
});

describe('slow guessing is visible', () => {
  const GUESS = '73915';

  it('each wrong PIN and each lock is a warning with the tablet and the counts, never the PIN or a name', async () => {
    const lines: Record<string, unknown>[] = [];
    const dataDir = hub.config.dataDir;
    await hub.stop();
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    hub = await startTestHub({ dataDir, clock: clock.now, logger });
    tablet = Object.assign(new TabletClient(hub.url), { deviceToken: tablet.deviceToken, deviceId: tablet.deviceId });

    for (let i = 0; i < 10; i++) {
      clock.advance(60_000); // past every back-off
      await tryPin(GUESS);
    }
    const warnings = lines.filter((l) => l.level === 40);
    const wrong = warnings.filter((l) => l.msg === 'wrong staff PIN');
    expect(wrong).toHaveLength(10);
    expect(wrong[2]).toMatchObject({
      deviceId: tablet.deviceId,
      failuresSinceUnlock: 3,
      tabletFailuresLastHour: 3,
      storeFailuresLastHour: 3,
    });
    const locks = warnings.filter((l) => l.msg === 'tablet locked by wrong PINs');
    expect(locks).toEqual([expect.objectContaining({ deviceId: tablet.deviceId, failuresSinceUnlock: 10 })]);
    const everything = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(everything).not.toContain(GUESS);
    for (const name of ['小美', '阿明', '王老闆']) expect(everything).not.toContain(name);
  });

  it('the devices list counts each tablet’s wrong PINs of the last hour (API and ayi devices)', async () => {
    const owner = await pairedTablet(hub, '333333', 'Office');
    for (let i = 0; i < 3; i++) {
      clock.advance(60_000);
      await tryPin(GUESS);
    }
    const counts = (list: { deviceId: string; wrongPinsLastHour: number }[]) =>
      Object.fromEntries(list.map((d) => [d.deviceId, d.wrongPinsLastHour]));
    const expected = { [tablet.deviceId!]: 3, [owner.deviceId!]: 0 };
    const devices = (await owner.request('GET', '/api/devices')).body.devices as never;
    expect(counts(devices)).toEqual(expected);
    expect(counts((await owner.request('GET', '/api/hardware')).body.tablets as never)).toEqual(expected);
    expect(counts(await adminRequest(socketPath(), 'devices'))).toEqual(expected);

    clock.advance(HOUR_MS - 2 * 60_000); // the first has left the hour
    expect(counts(await adminRequest(socketPath(), 'devices'))[tablet.deviceId!]).toBe(2);
  });

  it('a cashier sees the tablets but not how many wrong PINs they or the store have left', async () => {
    await tryPin(GUESS);
    const cashier = await pairedTablet(hub, CASHIER_PIN, 'Counter 2');
    const seen = (await cashier.request('GET', '/api/hardware')).body as Record<string, unknown> & {
      tablets: Record<string, unknown>[];
    };
    expect(seen.tablets.map((t) => t.deviceId)).toContain(tablet.deviceId);
    for (const listed of seen.tablets) expect(listed).not.toHaveProperty('wrongPinsLastHour');
    expect(seen).not.toHaveProperty('storePinBlock');

    const manager = await pairedTablet(hub, MANAGER_PIN, 'Office');
    const managerSees = (await manager.request('GET', '/api/hardware')).body as typeof seen;
    expect(managerSees.tablets.find((t) => t.deviceId === tablet.deviceId)?.wrongPinsLastHour).toBe(1);
    expect(managerSees).toHaveProperty('storePinBlock', null);
  });
});

describe('a clock set back', () => {
  it('never makes a right PIN wait longer than the back-off (wrong PINs “in the future” count as now)', async () => {
    await failTimes(5);
    clock.advance(-8400 * 1000); // the system clock jumps back 2 h 20 min
    const waiting = await tryPin(CASHIER_PIN);
    expect(waiting.status).toBe(429);
    expect(Number(waiting.retryAfter)).toBe(1);
    clock.advance(1000);
    expect((await tryPin(CASHIER_PIN)).status).toBe(200);
  });

  it('forgets wrong PINs an hour after the jump at the latest, and counts new ones towards the lock', async () => {
    await lockTablet();
    await adminRequest(socketPath(), 'unlock', [tablet.deviceId!]);
    clock.advance(1000);
    await failTimes(3);
    clock.advance(-3 * HOUR_MS);
    const first = await tryPin(WRONG);
    expect(first.status).toBe(401);
    expect(first.body.error?.details).toEqual({ failures: 1, triesBeforeLock: 9 });
    clock.advance(HOUR_MS);
    const later = await tryPin(WRONG);
    expect(later.body.error?.details).toEqual({ failures: 1, triesBeforeLock: 9 });
  });
});

describe('staff sessions, log-in after log-in', () => {
  it('keep one session per staff member per tablet: a new log-in replaces the old one', async () => {
    const other = await pairedTablet(hub, CASHIER_PIN, 'Other');
    await tablet.login(MANAGER_PIN);
    const managerOnTablet = tablet.sessionToken;
    const tokens: string[] = [];
    for (let i = 0; i < 40; i++) {
      await tablet.login(CASHIER_PIN);
      tokens.push(tablet.sessionToken!);
    }
    expect((await tablet.request('GET', '/api/me')).body.staff).toMatchObject({ role: 'cashier' });
    // the replaced session is over
    tablet.sessionToken = tokens[0]!;
    expect((await tablet.request('GET', '/api/me')).body.staff).toBeNull();
    // another staff member's session on this tablet, and this one's on another tablet, go on
    tablet.sessionToken = managerOnTablet;
    expect((await tablet.request('GET', '/api/me')).body.staff).toMatchObject({ role: 'manager' });
    expect((await other.request('GET', '/api/me')).body.staff).toMatchObject({ role: 'cashier' });

    const { sessions } = securityFile(hub.config.dataDir).data;
    expect(sessions.filter((s) => s.deviceId === tablet.deviceId)).toHaveLength(2);
    expect(sessions).toHaveLength(3);
  });
});
