/** Paired tablets: list and revoke (owner). */
import type { FastifyInstance } from 'fastify';
import { DeviceIdParams } from '../../protocol/api.js';
import type { HttpContext } from './app.js';
import { requireRole } from './auth.js';

export async function deviceRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  app.get('/api/devices', { preHandler: requireRole('owner') }, async () => ({ devices: ctx.security.listDevices() }));

  app.delete<{ Params: { deviceId: string } }>(
    '/api/devices/:deviceId',
    { preHandler: requireRole('owner'), schema: { params: DeviceIdParams } },
    async (request, reply) => {
      await ctx.security.revokeDevice(request.params.deviceId);
      return reply.code(204).send();
    },
  );
}
