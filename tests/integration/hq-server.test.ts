/**
 * HQ's HTTP server, the chain's public edge, over real sockets: sign-in and sessions, the limits on
 * password guessing, roles, users, the Origin check and security headers, and what the database
 * keeps (hashes only). Runs on the embedded PGlite always and on the PostgreSQL server at
 * 127.0.0.1:5432 where one answers. The `users` command is run as documented, as a process.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser } from '../../hq/src/auth/users.ts';
import { loadServerConfig, type HqServerConfig } from '../../hq/src/config.ts';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import type { HqRoutes } from '../../hq/src/http/route-deps.ts';
import { buildHqServer, SESSION_COOKIE } from '../../hq/src/http/server.ts';
import { REPO_ROOT } from '../support/hub-process.ts';
import { freePort } from '../support/free-port.ts';
import { startMosquitto } from '../support/mosquitto.ts';
import { passwordChosen } from '../support/hq-service.ts';
import { hqTestDatabases } from '../support/postgres-server.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const quiet = pino({ level: 'silent' });
const temp = new TempDirs();

afterAll(() => temp.removeAll());

const LOCAL: HqServerConfig = {
  host: '127.0.0.1',
  port: 0,
  tls: undefined,
  // The tests play clients at many addresses through X-Forwarded-For, as behind the chain's proxy.
  trustProxy: true,
  publicOrigin: undefined,
};

/** An operations-only route with a body, its guard put in preHandler as a route group might. */
const probeRoutes: HqRoutes = (app, { allow }) => {
  app.post(
    '/probe',
    {
      preHandler: allow('operations', 'admin'),
      schema: { body: Type.Object({ count: Type.Integer() }, { additionalProperties: false }) },
    },
    async () => ({ probed: true }),
  );
};

