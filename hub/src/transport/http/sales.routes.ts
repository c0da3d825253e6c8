/** Checkout, sale history, receipts, voids and refunds. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import {
  CheckoutRequest,
  DiscountApprovalRequest,
  DiscountPolicy,
  QuoteRequest,
  RefundPreviewRequest,
  RefundRequest,
  SaleIdParams,
  VoidRequest,
} from '../../protocol/api.js';
import type { HttpContext } from './app.js';
import { actorOf, requireRole } from './auth.js';

const SalesQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^(?:[1-9]\\d?|1\\d\\d|200)$' })),
    beforeSeq: Type.Optional(Type.String({ pattern: '^[1-9]\\d{0,14}$' })),
  },
  { additionalProperties: false },
);

type SaleParams = { Params: { saleId: string } };

export async function salesRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  app.post<{ Body: CheckoutRequest }>(
    '/api/sales',
    { onRequest: requireRole('cashier'), schema: { body: CheckoutRequest } },
    async (request, reply) => {
      const { sale, replayed } = await ctx.checkout.checkout(request.body, actorOf(request));
      return reply.code(replayed ? 200 : 201).send(sale);
    },
  );

  app.post<{ Body: QuoteRequest }>(
    '/api/sales/quote',
    { onRequest: requireRole('cashier'), schema: { body: QuoteRequest } },
    async (request) => ctx.checkout.quote(request.body),
  );

  // A manager types their PIN on the cashier's tablet: the cashier's session asks, the PIN approves.
  app.post<{ Body: DiscountApprovalRequest }>(
    '/api/sales/approvals',
    { onRequest: requireRole('cashier'), schema: { body: DiscountApprovalRequest } },
    async (request, reply) => reply.code(201).send(await ctx.checkout.approveDiscounts(request.body, actorOf(request))),
  );

  app.get('/api/settings/discounts', { onRequest: requireRole('cashier') }, async () => ctx.approvals.policy);

  app.put<{ Body: DiscountPolicy }>(
    '/api/settings/discounts',
    { onRequest: requireRole('owner'), schema: { body: DiscountPolicy } },
    async (request) => {
      const { staff, deviceId } = actorOf(request);
      return ctx.approvals.setPolicy(request.body, { staffId: staff.id, deviceId });
    },
  );

  app.get<{ Querystring: { limit?: string; beforeSeq?: string } }>(
    '/api/sales',
    { onRequest: requireRole('cashier'), schema: { querystring: SalesQuery } },
    async (request) => ({
      sales: ctx.checkout.list(
        Number(request.query.limit ?? 50),
        request.query.beforeSeq === undefined ? undefined : Number(request.query.beforeSeq),
      ),
    }),
  );

  app.get<SaleParams>(
    '/api/sales/:saleId',
    { onRequest: requireRole('cashier'), schema: { params: SaleIdParams } },
    async (request) => ctx.checkout.get(request.params.saleId),
  );

  app.get<SaleParams>(
    '/api/sales/:saleId/receipt',
    { onRequest: requireRole('cashier'), schema: { params: SaleIdParams } },
    async (request) => ({ jobs: await ctx.printing.receipts(request.params.saleId) }),
  );

  app.post<SaleParams>(
    '/api/sales/:saleId/reprint',
    { onRequest: requireRole('cashier'), schema: { params: SaleIdParams } },
    async (request) => ctx.printing.reprint(request.params.saleId),
  );

  app.get<SaleParams>(
    '/api/sales/:saleId/void-preview',
    { onRequest: requireRole('manager'), schema: { params: SaleIdParams } },
    async (request) => ctx.checkout.voidPreview(request.params.saleId),
  );

  app.post<SaleParams & { Body: VoidRequest }>(
    '/api/sales/:saleId/void',
    { onRequest: requireRole('manager'), schema: { params: SaleIdParams, body: VoidRequest } },
    async (request) => ctx.checkout.void(request.params.saleId, request.body.reason, actorOf(request)),
  );

  app.post<SaleParams & { Body: RefundPreviewRequest }>(
    '/api/sales/:saleId/refund-preview',
    { onRequest: requireRole('manager'), schema: { params: SaleIdParams, body: RefundPreviewRequest } },
    async (request) => ctx.checkout.refundPreview(request.params.saleId, request.body),
  );

  app.post<SaleParams & { Body: RefundRequest }>(
    '/api/sales/:saleId/refund',
    { onRequest: requireRole('manager'), schema: { params: SaleIdParams, body: RefundRequest } },
    async (request) => ctx.checkout.refund(request.params.saleId, request.body, actorOf(request)),
  );
}
