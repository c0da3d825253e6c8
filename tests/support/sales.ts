/** Small helpers for selling through the HTTP API in integration tests. */
import { randomUUID } from 'node:crypto';
import type { CheckoutRequest, SaleView } from '../../hub/src/protocol/api.ts';
import type { TabletClient } from './test-hub.ts';

/** A fresh idempotency key, as a tablet makes one per cart. */
export const newKey = (): string => randomUUID();

export function checkoutRequest(
  lines: CheckoutRequest['lines'],
  tenders: CheckoutRequest['tenders'],
  extra: Partial<CheckoutRequest> = {},
): CheckoutRequest {
  return { idempotencyKey: newKey(), lines, tenders, ...extra };
}

/** Sells and expects 201; returns the sale. */
export async function sell(tablet: TabletClient, request: CheckoutRequest): Promise<SaleView> {
  const res = await tablet.request('POST', '/api/sales', request);
  if (res.status !== 201) throw new Error(`checkout failed with ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as unknown as SaleView;
}

export async function lastSeq(baseUrl: string): Promise<number> {
  const res = await fetch(`${baseUrl}/api/health`);
  return ((await res.json()) as { lastSeq: number }).lastSeq;
}

export async function listSales(tablet: TabletClient, query = ''): Promise<SaleView[]> {
  const res = await tablet.request('GET', `/api/sales${query}`);
  if (res.status !== 200) throw new Error(`listing sales failed with ${res.status}: ${JSON.stringify(res.body)}`);
  return (res.body as unknown as { sales: SaleView[] }).sales;
}
