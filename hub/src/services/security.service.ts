/**
 * Paired tablets, staff PINs and staff sessions.
 *
 * - Pairing codes: 8 digits, 10 minutes, single use; 5 wrong codes in a row cancel all of them.
 * - Device tokens: 256 random bits; only their SHA-256 is stored.
 * - PINs are short, so their safety is the on-line limit (backoff after 5 failures on a device,
 *   lock-out after 10), not the hash; they are kept as HMACs under a per-store secret so that a
 *   login by PIN alone is one lookup.
 */
import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Low } from 'lowdb';
import { ROLES, type Role, type StaffView } from '../protocol/api.js';
import { DomainError } from '../domain/errors.js';

export const PAIRING_CODE_TTL_MS = 10 * 60_000;
export const PAIRING_MAX_FAILURES = 5;
export const PIN_BACKOFF_AFTER = 5;
export const PIN_LOCKOUT_AFTER = 10;
export const PIN_LOCKOUT_MS = 15 * 60_000;
export const SESSION_TTL_MS = 12 * 60 * 60_000;

export interface DeviceRecord {
  deviceId: string;
  name: string;
  tokenHash: string;
  pairedAt: string;
  revokedAt: string | null;
}

export interface StaffRecord {
  staffId: string;
  name: string;
  role: Role;
  pinHmac: string;
}

interface SessionRecord {
  tokenHash: string;
  staffId: string;
  deviceId: string;
  expiresAt: string;
}

interface PinGuard {
  failures: number;
  lastFailureAt: string;
  lockedUntil: string | null;
}

export interface SecurityData {
  pinSecret: string;
  devices: DeviceRecord[];
  staff: StaffRecord[];
  sessions: SessionRecord[];
  pinGuards: Record<string, PinGuard>;
}

export function newSecurityData(): SecurityData {
  return { pinSecret: randomBytes(32).toString('base64'), devices: [], staff: [], sessions: [], pinGuards: {} };
}

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');
const newToken = () => randomBytes(32).toString('base64url');

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export interface DeviceIdentity {
  deviceId: string;
  name: string;
}

export interface SecurityEvents {
  devicePaired(device: DeviceIdentity): Promise<void>;
  deviceRevoked(deviceId: string): Promise<void>;
  staffAdded(staff: StaffView): Promise<void>;
}

export class SecurityService {
  private readonly codes = new Map<string, number>();
  private pairingFailures = 0;
  private readonly devicesByToken = new Map<string, DeviceRecord>();
  private readonly lastSeen = new Map<string, string>();
  private readonly revokeListeners: ((deviceId: string) => void)[] = [];

  constructor(
    private readonly db: Low<SecurityData>,
    private readonly clock: () => Date,
    private readonly events: SecurityEvents,
  ) {
    for (const device of db.data.devices) if (!device.revokedAt) this.devicesByToken.set(device.tokenHash, device);
  }

  onRevoked(listener: (deviceId: string) => void): void {
    this.revokeListeners.push(listener);
  }

  // ---- pairing ----

  issuePairingCode(): { code: string; expiresAt: string } {
    const now = this.clock().getTime();
    for (const [code, expires] of this.codes) if (expires <= now) this.codes.delete(code);
    let code: string;
    do code = String(randomInt(0, 100_000_000)).padStart(8, '0');
    while (this.codes.has(code));
    this.codes.set(code, now + PAIRING_CODE_TTL_MS);
    return { code, expiresAt: new Date(now + PAIRING_CODE_TTL_MS).toISOString() };
  }

  async pair(code: string, name: string): Promise<{ device: DeviceIdentity; token: string }> {
    const now = this.clock().getTime();
    const expires = this.codes.get(code);
    if (expires === undefined || expires <= now) {
      this.pairingFailures += 1;
      if (this.pairingFailures >= PAIRING_MAX_FAILURES) {
        this.codes.clear();
        this.pairingFailures = 0;
        throw new DomainError(
          'pairing_code_invalid',
          'Wrong or expired pairing code. Too many wrong codes: every open code is cancelled, ask the technician for a new one',
          { codesCancelled: true },
          401,
        );
      }
      throw new DomainError('pairing_code_invalid', 'Wrong or expired pairing code', undefined, 401);
    }
    this.codes.delete(code);
    this.pairingFailures = 0;
    const token = newToken();
    const device: DeviceRecord = {
      deviceId: `tab-${randomBytes(6).toString('hex')}`,
      name,
      tokenHash: hashToken(token),
      pairedAt: new Date(now).toISOString(),
      revokedAt: null,
    };
    await this.db.update((data) => data.devices.push(device));
    this.devicesByToken.set(device.tokenHash, device);
    await this.events.devicePaired({ deviceId: device.deviceId, name });
    return { device: { deviceId: device.deviceId, name }, token };
  }

  authenticateDevice(token: string | undefined): DeviceIdentity | null {
    if (!token) return null;
    const device = this.devicesByToken.get(hashToken(token));
    if (!device) return null;
    this.lastSeen.set(device.deviceId, this.clock().toISOString());
    return { deviceId: device.deviceId, name: device.name };
  }

  listDevices(): {
    deviceId: string;
    name: string;
    pairedAt: string;
    revokedAt: string | null;
    lastSeenAt: string | null;
  }[] {
    return this.db.data.devices.map((d) => ({
      deviceId: d.deviceId,
      name: d.name,
      pairedAt: d.pairedAt,
      revokedAt: d.revokedAt,
      lastSeenAt: this.lastSeen.get(d.deviceId) ?? null,
    }));
  }

