/**
 * Analytics and reports (A1-A6, R5): RFM, repurchase predictions, cross-sell pairs, member and
 * product reports. Query strings carry only dates, thresholds, SKUs and categories: nothing personal.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { MemberIdParams } from '../../protocol/members.js';
import { DAY_PATTERN } from '../../protocol/crm.js';
import type { HttpContext } from './app.js';
import { actorOf, requireRole } from './auth.js';

const Day = Type.String({ pattern: DAY_PATTERN });
/** Query strings are not coerced: whole numbers arrive as digits. */
const Whole = Type.String({ pattern: '^[1-9]\\d{0,3}$' });
const Category = Type.String({ minLength: 1, maxLength: 40 });
const Sku = Type.String({ minLength: 1, maxLength: 64 });

const RangeQuery = Type.Object(
  {
    from: Day,
    to: Day,
    activeDays: Type.Optional(Whole),
    churnedDays: Type.Optional(Whole),
    idleDays: Type.Optional(Whole),
    category: Type.Optional(Category),
    limit: Type.Optional(Whole),
  },
  { additionalProperties: false },
);
type RangeQuery = {
  from: string;
  to: string;
  activeDays?: string;
  churnedDays?: string;
  idleDays?: string;
  category?: string;
  limit?: string;
};

const DueQuery = Type.Object(
  { from: Type.Optional(Day), to: Type.Optional(Day), limit: Type.Optional(Whole) },
  { additionalProperties: false },
);
const CrossSellQuery = Type.Object(
  { sku: Type.Optional(Sku), limit: Type.Optional(Whole) },
  { additionalProperties: false },
);

const number = (text: string | undefined): number | undefined => (text === undefined ? undefined : Number(text));
const capped = (text: string | undefined, fallback: number, max: number) => Math.min(number(text) ?? fallback, max);

export async function analyticsRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const cashier = requireRole('cashier');
  const manager = requireRole('manager');

  app.get('/api/analytics/rfm', { onRequest: manager }, async () => ctx.analytics.rfm());
  app.post('/api/analytics/rfm/recompute', { onRequest: manager }, async () => ctx.analytics.recomputeRfm());

  app.get<{ Querystring: { from?: string; to?: string; limit?: string } }>(
    '/api/analytics/repurchase-due',
    { onRequest: manager, schema: { querystring: DueQuery } },
    async (request) =>
      ctx.analytics.repurchaseDue(
        actorOf(request).staff,
        request.query.from,
        request.query.to,
        capped(request.query.limit, 200, 1000),
      ),
  );

  app.get<{ Params: { memberId: string } }>(
    '/api/members/:memberId/repurchase',
    { onRequest: cashier, schema: { params: MemberIdParams } },
    async (request) => ({ predictions: ctx.analytics.memberPredictions(request.params.memberId) }),
  );

  app.get<{ Querystring: { sku?: string; limit?: string } }>(
    '/api/analytics/cross-sell',
    { onRequest: manager, schema: { querystring: CrossSellQuery } },
    async (request) => ctx.analytics.crossSell(request.query.sku, capped(request.query.limit, 50, 500)),
  );

  app.get<{ Querystring: RangeQuery }>(
    '/api/reports/members',
    { onRequest: manager, schema: { querystring: RangeQuery } },
    async (request) =>
      ctx.analytics.memberReport({
        from: request.query.from,
        to: request.query.to,
        activeDays: number(request.query.activeDays),
        churnedDays: number(request.query.churnedDays),
      }),
  );

  app.get<{ Querystring: RangeQuery }>(
    '/api/reports/products',
    { onRequest: manager, schema: { querystring: RangeQuery } },
    async (request) =>
      ctx.analytics.productReport(
        {
          from: request.query.from,
          to: request.query.to,
          idleDays: number(request.query.idleDays),
          category: request.query.category,
        },
        capped(request.query.limit, 20, 500),
      ),
  );
}
