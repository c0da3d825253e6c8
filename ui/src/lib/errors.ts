import { isApiError } from './api';

export type Translate = (
  id: string,
  options?: { default?: string; values?: Record<string, string | number> },
) => string;

/** A message for the cashier: translated for known codes, else the hub's own message. */
export function describeError(e: unknown, t: Translate): string {
  if (isApiError(e)) {
    const values: Record<string, string | number> = { status: e.status, message: e.message };
    const wait = e.retryAfterSeconds;
    if (wait !== null) values.seconds = Math.ceil(wait);
    return t(`errors.${e.code}`, { default: e.message || e.code, values });
  }
  if (e instanceof Error && e.message) return e.message;
  return t('errors.unknown');
}

/**
 * Something to tell the cashier, kept as a message key (or the error itself) rather than text,
 * so it follows a language switch while it is on screen.
 */
export type Message = { key: string; values?: Record<string, string | number> } | { error: unknown; prefix?: Message };

export function renderMessage(m: Message, t: Translate): string {
  if ('key' in m) return t(m.key, m.values ? { values: m.values } : undefined);
  const text = describeError(m.error, t);
  return m.prefix ? `${renderMessage(m.prefix, t)} ${text}` : text;
}