  async revokeDevice(deviceId: string): Promise<void> {
    const device = this.db.data.devices.find((d) => d.deviceId === deviceId && !d.revokedAt);
    if (!device) throw new DomainError('not_found', `No paired device ${deviceId}`, undefined, 404);
    await this.db.update((data) => {
      const record = data.devices.find((d) => d.deviceId === deviceId);
      if (record) record.revokedAt = this.clock().toISOString();
      data.sessions = data.sessions.filter((s) => s.deviceId !== deviceId);
    });
    this.devicesByToken.delete(device.tokenHash);
    await this.events.deviceRevoked(deviceId);
    for (const listener of this.revokeListeners) listener(deviceId);
  }

  // ---- staff ----

  private pinHmac(pin: string): string {
    return createHmac('sha256', this.db.data.pinSecret).update(pin).digest('hex');
  }

  async addStaff(name: string, role: Role, pin: string): Promise<StaffView> {
    if (!/^\d{4,8}$/.test(pin)) throw new DomainError('invalid_pin', 'A PIN is 4 to 8 digits', undefined, 400);
    const pinHmac = this.pinHmac(pin);
    if (this.db.data.staff.some((s) => s.pinHmac === pinHmac)) {
      throw new DomainError('pin_taken', 'Another staff member already has this PIN', undefined, 409);
    }
    const staff: StaffRecord = { staffId: `stf-${randomBytes(4).toString('hex')}`, name, role, pinHmac };
    await this.db.update((data) => data.staff.push(staff));
    await this.events.staffAdded(toStaffView(staff));
    return toStaffView(staff);
  }

  /** Everyone who can log in (no PINs). */
  listStaff(): StaffView[] {
    return this.db.data.staff.map(toStaffView);
  }

  hasStaff(): boolean {
    return this.db.data.staff.length > 0;
  }

  async login(deviceId: string, pin: string): Promise<{ staff: StaffView; token: string }> {
    const now = this.clock();
    const guard = this.db.data.pinGuards[deviceId];
    if (guard?.lockedUntil && Date.parse(guard.lockedUntil) > now.getTime()) {
      throw new DomainError(
        'locked_out',
        'Too many wrong PINs: this tablet is locked. Try again later or ask the technician to unlock it',
        { lockedUntil: guard.lockedUntil },
        423,
      );
    }
    if (guard && guard.failures >= PIN_BACKOFF_AFTER && !guard.lockedUntil) {
      const waitMs = 1000 * 2 ** (guard.failures - PIN_BACKOFF_AFTER);
      const retryAt = Date.parse(guard.lastFailureAt) + waitMs;
      if (retryAt > now.getTime()) {
        const retryAfterSeconds = Math.ceil((retryAt - now.getTime()) / 1000);
        throw new DomainError(
          'retry_later',
          `Too many wrong PINs: wait ${retryAfterSeconds} s`,
          { retryAfterSeconds },
          429,
        );
      }
    }
    const pinHmac = this.pinHmac(pin);
    const staff = this.db.data.staff.find((s) =>
      timingSafeEqual(Buffer.from(s.pinHmac, 'hex'), Buffer.from(pinHmac, 'hex')),
    );
    if (!staff) {
      const failures = (guard?.lockedUntil ? 0 : (guard?.failures ?? 0)) + 1;
      const lockedUntil = failures >= PIN_LOCKOUT_AFTER ? new Date(now.getTime() + PIN_LOCKOUT_MS).toISOString() : null;
      await this.db.update((data) => {
        data.pinGuards[deviceId] = { failures, lastFailureAt: now.toISOString(), lockedUntil };
      });
      if (lockedUntil) {
        throw new DomainError(
          'locked_out',
          'Too many wrong PINs: this tablet is locked for 15 minutes',
          { lockedUntil },
          423,
        );
      }
      throw new DomainError('wrong_pin', 'Wrong PIN', { failures }, 401);
    }
    const token = newToken();
    const expiresAt = new Date(now.getTime() + SESSION_TTL_MS).toISOString();
    await this.db.update((data) => {
      delete data.pinGuards[deviceId];
      const nowIso = now.toISOString();
      data.sessions = data.sessions.filter((s) => s.expiresAt > nowIso);
      data.sessions.push({ tokenHash: hashToken(token), staffId: staff.staffId, deviceId, expiresAt });
    });
    return { staff: toStaffView(staff), token };
  }

  async unlock(deviceId: string): Promise<void> {
    await this.db.update((data) => {
      delete data.pinGuards[deviceId];
    });
  }

  /** The staff member of a session, if it is valid on this device. */
  authenticateStaff(deviceId: string, token: string | undefined): StaffView | null {
    if (!token) return null;
    const tokenHash = hashToken(token);
    const nowIso = this.clock().toISOString();
    const session = this.db.data.sessions.find(
      (s) => s.tokenHash === tokenHash && s.deviceId === deviceId && s.expiresAt > nowIso,
    );
    if (!session) return null;
    const staff = this.db.data.staff.find((s) => s.staffId === session.staffId);
    return staff ? toStaffView(staff) : null;
  }

  async logout(token: string | undefined): Promise<void> {
    if (!token) return;
    const tokenHash = hashToken(token);
    if (!this.db.data.sessions.some((s) => s.tokenHash === tokenHash)) return;
    await this.db.update((data) => {
      data.sessions = data.sessions.filter((s) => s.tokenHash !== tokenHash);
    });
  }
}

function toStaffView(staff: StaffRecord): StaffView {
  return { id: staff.staffId, name: staff.name, role: staff.role };
}
