/**
 * "No personal data in logs": a hub logging at debug level into memory goes through sign-up, lookups
 * by number and last digits, a profile with a name and birthday, a carrier barcode, a tag, a
 * member's sale, the welcome SMS (console provider) and an erasure. None of the number, the name,
 * the birthday, the carrier or the tag may appear in any log line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Hub } from '../../hub/src/hub.ts';
import type { SignUpResult } from '../../hub/src/protocol/members.ts';
import { pairedTablet, startTestHub, type TabletClient } from '../support/test-hub.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const lines: string[] = [];
let hub: Hub;
let cashier: TabletClient;
let manager: TabletClient;

const PHONE = '0911222333';
const SECRETS = ['911222333', '0911-222-333', '林美麗', '1988-07-15', '/XY7+8.9', '心臟病'];

beforeAll(async () => {
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  hub = await startTestHub({ dataDir: temp.make(), logger, config: { logLevel: 'debug' } });
  cashier = await pairedTablet(hub, '1111', 'Counter');
  manager = await pairedTablet(hub, '222222', 'Office');
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

describe('logs', () => {
  it('hold no personal data of members, whatever staff do at the counter', async () => {
    const signUp = await cashier.request('POST', '/api/members', { phone: '0911-222-333' });
    expect(signUp.status).toBe(201);
    const { member } = signUp.body as unknown as SignUpResult;
    expect((await cashier.request('POST', '/api/members/lookup', { query: PHONE })).status).toBe(200);
    expect((await cashier.request('POST', '/api/members/lookup', { query: '2333' })).status).toBe(200);
    const bad = await cashier.request('POST', '/api/members/lookup', { query: '0911-222-33' });
    expect(bad.status).toBe(422);
    await cashier.request('PATCH', `/api/members/${member.memberId}`, { name: '林美麗', birthday: '1988-07-15' });
    await cashier.request('POST', `/api/members/${member.memberId}/carrier`, { carrier: '/XY7+8.9' });
    await cashier.request('POST', `/api/members/${member.memberId}/tags`, { tag: '心臟病' });
    await manager.request('POST', '/api/members/search', { q: '林美麗' });
    await sell(
      cashier,
      checkoutRequest([{ sku: 'FOD-001', qty: 1 }], [{ type: 'cash', amount: 399 }], { memberId: member.memberId }),
    );
    await hub.messaging.runDue();

    // The welcome SMS went through the console provider, masked, and requests were logged.
    const log = lines.join('');
    expect(log).toContain('sms (console provider: not sent)');
    expect(log).toContain('"route":"/api/members/lookup"');
    for (const secret of SECRETS) expect(log, secret).not.toContain(secret);

    const erased = await manager.request('POST', `/api/members/${member.memberId}/erase`, {
      confirmMemberCode: member.memberCode,
    });
    expect(erased.status).toBe(204);
    for (const secret of SECRETS) expect(lines.join(''), secret).not.toContain(secret);
  });
});
