/**
 * HQ's HTTP server, the chain's public edge: the dashboard's files, the sign-in and the users, and
 * the API route groups (registered under /api, each guarded by `allow(...roles)`). Security headers
 * on every answer, state-changing requests only from HQ's own pages, sessions in HttpOnly cookies.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import { Type, type Static } from '@sinclair/typebox';
import fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type onRequestAsyncHookHandler,
} from 'fastify';
import { inlineScriptHashes } from '../../../hub/src/transport/http/security-headers.js';
import {
  DEFAULT_LOGIN_LIMITS,
  loginWait,
  recordLoginFailure,
  usernameKey,
  type LoginLimits,
} from '../auth/login-limits.js';
import {
  dummyHash,
  hashPassword,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  verifyPassword,
} from '../auth/passwords.js';
import {
  createSession,
  endOtherSessions,
  endSession,
  SESSION_ABSOLUTE_SECONDS,
  sessionUser,
  type SessionUser,
} from '../auth/sessions.js';
import { addUser, changeUser, listUsers, USERNAME_PATTERN } from '../auth/users.js';
import type { HqServerConfig } from '../config.js';
import type { Database } from '../db/database.js';
import { OneAtATime, Slots } from '../auth/one-at-a-time.js';
import { HqError } from '../errors.js';
import { HQ_ROLES, type HqRole, type HqRouteDeps, type HqRoutes } from './route-deps.js';

export const SESSION_COOKIE = 'ayi_hq_session';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in user, once a guard (`allow`) has checked the session. */
    hqUser: SessionUser | null;
  }
}

export interface HqServerOptions {
  db: Database;
  config: HqServerConfig;
  log: FastifyBaseLogger;
  /** The dashboard's static build (hq/ui); served when it exists. */
  dashboardDir?: string | undefined;
  /** The API's route groups, registered under /api. */
  routes?: HqRoutes[];
  loginLimits?: LoginLimits;
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Marks the hooks `allow` makes, so the server can run them before a route's body is even read. */
const ROLE_GUARD = Symbol('hq.roleGuard');
type RoleGuard = onRequestAsyncHookHandler & { [ROLE_GUARD]?: true };

const Role = Type.Union(HQ_ROLES.map((role) => Type.Literal(role)));
const Password = Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH });
const SignIn = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 64 }), password: Password },
  { additionalProperties: false },
);
const PasswordChange = Type.Object(
  {
    currentPassword: Password,
    newPassword: Type.String({ minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_LENGTH }),
  },
  { additionalProperties: false },
);
const NewUser = Type.Object(
  // Names are kept lower-case; what is typed in capitals is lower-cased, not refused.
  { username: Type.String({ pattern: USERNAME_PATTERN.source.replaceAll('a-z', 'A-Za-z') }), role: Role },
  { additionalProperties: false },
);
const UserParams = Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }) });
const UserChange = Type.Object(
  {
    role: Type.Optional(Role),
    disabled: Type.Optional(Type.Boolean()),
    resetPassword: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false, minProperties: 1 },
);

function errorBody(code: string, message: string, details?: unknown) {
  return details === undefined ? { error: code, message } : { error: code, message, details };
}

type ValidationError = FastifyError & {
  validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[];
};

function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof HqError) {
    const retry = (err.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retry !== undefined) void reply.header('retry-after', String(retry));
    return reply.code(err.status).send(errorBody(err.code, err.message, err.details));
  }
  const e = err as ValidationError;
  if (e.validation) {
    const details = e.validation.map((v) => {
      const extra = v.params?.additionalProperty ?? v.params?.missingProperty;
      const field = `${e.validationContext ?? 'body'}${v.instancePath.replaceAll('/', '.')}`;
      return { field: typeof extra === 'string' ? `${field}.${extra}` : field, problem: v.message ?? 'is invalid' };
    });
    const first = details[0];
    const message = first ? `${first.field} ${first.problem}` : 'The request is not valid';
    return reply.code(400).send(errorBody('bad_request', message, details));
  }
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
  if (status < 500) {
    const code = status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
    return reply.code(status).send(errorBody(code, e.message));
  }
  request.log.error({ err }, 'request failed');
  return reply.code(500).send(errorBody('internal', 'HQ could not answer this request; the reason is in its log'));
}

