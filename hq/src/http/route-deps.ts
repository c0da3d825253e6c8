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
  /** A preHandler that answers 401 without a valid session and 403 when the user's role is not listed. */
  allow: (...roles: HqRole[]) => preHandlerAsyncHookHandler;
}

export type HqRoutes = (app: FastifyInstance, deps: HqRouteDeps) => void | Promise<void>;
