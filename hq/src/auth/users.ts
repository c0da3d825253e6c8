/**
 * HQ's users, for the admin API and the `users` command alike: created with a generated password
 * shown once, disabled rather than deleted, and never without an enabled admin.
 */
import type { Database, Queryable } from '../db/database.js';
import { HqError } from '../errors.js';
import { HQ_ROLES, type HqRole } from '../http/route-deps.js';
import { generatePassword, hashPassword } from './passwords.js';

/** Lower-case letters, digits, dot, dash and underscore; what people type is lower-cased first. */
export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{1,63}$/;

export interface HqUser {
  username: string;
  role: HqRole;
  disabled: boolean;
  mustChangePassword: boolean;
  createdAt: string;
  passwordChangedAt: string;
}

interface UserRow {
  username: string;
  role: HqRole;
  disabled_at: unknown;
  must_change_password: boolean;
  created_at: unknown;
  password_changed_at: unknown;
}

const iso = (value: unknown): string => new Date(value as string | Date).toISOString();

const toUser = (row: UserRow): HqUser => ({
  username: row.username,
  role: row.role,
  disabled: row.disabled_at !== null,
  mustChangePassword: row.must_change_password,
  createdAt: iso(row.created_at),
  passwordChangedAt: iso(row.password_changed_at),
});

const USER_COLUMNS = 'username, role, disabled_at, must_change_password, created_at, password_changed_at';

export function normalizeUsername(name: string): string {
  const username = name.trim().toLowerCase();
  if (!USERNAME_PATTERN.test(username))
    throw new HqError(
      'bad_username',
      'A user name is 2 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit',
    );
  return username;
}

export function parseRole(role: string): HqRole {
  if (!(HQ_ROLES as readonly string[]).includes(role))
    throw new HqError('bad_role', `The role is one of ${HQ_ROLES.join(', ')}`);
  return role as HqRole;
}

export async function listUsers(db: Queryable): Promise<HqUser[]> {
  return (await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM hq_users ORDER BY username`)).map(toUser);
}

export async function findUser(db: Queryable, username: string): Promise<HqUser | null> {
  const [row] = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM hq_users WHERE username = $1`, [username]);
  return row ? toUser(row) : null;
}

/** A new user with a generated password, which is returned here and never again. */
export async function addUser(db: Queryable, name: string, role: HqRole): Promise<{ user: HqUser; password: string }> {
  const username = normalizeUsername(name);
  const password = generatePassword();
  const passwordHash = await hashPassword(password);
  const [row] = await db.query<UserRow>(
    `INSERT INTO hq_users (username, role, password_hash) VALUES ($1, $2, $3)
     ON CONFLICT (username) DO NOTHING RETURNING ${USER_COLUMNS}`,
    [username, role, passwordHash],
  );
  if (!row) throw new HqError('user_exists', `A user named ${username} already exists`, 409);
  return { user: toUser(row), password };
}

export interface UserChange {
  role?: HqRole | undefined;
  disabled?: boolean | undefined;
  resetPassword?: boolean | undefined;
}

/**
 * Changes a user in one transaction. Disabling or resetting ends the user's sessions; disabling or
 * demoting the last enabled admin is refused (409), so HQ always keeps someone who can manage it.
 */
export async function changeUser(
  db: Database,
  name: string,
  change: UserChange,
): Promise<{ user: HqUser; password?: string }> {
  const username = normalizeUsername(name);
  const password = change.resetPassword ? generatePassword() : undefined;
  const newHash = password === undefined ? undefined : await hashPassword(password);
  return db.transaction(async (tx) => {
    // The enabled admins are locked together: two admins demoting each other at once cannot both win.
    const admins = await tx.query<{ username: string }>(
      `SELECT username FROM hq_users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY username FOR UPDATE`,
    );
    const [current] = await tx.query<UserRow>(`SELECT ${USER_COLUMNS} FROM hq_users WHERE username = $1 FOR UPDATE`, [
      username,
    ]);
    if (!current) throw new HqError('user_not_found', `There is no user named ${username}`, 404);
    const wasEnabledAdmin = current.role === 'admin' && current.disabled_at === null;
    const staysEnabledAdmin =
      (change.role ?? current.role) === 'admin' && (change.disabled ?? current.disabled_at !== null) === false;
    if (wasEnabledAdmin && !staysEnabledAdmin && admins.length <= 1)
      throw new HqError(
        'last_admin',
        `${username} is the last enabled admin: make another user admin first, so someone can still manage HQ`,
        409,
      );
    if (change.role !== undefined)
      await tx.query('UPDATE hq_users SET role = $2 WHERE username = $1', [username, change.role]);
    if (change.disabled === true)
      await tx.query('UPDATE hq_users SET disabled_at = coalesce(disabled_at, now()) WHERE username = $1', [username]);
    if (change.disabled === false)
      await tx.query('UPDATE hq_users SET disabled_at = NULL WHERE username = $1', [username]);
    if (newHash !== undefined)
      await tx.query(
        `UPDATE hq_users SET password_hash = $2, must_change_password = true, password_changed_at = now()
         WHERE username = $1`,
        [username, newHash],
      );
    if (change.disabled === true || newHash !== undefined)
      await tx.query('DELETE FROM hq_sessions WHERE username = $1', [username]);
    const [row] = await tx.query<UserRow>(`SELECT ${USER_COLUMNS} FROM hq_users WHERE username = $1`, [username]);
    return password === undefined ? { user: toUser(row!) } : { user: toUser(row!), password };
  });
}
