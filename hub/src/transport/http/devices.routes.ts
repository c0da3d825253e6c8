/** Paired tablets: list and revoke (owner); lift a PIN lock from another tablet (manager). */
import type { FastifyInstance } from 'fastify';
import { DeviceIdParams } from '../../protocol/api.js';
import type { HttpContext } from './app.js';
import { actorOf, requireRole } from './auth.js';

type Params = { Params: { deviceId: string } };

export async function deviceRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  app.get('/api/devices', { onRequest: requireRole('owner') }, async () => ({ devices: ctx.security.listDevices() }));

  app.delete<Params>(
    '/api/devices/:deviceId',
    { onRequest: requireRole('owner'), schema: { params: DeviceIdParams } },
    async (request, reply) => {
      await ctx.security.revokeDevice(request.params.deviceId);
      return reply.code(204).send();
    },
  );

  app.post<Params>(
    '/api/devices/:deviceId/unlock',
    { onRequest: requireRole('manager'), schema: { params: DeviceIdParams } },
    async (request) => {
      const { deviceId, staff } = actorOf(request);
      const result = await ctx.security.unlock(request.params.deviceId, { staffId: staff.id, deviceId });
      request.log.info(
        { deviceId: result.deviceId, byDeviceId: deviceId, staffId: staff.id, wasLocked: result.wasLocked },
        'tablet unlocked',
      );
      return result;
    },
  );
}
