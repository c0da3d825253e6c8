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

export async function catalogRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  app.get('/api/products', { onRequest: requireRole('cashier') }, async () => ({ products: ctx.catalog.list() }));

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
