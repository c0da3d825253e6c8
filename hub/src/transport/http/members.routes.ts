/**
 * Members, loyalty and coupons. Numbers and carrier barcodes travel only in bodies (lookup is a
 * POST), so they never reach an access log or a browser history.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  CarrierRequest,
  ConsentRequest,
  CouponCreateRequest,
  EraseRequest,
  LookupRequest,
  MemberIdParams,
  MergeRequest,
  ProfileUpdate,
  SignUpRequest,
  TagRequest,
} from '../../protocol/members.js';
import type { HttpContext } from './app.js';
import { actorOf, requireRole } from './auth.js';

type MemberParams = { Params: { memberId: string } };

const CardQuery = Type.Object(
  { cart: Type.Optional(Type.String({ maxLength: 2000, pattern: '^[A-Za-z0-9._:,-]*$' })) },
  { additionalProperties: false },
);
/** Search by name or member code, in the body: a name is personal data and stays out of URLs. */
const SearchRequest = Type.Object(
  {
    q: Type.String({ maxLength: 40 }),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
  },
  { additionalProperties: false },
);

export async function memberRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const cashier = requireRole('cashier');
  const manager = requireRole('manager');
  const card = (request: FastifyRequest, memberId: string) => ctx.members.card(memberId, [], actorOf(request).staff);

  app.post<{ Body: SignUpRequest }>(
    '/api/members',
    { onRequest: cashier, schema: { body: SignUpRequest } },
    async (request, reply) => {
      const result = await ctx.members.signUp(request.body, actorOf(request));
      return reply.code(result.existing ? 200 : 201).send(result);
    },
  );

  app.post<{ Body: LookupRequest }>(
    '/api/members/lookup',
    { onRequest: cashier, schema: { body: LookupRequest } },
    async (request) => ctx.members.lookup(request.body.query, actorOf(request)),
  );

  app.post<{ Body: { q: string; limit?: number; offset?: number } }>(
    '/api/members/search',
    { onRequest: cashier, schema: { body: SearchRequest } },
    async (request) =>
      ctx.members.search(request.body.q, request.body.limit ?? 50, request.body.offset ?? 0, actorOf(request)),
  );

  app.get<MemberParams & { Querystring: { cart?: string } }>(
    '/api/members/:memberId/card',
    { onRequest: cashier, schema: { params: MemberIdParams, querystring: CardQuery } },
    async (request) =>
      ctx.members.card(
        request.params.memberId,
        (request.query.cart ?? '').split(',').filter(Boolean),
        actorOf(request).staff,
      ),
  );

  /** A cashier's change to a member (as the actor), answered with the member's card as it is now. */
  function memberChange<B extends TSchema>(
    method: 'PATCH' | 'PUT' | 'POST',
    url: string,
    body: B,
    change: (memberId: string, body: Static<B>, actor: ReturnType<typeof actorOf>) => Promise<void>,
  ): void {
    app.route<MemberParams & { Body: Static<B> }>({
      method,
      url,
      onRequest: cashier,
      schema: { params: MemberIdParams, body },
      handler: async (request) => {
        await change(request.params.memberId, request.body, actorOf(request));
        return card(request, request.params.memberId);
      },
    });
  }

  memberChange('PATCH', '/api/members/:memberId', ProfileUpdate, (id, b, actor) =>
    ctx.members.updateProfile(id, b, actor),
  );
  memberChange('PUT', '/api/members/:memberId/consent', ConsentRequest, (id, b, actor) =>
    ctx.members.setConsent(id, b.channel, b.granted, actor),
  );
  memberChange('POST', '/api/members/:memberId/carrier', CarrierRequest, (id, b, actor) =>
    ctx.members.bindCarrier(id, b.carrier, actor),
  );
  memberChange('POST', '/api/members/:memberId/tags', TagRequest, (id, b, actor) => ctx.members.tag(id, b.tag, actor));
  memberChange('POST', '/api/members/:memberId/untag', TagRequest, (id, b, actor) =>
    ctx.members.untag(id, b.tag, actor),
  );

  app.get<MemberParams>(
    '/api/members/:memberId/consent-history',
    { onRequest: cashier, schema: { params: MemberIdParams } },
    async (request) => ({ history: ctx.members.consentHistory(request.params.memberId) }),
  );

  app.get('/api/tags', { onRequest: cashier }, async () => ({ tags: ctx.members.tags() }));

  app.get<MemberParams>(
    '/api/members/:memberId/points',
    { onRequest: cashier, schema: { params: MemberIdParams } },
    async (request) => ctx.members.points(request.params.memberId),
  );

  app.get<MemberParams>(
    '/api/members/:memberId/sales',
    { onRequest: cashier, schema: { params: MemberIdParams } },
    async (request) => ({ sales: ctx.members.sales(request.params.memberId) }),
  );

  app.post<{ Body: MergeRequest }>(
    '/api/members/merge',
    { onRequest: manager, schema: { body: MergeRequest } },
    async (request) => {
      const kept = await ctx.members.merge(request.body.fromMemberId, request.body.intoMemberId, actorOf(request));
      return ctx.members.card(kept, [], actorOf(request).staff);
    },
  );

  app.post<MemberParams & { Body: EraseRequest }>(
    '/api/members/:memberId/erase',
    { onRequest: manager, schema: { params: MemberIdParams, body: EraseRequest } },
    async (request, reply) => {
      await ctx.members.erase(request.params.memberId, request.body.confirmMemberCode, actorOf(request));
      return reply.code(204).send();
    },
  );

  app.get('/api/loyalty', { onRequest: cashier }, async () => ctx.members.program);

  app.get('/api/coupons', { onRequest: manager }, async () => ({ coupons: ctx.coupons.list() }));

  app.post<{ Body: CouponCreateRequest }>(
    '/api/coupons',
    { onRequest: manager, schema: { body: CouponCreateRequest } },
    async (request, reply) => reply.code(201).send(await ctx.coupons.create(request.body, actorOf(request))),
  );
}