/** A host as it goes into a URL: an IPv6 literal in brackets. */
const urlHost = (host: string) => (host.includes(':') ? `[${host}]` : host);

export async function buildHqServer(options: HqServerOptions): Promise<FastifyInstance> {
  const { db, config, log } = options;
  const limits = options.loginLimits ?? DEFAULT_LOGIN_LIMITS;
  const dashboardDir =
    options.dashboardDir && existsSync(path.join(options.dashboardDir, 'index.html'))
      ? options.dashboardDir
      : undefined;
  const https = config.tls
    ? { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }
    : undefined;
  // fastify's typings give an https server its own instance type; the routes do not care which.
  const app = fastify({
    loggerInstance: log,
    // A number is how many proxies to trust, counted from this server (the typings lack the form).
    trustProxy:
      typeof config.trustProxy === 'number'
        ? (_address: string, hop: number) => hop < (config.trustProxy as number)
        : config.trustProxy,
    ...(https ? { https } : {}),
    // Query strings arrive as text: `?months=12` must reach a Type.Integer as 12 (bodies are JSON,
    // already typed, so coercion changes nothing there that the schemas would otherwise refuse).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
    forceCloseConnections: true,
    bodyLimit: 64 * 1024,
    // fastify's own request lines carry the URL, and /api/users/:username names a person: the
    // onResponse hook below logs the route's pattern instead.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;

  /** Where browsers reach HQ: configured, or where it listens (known once it does). */
  const publicOrigin = (): string => {
    if (config.publicOrigin) return config.publicOrigin;
    const bound = app.server.address() as AddressInfo | null;
    return `${https ? 'https' : 'http'}://${urlHost(config.host)}:${bound?.port ?? config.port}`;
  };
  const secureCookie = https !== undefined || config.publicOrigin?.startsWith('https:') === true;

  app.decorateRequest('hqUser', null);
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err));

  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        // SvelteKit's static build starts the dashboard with one inline script, named by its hash.
        scriptSrc: ["'self'", ...(dashboardDir ? inlineScriptHashes(dashboardDir) : [])],
        scriptSrcAttr: ["'none'"],
        // Svelte sets style attributes and transition keyframes; styles cannot run code.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        fontSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(secureCookie ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // Over https (here or at the chain's proxy) browsers are told to keep to it; over plain http
    // the header would mean nothing.
    strictTransportSecurity: secureCookie ? { maxAge: 180 * 24 * 60 * 60, includeSubDomains: false } : false,
  });
  await app.register(fastifyCookie);

  // A page of another site must not make a signed-in browser change anything here (CSRF). The
  // Origin decides when there is one; Sec-Fetch-Site when not. A request with neither is not from
  // a browser page (a script, curl), and without the cookie it is signed in as nobody.
  app.addHook('onRequest', async (request) => {
    if (!STATE_CHANGING.has(request.method)) return;
    const origin = request.headers.origin;
    const foreign =
      origin === undefined ? request.headers['sec-fetch-site'] === 'cross-site' : origin !== publicOrigin();
    if (foreign)
      throw new HqError(
        'origin_not_allowed',
        'Changes are only accepted from HQ’s own pages (the request came from another site)',
        403,
      );
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unknown',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
  // Answers about people and sessions are never kept by a browser or a proxy.
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/')) void reply.header('cache-control', 'no-store');
  });
  // A guard put in a route's preValidation or preHandler runs at onRequest instead: a user without
  // the role learns nothing about the route, not even whether the body would have been valid.
  app.addHook('onRoute', (route) => {
    const guards: RoleGuard[] = [];
    for (const stage of ['preValidation', 'preHandler'] as const) {
      const hooks = route[stage];
      if (!hooks) continue;
      const list = (Array.isArray(hooks) ? hooks : [hooks]) as RoleGuard[];
      guards.push(...list.filter((hook) => hook[ROLE_GUARD]));
      const rest = list.filter((hook) => !hook[ROLE_GUARD]);
      Object.assign(route, { [stage]: rest.length > 0 ? rest : undefined });
    }
    if (guards.length === 0) return;
    const own = route.onRequest ? (Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]) : [];
    route.onRequest = [...guards, ...own] as typeof route.onRequest;
  });

  /**
   * A user whose password was made for them (a new user, a reset: someone else has seen it) may
   * only choose their own, see who they are and sign out, until they have (`beforeOwnPassword`).
   */
  const guardOf = (roles: readonly HqRole[], beforeOwnPassword: boolean): RoleGuard => {
    const guard: RoleGuard = async (request) => {
      const token = request.cookies[SESSION_COOKIE];
      const user = token ? await sessionUser(db, token) : null;
      if (!user) throw new HqError('not_signed_in', 'Sign in first (no session, or it has ended)', 401);
      if (!roles.includes(user.role))
        throw new HqError(
          'forbidden',
          `This needs the role ${roles.join(' or ')}; you are signed in as ${user.role}`,
          403,
        );
      if (user.mustChangePassword && !beforeOwnPassword)
        throw new HqError(
          'password_change_required',
          'Choose your own password first: the one you signed in with was given to you',
          403,
        );
      request.hqUser = user;
    };
    guard[ROLE_GUARD] = true;
    return guard;
  };
  const allow = (...roles: HqRole[]): RoleGuard => guardOf(roles, false);
  const anyone = guardOf(HQ_ROLES, true);
  const attempts = new OneAtATime();
  /** argon2id verifications at once (each takes 19 MiB and a core for ~50 ms); more wait their turn. */
  const verifiers = new Slots(4);

  const setSessionCookie = (reply: FastifyReply, token: string) =>
    reply.setCookie(SESSION_COOKIE, token, {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      secure: secureCookie,
      maxAge: SESSION_ABSOLUTE_SECONDS,
    });
  const whoAmI = (user: Pick<SessionUser, 'username' | 'role' | 'mustChangePassword'>) => ({
    username: user.username,
    role: user.role,
    mustChangePassword: user.mustChangePassword,
  });
  const tooMany = (seconds: number) =>
    new HqError(
      'too_many_attempts',
      `Too many failed sign-ins: try again in ${Math.ceil(seconds / 60)} minute(s)`,
      429,
      { retryAfterSeconds: seconds },
    );

  app.get('/healthz', async () => ({ ok: true }));

  await app.register(
    async (api) => {
      api.post<{ Body: Static<typeof SignIn> }>('/session', { schema: { body: SignIn } }, async (request, reply) => {
        const nameKey = usernameKey(request.body.username);
        // Check, verify and record as one step per name and per address: parallel guesses wait
        // for each other instead of all passing the check before any failure is recorded.
        return attempts.run([`name:${nameKey}`, `ip:${request.ip}`], () => signIn(request, reply, nameKey));
      });

      const signIn = async (
        request: FastifyRequest<{ Body: Static<typeof SignIn> }>,
        reply: FastifyReply,
        nameKey: string,
      ) => {
        const wait = await loginWait(db, limits, nameKey, request.ip);
        if (wait !== null) throw tooMany(wait);
        const username = request.body.username.trim().toLowerCase();
        const [user] = await db.query<{
          username: string;
          role: HqRole;
          password_hash: string;
          enabled: boolean;
          must_change_password: boolean;
        }>(
          `SELECT username, role, password_hash, disabled_at IS NULL AS enabled, must_change_password
             FROM hq_users WHERE username = $1`,
          [username],
        );
        // An unknown name costs the same hash check as a wrong password: the time tells nothing.
        const matches = await verifiers.run(async () =>
          verifyPassword(user?.password_hash ?? (await dummyHash()), request.body.password),
        );
        if (!user || !matches || !user.enabled) {
          await recordLoginFailure(db, limits, nameKey, request.ip);
          throw new HqError('bad_credentials', 'Wrong user name or password', 401);
        }
        setSessionCookie(reply, await createSession(db, user.username, request.ip));
        request.log.info({ role: user.role }, 'signed in');
        return whoAmI({ username: user.username, role: user.role, mustChangePassword: user.must_change_password });
      };

      api.get('/session', { onRequest: anyone }, async (request) => whoAmI(request.hqUser!));

      api.delete('/session', async (request, reply) => {
        const token = request.cookies[SESSION_COOKIE];
        if (token) await endSession(db, token);
        void reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict', secure: secureCookie });
        return reply.code(204).send();
      });

      api.post<{ Body: Static<typeof PasswordChange> }>(
        '/session/password',
        { onRequest: anyone, schema: { body: PasswordChange } },
        async (request) => {
          const user = request.hqUser!;
          const nameKey = usernameKey(user.username);
          // A borrowed session must not become a way to guess the password at leisure (in parallel either).
          await attempts.run([`name:${nameKey}`, `ip:${request.ip}`], async () => {
            const wait = await loginWait(db, limits, nameKey, request.ip);
            if (wait !== null) throw tooMany(wait);
            const [row] = await db.query<{ password_hash: string }>(
              'SELECT password_hash FROM hq_users WHERE username = $1',
              [user.username],
            );
            const matches =
              row && (await verifiers.run(() => verifyPassword(row.password_hash, request.body.currentPassword)));
            if (!matches) {
              await recordLoginFailure(db, limits, nameKey, request.ip);
              throw new HqError('wrong_password', 'The current password is not right', 403);
            }
          });
          if (request.body.newPassword === request.body.currentPassword)
            throw new HqError('same_password', 'The new password must differ from the current one');
          const newHash = await hashPassword(request.body.newPassword);
          await db.transaction(async (tx) => {
            await tx.query(
              `UPDATE hq_users SET password_hash = $2, must_change_password = false, password_changed_at = now()
                WHERE username = $1`,
              [user.username, newHash],
            );
            await endOtherSessions(tx, user.username, user.tokenHash);
          });
          return whoAmI({ ...user, mustChangePassword: false });
        },
      );

      const admin = allow('admin');
      api.get('/users', { onRequest: admin }, async () => ({ users: await listUsers(db) }));

      api.post<{ Body: Static<typeof NewUser> }>(
        '/users',
        { onRequest: admin, schema: { body: NewUser } },
        async (request, reply) => {
          const created = await addUser(db, request.body.username, request.body.role);
          request.log.info({ role: created.user.role }, 'user added');
          return reply.code(201).send(created);
        },
      );

      api.patch<{ Params: Static<typeof UserParams>; Body: Static<typeof UserChange> }>(
        '/users/:username',
        { onRequest: admin, schema: { params: UserParams, body: UserChange } },
        async (request) => changeUser(db, request.params.username, request.body),
      );

      const deps: HqRouteDeps = { db, allow, silentAfterSeconds: options.config.silentAfterSeconds };
      for (const routes of options.routes ?? []) await api.register(async (group) => routes(group, deps));
    },
    { prefix: '/api' },
  );

  if (dashboardDir) {
    await app.register(fastifyStatic, {
      root: path.resolve(dashboardDir),
      cacheControl: false,
      // The hashed build files never change under their name; the pages are asked for again.
      setHeaders: (res, file) =>
        res.setHeader(
          'cache-control',
          file.includes(`${path.sep}immutable${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
        ),
    });
  } else {
    app.get('/', async (_request, reply) =>
      reply
        .type('text/plain; charset=utf-8')
        .send('Ayi HQ is running, but its dashboard is not built here: run `npm run build -w @ayi/hq-ui`.\n'),
    );
  }

  app.setNotFoundHandler(async (request, reply) => {
    const [pathname = '/'] = request.url.split('?');
    const page =
      dashboardDir && (request.method === 'GET' || request.method === 'HEAD') && !pathname.startsWith('/api');
    // The dashboard routes in the browser: any page address gets its one page.
    if (page) return reply.header('cache-control', 'no-cache').sendFile('index.html');
    return reply.code(404).send(errorBody('not_found', `Nothing at ${request.method} ${pathname}`));
  });

  return app;
}
