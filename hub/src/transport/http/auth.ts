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

/** A route's role check; it names the role so the app can list and check every route's. */
export type RoleCheck = ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) & { requiredRole: Role };

/**
 * The check of a route's `onRequest`: it must run before the body is parsed and validated, so a
 * cashier's malformed request to a manager's route gets 403, not the schema's details.
 */
export function requireRole(role: Role): RoleCheck {
  const check = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (!request.staff)
      throw new DomainError('staff_login_required', 'Log in with your staff PIN first', undefined, 401);
    if (!roleAtLeast(request.staff.role, role)) {
      throw new DomainError('role_required', `This needs a ${role} (you are ${request.staff.role})`, { role }, 403);
    }
  };
  return Object.assign(check, { requiredRole: role });
}

/** The role a hook (or list of hooks) checks, if any. */
export function roleCheckedBy(hooks: unknown): Role | null {
  for (const hook of Array.isArray(hooks) ? hooks : [hooks]) {
    if (typeof hook === 'function' && 'requiredRole' in hook) return (hook as RoleCheck).requiredRole;
  }
  return null;
}

export function actorOf(request: FastifyRequest): { deviceId: string; staff: StaffView } {
  return { deviceId: request.device!.deviceId, staff: request.staff! };
}
