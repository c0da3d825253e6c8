/**
 * A tablet talking to a hub over its public HTTP API (device token as a Bearer header, staff session
 * as X-Ayi-Session), as the tablet UI does. For scripts/simulate-store.ts and the bench.
 */
import type { ApiError, ProductView, SaleView } from '../../hub/src/protocol/api.ts';

/** The hub did not answer: connection refused or reset, or no answer in time. */
export class HubUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`no answer from ${url} (${reason})`);
    this.name = 'HubUnreachableError';
  }
}

/** The hub answered with an error. */
export class HubApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = 'HubApiError';
  }
}

export interface HubAnswer<T = unknown> {
  status: number;
  body: T;
}

export class HubTablet {
  deviceToken: string | null = null;
  sessionToken: string | null = null;
  deviceId: string | null = null;

  constructor(
    readonly baseUrl: string,
    readonly timeoutMs = 30_000,
  ) {}

  /** Any answer of the hub (also 4xx); throws HubUnreachableError when there is none. */
  async request<T = unknown>(method: string, urlPath: string, body?: unknown): Promise<HubAnswer<T>> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.deviceToken) headers.authorization = `Bearer ${this.deviceToken}`;
    if (this.sessionToken) headers['x-ayi-session'] = this.sessionToken;
    const url = this.baseUrl + urlPath;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new HubUnreachableError(url, cause?.code ?? cause?.message ?? (err as Error).message);
    }
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    return { status: response.status, body: parsed as T };
  }

  /** The answer's body when its status is `expected`, otherwise a HubApiError. */
  async expect<T>(expected: number[], method: string, urlPath: string, body?: unknown): Promise<HubAnswer<T>> {
    const answer = await this.request<T | ApiError>(method, urlPath, body);
    if (!expected.includes(answer.status)) {
      const error = (answer.body as ApiError | null)?.error;
      throw new HubApiError(
        answer.status,
        error?.code ?? 'unexpected_answer',
        error?.message ?? JSON.stringify(answer.body),
      );
    }
    return answer as HubAnswer<T>;
  }

  async pair(code: string, name: string): Promise<void> {
    const { body } = await this.expect<{ deviceId: string; token: string }>([201], 'POST', '/api/pair', { code, name });
    this.deviceToken = body.token;
    this.deviceId = body.deviceId;
  }

  async login(pin: string): Promise<void> {
    const { body } = await this.expect<{ token: string }>([200], 'POST', '/api/session', { pin });
    this.sessionToken = body.token;
  }

  async products(): Promise<ProductView[]> {
    return (await this.expect<{ products: ProductView[] }>([200], 'GET', '/api/products')).body.products;
  }

  /** Every sale the hub lists, newest first, paging back with beforeSeq. */
  async allSales(pageSize = 200): Promise<SaleView[]> {
    const all: SaleView[] = [];
    let beforeSeq: number | undefined;
    for (;;) {
      const query = `?limit=${pageSize}${beforeSeq === undefined ? '' : `&beforeSeq=${beforeSeq}`}`;
      const { body } = await this.expect<{ sales: SaleView[] }>([200], 'GET', `/api/sales${query}`);
      if (body.sales.length === 0) return all;
      all.push(...body.sales);
      beforeSeq = body.sales.at(-1)!.seq;
    }
  }
}
