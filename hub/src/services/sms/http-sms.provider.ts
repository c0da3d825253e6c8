/**
 * A generic HTTP SMS gateway: one POST a message to a configured URL, with an optional auth header
 * and a JSON body built from a template with `{{to}}`, `{{text}}` and `{{messageId}}` placeholders
 * (each placed inside a JSON string; values are JSON-escaped). 2xx is sent; network errors,
 * timeouts, 408, 429 and 5xx are retried; any other status is a permanent failure. The provider's
 * answer is never read into an error (it may echo the number).
 */
import type { SmsProvider, SmsSendContext, SmsSendResult } from './sms-provider.js';

export const DEFAULT_SMS_BODY_TEMPLATE = '{"to":"{{to}}","text":"{{text}}"}';
export const DEFAULT_SMS_TIMEOUT_MS = 10_000;

export interface HttpSmsOptions {
  url: string;
  authHeader: { name: string; value: string } | null;
  bodyTemplate: string;
  timeoutMs: number;
}

const PLACEHOLDER = /\{\{\s*(to|text|messageId)\s*\}\}/g;

/** The template with each placeholder replaced by its value, escaped for use inside a JSON string. */
export function renderBody(template: string, values: { to: string; text: string; messageId: string }): string {
  return template.replace(PLACEHOLDER, (_match, key: 'to' | 'text' | 'messageId') =>
    JSON.stringify(values[key]).slice(1, -1),
  );
}

/**
 * Why a body template is unusable (null: it is fine): it must be JSON once filled in, and must
 * carry both the number and the text.
 */
export function bodyTemplateProblem(template: string): string | null {
  for (const key of ['to', 'text']) {
    if (!new RegExp(`\\{\\{\\s*${key}\\s*\\}\\}`).test(template)) return `it has no {{${key}}} placeholder`;
  }
  try {
    JSON.parse(renderBody(template, { to: '+886900000000', text: 'a "quoted"\ntext', messageId: 'm-1' }));
  } catch {
    return 'it is not JSON once filled in (put each {{placeholder}} inside double quotes)';
  }
  return null;
}

/** "Authorization: Bearer xyz" -> { name: "Authorization", value: "Bearer xyz" } */
export function parseAuthHeader(header: string): { name: string; value: string } {
  const match = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*:\s*(\S.*?)\s*$/.exec(header);
  if (!match) throw new Error('the auth header must look like "Name: value", e.g. "Authorization: Bearer <token>"');
  return { name: match[1]!, value: match[2]! };
}

export class HttpSmsProvider implements SmsProvider {
  readonly name = 'http';

  constructor(private readonly options: HttpSmsOptions) {
    const problem = bodyTemplateProblem(options.bodyTemplate);
    if (problem) throw new Error(`SMS body template: ${problem}`);
  }

  async send(to: string, text: string, context?: SmsSendContext): Promise<SmsSendResult> {
    const { url, authHeader, bodyTemplate, timeoutMs } = this.options;
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    if (authHeader) headers[authHeader.name] = authHeader.value;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body: renderBody(bodyTemplate, { to, text, messageId: context?.messageId ?? '' }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      return { kind: 'retryable', error: fetchErrorCode(err) };
    }
    // Free the connection; the answer's content is not needed (and may contain the number).
    await response.body?.cancel().catch(() => undefined);
    const status = response.status;
    if (status >= 200 && status < 300) return { kind: 'ok' };
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), Date.now());
      return { kind: 'retryable', error: `http_${status}`, ...(retryAfterMs === null ? {} : { retryAfterMs }) };
    }
    return { kind: 'permanent', error: `http_${status}` };
  }
}

/** `timeout`, `network:ECONNREFUSED`, ... from whatever fetch threw. */
function fetchErrorCode(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } };
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') return 'timeout';
  if (e?.name === 'AbortError') return 'aborted';
  const code = e?.cause?.code ?? e?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? `network:${code}` : 'network';
}

/** Retry-After in seconds or as an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}
