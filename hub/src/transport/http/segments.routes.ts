/**
 * The member filter, saved segments and automatic tag rules (S2-S4): managers only. Definitions
 * travel in bodies; an export answers CSV for one intended channel.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import {
  SegmentExportRequest,
  SegmentIdParams,
  SegmentPreviewRequest,
  SegmentSaveRequest,
  TagRuleIdParams,
  TagRuleSaveRequest,
} from '../../protocol/crm.js';
import type { HttpContext } from './app.js';
import { actorOf, requireRole } from './auth.js';

const DEFAULT_PREVIEW = 20;
const SavedPreviewRequest = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })) },
  { additionalProperties: false },
);

type SegmentParams = { Params: { segmentId: string } };
type RuleParams = { Params: { ruleId: string } };

/** RFC 6266 / 5987: an ASCII fallback and the real (Chinese) name, so browsers save it as named. */
export function attachment(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

export async function segmentRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const manager = requireRole('manager');

  app.get('/api/segments/options', { onRequest: manager }, async () => ctx.segments.options());

  app.post<{ Body: SegmentPreviewRequest }>(
    '/api/segments/preview',
    { onRequest: manager, schema: { body: SegmentPreviewRequest } },
    async (request) =>
      ctx.segments.preview(request.body.definition, request.body.limit ?? DEFAULT_PREVIEW, actorOf(request).staff),
  );

  app.get('/api/segments', { onRequest: manager }, async () => ({ segments: ctx.segments.list() }));

  app.post<{ Body: SegmentSaveRequest }>(
    '/api/segments',
    { onRequest: manager, schema: { body: SegmentSaveRequest } },
    async (request, reply) =>
      reply.code(201).send(await ctx.segments.save(null, request.body.name, request.body.definition, actorOf(request))),
  );

  app.put<SegmentParams & { Body: SegmentSaveRequest }>(
    '/api/segments/:segmentId',
    { onRequest: manager, schema: { params: SegmentIdParams, body: SegmentSaveRequest } },
    async (request) =>
      ctx.segments.save(request.params.segmentId, request.body.name, request.body.definition, actorOf(request)),
  );

  app.delete<SegmentParams>(
    '/api/segments/:segmentId',
    { onRequest: manager, schema: { params: SegmentIdParams } },
    async (request, reply) => {
      await ctx.segments.delete(request.params.segmentId, actorOf(request));
      return reply.code(204).send();
    },
  );

  app.post<SegmentParams & { Body: { limit?: number } }>(
    '/api/segments/:segmentId/preview',
    { onRequest: manager, schema: { params: SegmentIdParams, body: SavedPreviewRequest } },
    async (request) =>
      ctx.segments.previewSaved(
        request.params.segmentId,
        request.body.limit ?? DEFAULT_PREVIEW,
        actorOf(request).staff,
      ),
  );

  app.post<SegmentParams & { Body: SegmentExportRequest }>(
    '/api/segments/:segmentId/export',
    { onRequest: manager, schema: { params: SegmentIdParams, body: SegmentExportRequest } },
    async (request, reply) => {
      const result = ctx.segments.export(request.params.segmentId, request.body);
      // An audit line without personal data: who exported which segment, for what, how many.
      request.log.info(
        {
          segmentId: request.params.segmentId,
          purpose: request.body.purpose,
          columns: request.body.columns,
          exported: result.exported,
          leftOut: result.leftOut,
          staffId: actorOf(request).staff.id,
        },
        'segment exported',
      );
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', attachment(result.filename))
        .header('cache-control', 'no-store')
        .header('x-ayi-exported', String(result.exported))
        .header('x-ayi-left-out', String(result.leftOut))
        .send(result.csv);
    },
  );

  app.get('/api/tag-rules', { onRequest: manager }, async () => ({ rules: ctx.tagRules.list() }));

  app.post<{ Body: TagRuleSaveRequest }>(
    '/api/tag-rules',
    { onRequest: manager, schema: { body: TagRuleSaveRequest } },
    async (request, reply) => reply.code(201).send(await ctx.tagRules.save(null, request.body, actorOf(request))),
  );

  app.put<RuleParams & { Body: TagRuleSaveRequest }>(
    '/api/tag-rules/:ruleId',
    { onRequest: manager, schema: { params: TagRuleIdParams, body: TagRuleSaveRequest } },
    async (request) => ctx.tagRules.save(request.params.ruleId, request.body, actorOf(request)),
  );

  app.delete<RuleParams>(
    '/api/tag-rules/:ruleId',
    { onRequest: manager, schema: { params: TagRuleIdParams } },
    async (request, reply) => {
      await ctx.tagRules.delete(request.params.ruleId, actorOf(request));
      return reply.code(204).send();
    },
  );

  app.post('/api/tag-rules/run', { onRequest: manager }, async () => ctx.tagRules.runAll());
}
