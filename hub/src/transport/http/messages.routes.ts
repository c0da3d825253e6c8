/** The outbound message queue for managers: what was sent, what failed and why, retry. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { HttpContext } from './app.js';
import { requireRole } from './auth.js';

const ListQuery = Type.Object(
  {
    status: Type.Optional(Type.Union([Type.Literal('queued'), Type.Literal('sent'), Type.Literal('failed')])),
    limit: Type.Optional(Type.String({ pattern: '^(?:[1-9]\\d?|[12]\\d\\d|300)$' })),
  },
  { additionalProperties: false },
);
const MessageParams = Type.Object(
  { messageId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) },
  { additionalProperties: false },
);

export async function messageRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const manager = requireRole('manager');

  app.get<{ Querystring: { status?: 'queued' | 'sent' | 'failed'; limit?: string } }>(
    '/api/messages',
    { onRequest: manager, schema: { querystring: ListQuery } },
    async (request) => ({
      messages: ctx.messaging.list(
        Number(request.query.limit ?? 100),
        request.query.status ? { status: request.query.status } : {},
      ),
      counts: ctx.messaging.counts(),
      // "console" writes each message to the hub's log and sends nothing: the UI says so.
      provider: ctx.messaging.providerName,
    }),
  );

  app.post<{ Params: { messageId: string } }>(
    '/api/messages/:messageId/retry',
    { onRequest: manager, schema: { params: MessageParams } },
    async (request) => ctx.messaging.retry(request.params.messageId),
  );
}
