/**
 * Password guessing is slowed by counting refused sign-ins in the database (so every HQ process
 * counts the same ones) over a sliding window, per typed name and per client address. A successful
 * sign-in resets nothing: a guesser who knows one password cannot use it to keep guessing others.
 */
import type { Queryable } from '../db/database.js';
import { sha256 } from './sessions.js';

export interface LoginLimits {
  /** Refused sign-ins per user name within the window before further attempts are refused. */
  perUsername: number;
  /** The same per client address (the proxy's X-Forwarded-For when AYI_HQ_TRUST_PROXY is set). */
  perAddress: number;
  windowSeconds: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perUsername: 10, perAddress: 30, windowSeconds: 15 * 60 };

/** The key a typed name is counted under: its SHA-256, so a password typed as the name is not kept. */
export const usernameKey = (typed: string): string => sha256(typed.trim().toLowerCase());

/**
 * Seconds until the next attempt is allowed, or null when it is allowed now: the time until the
 * failure that put the count at its limit leaves the window.
 */
async function waitFor(
  db: Queryable,
  column: 'username_hash' | 'address',
  key: string,
  limit: number,
  windowSeconds: number,
) {
  const [row] = await db.query<{ wait: number }>(
    `SELECT ceil(extract(epoch FROM failed_at + make_interval(secs => $2) - now()))::int AS wait
       FROM hq_login_failures
      WHERE ${column} = $1 AND failed_at > now() - make_interval(secs => $2)
      ORDER BY failed_at DESC OFFSET $3 LIMIT 1`,
    [key, windowSeconds, limit - 1],
  );
  return row ? Math.max(1, Number(row.wait)) : null;
}

export async function loginWait(
  db: Queryable,
  limits: LoginLimits,
  nameKey: string,
  address: string,
): Promise<number | null> {
  const byName = await waitFor(db, 'username_hash', nameKey, limits.perUsername, limits.windowSeconds);
  const byAddress = await waitFor(db, 'address', address, limits.perAddress, limits.windowSeconds);
  if (byName === null && byAddress === null) return null;
  return Math.max(byName ?? 0, byAddress ?? 0);
}

export async function recordLoginFailure(
  db: Queryable,
  limits: LoginLimits,
  nameKey: string,
  address: string,
): Promise<void> {
  await db.query('INSERT INTO hq_login_failures (username_hash, address) VALUES ($1, $2)', [nameKey, address]);
  // What has left the window counts for nothing any more.
  await db.query('DELETE FROM hq_login_failures WHERE failed_at <= now() - make_interval(secs => $1)', [
    limits.windowSeconds * 2,
  ]);
}
