/**
 * What every group of HQ's API routes is given: the database and the guard of its roles. The
 * server (server.ts) builds these once and registers each group under /api.
 */
import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import type { Database } from '../db/database.js';

/** analyst: the chain's figures; operations: those plus link health, quarantine and catalogs; admin: everything and the users. */
export const HQ_ROLES = ['analyst', 'operations', 'admin'] as const;
export type HqRole = (typeof HQ_ROLES)[number];

export interface HqRouteDeps {
  db: Database;
  /**
   * A hook that answers 401 without a valid session and 403 when the user's role is not listed,
   * and sets `request.hqUser`. Put it in the route's options as `onRequest` (or `preHandler`: the
   * server moves it to onRequest), so a user without the role gets 403 before the body is read or
   * validated. A group's `addHook('preHandler', …)` would run after validation: use `onRequest`.
   */
  allow: (...roles: HqRole[]) => preHandlerAsyncHookHandler;
  /** A store HQ has heard nothing from for this long is shown silent (AYI_HQ_SILENT_AFTER_S). */
  silentAfterSeconds?: number;
}

export type HqRoutes = (app: FastifyInstance, deps: HqRouteDeps) => void | Promise<void>;
