/**
 * What the chain's operations watch: the link to every store, the messages HQ refused (newest
 * first, payloads cut short) and the seq conflicts.
 */
import { PageParams, quarantined, seqConflicts, storeLinks } from '../analytics/link-health.js';
import { answer } from './answer.js';
import type { HqRoutes } from './route-deps.js';

export const operationsRoutes: HqRoutes = (app, { db, allow, silentAfterSeconds }) => {
  const preHandler = allow('operations', 'admin');
  app.get(
    '/stores',
    { preHandler },
    answer(() => storeLinks(db, { silentAfterSeconds })),
  );
  app.get(
    '/quarantine',
    { preHandler, schema: { querystring: PageParams } },
    answer((request) => quarantined(db, request.query as PageParams)),
  );
  app.get(
    '/conflicts',
    { preHandler, schema: { querystring: PageParams } },
    answer((request) => seqConflicts(db, request.query as PageParams)),
  );
};
