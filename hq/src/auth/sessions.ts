/**
 * Dashboard sessions: a random token in the browser's cookie, its SHA-256 in the database (a copy
 * of the table lets nobody sign in). A session ends after 12 hours unused or 7 days in all, when
 * its user signs out, is disabled or gets a new password.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../db/database.js';
import type { HqRole } from '../http/route-deps.js';

export const SESSION_IDLE_SECONDS = 12 * 60 * 60;
export const SESSION_ABSOLUTE_SECONDS = 7 * 24 * 60 * 60;
/** last_seen_at is written at most this often per session: a dashboard's many requests are not each a write. */
const TOUCH_EVERY_SECONDS = 60;

export const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

export interface SessionUser {
  username: string;
  role: HqRole;
  mustChangePassword: boolean;
  /** The session's key in hq_sessions. */
  tokenHash: string;
}

/** A new session for a user who just proved their password; returns the token for the cookie. */
export async function createSession(db: Queryable, username: string, sourceIp: string): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  // Ended sessions go when new ones come: the table holds only what could still be used.
  await db.query(
    `DELETE FROM hq_sessions WHERE expires_at <= now() OR last_seen_at <= now() - make_interval(secs => $1)`,
    [SESSION_IDLE_SECONDS],
  );
  await db.query(
    `INSERT INTO hq_sessions (token_hash, username, expires_at, source_ip)
     VALUES ($1, $2, now() + make_interval(secs => $3), $4)`,
    [sha256(token), username, SESSION_ABSOLUTE_SECONDS, sourceIp],
  );
  return token;
}

/** The user a token signs in, if the session is still valid and the user still enabled. */
export async function sessionUser(db: Queryable, token: string): Promise<SessionUser | null> {
  const tokenHash = sha256(token);
  const [row] = await db.query<{ username: string; role: HqRole; must_change_password: boolean; stale: boolean }>(
    `SELECT s.username, u.role, u.must_change_password,
            s.last_seen_at <= now() - make_interval(secs => $3) AS stale
       FROM hq_sessions s JOIN hq_users u ON u.username = s.username
      WHERE s.token_hash = $1 AND s.expires_at > now()
        AND s.last_seen_at > now() - make_interval(secs => $2) AND u.disabled_at IS NULL`,
    [tokenHash, SESSION_IDLE_SECONDS, TOUCH_EVERY_SECONDS],
  );
  if (!row) return null;
  if (row.stale) await db.query('UPDATE hq_sessions SET last_seen_at = now() WHERE token_hash = $1', [tokenHash]);
  return { username: row.username, role: row.role, mustChangePassword: row.must_change_password, tokenHash };
}

export async function endSession(db: Queryable, token: string): Promise<void> {
  await db.query('DELETE FROM hq_sessions WHERE token_hash = $1', [sha256(token)]);
}

/** Ends every session of the user but the one given (a password change keeps the browser that made it). */
export async function endOtherSessions(db: Queryable, username: string, keepTokenHash: string): Promise<void> {
  await db.query('DELETE FROM hq_sessions WHERE username = $1 AND token_hash <> $2', [username, keepTokenHash]);
}
