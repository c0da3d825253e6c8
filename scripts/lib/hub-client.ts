/**
 * A tablet talking to a hub over its public HTTP API (device token as a Bearer header, staff session
 * as X-Ayi-Session), as the tablet UI does. For scripts/simulate-store.ts and the bench.
 */
import http from 'node:http';
import https from 'node:https';
import type { ApiError, ProductView, SaleView } from '../../hub/src/protocol/api.ts';

const errorCode = (err: Error): string => (err as NodeJS.ErrnoException).code ?? err.message;

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
  private connection: http.Agent | null = null;

  constructor(
    readonly baseUrl: string,
    readonly timeoutMs = 30_000,
  ) {}

  /**
   * Any answer of the hub (also 4xx); throws HubUnreachableError when there is none. Over one
   * keep-alive connection per tablet, as a tablet's browser keeps one, with node:http rather than
   * fetch: fetch's streams cost the load generator CPU that, on a small machine shared with the
   * hub, the hub is then measured for.
   */
  request<T = unknown>(method: string, urlPath: string, body?: unknown): Promise<HubAnswer<T>> {
    const headers: Record<string, string> = {};
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    if (this.deviceToken) headers.authorization = `Bearer ${this.deviceToken}`;
    if (this.sessionToken) headers['x-ayi-session'] = this.sessionToken;
    const url = this.baseUrl + urlPath;
    return new Promise<HubAnswer<T>>((resolve, reject) => {
      const target = new URL(url);
      const send = target.protocol === 'https:' ? https.request : http.request;
      const request = send(target, { method, headers, agent: this.agent(target.protocol) }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (err) => reject(new HubUnreachableError(url, errorCode(err))));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = null;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            parsed = text;
          }
          resolve({ status: response.statusCode ?? 0, body: parsed as T });
        });
      });
      request.setTimeout(this.timeoutMs, () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      request.on('error', (err) => reject(new HubUnreachableError(url, errorCode(err))));
      request.end(payload);
    });
  }

  /** Closes the tablet's connection (a script that ends should not wait for it to time out). */
  close(): void {
    this.connection?.destroy();
    this.connection = null;
  }

  private agent(protocol: string): http.Agent {
    this.connection ??=
      protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 1 })
        : new http.Agent({ keepAlive: true, maxSockets: 1 });
    return this.connection;
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
