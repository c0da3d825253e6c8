/**
 * HQ's API from the dashboard: same origin, the session in an HttpOnly cookie. A 401 anywhere
 * means the session ended (expired, signed out elsewhere, user disabled): back to the sign-in page.
 */
import { goto } from '$app/navigation';
import { resolve } from '$app/paths';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
    /** What HQ said beside the message (for a refused catalog file: its bad rows). */
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** `contentType`: a body other than JSON (a CSV file's text), sent as it is. */
export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  { redirectOn401 = true, contentType = 'application/json' } = {},
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': contentType },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'unreachable', 'HQ is not answering');
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not HQ's JSON (a proxy's error page while HQ restarts): said as HQ not answering.
    throw new ApiError(res.status, 'unreachable', `HQ is not answering (${res.status})`);
  }
  if (!res.ok) {
    const error = (parsed ?? {}) as {
      error?: string | { code?: string; message?: string };
      message?: string;
      retryAfterSeconds?: number;
      details?: unknown;
    };
    const code = typeof error.error === 'string' ? error.error : (error.error?.code ?? 'error');
    const message =
      error.message ?? (typeof error.error === 'object' ? error.error?.message : undefined) ?? res.statusText;
    if (res.status === 401 && redirectOn401) await goto(resolve('/login'));
    if (res.status === 403 && code === 'password_change_required') await goto(resolve('/password'));
    const retry = Number(res.headers.get('retry-after')) || error.retryAfterSeconds;
    throw new ApiError(res.status, code, message, retry, error.details);
  }
  return parsed as T;
}

export const get = <T>(path: string) => api<T>('GET', path);

/** The minutes to wait that a refusal for too many tries asks for (at least one). */
export function minutesToWait(err: ApiError): number {
  return Math.max(1, Math.ceil((err.retryAfterSeconds ?? 60) / 60));
}
