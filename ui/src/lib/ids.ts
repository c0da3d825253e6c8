/**
 * Random identifiers from crypto.getRandomValues (available on plain http:// LAN pages, where
 * crypto.randomUUID is not: it needs a secure context).
 */
export function randomId(bytes = 16): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  let out = '';
  for (const b of buf) out += b.toString(16).padStart(2, '0');
  return out;
}

/** An idempotency key for a checkout or refund: 32 hex chars, matches ^[A-Za-z0-9_-]{8,64}$. */
export function newIdempotencyKey(): string {
  return randomId(16);
}

export function isIdempotencyKey(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(v);
}
