/**
 * What a browser on the LAN may do with the hub: state-changing requests only from the hub's own
 * pages (the Origin check the WebSocket handshake also makes), and security headers on every answer
 * through @fastify/helmet.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fastifyHelmet from '@fastify/helmet';
import { DomainError } from '../../domain/errors.js';

/** Methods that change something: the ones a foreign page must not send with the tablet's cookies. */
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * A request without an Origin is not from a browser page (a CLI tool, a test): nothing cross-site
 * to guard against. A browser's Origin must be the hub itself or one the technician allowed.
 */
export function isAllowedOrigin(request: FastifyRequest, allowed: string[]): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/**
 * An onRequest hook refusing state-changing requests of another site's pages (403 origin_not_allowed).
 * The Origin decides when there is one: a page on an allowed origin (AYI_ALLOWED_ORIGINS, e.g. a
 * kiosk page served elsewhere) is cross-site by nature and still allowed. Sec-Fetch-Site only
 * decides for requests without an Origin.
 */
export function refuseForeignOrigin(allowed: string[]) {
  return async (request: FastifyRequest): Promise<void> => {
    if (!STATE_CHANGING.has(request.method)) return;
    const foreign =
      request.headers.origin === undefined
        ? request.headers['sec-fetch-site'] === 'cross-site'
        : !isAllowedOrigin(request, allowed);
    if (foreign) {
      throw new DomainError(
        'origin_not_allowed',
        'Changes are only accepted from the hub’s own pages (the request came from another site)',
        undefined,
        403,
      );
    }
  };
}

/** The host name of a Host header: no port, no brackets around an IPv6 literal, no trailing dot, lower case. */
export function hostNameOf(hostHeader: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hostHeader);
  const name = bracketed ? bracketed[1]! : isIP(hostHeader) === 6 ? hostHeader : hostHeader.replace(/:\d*$/, '');
  return name.replace(/\.$/, '').toLowerCase();
}

/**
 * The names the hub answers to: an IP literal, localhost, this machine's host name (with and
 * without `.local`, as mDNS names it) and the technician's AYI_ALLOWED_HOSTS. Anything else is a
 * name that points at the hub without being its own: DNS rebinding, where a foreign page's own
 * host name is made to resolve to the hub so the browser lets that page read the answers.
 */
export function allowedHostNames(extra: string[], machineName = hostname()): Set<string> {
  const machine = machineName.toLowerCase().replace(/\.local$/, '');
  return new Set(['localhost', machine, `${machine}.local`, ...extra.map((h) => h.toLowerCase().replace(/\.$/, ''))]);
}

export function isAllowedHost(hostHeader: string | undefined, allowed: Set<string>): boolean {
  // HTTP/1.0 without a Host: no browser sends that, so it cannot be a rebound page.
  if (hostHeader === undefined) return true;
  const name = hostNameOf(hostHeader);
  return isIP(name) !== 0 || allowed.has(name);
}

/** An onRequest hook refusing a Host the hub does not answer to (403 host_not_allowed), WebSocket included. */
export function refuseForeignHost(extraHosts: string[]) {
  const allowed = allowedHostNames(extraHosts);
  return async (request: FastifyRequest): Promise<void> => {
    if (isAllowedHost(request.headers.host, allowed)) return;
    throw new DomainError(
      'host_not_allowed',
      'The hub does not answer to this host name: use its IP address or its own name, or ask the technician to add the name to AYI_ALLOWED_HOSTS',
      undefined,
      403,
    );
  };
}

/**
 * The `sha256-…` sources of the inline scripts of the UI's pages: SvelteKit's static build starts
 * the app with one inline script, which a CSP without 'unsafe-inline' must name by its hash.
 */
export function inlineScriptHashes(uiDir: string): string[] {
  const hashes = new Set<string>();
  const page = path.join(uiDir, 'index.html');
  if (!existsSync(page)) return [];
  const html = readFileSync(page, 'utf8');
  for (const match of html.matchAll(/<script(\s[^>]*)?>([\s\S]*?)<\/script>/gi)) {
    if (/\ssrc\s*=/i.test(match[1] ?? '')) continue;
    hashes.add(
      `'sha256-${createHash('sha256')
        .update(match[2] ?? '')
        .digest('base64')}'`,
    );
  }
  return [...hashes];
}

/** CSP (no inline script but the UI's own, no framing), nosniff, no referrer, and helmet's other defaults. */
export async function registerSecurityHeaders(app: FastifyInstance, uiDir: string): Promise<void> {
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      // helmet's defaults include upgrade-insecure-requests: the hub is plain HTTP on the LAN.
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        scriptSrc: ["'self'", ...inlineScriptHashes(uiDir)],
        scriptSrcAttr: ["'none'"],
        // Svelte sets style attributes and transition keyframes; styles cannot run code.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        fontSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        // The UI's service worker (/service-worker.js), and no other worker.
        workerSrc: ["'self'"],
        objectSrc: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // Plain HTTP on the store's LAN: a Strict-Transport-Security header would mean nothing.
    strictTransportSecurity: false,
  });
}
