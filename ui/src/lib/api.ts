/**
 * Small fetch wrapper for the hub's HTTP API: JSON in and out, cookies on the same origin,
 * and a typed ApiError for every failure (HTTP error, network error or timeout).
 */
import type { ApiError as ApiErrorBody } from '$protocol/api';

/** Codes the UI invents for failures that never reached the hub or gave no JSON answer. */
export const NETWORK_ERROR = 'network_error';
export const TIMEOUT = 'timeout';
export const BAD_RESPONSE = 'bad_response';

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;

  constructor(code: string, message: string, status: number, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.details = details;
  }

  /** True when the request may or may not have reached the hub (safe to retry with the same key). */
  get uncertain(): boolean {
    return this.code === NETWORK_ERROR || this.code === TIMEOUT || this.status >= 500;
  }

  /** Seconds to wait, for `429 retry_later`. */
  get retryAfterSeconds(): number | null {
    const d = this.details;
    if (d && typeof d === 'object' && 'retryAfterSeconds' in d) {
      const n = Number((d as { retryAfterSeconds: unknown }).retryAfterSeconds);
      if (Number.isFinite(n)) return n;
    }
    return null;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

type AuthFailureHandler = (code: 'device_not_paired' | 'staff_login_required') => void;
let authFailureHandler: AuthFailureHandler | null = null;

/** The layout installs this: it sends the tablet to /pair or /login on a 401. */
export function setAuthFailureHandler(handler: AuthFailureHandler | null): void {
  authFailureHandler = handler;
}

/** Passes a 401 with a known code to the auth failure handler. */
export function reportAuthFailure(code: string): void {
  if ((code === 'device_not_paired' || code === 'staff_login_required') && authFailureHandler) {
    authFailureHandler(code);
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** Milliseconds before the request is abandoned with code `timeout`. */
  timeoutMs?: number;
  /** Leave 401s to the caller (pairing and PIN screens show them instead of redirecting). */
  noAuthRedirect?: boolean;
  signal?: AbortSignal;
  /**
   * The browser cache's part: `no-store` (the default) keeps nothing; `no-cache` keeps the answer
   * and asks the hub with its ETag before each use (a 304 reuses it), for big answers that rarely change.
   */
  cache?: 'no-store' | 'no-cache';
  /** The `fetch` to use (SvelteKit's, inside a load function). */
  fetch?: typeof fetch;
}

const DEFAULT_TIMEOUT_MS = 15_000;

function parseErrorBody(body: unknown): ApiErrorBody['error'] | null {
  if (body && typeof body === 'object' && 'error' in body) {
    const err = (body as { error: unknown }).error;
    if (err && typeof err === 'object' && 'code' in err) {
      const e = err as { code: unknown; message?: unknown; details?: unknown };
      return {
        code: String(e.code),
        message: typeof e.message === 'string' ? e.message : String(e.code),
        details: e.details,
      };
    }
  }
  return null;
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { Accept: 'application/json' };
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }

  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const onOuterAbort = () => controller.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });

  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(path, {
      method,
      headers,
      body,
      credentials: 'same-origin',
      cache: opts.cache ?? 'no-store',
      signal: controller.signal,
    });
  } catch (e) {
    if (timedOut) throw new ApiError(TIMEOUT, 'The hub did not answer in time', 0);
    if (opts.signal?.aborted) throw e;
    throw new ApiError(NETWORK_ERROR, e instanceof Error ? e.message : 'Network error', 0);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }

  let parsed: unknown = undefined;
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }

  if (!res.ok) {
    const err = parseErrorBody(parsed);
    const apiError = err
      ? new ApiError(err.code, err.message, res.status, err.details)
      : new ApiError(BAD_RESPONSE, `HTTP ${res.status}`, res.status);
    if (res.status === 401 && !opts.noAuthRedirect) reportAuthFailure(apiError.code);
    throw apiError;
  }
  if (text && parsed === undefined) {
    throw new ApiError(BAD_RESPONSE, 'The hub answered something that is not JSON', res.status);
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string, opts?: Omit<RequestOptions, 'method' | 'body'>) =>
    request<T>(path, { ...opts, method: 'GET' }),
  post: <T>(path: string, body?: unknown, opts?: Omit<RequestOptions, 'method' | 'body'>) =>
    request<T>(path, { ...opts, method: 'POST', body: body ?? {} }),
  del: <T>(path: string, opts?: Omit<RequestOptions, 'method' | 'body'>) =>
    request<T>(path, { ...opts, method: 'DELETE' }),
};
