/**
 * Who is calling: the paired device (cookie `ayi_device` or `Authorization: Bearer`) and the staff
 * session on it (cookie `ayi_session` or `X-Ayi-Session`).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role, StaffView } from '../../protocol/api.js';
import { DomainError } from '../../domain/errors.js';
import { roleAtLeast, type DeviceIdentity, type SecurityService } from '../../services/security.service.js';

export const DEVICE_COOKIE = 'ayi_device';
export const SESSION_COOKIE = 'ayi_session';

declare module 'fastify' {
  interface FastifyRequest {
    device: DeviceIdentity | null;
    staff: StaffView | null;
  }
}

export function deviceTokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  return request.cookies[DEVICE_COOKIE];
}

export function sessionTokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers['x-ayi-session'];
  if (typeof header === 'string' && header) return header;
  return request.cookies[SESSION_COOKIE];
}

/** Fills request.device and request.staff; refuses unpaired callers. */
export function authenticate(security: SecurityService) {
  return async (request: FastifyRequest): Promise<void> => {
    const device = security.authenticateDevice(deviceTokenOf(request));
    if (!device) {
      throw new DomainError(
        'device_not_paired',
        'This device is not paired with the hub; pair it with a code first',
        undefined,
        401,
      );
    }
    request.device = device;
    request.staff = security.authenticateStaff(device.deviceId, sessionTokenOf(request));
  };
}

export function requireRole(role: Role) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (!request.staff)
      throw new DomainError('staff_login_required', 'Log in with your staff PIN first', undefined, 401);
    if (!roleAtLeast(request.staff.role, role)) {
      throw new DomainError('role_required', `This needs a ${role} (you are ${request.staff.role})`, { role }, 403);
    }
  };
}

export function actorOf(request: FastifyRequest): { deviceId: string; staff: StaffView } {
  return { deviceId: request.device!.deviceId, staff: request.staff! };
}
