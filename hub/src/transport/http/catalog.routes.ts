/** Catalog lookups for the counter and CSV import for managers. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BarcodeParams } from '../../protocol/api.js';
import { DomainError } from '../../domain/errors.js';
import type { HttpContext } from './app.js';
import { requireRole } from './auth.js';

const ImportQuery = Type.Object(
  { dryRun: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])) },
  { additionalProperties: false },
);

/** If-None-Match names `etag` (weak comparison, as RFC 9110 asks for GET), or is `*`. */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === opaque(etag));
}

export async function catalogRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  app.get('/api/products', { onRequest: requireRole('cashier') }, async (request, reply) => {
    const { json, etag } = ctx.catalog.listAnswer();
    // private: only the tablet that asked keeps it; no-cache: kept, but checked with the ETag each time.
    void reply.header('cache-control', 'private, no-cache').header('etag', etag);
    if (matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(json);
  });

  app.get<{ Params: { code: string } }>(
    '/api/products/barcode/:code',
    { onRequest: requireRole('cashier'), schema: { params: BarcodeParams } },
    async (request) => ctx.catalog.byBarcode(request.params.code),
  );

  app.post<{ Querystring: { dryRun?: 'true' | 'false' }; Body: unknown }>(
    '/api/catalog/import',
    { onRequest: requireRole('manager'), schema: { querystring: ImportQuery } },
    async (request) => {
      if (typeof request.body !== 'string') {
        throw new DomainError('unsupported_media_type', 'Send the catalog as text/csv', undefined, 400);
      }
      const report = await ctx.catalog.importCsv(request.body, { dryRun: request.query.dryRun === 'true' });
      request.log.info(
        { created: report.created, updated: report.updated, rejected: report.rejected.length, applied: report.applied },
        'catalog import',
      );
      return report;
    },
  );
}
