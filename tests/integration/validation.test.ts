/**
 * Bad requests: each is answered with a clear 4xx `{error: {code, message}}` naming what is wrong,
 * and nothing is recorded (the journal's last seq does not move).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import { type TabletClient, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { lastSeq, newKey } from '../support/sales.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
let hub: Hub;
let manager: TabletClient;
let saleId: string;

beforeAll(async () => {
  hub = await startTestHub({ dataDir: temp.make() });
  manager = await pairedTablet(hub, '222222', 'Manager');
  const sale = await manager.request('POST', '/api/sales', {
    idempotencyKey: newKey(),
    lines: [{ sku: 'DRK-001', qty: 2 }],
    tenders: [{ type: 'cash', amount: 30 }],
  });
  saleId = sale.body.saleId as string;
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

const goodCart = () => ({
  idempotencyKey: newKey(),
  lines: [{ sku: 'DRK-001', qty: 1 }],
  tenders: [{ type: 'cash', amount: 15 }],
});

type Case = [name: string, body: unknown, field: string];

const checkoutCases: Case[] = [
  ['qty as a string', { ...goodCart(), lines: [{ sku: 'DRK-001', qty: '1' }] }, 'body.lines.0.qty'],
  ['a negative qty', { ...goodCart(), lines: [{ sku: 'DRK-001', qty: -2 }] }, 'body.lines.0.qty'],
  ['a zero qty', { ...goodCart(), lines: [{ sku: 'DRK-001', qty: 0 }] }, 'body.lines.0.qty'],
  ['a fractional qty', { ...goodCart(), lines: [{ sku: 'DRK-001', qty: 1.5 }] }, 'body.lines.0.qty'],
  ['a fractional tender', { ...goodCart(), tenders: [{ type: 'cash', amount: 15.5 }] }, 'body.tenders.0.amount'],
  ['a negative tender', { ...goodCart(), tenders: [{ type: 'cash', amount: -15 }] }, 'body.tenders.0.amount'],
  ['an unknown tender type', { ...goodCart(), tenders: [{ type: 'bitcoin', amount: 15 }] }, 'body.tenders.0.type'],
  ['an unknown discount kind', { ...goodCart(), orderDiscount: { kind: 'bogo', value: 1 } }, 'body.orderDiscount.kind'],
  ['an extra property', { ...goodCart(), customerPhone: '0912345678' }, 'body'],
  ['a missing idempotency key', { lines: goodCart().lines, tenders: goodCart().tenders }, 'body'],
  ['missing tenders', { idempotencyKey: newKey(), lines: goodCart().lines }, 'body'],
  ['an empty cart', { ...goodCart(), lines: [] }, 'body.lines'],
  ['a too-short idempotency key', { ...goodCart(), idempotencyKey: 'abc' }, 'body.idempotencyKey'],
  ['lines that are not a list', { ...goodCart(), lines: { sku: 'DRK-001', qty: 1 } }, 'body.lines'],
  ['a body that is a list', [goodCart()], 'body'],
];

describe('POST /api/sales with a bad body', () => {
  it.each(checkoutCases)(
    'refuses %s with 400 invalid_request naming the field, recording nothing',
    async (_name, body, field) => {
      const before = await lastSeq(hub.url);
      const res = await manager.request('POST', '/api/sales', body);
      expect(res.status).toBe(400);
      expect(res.body.error?.code).toBe('invalid_request');
      expect(res.body.error?.message).toEqual(expect.any(String));
      const details = (res.body.error as { details?: { field: string }[] }).details ?? [];
      expect(details.map((d) => d.field)).toContain(field);
      expect(await lastSeq(hub.url)).toBe(before);
    },
  );

  it('names the unexpected property', async () => {
    const res = await manager.request('POST', '/api/sales', { ...goodCart(), customerPhone: '0912345678' });
    expect(res.body.error?.message).toContain('customerPhone');
  });

  it('refuses a body over 64 KiB with 413 too_large', async () => {
    const before = await lastSeq(hub.url);
    const body = JSON.stringify({ ...goodCart(), padding: 'x'.repeat(65 * 1024) });
    const res = await manager.request('POST', '/api/sales', body);
    expect(res.status).toBe(413);
    expect(res.body.error?.code).toBe('too_large');
    expect(await lastSeq(hub.url)).toBe(before);
  });

  it('refuses invalid JSON with 400 invalid_json', async () => {
    const before = await lastSeq(hub.url);
    const res = await manager.request('POST', '/api/sales', '{"idempotencyKey": "abcdefgh", "lines": [');
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_json');
    expect(await lastSeq(hub.url)).toBe(before);
  });

  it('refuses a body that is not JSON at all (415)', async () => {
    const res = await manager.request('POST', '/api/sales', 'lines=DRK-001', 'application/x-www-form-urlencoded');
    expect(res.status).toBe(415);
    expect(res.body.error?.code).toBe('unsupported_media_type');
  });
});

describe('other endpoints with bad input', () => {
  const cases: [name: string, method: string, url: () => string, body: unknown, status: number, code: string][] = [
    ['a PIN with letters', 'POST', () => '/api/session', { pin: '12ab' }, 400, 'invalid_request'],
    ['a PIN as a number', 'POST', () => '/api/session', { pin: 1111 }, 400, 'invalid_request'],
    ['a void without a reason', 'POST', () => `/api/sales/${saleId}/void`, {}, 400, 'invalid_request'],
    ['a void with an empty reason', 'POST', () => `/api/sales/${saleId}/void`, { reason: '' }, 400, 'invalid_request'],
    [
      'a refund of qty 0',
      'POST',
      () => `/api/sales/${saleId}/refund`,
      { idempotencyKey: newKey(), lines: [{ lineNo: 1, qty: 0 }], reason: 'x' },
      400,
      'invalid_request',
    ],
    [
      'a refund with a negative qty',
      'POST',
      () => `/api/sales/${saleId}/refund`,
      { idempotencyKey: newKey(), lines: [{ lineNo: 1, qty: -1 }], reason: 'x' },
      400,
      'invalid_request',
    ],
    [
      'a refund with no lines',
      'POST',
      () => `/api/sales/${saleId}/refund`,
      { idempotencyKey: newKey(), lines: [], reason: 'x' },
      400,
      'invalid_request',
    ],
    ['a sale id with a space', 'GET', () => '/api/sales/abc%20def', undefined, 400, 'invalid_request'],
    ['a sales limit over 200', 'GET', () => '/api/sales?limit=500', undefined, 400, 'invalid_request'],
    ['a sales limit that is not a number', 'GET', () => '/api/sales?limit=ten', undefined, 400, 'invalid_request'],
    ['an unknown sales query parameter', 'GET', () => '/api/sales?storeId=other', undefined, 400, 'invalid_request'],
    ['an unknown API path', 'GET', () => '/api/nope', undefined, 404, 'not_found'],
  ];

  it.each(cases)('answers %s with a clear error', async (_name, method, url, body, status, code) => {
    const before = await lastSeq(hub.url);
    const res = await manager.request(method, url(), body);
    expect(res.status).toBe(status);
    expect(res.body.error).toEqual(expect.objectContaining({ code, message: expect.any(String) }));
    expect(await lastSeq(hub.url)).toBe(before);
    // the sale the bad requests aimed at is untouched
    const sale = await manager.request('GET', `/api/sales/${saleId}`);
    expect(sale.body).toMatchObject({ status: 'completed', refundedAmount: 0 });
  });

  it('answers a bad pairing body with 400, not as a wrong code', async () => {
    const res = await fetch(`${hub.url}/api/pair`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'letters!', name: '' }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details: { field: string }[] } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.details.map((d) => d.field).sort()).toEqual(['body.code', 'body.name']);
  });
});
