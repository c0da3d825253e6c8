/**
 * The tablet UI's service worker (`/service-worker.js`, from ui/build) keeps the app on the tablet
 * for when the hub is down. Browsers look for a new one at every start of the app; it must come from
 * the hub each time, never from a cache, or a tablet would keep an old app after an update. It lives
 * at the root, so its scope is the whole UI (`/`) without a Service-Worker-Allowed header.
 */
import type { FastifyInstance } from 'fastify';

export const SERVICE_WORKER_PATH = '/service-worker.js';

/** An onSend hook: the service worker's script is answered `Cache-Control: no-cache`. */
export function serveServiceWorkerUncached(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.url.split('?')[0] === SERVICE_WORKER_PATH) reply.header('cache-control', 'no-cache');
    return payload;
  });
}
