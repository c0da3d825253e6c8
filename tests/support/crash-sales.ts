/**
 * The tablets' side of the crash tests (tests/reliability): checkouts against a hub process that may
 * be killed under them. A request either gets the hub's answer or its outcome is unknown (the
 * connection died); a ledger keeps what was acknowledged, what is unknown (to be retried with the
 * same idempotency key) and any unexpected answer.
 */
import { expect } from 'vitest';
import type { ProductView, SaleView } from '../../hub/src/protocol/api.ts';
import { randomBasket, type Basket } from '../../scripts/lib/baskets.ts';
import type { HubProcess } from './hub-process.ts';
import { TabletClient } from './test-hub.ts';

const REQUEST_TIMEOUT_MS = 15_000;

/** One checkout: its idempotency key and basket, from which tablet, in which kill/restart cycle. */
export interface Attempt {
  key: string;
  basket: Basket;
  tablet: number;
  cycle: number;
}

export type Outcome =
  { kind: 'answered'; status: number; body: Record<string, unknown> } | { kind: 'unknown'; error: string };

/** A tablet's request that tells "the hub answered" from "the connection died: outcome unknown". */
export async function send(tablet: TabletClient, method: string, url: string, body?: unknown): Promise<Outcome> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(tablet.baseUrl + url, {
      method,
      headers: tablet.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    text = await response.text();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { kind: 'unknown', error: cause?.code ?? cause?.message ?? (err as Error).message };
  }
  return { kind: 'answered', status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Pairs `count` tablets with the hub (named by `name`) and logs each in with the PIN `pin` gives it. */
export async function pairTablets(
  hub: HubProcess,
  count: number,
  name: (index: number) => string,
  pin: (index: number) => string,
): Promise<TabletClient[]> {
  const tablets: TabletClient[] = [];
  for (let i = 0; i < count; i++) {
    const tablet = new TabletClient(hub.url);
    await tablet.pair(i === 0 ? hub.pairingCode : await hub.newPairingCode(), name(i));
    await tablet.login(pin(i));
    tablets.push(tablet);
  }
  return tablets;
}

/** The tablets' credentials survive restarts; only the hub's URL (a new port each time) changes. */
export function reconnect(tablets: TabletClient[], url: string): TabletClient[] {
  return tablets.map((old) => {
    const tablet = new TabletClient(url);
    tablet.deviceToken = old.deviceToken;
    tablet.sessionToken = old.sessionToken;
    tablet.deviceId = old.deviceId;
    return tablet;
  });
}

/** What the tablets rang up over the whole run, across the hub's crashes. */
export class SalesLedger {
  /** idempotency key -> acknowledged sale. */
  readonly acked = new Map<string, { saleId: string; total: number; attempt: Attempt }>();
  /** Requests whose connection died before an answer. */
  readonly unknown = new Map<string, Attempt>();
  readonly unexpected: string[] = [];
  requests = 0;
  /** Unknown outcomes whose retry found the sale recorded before the crash, and those it recorded. */
  unknownRecorded = 0;
  unknownLost = 0;
  private keyCounter = 0;

  /** Keys are `${keyPrefix}-t${tablet}-${counter}`; baskets are random from `products`, drawn with `rng`. */
  constructor(
    private readonly keyPrefix: string,
    private readonly products: ProductView[],
    private readonly rng: () => number,
  ) {}

  newAttempt(tablet: number, cycle: number): Attempt {
    return {
      key: `${this.keyPrefix}-t${tablet}-${String(++this.keyCounter).padStart(6, '0')}`,
      basket: randomBasket(this.products, this.rng).basket,
      tablet,
      cycle,
    };
  }

  /** One tablet rings up sales back to back until the hub dies under it (or `stop.now` is set). */
  async checkoutStream(tablet: TabletClient, index: number, cycle: number, stop: { now: boolean }): Promise<void> {
    while (!stop.now) {
      const attempt = this.newAttempt(index, cycle);
      this.requests += 1;
      const outcome = await send(tablet, 'POST', '/api/sales', { idempotencyKey: attempt.key, ...attempt.basket });
      if (outcome.kind === 'unknown') {
        this.unknown.set(attempt.key, attempt);
        return;
      }
      const sale = outcome.body as unknown as SaleView;
      if ((outcome.status === 201 || outcome.status === 200) && typeof sale.saleId === 'string') {
        this.acked.set(attempt.key, { saleId: sale.saleId, total: sale.total, attempt });
      } else {
        this.unexpected.push(`cycle ${cycle} tablet ${index}: ${outcome.status} ${JSON.stringify(outcome.body)}`);
        return;
      }
    }
  }

  /**
   * The retry of an unknown outcome answered `sale`: when the journal had recorded the attempt
   * before the crash (`recorded`, the saleIds under its key), it must be that sale. Either way the
   * sale is now acknowledged.
   */
  settleRetry(attempt: Attempt, sale: SaleView, recorded: string[] | undefined): void {
    if (recorded) {
      this.unknownRecorded += 1;
      expect(sale.saleId).toBe(recorded[0]);
    } else {
      this.unknownLost += 1;
    }
    this.acked.set(attempt.key, { saleId: sale.saleId, total: sale.total, attempt });
    this.unknown.delete(attempt.key);
  }
}
