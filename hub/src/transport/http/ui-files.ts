/**
 * How the tablet UI's files and the API's answers travel over store Wi-Fi: compressed (brotli or
 * gzip, whichever the browser takes), the build's hashed files cached for a year, everything else
 * revalidated with its ETag on every use.
 */
import { constants as zlib } from 'node:zlib';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyCompress from '@fastify/compress';
import type { FastifyStaticOptions } from '@fastify/static';

/** SvelteKit's content-hashed output: a new build gives these files new names, never new contents. */
export const HASHED_DIR = path.join('_app', 'immutable');
export const CACHE_HASHED = 'public, max-age=31536000, immutable';
/** Kept, but asked about (If-None-Match) before each use: index.html names the current hashed files. */
export const CACHE_REVALIDATE = 'no-cache';

/**
 * Brotli and gzip for every answer the browser accepts them for (JSON, HTML, JS, CSS, SVG).
 * Brotli at quality 5, not its default 11: the box compresses on each request, and 5 is most of the
 * gain for a fraction of the CPU. Registered before the static files, which it then covers too.
 */
export async function registerCompression(app: FastifyInstance): Promise<void> {
  await app.register(fastifyCompress, {
    encodings: ['br', 'gzip'],
    threshold: 1024,
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } },
    zlibOptions: { level: 6 },
  });
}

/** @fastify/static options giving each UI file its Cache-Control (its ETag is @fastify/static's own). */
export function uiFileOptions(uiDir: string): FastifyStaticOptions {
  const hashedRoot = path.join(uiDir, HASHED_DIR) + path.sep;
  return {
    root: uiDir,
    wildcard: false,
    cacheControl: false,
    etag: true,
    lastModified: true,
    setHeaders(res, filePath) {
      res.setHeader('Cache-Control', filePath.startsWith(hashedRoot) ? CACHE_HASHED : CACHE_REVALIDATE);
    },
  };
}
