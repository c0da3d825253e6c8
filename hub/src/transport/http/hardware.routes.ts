/** Printers and scanners: their state for everyone, a test page and scanner assignment for managers. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { DeviceStatusView } from '../../devices/device-types.js';
import type { HttpContext } from './app.js';
import { roleAtLeast } from '../../services/security.service.js';
import { actorOf, requireRole } from './auth.js';

const HardwareParams = Type.Object(
  { deviceId: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' }) },
  { additionalProperties: false },
);
const AssignmentRequest = Type.Object(
  { deviceId: Type.Union([Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' }), Type.Null()]) },
  { additionalProperties: false },
);

/** What the hardware routes need from the hub. */
export interface HardwareContext {
  devices(): DeviceStatusView[];
  /** Where receipts print. */
  defaultPrinterId: string | null;
  printTestPage(printerId: string): Promise<{ jobId: string }>;
  assignScanner(scannerId: string, tabletId: string | null, staffId: string): Promise<DeviceStatusView>;
}

type Params = { Params: { deviceId: string } };

export async function hardwareRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  app.get('/api/hardware', { onRequest: requireRole('cashier') }, async (request) => {
    // A cashier sees the devices and which tablets there are; how many wrong PINs each tablet and
    // the store have left is for managers: it would tell a guessing cashier their remaining budget.
    const forManager = roleAtLeast(actorOf(request).staff.role, 'manager');
    return {
      devices: ctx.hardware.devices(),
      defaultPrinterId: ctx.hardware.defaultPrinterId,
      // For assigning scanners and unlocking: which tablets there are (names only; tokens never
      // leave the hub) and which are locked by wrong PINs.
      tablets: ctx.security
        .listDevices()
        .filter((d) => d.revokedAt === null)
        .map((d) => ({
          deviceId: d.deviceId,
          name: d.name,
          lockedAt: d.lockedAt,
          ...(forManager ? { wrongPinsLastHour: d.wrongPinsLastHour } : {}),
        })),
      // Set while the store's limit of wrong PINs in an hour stops every tablet from trying a PIN.
      ...(forManager ? { storePinBlock: ctx.security.storePinBlock() } : {}),
    };
  });

  app.post<Params>(
    '/api/hardware/printers/:deviceId/test-page',
    { onRequest: requireRole('manager'), schema: { params: HardwareParams } },
    async (request) => ctx.hardware.printTestPage(request.params.deviceId),
  );

  app.put<Params & { Body: { deviceId: string | null } }>(
    '/api/hardware/scanners/:deviceId/assignment',
    { onRequest: requireRole('manager'), schema: { params: HardwareParams, body: AssignmentRequest } },
    async (request) =>
      ctx.hardware.assignScanner(request.params.deviceId, request.body.deviceId, actorOf(request).staff.id),
  );
}