async function startServer(db: Database, config: Partial<HqServerConfig> = {}, dashboardDir?: string) {
  const app = await buildHqServer({
    db,
    config: { ...LOCAL, ...config },
    log: quiet,
    dashboardDir,
    routes: [probeRoutes],
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: address };
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> | null;
  text: string;
}

let addresses = 0;
/** A browser at its own client address, with its own cookie jar (one cookie: the session). */
class Browser {
  readonly address = `198.51.100.${++addresses}`;
  token: string | null = null;
  setCookie: string | null = null;

  constructor(
    private readonly base: string,
    private readonly origin: string | null = base,
  ) {}

  async send(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await fetch(new URL(url, this.base), {
      method,
      headers: {
        'x-forwarded-for': this.address,
        ...(this.origin && method !== 'GET' ? { origin: this.origin } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(this.token ? { cookie: `${SESSION_COOKIE}=${this.token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
    if (cookie) {
      this.setCookie = cookie;
      const value = cookie.slice(SESSION_COOKIE.length + 1).split(';')[0]!;
      this.token = value === '' ? null : value;
    }
    const text = await res.text();
    let parsed: Record<string, unknown> | null = null;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = null;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  }

  signIn(username: string, password: string) {
    return this.send('POST', '/api/session', { username, password });
  }
}

describe.each(hqTestDatabases())(
  'HQ server on $name',
  ({ open }) => {
    let db: Database | null = null;
    let app: FastifyInstance;
    let base = '';
    /** The one enabled admin: the tests that add admins demote or disable them again. */
    let rootPassword = '';
    const root = () => new Browser(base);
    const signedIn = async (username: string, password: string) => {
      const browser = new Browser(base);
      expect((await browser.signIn(username, password)).status).toBe(200);
      return browser;
    };
    const signedInRoot = () => signedIn('root', rootPassword);
    const user = async (username: string, role: 'analyst' | 'operations' | 'admin') => {
      const { password } = await addUser(db!, username, role);
      await passwordChosen(db!, username);
      return password;
    };

    beforeAll(async () => {
      db = await open();
      if (!db) return;
      rootPassword = (await addUser(db, 'root', 'admin')).password;
      await passwordChosen(db, 'root');
      ({ app, base } = await startServer(db));
    }, 60_000);
    afterAll(async () => {
      await app?.close();
      await db?.close();
    });

    it('lets a user given a password do nothing but choose their own, then everything their role allows', async () => {
      if (!db) return;
      // An admin made with the users command: someone else has seen the password.
      const given = (await addUser(db, 'olga', 'admin')).password;
      const olga = new Browser(base);
      const signIn = await olga.signIn('olga', given);
      expect(signIn.status).toBe(200);
      expect(signIn.body).toMatchObject({ mustChangePassword: true });
      const refused = await olga.send('GET', '/api/users');
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ error: 'password_change_required' });
      expect((await olga.send('POST', '/api/users', { username: 'sneaky', role: 'admin' })).status).toBe(403);
      expect((await olga.send('GET', '/api/session')).status).toBe(200);
      const chosen = await olga.send('POST', '/api/session/password', {
        currentPassword: given,
        newPassword: 'olga-own-password-2026',
      });
      expect(chosen.status).toBe(200);
      expect(chosen.body).toMatchObject({ mustChangePassword: false });
      expect((await olga.send('GET', '/api/users')).status).toBe(200);
      // A reset by another admin: the new password is theirs to replace again.
      const reset = await (await signedInRoot()).send('PATCH', '/api/users/olga', { resetPassword: true });
      expect(reset.status).toBe(200);
      const again = new Browser(base);
      expect((await again.signIn('olga', (reset.body as { password: string }).password)).body).toMatchObject({
        mustChangePassword: true,
      });
      expect((await again.send('GET', '/api/users')).status).toBe(403);
      await (await signedInRoot()).send('PATCH', '/api/users/olga', { disabled: true });
    });

    it('signs in, tells who is signed in, and signs out (the session row goes with it)', async () => {
      if (!db) return;
      const password = await user('amara', 'analyst');
      const browser = root();
      expect((await browser.send('GET', '/api/session')).status).toBe(401);
      const signIn = await browser.signIn('Amara', password);
      expect(signIn.status).toBe(200);
      expect(signIn.body).toEqual({ username: 'amara', role: 'analyst', mustChangePassword: false });
      expect((await browser.send('GET', '/api/session')).body).toMatchObject({ username: 'amara', role: 'analyst' });
      const sessions = async () =>
        Number(
          (await db!.query<{ n: string }>(`SELECT count(*) AS n FROM hq_sessions WHERE username = 'amara'`))[0]!.n,
        );
      expect(await sessions()).toBe(1);
      const token = browser.token!;
      expect((await browser.send('DELETE', '/api/session')).status).toBe(204);
      expect(browser.token).toBeNull();
      expect(await sessions()).toBe(0);
      // The old token is worth nothing, even replayed by hand.
      browser.token = token;
      expect((await browser.send('GET', '/api/session')).status).toBe(401);
    });

    it('sets the session cookie HttpOnly, SameSite=Strict, for 7 days; Secure once the public origin is https', async () => {
      if (!db) return;
      const browser = await signedInRoot();
      const flags = browser.setCookie!.split(';').map((part) => part.trim().toLowerCase());
      expect(flags).toContain('httponly');
      expect(flags).toContain('samesite=strict');
      expect(flags).toContain('path=/');
      expect(flags).toContain(`max-age=${7 * 24 * 60 * 60}`);
      expect(flags).not.toContain('secure');
      expect(browser.token!.length).toBeGreaterThanOrEqual(40);

      const behindTls = await startServer(db, { publicOrigin: 'https://hq.example.com' });
      try {
        const viaProxy = new Browser(behindTls.base, 'https://hq.example.com');
        const answer = await viaProxy.signIn('root', rootPassword);
        expect(answer.status).toBe(200);
        expect(viaProxy.setCookie!.toLowerCase()).toMatch(/;\s*secure(;|$)/);
        expect(answer.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      } finally {
        await behindTls.app.close();
      }
    });

    it('answers a wrong password and an unknown user with the same 401', async () => {
      if (!db) return;
      await user('bruno', 'analyst');
      const wrong = await root().signIn('bruno', 'not-the-password');
      const unknown = await root().signIn('nobody-here', 'not-the-password');
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(unknown.body).toEqual(wrong.body);
      expect(wrong.body).toEqual({ error: 'bad_credentials', message: expect.any(String) });
    });

    it('checks no more passwords than the limit when the guesses come all at once', async () => {
      if (!db) return;
      const password = await user('gisele', 'analyst');
      // 40 guesses in parallel, each from its own browser (one address: this machine).
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => new Browser(base).signIn('gisele', `parallel-guess-${i}`)),
      );
      const checked = answers.filter((a) => a.status === 401).length;
      expect(checked).toBe(10);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(30);
      expect((await root().signIn('gisele', password)).status).toBe(429);
    });

    it('refuses the 11th attempt on one user name for 15 minutes, even with the right password; others sign in', async () => {
      if (!db) return;
      const password = await user('carla', 'operations');
      const otherPassword = await user('dmitri', 'operations');
      const guesser = root();
      for (let i = 0; i < 10; i += 1)
        expect((await guesser.signIn(i % 2 ? 'carla' : 'CARLA', `guess-${i}`)).status).toBe(401);
      const blocked = await guesser.signIn('carla', password);
      expect(blocked.status).toBe(429);
      expect(blocked.body).toMatchObject({ error: 'too_many_attempts' });
      const retryAfter = Number(blocked.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(14 * 60);
      expect(retryAfter).toBeLessThanOrEqual(15 * 60);
      // From another address too: the count is the user name's.
      expect((await root().signIn('carla', password)).status).toBe(429);
      expect((await guesser.signIn('dmitri', otherPassword)).status).toBe(200);
    });

    it('does not reset the count when a sign-in succeeds', async () => {
      if (!db) return;
      const password = await user('esme', 'analyst');
      const browser = root();
      for (let i = 0; i < 9; i += 1) expect((await browser.signIn('esme', `guess-${i}`)).status).toBe(401);
      expect((await browser.signIn('esme', password)).status).toBe(200);
      expect((await browser.signIn('esme', 'guess-9')).status).toBe(401);
      expect((await browser.signIn('esme', password)).status).toBe(429);
    });

    it('refuses a client address after 30 failures within 15 minutes, whatever the names', async () => {
      if (!db) return;
      const password = await user('farah', 'analyst');
      const sprayer = root();
      for (let i = 0; i < 30; i += 1) expect((await sprayer.signIn(`spray-${i}`, 'Summer2026!')).status).toBe(401);
      const blocked = await sprayer.signIn('farah', password);
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      // The same user from their own address is not held back by someone else's guessing.
      expect((await root().signIn('farah', password)).status).toBe(200);
    });

    it('checks the role before the body: 401 signed out, 403 wrong role (malformed or not), 400 for the role with a bad body', async () => {
      if (!db) return;
      const analyst = await signedIn('gita', await user('gita', 'analyst'));
      const nobody = root();
      expect((await nobody.send('GET', '/api/users')).status).toBe(401);
      expect((await analyst.send('GET', '/api/users')).status).toBe(403);
      expect((await analyst.send('GET', '/api/users')).body).toMatchObject({ error: 'forbidden' });
      const malformed = await analyst.send('POST', '/api/users', { username: 'x', role: 'king', extra: 1 });
      expect(malformed.status).toBe(403);
      expect((await analyst.send('POST', '/api/users', '{"username": ')).status).toBe(403);
      expect((await nobody.send('POST', '/api/users', { role: 'king' })).status).toBe(401);
      // A route group's guard in preHandler still runs before the body is validated.
      expect((await analyst.send('POST', '/api/probe', { count: 'many' })).status).toBe(403);
      const operations = await signedIn('hugo', await user('hugo', 'operations'));
      expect((await operations.send('POST', '/api/probe', { count: 2 })).body).toEqual({ probed: true });
      const badProbe = await operations.send('POST', '/api/probe', { count: 'many' });
      expect(badProbe.status).toBe(400);
      const admin = await signedInRoot();
      const bad = await admin.send('POST', '/api/users', { username: 'x', role: 'king' });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ error: 'bad_request', message: expect.any(String) });
      expect((bad.body!.details as { field: string }[]).map((d) => d.field)).toEqual(
        expect.arrayContaining(['body.username', 'body.role']),
      );
    });

    it('refuses state-changing requests from another site (Origin or Sec-Fetch-Site), even with the right password', async () => {
      if (!db) return;
      const foreign = new Browser(base, 'https://evil.example');
      const answer = await foreign.signIn('root', rootPassword);
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ error: 'origin_not_allowed' });
      expect(foreign.token).toBeNull();
      const noOrigin = new Browser(base, null);
      const crossSite = await noOrigin.send(
        'POST',
        '/api/session',
        { username: 'root', password: rootPassword },
        { 'sec-fetch-site': 'cross-site' },
      );
      expect(crossSite.status).toBe(403);
      // A signed-in admin's browser tricked into a change by another site changes nothing.
      const admin = await signedInRoot();
      const forged = await new Browser(base, 'http://127.0.0.1:1').send(
        'POST',
        '/api/users',
        { username: 'forged-user', role: 'admin' },
        { cookie: `${SESSION_COOKIE}=${admin.token!}` },
      );
      expect(forged.status).toBe(403);
      expect(await db.query(`SELECT 1 FROM hq_users WHERE username = 'forged-user'`)).toHaveLength(0);
    });

    it('sends security headers on pages and API answers alike; /healthz tells nothing but ok', async () => {
      if (!db) return;
      for (const url of ['/', '/api/session', '/healthz']) {
        const answer = await root().send('GET', url);
        const csp = answer.headers.get('content-security-policy') ?? '';
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).toContain("default-src 'self'");
        expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
        expect(answer.headers.get('referrer-policy')).toBe('no-referrer');
        expect(answer.headers.get('x-frame-options')).toBe('DENY');
      }
      expect((await root().send('GET', '/api/session')).headers.get('cache-control')).toBe('no-store');
      const health = await root().send('GET', '/healthz');
      expect(health.body).toEqual({ ok: true });
      const home = await root().send('GET', '/');
      expect(home.status).toBe(200);
      expect(home.text).toMatch(/dashboard is not built/);
    });

    it('lets admins add, reset and change users; the passwords are shown once and work', async () => {
      if (!db) return;
      const admin = await signedInRoot();
      const added = await admin.send('POST', '/api/users', { username: 'Ines', role: 'analyst' });
      expect(added.status).toBe(201);
      const first = added.body!.password as string;
      expect(first.length).toBeGreaterThanOrEqual(16);
      expect(added.body!.user).toMatchObject({ username: 'ines', role: 'analyst', disabled: false });
      expect((await admin.send('POST', '/api/users', { username: 'ines', role: 'admin' })).status).toBe(409);
      const list = await admin.send('GET', '/api/users');
      const listed = (list.body!.users as Record<string, unknown>[]).find((u) => u.username === 'ines');
      expect(listed).toMatchObject({ role: 'analyst', disabled: false });
      expect(JSON.stringify(list.body)).not.toMatch(/argon2|password_hash/);

      const ines = await signedIn('ines', first);
      const reset = await admin.send('PATCH', '/api/users/ines', { resetPassword: true });
      expect(reset.status).toBe(200);
      const second = reset.body!.password as string;
      expect(second).not.toBe(first);
      expect((await ines.send('GET', '/api/session')).status).toBe(401);
      expect((await root().signIn('ines', first)).status).toBe(401);
      await signedIn('ines', second);
      const promoted = await admin.send('PATCH', '/api/users/ines', { role: 'operations' });
      expect(promoted.body).toEqual({ user: expect.objectContaining({ role: 'operations' }) });
      expect((await admin.send('PATCH', '/api/users/nobody-at-all', { disabled: true })).status).toBe(404);
      expect((await admin.send('PATCH', '/api/users/ines', {})).status).toBe(400);
    });

    it('never disables or demotes the last enabled admin', async () => {
      if (!db) return;
      const admin = await signedInRoot();
      const disable = await admin.send('PATCH', '/api/users/root', { disabled: true });
      expect(disable.status).toBe(409);
      expect(disable.body).toMatchObject({ error: 'last_admin', message: expect.stringMatching(/last enabled admin/) });
      expect((await admin.send('PATCH', '/api/users/root', { role: 'analyst' })).status).toBe(409);
      // With a second admin, either can go; then the other is the last one.
      expect((await admin.send('POST', '/api/users', { username: 'jun', role: 'admin' })).status).toBe(201);
      expect((await admin.send('PATCH', '/api/users/jun', { disabled: true })).status).toBe(200);
      expect((await admin.send('PATCH', '/api/users/root', { disabled: true })).status).toBe(409);
      expect((await admin.send('GET', '/api/session')).status).toBe(200);
    });

    it('ends a disabled user’s sessions at once, and lets them back in when enabled again', async () => {
      if (!db) return;
      const password = await user('kofi', 'analyst');
      const kofi = await signedIn('kofi', password);
      const admin = await signedInRoot();
      expect((await admin.send('PATCH', '/api/users/kofi', { disabled: true })).status).toBe(200);
      expect((await kofi.send('GET', '/api/session')).status).toBe(401);
      expect((await root().signIn('kofi', password)).status).toBe(401);
      expect((await admin.send('PATCH', '/api/users/kofi', { disabled: false })).status).toBe(200);
      await signedIn('kofi', password);
    });

    it('changes one’s own password: at least 12 characters, the current one required, other sessions ended', async () => {
      if (!db) return;
      const password = await user('lena', 'analyst');
      const here = await signedIn('lena', password);
      const elsewhere = await signedIn('lena', password);
      const tooShort = await here.send('POST', '/api/session/password', {
        currentPassword: password,
        newPassword: 'short',
      });
      expect(tooShort.status).toBe(400);
      const wrong = await here.send('POST', '/api/session/password', {
        currentPassword: 'not-my-password',
        newPassword: 'a long new passphrase',
      });
      expect(wrong.status).toBe(403);
      expect((await elsewhere.send('GET', '/api/session')).status).toBe(200);
      const changed = await here.send('POST', '/api/session/password', {
        currentPassword: password,
        newPassword: 'a long new passphrase',
      });
      expect(changed.status).toBe(200);
      expect(changed.body).toEqual({ username: 'lena', role: 'analyst', mustChangePassword: false });
      expect((await here.send('GET', '/api/session')).status).toBe(200);
      expect((await elsewhere.send('GET', '/api/session')).status).toBe(401);
      expect((await root().signIn('lena', password)).status).toBe(401);
      await signedIn('lena', 'a long new passphrase');
    });

    it('ends a session after 12 hours unused or 7 days in all', async () => {
      if (!db) return;
      const password = await user('noor', 'analyst');
      const idle = await signedIn('noor', password);
      const old = await signedIn('noor', password);
      const fresh = await signedIn('noor', password);
      const sha = (text: string) => createHash('sha256').update(text).digest('hex');
      await db.query(
        `UPDATE hq_sessions SET last_seen_at = now() - interval '12 hours 1 minute' WHERE token_hash = $1`,
        [sha(idle.token!)],
      );
      // Used an hour ago, but signed in a week ago.
      await db.query(
        `UPDATE hq_sessions SET created_at = now() - interval '7 days', last_seen_at = now() - interval '1 hour',
              expires_at = now() - interval '1 second' WHERE token_hash = $1`,
        [sha(old.token!)],
      );
      await db.query(`UPDATE hq_sessions SET last_seen_at = now() - interval '11 hours' WHERE token_hash = $1`, [
        sha(fresh.token!),
      ]);
      expect((await idle.send('GET', '/api/session')).status).toBe(401);
      expect((await old.send('GET', '/api/session')).status).toBe(401);
      expect((await fresh.send('GET', '/api/session')).status).toBe(200);
      // Using it counts: the session that was 11 hours idle starts its 12 hours again.
      const [seen] = await db.query<{ touched: boolean }>(
        `SELECT last_seen_at > now() - interval '1 minute' AS touched FROM hq_sessions WHERE token_hash = $1`,
        [sha(fresh.token!)],
      );
      expect(seen!.touched).toBe(true);
    });

    it('keeps sessions and passwords only as hashes: no token or password in clear in any table', async () => {
      if (!db) return;
      const password = await user('mara', 'analyst');
      const a = await signedIn('mara', password);
      const b = await signedIn('mara', password);
      // A password typed into the name field is not kept either.
      expect((await root().signIn(password, password)).status).toBe(401);
      const secrets = [password, rootPassword, a.token!, b.token!, encodeURIComponent(a.token!)];
      const dump = JSON.stringify([
        await db.query('SELECT * FROM hq_users'),
        await db.query('SELECT * FROM hq_sessions'),
        await db.query('SELECT * FROM hq_login_failures'),
      ]);
      for (const secret of secrets) expect(dump).not.toContain(secret);
      const hashes = (
        await db.query<{ token_hash: string }>(`SELECT token_hash FROM hq_sessions WHERE username = 'mara'`)
      ).map((r) => r.token_hash);
      const sha = (text: string) => createHash('sha256').update(text).digest('hex');
      expect(hashes.sort()).toEqual([sha(a.token!), sha(b.token!)].sort());
      const [row] = await db.query<{ password_hash: string }>(
        `SELECT password_hash FROM hq_users WHERE username = 'mara'`,
      );
      expect(row!.password_hash).toMatch(/^\$argon2id\$/);
    });

    it('serves a built dashboard as one page app; unknown API paths stay JSON 404s', async () => {
      if (!db) return;
      const dir = temp.make('ayi-hq-dashboard-');
      mkdirSync(path.join(dir, '_app', 'immutable'), { recursive: true });
      writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>HQ</title><script>start()</script>');
      writeFileSync(path.join(dir, '_app', 'immutable', 'app.js'), 'console.log(1)');
      const withDashboard = await startServer(db, {}, dir);
      try {
        const browser = new Browser(withDashboard.base);
        const page = await browser.send('GET', '/stores/store-1');
        expect(page.status).toBe(200);
        expect(page.text).toContain('<title>HQ</title>');
        const sha = createHash('sha256').update('start()').digest('base64');
        expect(page.headers.get('content-security-policy')).toContain(`'sha256-${sha}'`);
        const asset = await browser.send('GET', '/_app/immutable/app.js');
        expect(asset.headers.get('cache-control')).toContain('immutable');
        const api = await browser.send('GET', '/api/not-a-route');
        expect(api.status).toBe(404);
        expect(api.body).toMatchObject({ error: 'not_found' });
      } finally {
        await withDashboard.app.close();
      }
    });
    // A loaded machine hashes slowly: the limits' tests make dozens of argon2 checks.
  },
  120_000,
);

describe('HQ server with its own TLS certificate', () => {
  it('serves https only, with Secure cookies and Strict-Transport-Security', async () => {
    const pki = temp.make('ayi-hq-tls-');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']
        .concat(['-keyout', 'key.pem', '-out', 'cert.pem', '-subj', '/CN=127.0.0.1'])
        .concat(['-addext', 'subjectAltName=IP:127.0.0.1']),
      { cwd: pki, stdio: 'ignore' },
    );
    const db = await openDatabase({ dataDir: 'memory://' });
    await migrate(db);
    const { password } = await addUser(db, 'olu', 'analyst');
    const config = loadServerConfig({
      AYI_HQ_PORT: '0',
      AYI_HQ_TLS_CERT: path.join(pki, 'cert.pem'),
      AYI_HQ_TLS_KEY: path.join(pki, 'key.pem'),
    });
    const app = await buildHqServer({ db, config, log: quiet });
    try {
      const address = await app.listen({ host: '127.0.0.1', port: 0 });
      expect(address).toMatch(/^https:/);
      const ca = readFileSync(path.join(pki, 'cert.pem'));
      const answer = await httpsRequest(`${address}/api/session`, ca, JSON.stringify({ username: 'olu', password }), {
        origin: address,
        'content-type': 'application/json',
      });
      expect(answer.status).toBe(200);
      expect(String(answer.headers['set-cookie'])).toMatch(/;\s*Secure/i);
      expect(answer.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      // Plain http on the https port gets no answer a browser could use.
      await expect(fetch(address.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
    } finally {
      await app.close();
      await db.close();
    }
  }, 120_000);
});

/** A POST over https trusting only the test's own certificate. */
function httpsRequest(url: string, ca: Buffer, body: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders }>((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HQ server settings', () => {
  it('reads host, port, TLS, proxy trust and the public origin, and explains what is wrong', () => {
    expect(loadServerConfig({})).toEqual({
      host: '127.0.0.1',
      port: 8090,
      tls: undefined,
      trustProxy: false,
      publicOrigin: undefined,
      silentAfterSeconds: 900,
    });
    expect(
      loadServerConfig({
        AYI_HQ_TRUST_PROXY: '10.0.0.5, 10.1.0.0/16',
        AYI_HQ_PUBLIC_ORIGIN: 'https://hq.example.com/',
      }),
    ).toMatchObject({ trustProxy: ['10.0.0.5', '10.1.0.0/16'], publicOrigin: 'https://hq.example.com' });
    expect(
      loadServerConfig({ AYI_HQ_TRUST_PROXY: '1', AYI_HQ_PUBLIC_ORIGIN: 'https://hq.example.com' }).trustProxy,
    ).toBe(1);
    // Behind a proxy, browsers are on the proxy's address: without it every sign-in would be refused.
    expect(() => loadServerConfig({ AYI_HQ_TRUST_PROXY: '1' })).toThrow(
      /AYI_HQ_PUBLIC_ORIGIN: required behind a proxy/,
    );
    expect(() => loadServerConfig({ AYI_HQ_TLS_CERT: '/tmp/cert.pem' })).toThrow(/AYI_HQ_TLS_CERT and AYI_HQ_TLS_KEY/);
    expect(() => loadServerConfig({ AYI_HQ_HOST: '0.0.0.0' })).toThrow(/AYI_HQ_PUBLIC_ORIGIN: required/);
    expect(() => loadServerConfig({ AYI_HQ_PORT: 'http' })).toThrow(/AYI_HQ_PORT/);
    expect(() => loadServerConfig({ AYI_HQ_PUBLIC_ORIGIN: 'hq.example.com' })).toThrow(/AYI_HQ_PUBLIC_ORIGIN/);
    expect(() => loadServerConfig({ AYI_HQ_TRUST_PROXY: 'yes' })).toThrow(/AYI_HQ_TRUST_PROXY/);
  });
});

/** `node --import tsx hq/src/main.ts …` from the repository, as hq/README.md documents it. */
function runHq(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'hq/src/main.ts', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, AYI_HQ_MQTT_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  /** Resolves once the process has logged `message`; fails if it exits first. */
  const logged = (message: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (!output.includes(`"msg":"${message}"`)) return;
        clearInterval(timer);
        resolve();
      }, 100);
      void exited.then((code) => {
        clearInterval(timer);
        reject(new Error(`HQ exited (${code}) before logging "${message}":\n${output}`));
      });
    });
  return { child, exited, logged, output: () => output };
}

describe('HQ users command', () => {
  it('adds the first admin with a printed password that signs in to `npm run hq` (ingest and dashboard), which stops cleanly', async () => {
    const dataDir = temp.make('ayi-hq-cli-');
    const env = { AYI_HQ_DATA_DIR: dataDir };
    const add = runHq(['users', 'add', 'Nadia', '--role', 'admin'], env);
    expect(await add.exited, add.output()).toBe(0);
    const password = /shown only now: (\S+)/.exec(add.output())?.[1];
    expect(password, add.output()).toBeDefined();
    expect(password!.length).toBeGreaterThanOrEqual(16);

    const again = runHq(['users', 'add', 'nadia', '--role', 'analyst'], env);
    expect(await again.exited).not.toBe(0);
    expect(again.output()).toMatch(/already exists/);
    const list = runHq(['users', 'list'], env);
    expect(await list.exited).toBe(0);
    expect(list.output()).toMatch(/nadia\s+admin\s+enabled/);
    expect(list.output()).not.toContain(password!);

    // `npm run hq` without arguments: ingest from the broker and the dashboard, in one process.
    const broker = await startMosquitto();
    const port = await freePort();
    const hq = runHq([], { ...env, AYI_HQ_PORT: String(port), AYI_HQ_MQTT_URL: broker.url, AYI_HQ_LANES: '1' });
    try {
      await hq.logged('HQ ingest running');
      await hq.logged('HQ dashboard at this address');
      const browser = new Browser(`http://127.0.0.1:${port}`);
      const signIn = await browser.signIn('nadia', password!);
      expect(signIn.status).toBe(200);
      expect(signIn.body).toMatchObject({ username: 'nadia', role: 'admin', mustChangePassword: true });
      // The printed password only lets her choose her own; then she is the admin.
      expect((await browser.send('GET', '/api/users')).status).toBe(403);
      const own = await browser.send('POST', '/api/session/password', {
        currentPassword: password!,
        newPassword: 'nadia-chose-this-one',
      });
      expect(own.status).toBe(200);
      expect((await browser.send('GET', '/api/users')).status).toBe(200);
      expect(hq.output()).not.toContain(password!);
    } finally {
      hq.child.kill('SIGTERM');
      const code = await hq.exited;
      await broker.kill();
      expect(code, hq.output()).toBe(0);
    }
    expect(hq.output()).toContain('HQ ingest stopped');
    expect(hq.output()).toContain('HQ stopped');
  }, 240_000);
});
