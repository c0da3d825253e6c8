/**
 * The MQTT contract for HQ: the JSON Schema files and the AsyncAPI document in hub/docs/contract/ are
 * exactly what the TypeBox schemas generate (run `npm run contract` after changing a schema), the
 * AsyncAPI document names every file (asyncapi.test.ts parses it with the AsyncAPI parser), and every event a real hub journals validates against its schema. The hub runs in
 * this process; a day at the counter is rung up through the HTTP API (members, coupons, refunds,
 * voids, merge, erasure, catalog import, a revoked tablet), then the loyalty review runs a year and
 * two years later (a tier downgrade, expired points). Every journal line is then validated, and
 * nothing in clear names a member.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../../hub/src/hub.ts';
import {
  CommandResultSchema,
  EVENT_TYPES,
  EventEnvelopeSchema,
  LinkStatusSchema,
  ResendCommandSchema,
  eventSchema,
} from '../../../hub/src/protocol/event-schemas.ts';
import type { EventType, HubEvent } from '../../../hub/src/protocol/events.ts';
import type { SignUpResult } from '../../../hub/src/protocol/members.ts';
import { CONTRACT_DIR, contractSchemas, staleContractFiles } from '../../../scripts/contract.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { scanJournal } from '../../support/journal-files.ts';
import { checkoutRequest, sell } from '../../support/sales.ts';
import { type TabletClient, pairedTablet, startTestHub } from '../../support/test-hub.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const checkers = new Map<EventType, TypeCheck<TSchema>>(
  EVENT_TYPES.map((t) => [t, TypeCompiler.Compile(eventSchema(t))]),
);
const envelope = TypeCompiler.Compile(EventEnvelopeSchema);

/** Why an event does not validate (empty when it does). */
function problemsOf(event: unknown): string[] {
  const type = (event as { type?: unknown }).type;
  const checker = checkers.get(type as EventType);
  if (!checker) return [`unknown event type ${JSON.stringify(type)}`];
  return [...checker.Errors(event)].slice(0, 5).map((e) => `${e.path || '/'}: ${e.message}`);
}

describe('the committed contract files', () => {
  it('are exactly what the schemas generate (npm run contract)', async () => {
    expect(await staleContractFiles(), 'stale files: run npm run contract').toEqual([]);
  }, 30_000);

  it('are all named in asyncapi.yaml, which is an AsyncAPI 3.0 document', () => {
    const asyncapi = readFileSync(path.join(CONTRACT_DIR, 'asyncapi.yaml'), 'utf8');
    expect(asyncapi).toMatch(/^asyncapi: '3\.0\.0'$/m);
    for (const name of contractSchemas().keys()) expect(asyncapi, name).toContain(`$ref: ./${name}\n`);
    for (const type of EVENT_TYPES) expect(asyncapi, type).toContain(`name: ${type}`);
  });
});

describe('the schemas', () => {
  const valid = {
    schema: 'ayi.event/1',
    eventId: '019a0000-0000-7000-8000-000000000001',
    chainId: 'demo',
    storeId: 'store-001',
    epoch: '019a0000-0000-7000-8000-0000000000aa',
    seq: 1,
    type: 'scanner.assigned',
    at: '2026-01-10T02:00:00.000Z',
    data: { scannerId: 'scanner-1', deviceId: null, staffId: 'staff-1' },
  };

  it('take a well-formed event and refuse a malformed one', () => {
    expect(problemsOf(valid)).toEqual([]);
    expect(envelope.Check(valid)).toBe(true);
    expect(problemsOf({ ...valid, seq: 0 })).not.toEqual([]);
    expect(problemsOf({ ...valid, eventId: 'not-a-uuid' })).not.toEqual([]);
    expect(problemsOf({ ...valid, type: 'sale.completed' })).not.toEqual([]);
    expect(problemsOf({ ...valid, type: 'sale.exploded' })).toEqual(['unknown event type "sale.exploded"']);
    expect(envelope.Check({ ...valid, extra: 1 })).toBe(false);
  });

  it('refuse personal data that is not sealed: an extra field in a payload is an error', () => {
    const leaked = { ...valid, data: { ...valid.data, phone: '0912345678' } };
    expect(problemsOf(leaked).join('\n')).toMatch(/phone|additional/i);
  });

  it('describe the status and the commands', () => {
    const status = TypeCompiler.Compile(LinkStatusSchema);
    const online = {
      state: 'online',
      chainId: 'demo',
      storeId: 'store-001',
      epoch: valid.epoch,
      lastSeq: 10,
      deliveredSeq: 9,
      version: '0.1.0',
      at: '2026-01-10T02:00:00.000Z',
    };
    expect(status.Check({ ...online, devices: [] })).toBe(true);
    expect(status.Check({ ...online, state: 'offline', reason: 'shutdown' })).toBe(true);
    expect(status.Check({ ...online, state: 'sleeping' })).toBe(false);
    const result = TypeCompiler.Compile(CommandResultSchema);
    const { state: _state, version: _version, ...identity } = online;
    expect(result.Check({ ...identity, command: 'ping', requestId: 'r1', ok: true, pong: true, backlog: 1 })).toBe(
      true,
    );
    expect(result.Check({ ...identity, command: 'resend', requestId: null, ok: false, error: 'x' })).toBe(true);
    const resend = TypeCompiler.Compile(ResendCommandSchema);
    expect(resend.Check({ fromSeq: 5, requestId: 'r1' })).toBe(true);
    expect(resend.Check({ fromSeq: 0, requestId: 'r1' })).toBe(false);
  });
});

