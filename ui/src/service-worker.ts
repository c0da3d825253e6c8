/// <reference types="@sveltejs/kit" />
/// <reference no-default-lib="true"/>
/// <reference lib="esnext" />
/// <reference lib="webworker" />
/**
 * Keeps the tablet's app on the tablet, so that a reload (or a screen not opened yet) while the hub
 * is down still shows the app and its "the box is not answering" state, not the browser's error.
 *
 * Cached: the app's built files (hashed names, never changed in place), the files of `static/` and
 * the page every route is served as (index.html). Never cached: /api (the store's data, members'
 * included) and anything else the hub answers. A new build is a new cache; the old one goes.
 */
import { base, build, files, version } from '$service-worker';

const worker = self as unknown as ServiceWorkerGlobalScope;

const CACHE = `ayi-app-${version}`;
/** The single page every route of the app is (the hub answers every UI path with it). */
const SHELL = `${base}/index.html`;
const ASSETS = new Set([...build, ...files]);
/** A navigation the hub has not answered by then gets the cached page (a hub that is off, not refusing). */
const NAVIGATION_TIMEOUT_MS = 3_000;

worker.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll([...ASSETS, SHELL]);
      // The app open now is the one just cached: take it over at once rather than at the next start.
      await worker.skipWaiting();
    })(),
  );
});

worker.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key !== CACHE) await caches.delete(key);
      }
      await worker.clients.claim();
    })(),
  );
});

async function fromCache(request: Request | string): Promise<Response | undefined> {
  const cache = await caches.open(CACHE);
  return cache.match(request);
}

/** The hub's page when it answers (a new version shows at once), else the cached one. */
async function navigate(request: Request): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), NAVIGATION_TIMEOUT_MS);
  try {
    return await fetch(request, { signal: controller.signal });
  } catch (error) {
    const shell = await fromCache(SHELL);
    if (shell) return shell;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** A built file: the cached copy (its name changes with its content), else the hub's. */
async function asset(request: Request): Promise<Response> {
  return (await fromCache(request)) ?? fetch(request);
}

worker.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== worker.location.origin) return;
  // The store's data and the socket always go to the hub, and are never kept.
  if (url.pathname === `${base}/api` || url.pathname.startsWith(`${base}/api/`)) return;
  if (request.mode === 'navigate') event.respondWith(navigate(request));
  else if (ASSETS.has(url.pathname)) event.respondWith(asset(request));
});
