/** Pairing a tablet and staff log-in. */
import type { FastifyInstance } from 'fastify';
import { LoginRequest, PairRequest } from '../../protocol/api.js';
import type { HttpContext } from './app.js';
import { DEVICE_COOKIE, SESSION_COOKIE, sessionTokenOf } from './auth.js';
import { SESSION_TTL_MS } from '../../services/security.service.js';

const cookieOptions = { httpOnly: true, sameSite: 'strict', path: '/' } as const;

export const sessionRoutes = {
  async pairing(app: FastifyInstance, ctx: HttpContext): Promise<void> {
    app.post<{ Body: PairRequest }>('/api/pair', { schema: { body: PairRequest } }, async (request, reply) => {
      const { device, token } = await ctx.security.pair(request.body.code, request.body.name, request.ip);
      request.log.info({ deviceId: device.deviceId }, 'tablet paired');
      void reply.setCookie(DEVICE_COOKIE, token, { ...cookieOptions, maxAge: 10 * 365 * 86_400 });
      return reply.code(201).send({ ...device, token });
    });
  },

  async session(app: FastifyInstance, ctx: HttpContext): Promise<void> {
    app.get('/api/me', async (request) => ({
      device: request.device,
      staff: request.staff,
      storeId: ctx.config.storeId,
      storeName: ctx.config.storeName,
      // Dates on every screen are the store's, whatever zone the tablet is set to.
      timeZone: ctx.config.tz,
    }));

    app.post<{ Body: LoginRequest }>('/api/session', { schema: { body: LoginRequest } }, async (request, reply) => {
      const { staff, token } = await ctx.security.login(request.device!.deviceId, request.body.pin);
      void reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions, maxAge: SESSION_TTL_MS / 1000 });
      return { staff, token };
    });

    app.delete('/api/session', async (request, reply) => {
      await ctx.security.logout(sessionTokenOf(request));
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    });
  },
};