describe('events recorded by a real hub', () => {
  const temp = new TempDirs();
  // 10:00 in Taipei
  const clock = new FakeClock('2026-01-10T02:00:00Z');
  let dataDir: string;
  let hub: Hub;
  let cashier: TabletClient;
  let manager: TabletClient;
  let owner: TabletClient;
  const phones = ['0912000111', '0912000222', '0912000333', '0912000444'];
  const names = ['林怡君', '陳志明', '張淑芬'];

  const signUp = async (phone: string) => {
    const res = await cashier.request('POST', '/api/members', { phone, consent: { sms: true } });
    if (res.status !== 201) throw new Error(`sign-up failed: ${JSON.stringify(res.body)}`);
    return res.body as unknown as SignUpResult;
  };
  const ok = async (res: Promise<{ status: number; body: unknown }>, status = 200) => {
    const r = await res;
    if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const cash = (amount: number) => [{ type: 'cash' as const, amount }];

  beforeAll(async () => {
    dataDir = temp.make();
    hub = await startTestHub({ dataDir, clock: clock.now });
    [cashier, manager, owner] = await Promise.all([
      pairedTablet(hub, '1111', 'Counter'),
      pairedTablet(hub, '222222', 'Back office'),
      pairedTablet(hub, '333333', 'Owner'),
    ]);

    // Members: sign-up (first-order coupon, welcome SMS), profile, carrier, consent, tags.
    const a = (await signUp(phones[0]!)).member;
    const b = (await signUp(phones[1]!)).member;
    const c = await signUp(phones[2]!);
    const d = (await signUp(phones[3]!)).member;
    await ok(
      cashier.request('PATCH', `/api/members/${a.memberId}`, {
        name: names[0],
        birthday: '1988-03-14',
        gender: 'female',
        region: '臺中市',
      }),
    );
    await ok(cashier.request('PATCH', `/api/members/${d.memberId}`, { name: names[2] }));
    await ok(cashier.request('POST', `/api/members/${a.memberId}/carrier`, { carrier: '/XYZ+789' }));
    await ok(cashier.request('PUT', `/api/members/${a.memberId}/consent`, { channel: 'line', granted: true }));
    await ok(cashier.request('POST', `/api/members/${a.memberId}/tags`, { tag: '有養寵物' }));
    await ok(cashier.request('POST', `/api/members/${a.memberId}/tags`, { tag: '糖尿病' }));
    await ok(cashier.request('POST', `/api/members/${a.memberId}/untag`, { tag: '糖尿病' }));

    // Coupons: a shared code made by a manager; the first-order coupon of a sign-up.
    await ok(
      manager.request('POST', '/api/coupons', {
        name: '春季優惠',
        code: 'SPRING50',
        discount: { kind: 'amount', value: 50 },
        minSpend: 300,
        validFrom: '2026-01-01',
        validTo: '2026-12-31',
        maxUses: null,
        trigger: null,
        excludeExistingBuyers: false,
      }),
      201,
    );

    // Sales: anonymous, a member with the shared coupon, a member's first-order coupon, a tier-up
    // (PET-001 NT$890 x 12 = NT$10,680: 銀卡), points redeemed, a refund of one line and a void.
    await sell(cashier, checkoutRequest([{ sku: 'DRK-001', qty: 2 }], cash(100)));
    await sell(
      cashier,
      checkoutRequest([{ sku: 'FOD-001', qty: 1 }], cash(349), { memberId: a.memberId, couponCode: 'SPRING50' }),
    );
    expect(c.firstOrderCoupon).toBeTruthy();
    await sell(
      cashier,
      checkoutRequest([{ sku: 'PET-001', qty: 1 }], cash(1000), {
        memberId: c.member.memberId,
        couponCode: c.firstOrderCoupon!,
      }),
    );
    await sell(cashier, checkoutRequest([{ sku: 'PET-001', qty: 12 }], cash(10_680), { memberId: a.memberId }));
    const redeemed = await sell(
      cashier,
      checkoutRequest([{ sku: 'HOU-001', qty: 1 }], [{ type: 'linepay', amount: 100 }, ...cash(500)], {
        memberId: a.memberId,
        redeemPoints: 10,
      }),
    );
    const twoLines = await sell(
      cashier,
      checkoutRequest(
        [
          { sku: 'PET-002', qty: 1 },
          { sku: 'DRK-001', qty: 3, discount: { kind: 'amount', value: 5 } },
        ],
        [{ type: 'jkopay', amount: 360 }],
        { memberId: b.memberId },
      ),
    );
    await ok(
      manager.request('POST', `/api/sales/${twoLines.saleId}/refund`, {
        idempotencyKey: 'contract-refund-0001',
        lines: [{ lineNo: 1, qty: 1 }],
        reason: 'wrong flavour',
      }),
    );
    await ok(manager.request('POST', `/api/sales/${redeemed.saleId}/void`, { reason: 'rang up twice' }));

    // Merge two records of one person, erase another (PDPA).
    await ok(manager.request('POST', '/api/members/merge', { fromMemberId: b.memberId, intoMemberId: d.memberId }));
    await ok(
      manager.request('POST', `/api/members/${c.member.memberId}/erase`, { confirmMemberCode: c.member.memberCode }),
      204,
    );

    // A saved segment and an automatic tag rule (S2-S4): saved, applied to the members who bought, deleted.
    const bought = { version: 1, root: { op: 'and', items: [{ field: 'purchaseCount', min: 1 }] } };
    const segment = await manager.request('POST', '/api/segments', { name: '買過的會員', definition: bought });
    expect(segment.status).toBe(201);
    await ok(manager.request('DELETE', `/api/segments/${String(segment.body.segmentId)}`), 204);
    const rule = await manager.request('POST', '/api/tag-rules', { name: '回頭客', tag: '回頭客', definition: bought });
    expect(rule.status).toBe(201);
    await ok(manager.request('DELETE', `/api/tag-rules/${String(rule.body.ruleId)}`), 204);

    // Catalog import; a tablet paired and revoked.
    await ok(
      manager.request(
        'POST',
        '/api/catalog/import',
        'sku,barcodes,name,category,price,repurchase_days\nNEW-001,4718888000001,新品試賣,測試,45,30\n',
        'text/csv',
      ),
    );
    const doomed = await pairedTablet(hub, '1111', 'Spare');
    // Ten wrong PINs (each after the back-off) lock it; the owner unlocks it from their tablet.
    await doomed.request('DELETE', '/api/session');
    for (let i = 0; i < 10; i += 1) {
      clock.advance(20_000);
      await doomed.request('POST', '/api/session', { pin: '9876' });
    }
    await ok(owner.request('POST', `/api/devices/${doomed.deviceId}/unlock`));
    await ok(owner.request('DELETE', `/api/devices/${doomed.deviceId}`), 204);

    // The technician adds a cashier, gives them a new PIN, then removes them.
    const extra = await hub.security.addStaff('阿華', 'cashier', '4321');
    await hub.security.setPin(extra.id, '5678');
    await hub.security.removeStaff(extra.id);

    // The owner changes the discount limits (and back).
    await ok(owner.request('PUT', '/api/settings/discounts', { maxLinePercent: 30, maxOrderPercent: 25 }));
    await ok(owner.request('PUT', '/api/settings/discounts', { maxLinePercent: 20, maxOrderPercent: 20 }));

    // The welcome SMS goes out through the console provider: wait for its message.attempted.
    for (let i = 0; i < 100 && !scanJournal(dataDir).events.some((e) => e.type === 'message.attempted'); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    // The nightly review a year later (銀卡 lapses) and two years later (points expire).
    clock.set('2027-01-20T02:00:00Z');
    await hub.members.reviewLoyalty();
    clock.set('2028-01-20T02:00:00Z');
    await hub.members.reviewLoyalty();
  }, 60_000);

  afterAll(async () => {
    await hub?.stop();
    temp.removeAll();
  });

  it('every journal line is a whole ayi.event/1 event that validates against the schema of its type', () => {
    const scan = scanJournal(dataDir);
    expect(scan.problems).toEqual([]);
    expect(scan.events.length).toBeGreaterThan(40);
    const invalid = scan.events
      .map((event) => ({ seq: event.seq, type: event.type, problems: problemsOf(event) }))
      .filter((e) => e.problems.length > 0);
    expect(invalid).toEqual([]);
    for (const event of scan.events) expect(envelope.Check({ ...event, data: {} }), `seq ${event.seq}`).toBe(true);
  });

  it('covers every event type but the scanner assignment (no scanner here; checked by hand above)', () => {
    const seen = new Set(scanJournal(dataDir).events.map((e) => e.type));
    expect(EVENT_TYPES.filter((t) => !seen.has(t))).toEqual(['scanner.assigned']);
  });

  it('holds no member number, name or birthday in clear; staff are named only in staff.added', () => {
    const events: HubEvent[] = scanJournal(dataDir).events;
    const text = events.map((e) => JSON.stringify(e)).join('\n');
    for (const phone of phones) {
      expect(text).not.toContain(phone.slice(1));
      expect(text).not.toContain(phone.slice(-8));
    }
    for (const name of names) expect(text).not.toContain(name);
    expect(text).not.toContain('1988-03-14');
    expect(text).not.toContain('XYZ+789');
    expect(text).not.toContain('有養寵物');
    const staffNames = events.filter((e) => e.type === 'staff.added').map((e) => e.data.name);
    expect(staffNames.length).toBeGreaterThan(0);
    const others = events
      .filter((e) => e.type !== 'staff.added')
      .map((e) => JSON.stringify(e))
      .join('\n');
    for (const name of staffNames) expect(others).not.toContain(`"${name}"`);
  });
});
