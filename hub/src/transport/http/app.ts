/** The hub's HTTP server: API routes, the WebSocket and the tablet UI on one port. */
import type { WentBackInTime } from '../../storage/store-identity.js';
import type { HqLinkState } from '../../services/hq-link.service.js';
import { WATCHDOG_USER_AGENT } from '../../services/watchdog.service.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
} from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import type { HubConfig } from '../../config/config.js';
import type { Bus } from '../../bus/bus.js';
import type { CatalogService } from '../../services/catalog.service.js';
import type { CheckoutService } from '../../services/checkout.service.js';
import type { DiscountApprovalService } from '../../services/discount-approval.service.js';
import type { MembersService } from '../../services/members.service.js';
import type { CouponsService } from '../../services/coupons.service.js';
import type { MessagingService } from '../../services/messaging.service.js';
import { hardwareRoutes, type HardwareContext } from './hardware.routes.js';
import type { PrintingService } from '../../services/printing.service.js';
import type { SecurityService } from '../../services/security.service.js';
import { apiError, sendError } from './errors.js';
import { authenticate, roleCheckedBy } from './auth.js';
import { refuseForeignHost, refuseForeignOrigin, registerSecurityHeaders } from './security-headers.js';
import type { Role } from '../../protocol/api.js';
import type { StorageView } from '../../storage/storage-monitor.js';
import type { ClockView } from '../../storage/clock-guard.js';
import type { JournalDamage } from '../../storage/journal.js';
import { sessionRoutes } from './session.routes.js';
import { catalogRoutes } from './catalog.routes.js';
import { salesRoutes } from './sales.routes.js';
import { deviceRoutes } from './devices.routes.js';
import { memberRoutes } from './members.routes.js';
import { messageRoutes } from './messages.routes.js';
import { segmentRoutes } from './segments.routes.js';
import { analyticsRoutes } from './analytics.routes.js';
import { tabletSocket } from '../ws/tablet.socket.js';
import { lazyValidators } from './lazy-validators.js';
import { serveServiceWorkerUncached } from './service-worker.js';
import { registerCompression, uiFileOptions } from './ui-files.js';
import type { AnalyticsService } from '../../services/analytics.service.js';
import type { SegmentsService } from '../../services/segments.service.js';
import type { TagRulesService } from '../../services/tag-rules.service.js';
import type { BackupView } from '../../services/backup.service.js';

export const JSON_BODY_LIMIT = 64 * 1024;
export const CSV_BODY_LIMIT = 2 * 1024 * 1024;

/** What the health endpoint (no auth) says of the link to HQ: nothing personal, no credentials. */
export interface HqHealthView {
  link: HqLinkState['link'];
  /** The broker's host (and port), never credentials. */
  brokerHost: string | null;
  deliveredSeq: number;
  backlog: number;
  oldestUndeliveredAt: string | null;
  lastError: string | null;
  alertAfterMinutes: number;
  /** The oldest undelivered event is older than the limit (AYI_MQTT_BACKLOG_ALERT_S). */
  alert: boolean;
}

export function hqHealth(state: HqLinkState): HqHealthView {
  let brokerHost: string | null = null;
  if (state.broker) {
    try {
      brokerHost = new URL(state.broker).host;
    } catch {
      brokerHost = null;
    }
  }
  return {
    link: state.link,
    brokerHost,
    deliveredSeq: state.deliveredSeq,
    backlog: state.backlog,
    oldestUndeliveredAt: state.oldestUndeliveredAt,
    lastError: state.lastError,
    alertAfterMinutes: Math.round(state.backlogAlertSeconds / 60),
    alert: state.backlogAlert,
  };
}

export interface HealthView {
  status: 'ok' | 'degraded';
  /** Why it is degraded: storage_full, storage_low, storage_error, journal_damaged, clock_behind, hq_backlog, demo_history_incomplete, backup_failed, backup_old, went_back_in_time (empty when ok). */
  problems: string[];
  /** Free space on the data disk, its thresholds, and the days left at the rate measured. */
  storage: StorageView;
  /** The clock now and the journal's last event: `behind` while writes are refused (clock_behind). */
  clock: ClockView;
  /** Seqs the journal lacks and damaged lines found by reading it (start-up, HQ resends). */
  journal: JournalDamage;
  /** Backups: set or not, the newest one, the last attempt's result (no passphrase, nothing personal). */
  backup: BackupView;
  storeId: string;
  chainId: string;
  version: string;
  epoch: string;
  /**
   * The last time the hub noticed it went back in time (an old copy of its data put back) and
   * started a new epoch; null: never. `went_back_in_time` is a problem for a day after it.
   */
  wentBackInTime: WentBackInTime | null;
  lastSeq: number;
  undeliveredEvents: number;
  /** The MQTT link to HQ: state, backlog, age of the oldest undelivered event, last error. */
  hq: HqHealthView;
  uptimeSeconds: number;
}

export interface HttpContext {
  config: HubConfig;
  bus: Bus;
  security: SecurityService;
  catalog: CatalogService;
  checkout: CheckoutService;
  approvals: DiscountApprovalService;
  members: MembersService;
  coupons: CouponsService;
  messaging: MessagingService;
  analytics: AnalyticsService;
  segments: SegmentsService;
  tagRules: TagRulesService;
  hardware: HardwareContext;
  printing: PrintingService;
  health(): HealthView;
  /** A request failed: lets the hub notice a full disk whichever write path met it. */
  onRequestError?(err: unknown): void;
}

/** One API route and the role its onRequest hook checks (null: a paired device, or open). */
export interface ApiRoute {
  method: string;
  url: string;
  role: Role | null;
}

const apiRouteTables = new WeakMap<FastifyInstance, ApiRoute[]>();

/** Every route of the app built by buildHttpApp, with its role. */
export function apiRoutesOf(app: FastifyInstance): ApiRoute[] {
  return apiRouteTables.get(app) ?? [];
}

type ValidatorFactory = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>['buildValidator'];

const pendingValidators = new WeakMap<FastifyInstance, () => Promise<void>>();

/**
 * Compiles the route schemas of an app built by buildHttpApp that no request has needed yet, a few
 * at a time (they are compiled on first use otherwise): once the hub answers, not during its start.
 */
export function compileRouteSchemas(app: FastifyInstance): Promise<void> {
  return pendingValidators.get(app)?.() ?? Promise.resolve();
}

export async function buildHttpApp(ctx: HttpContext, logger: FastifyBaseLogger): Promise<FastifyInstance> {
  const validators = lazyValidators();
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: JSON_BODY_LIMIT,
    // Fastify's own request lines log full URLs and headers; ours (onResponse) keep to the route.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
    // Fastify's typings describe the factory with ajv's compile signature; at run time it is handed
    // the route's schema definition (which is what lazy-validators declares).
    schemaController: {
      compilersFactory: { buildValidator: validators.buildValidator as unknown as ValidatorFactory },
    },
    forceCloseConnections: true,
  });
  pendingValidators.set(app, () => validators.compileAll());
  app.decorateRequest('device', null);
  app.decorateRequest('staff', null);
  app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: CSV_BODY_LIMIT }, (_req, body, done) =>
    done(null, body),
  );
  app.setErrorHandler((err, request, reply) => {
    ctx.onRequestError?.(err);
    return sendError(request, reply, err);
  });
  app.addHook('onResponse', async (request, reply) => {
    // The watchdog's health check every 10 s would fill the journal: logged only at debug.
    const quiet = request.headers['user-agent'] === WATCHDOG_USER_AGENT && reply.statusCode === 200;
    request.log[quiet ? 'debug' : 'info'](
      {
        method: request.method,
        route: request.routeOptions.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  const uiDir = path.resolve(ctx.config.uiDir);
  await registerSecurityHeaders(app, uiDir);
  app.addHook('onRequest', refuseForeignOrigin(ctx.config.allowedOrigins));
  const routes: ApiRoute[] = [];
  apiRouteTables.set(app, routes);
  app.addHook('onRoute', (route) => {
    // Hooks after onRequest run after the body is parsed and validated: a role checked there would
    // answer a cashier's malformed request with the schema's details instead of 403.
    for (const late of ['preParsing', 'preValidation', 'preHandler'] as const) {
      if (roleCheckedBy(route[late])) {
        throw new Error(`${route.method} ${route.url}: the role check goes in onRequest, not ${late}`);
      }
    }
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routes.push({ method, url: route.url, role: roleCheckedBy(route.onRequest) });
    }
  });

  await app.register(fastifyCookie);
  await registerCompression(app);
  await app.register(fastifyWebsocket, { options: { maxPayload: JSON_BODY_LIMIT } });
  // After the WebSocket plugin's own onRequest hook: a refused upgrade's socket is then closed by it.
  app.addHook('onRequest', refuseForeignHost(ctx.config.allowedHosts));

  // Open to all: health (nothing personal) and pairing (guarded by the one-time code).
  app.get('/api/health', async () => ctx.health());
  await app.register(async (open) => sessionRoutes.pairing(open, ctx));

  // Everything else needs a paired device.
  await app.register(async (api) => {
    api.addHook('onRequest', authenticate(ctx.security));
    await sessionRoutes.session(api, ctx);
    await catalogRoutes(api, ctx);
    await salesRoutes(api, ctx);
    await deviceRoutes(api, ctx);
    await memberRoutes(api, ctx);
    await messageRoutes(api, ctx);
    await segmentRoutes(api, ctx);
    await analyticsRoutes(api, ctx);
    await hardwareRoutes(api, ctx);
    await tabletSocket(api, ctx);
  });

  const uiBuilt = existsSync(path.join(uiDir, 'index.html'));
  serveServiceWorkerUncached(app);
  if (uiBuilt) await app.register(fastifyStatic, uiFileOptions(uiDir));
  const authenticateApi = authenticate(ctx.security);
  app.setNotFoundHandler(async (request, reply) => {
    if (request.url.startsWith('/api')) {
      // Unpaired callers get 401 on every API path, unknown ones included: a 404 would tell a
      // stranger which endpoints exist.
      try {
        await authenticateApi(request);
      } catch (err) {
        return sendError(request, reply, err);
      }
      return reply
        .code(404)
        .send(apiError('not_found', `No API endpoint ${request.method} ${request.url.split('?')[0]}`));
    }
    if (!uiBuilt) {
      return reply.code(503).type('text/plain; charset=utf-8').send('The tablet UI is not built. Run: npm run build\n');
    }
    // The UI is a single-page app: every other path is one of its routes.
    return reply.type('text/html; charset=utf-8').sendFile('index.html');
  });
  return app;
}
