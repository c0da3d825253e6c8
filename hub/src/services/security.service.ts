/**
 * Paired tablets, staff PINs and staff sessions.
 *
 * - Pairing codes: 8 digits, 10 minutes, single use. Wrong codes are limited per client address
 *   (10 in 10 minutes); they never cancel a code, so one LAN device cannot stop another's pairing.
 * - Device tokens: 256 random bits; only their SHA-256 is stored.
 * - PINs are short, so their safety is the on-line limit, not the hash. Wrong PINs are counted over
 *   a sliding hour, per tablet and for the whole store, and a right PIN does not wipe them (else a
 *   cashier could log in with their own PIN between guesses): back-off after 5 on a tablet, the
 *   tablet locked after 10 (until a manager on another tablet or the technician unlocks it), at
 *   most 20 a tablet and 60 a store in any hour whatever is unlocked. PINs are kept as HMACs under
 *   a per-store secret so that a login by PIN alone is one lookup.
 */
import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Low } from 'lowdb';
import { ROLES, type Role, type StaffView } from '../protocol/api.js';
import { DomainError } from '../domain/errors.js';

export const PAIRING_CODE_TTL_MS = 10 * 60_000;
/** Wrong pairing codes one client address may send in PAIRING_WINDOW_MS. */
export const PAIRING_FAILURES_PER_ADDRESS = 10;
export const PAIRING_WINDOW_MS = 10 * 60_000;
/** Addresses remembered at once: a flood of spoofed addresses cannot grow the hub's memory. */
const PAIRING_ADDRESSES_KEPT = 10_000;

/** The sliding window over which wrong PINs are counted. */
export const PIN_WINDOW_MS = 60 * 60_000;
/** Wrong PINs in the window after which a tablet waits 1 s, then 2, 4, 8 s… before the next try. */
export const PIN_BACKOFF_AFTER = 5;
export const PIN_BACKOFF_MAX_MS = 5 * 60_000;
/** Wrong PINs on a tablet (in the window, since it was last unlocked) that lock it. */
export const PIN_LOCK_AFTER = 10;
/** Wrong PINs a tablet may send in the window, unlocks included. */
export const PIN_FAILURES_PER_TABLET = 20;
/** Wrong PINs all tablets together may send in the window. */
export const PIN_FAILURES_PER_STORE = 60;
/** Manager and owner PINs open voids, refunds and the store's settings: longer than a cashier's. */
export const MANAGER_PIN_MIN_DIGITS = 6;
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

/** Wrong PINs of one tablet. */
interface PinGuard {
  /** When each wrong PIN of the last PIN_WINDOW_MS was sent, oldest first. */
  failures: string[];
  /** Locked since then, until a manager or the technician unlocks it. */
  lockedAt: string | null;
  /** The last unlock: failures before it do not count towards the next lock. */
  unlockedAt: string | null;
}

export interface SecurityData {
  pinSecret: string;
  devices: DeviceRecord[];
  staff: StaffRecord[];
  sessions: SessionRecord[];
  pinGuards: Record<string, PinGuard>;
  /** When each wrong PIN of the last PIN_WINDOW_MS was sent, on any tablet, oldest first. */
  storePinFailures: string[];
}

export function newSecurityData(): SecurityData {
  return {
    pinSecret: randomBytes(32).toString('base64'),
    devices: [],
    staff: [],
    sessions: [],
    pinGuards: {},
    storePinFailures: [],
  };
}

/** A tablet locked by wrong PINs (the devices page, the status to HQ). */
export interface LockedTablet {
  deviceId: string;
  name: string;
  lockedAt: string;
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
  /** Wrong pairing codes per client address: times (ms), oldest first, within PAIRING_WINDOW_MS. */
  private readonly pairingFailures = new Map<string, number[]>();
  private readonly devicesByToken = new Map<string, DeviceRecord>();
  private readonly lastSeen = new Map<string, string>();
  private readonly revokeListeners: ((deviceId: string) => void)[] = [];
  private readonly lockListeners: (() => void)[] = [];

  constructor(
    private readonly db: Low<SecurityData>,
    private readonly clock: () => Date,
    private readonly events: SecurityEvents,
  ) {
    for (const device of db.data.devices) if (!device.revokedAt) this.devicesByToken.set(device.tokenHash, device);
    upgradePinGuards(db.data, clock());
  }

  onRevoked(listener: (deviceId: string) => void): void {
    this.revokeListeners.push(listener);
  }

  /** Called when a tablet is locked or unlocked. */
  onLockChanged(listener: () => void): void {
    this.lockListeners.push(listener);
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

  /**
   * Pairs a tablet with a code. `clientAddress` (the caller's IP) is what wrong codes are counted
   * against: a client over its limit is refused before its code is even looked at, and nobody
   * else's code is touched.
   */
  async pair(code: string, name: string, clientAddress: string): Promise<{ device: DeviceIdentity; token: string }> {
    const now = this.clock().getTime();
    const recent = this.recentPairingFailures(clientAddress, now);
    if (recent.length >= PAIRING_FAILURES_PER_ADDRESS) {
      const retryAfterSeconds = Math.max(1, Math.ceil((recent[0]! + PAIRING_WINDOW_MS - now) / 1000));
      throw new DomainError(
        'pairing_retry_later',
        `Too many wrong pairing codes from this device: wait ${retryAfterSeconds} s`,
        { retryAfterSeconds },
        429,
      );
    }
    const expires = this.codes.get(code);
    if (expires === undefined || expires <= now) {
      recent.push(now);
      this.pairingFailures.delete(clientAddress); // re-inserted last: the map stays oldest-first
      this.pairingFailures.set(clientAddress, recent);
      if (this.pairingFailures.size > PAIRING_ADDRESSES_KEPT) {
        const oldest = this.pairingFailures.keys().next().value;
        if (oldest !== undefined) this.pairingFailures.delete(oldest);
      }
      throw new DomainError('pairing_code_invalid', 'Wrong or expired pairing code', undefined, 401);
    }
    this.codes.delete(code);
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

  private recentPairingFailures(clientAddress: string, now: number): number[] {
    const times = this.pairingFailures.get(clientAddress);
    if (!times) return [];
    const recent = times.filter((t) => t > now - PAIRING_WINDOW_MS);
    if (recent.length === 0) this.pairingFailures.delete(clientAddress);
    return recent;
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
    /** Locked by wrong PINs since then; null when it is not. */
    lockedAt: string | null;
  }[] {
    return this.db.data.devices.map((d) => ({
      deviceId: d.deviceId,
      name: d.name,
      pairedAt: d.pairedAt,
      revokedAt: d.revokedAt,
      lastSeenAt: this.lastSeen.get(d.deviceId) ?? null,
      lockedAt: this.db.data.pinGuards[d.deviceId]?.lockedAt ?? null,
    }));
  }

  /** Paired tablets locked by wrong PINs. */
  lockedTablets(): LockedTablet[] {
    const locked: LockedTablet[] = [];
    for (const device of this.db.data.devices) {
      const lockedAt = this.db.data.pinGuards[device.deviceId]?.lockedAt;
      if (lockedAt && !device.revokedAt) locked.push({ deviceId: device.deviceId, name: device.name, lockedAt });
    }
    return locked;
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
    if (role !== 'cashier' && pin.length < MANAGER_PIN_MIN_DIGITS) {
      throw new DomainError(
        'pin_too_short',
        `A ${role}'s PIN is at least ${MANAGER_PIN_MIN_DIGITS} digits (cashiers may keep 4 to 8)`,
        { role, minDigits: MANAGER_PIN_MIN_DIGITS },
        400,
      );
    }
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

  /**
   * Opens a staff session on a tablet. Every limit is checked, and a wrong PIN recorded, before the
   * first await: requests sent in parallel cannot slip past a limit together.
   */
  async login(deviceId: string, pin: string): Promise<{ staff: StaffView; token: string }> {
    const now = this.clock();
    const nowMs = now.getTime();
    const data = this.db.data;
    const windowStart = nowMs - PIN_WINDOW_MS;
    data.storePinFailures = data.storePinFailures.filter((at) => Date.parse(at) > windowStart);
    const guard = data.pinGuards[deviceId];
    if (guard) guard.failures = guard.failures.filter((at) => Date.parse(at) > windowStart);

    if (guard?.lockedAt) {
      throw new DomainError(
        'locked_out',
        'Too many wrong PINs: this tablet is locked. A manager can unlock it on the devices page of another tablet, or the technician with `ayi unlock`',
        { lockedAt: guard.lockedAt },
        423,
      );
    }
    const retryAfter = (oldest: string) => Math.max(1, Math.ceil((Date.parse(oldest) + PIN_WINDOW_MS - nowMs) / 1000));
    if (data.storePinFailures.length >= PIN_FAILURES_PER_STORE) {
      const retryAfterSeconds = retryAfter(data.storePinFailures[0]!);
      throw new DomainError(
        'store_pin_limit',
        `Too many wrong PINs on this store's tablets in the last hour: no PIN is tried for ${retryAfterSeconds} s`,
        { retryAfterSeconds },
        429,
      );
    }
    if (guard && guard.failures.length >= PIN_FAILURES_PER_TABLET) {
      const retryAfterSeconds = retryAfter(guard.failures[0]!);
      throw new DomainError(
        'retry_later',
        `Too many wrong PINs on this tablet in the last hour: wait ${retryAfterSeconds} s`,
        { retryAfterSeconds },
        429,
      );
    }
    // Failures before an unlock do not slow the next try: whoever unlocked vouched for the tablet.
    const sinceUnlock = guard ? failuresSince(guard) : 0;
    if (guard && sinceUnlock >= PIN_BACKOFF_AFTER) {
      const waitMs = Math.min(PIN_BACKOFF_MAX_MS, 1000 * 2 ** (sinceUnlock - PIN_BACKOFF_AFTER));
      const retryAt = Date.parse(guard.failures.at(-1)!) + waitMs;
      if (retryAt > nowMs) {
        const retryAfterSeconds = Math.ceil((retryAt - nowMs) / 1000);
        throw new DomainError(
          'retry_later',
          `Too many wrong PINs: wait ${retryAfterSeconds} s`,
          { retryAfterSeconds },
          429,
        );
      }
    }

    const pinHmac = this.pinHmac(pin);
    const staff = data.staff.find((s) => timingSafeEqual(Buffer.from(s.pinHmac, 'hex'), Buffer.from(pinHmac, 'hex')));
    if (!staff) {
      const nowIso = now.toISOString();
      let lockedAt: string | null = null;
      let failuresSinceUnlock = 0;
      await this.db.update((d) => {
        const record = (d.pinGuards[deviceId] ??= { failures: [], lockedAt: null, unlockedAt: null });
        record.failures.push(nowIso);
        d.storePinFailures.push(nowIso);
        failuresSinceUnlock = failuresSince(record);
        if (failuresSinceUnlock >= PIN_LOCK_AFTER) record.lockedAt = lockedAt = nowIso;
      });
      if (lockedAt) {
        for (const listener of this.lockListeners) listener();
        throw new DomainError(
          'locked_out',
          'Too many wrong PINs: this tablet is now locked. A manager can unlock it on the devices page of another tablet, or the technician with `ayi unlock`',
          { lockedAt },
          423,
        );
      }
      throw new DomainError(
        'wrong_pin',
        'Wrong PIN',
        { failures: failuresSinceUnlock, triesBeforeLock: PIN_LOCK_AFTER - failuresSinceUnlock },
        401,
      );
    }
    const token = newToken();
    const expiresAt = new Date(nowMs + SESSION_TTL_MS).toISOString();
    // Wrong PINs stay counted: a right one (perhaps the guesser's own) does not wipe them.
    await this.db.update((d) => {
      const nowIso = now.toISOString();
      d.sessions = d.sessions.filter((s) => s.expiresAt > nowIso);
      d.sessions.push({ tokenHash: hashToken(token), staffId: staff.staffId, deviceId, expiresAt });
    });
    return { staff: toStaffView(staff), token };
  }

  /**
   * Lifts a PIN lock from a tablet. The wrong PINs stay counted in their hour: an unlocked tablet
   * gets PIN_LOCK_AFTER tries again, never more than PIN_FAILURES_PER_TABLET in an hour.
   * `byDeviceId` is the manager's tablet (null for the technician): a tablet cannot unlock itself.
   */
  async unlock(deviceId: string, byDeviceId: string | null = null): Promise<{ deviceId: string; wasLocked: boolean }> {
    const device = this.db.data.devices.find((d) => d.deviceId === deviceId && !d.revokedAt);
    if (!device) throw new DomainError('not_found', `No paired device ${deviceId}`, undefined, 404);
    if (byDeviceId === deviceId) {
      throw new DomainError(
        'unlock_from_another_tablet',
        'A tablet cannot unlock itself: unlock it from another tablet, or ask the technician',
        undefined,
        403,
      );
    }
    const wasLocked = Boolean(this.db.data.pinGuards[deviceId]?.lockedAt);
    if (wasLocked) {
      await this.db.update((data) => {
        const guard = data.pinGuards[deviceId];
        if (guard) {
          guard.lockedAt = null;
          guard.unlockedAt = this.clock().toISOString();
        }
      });
      for (const listener of this.lockListeners) listener();
    }
    return { deviceId, wasLocked };
  }

  /**
   * The technician's last resort (`ayi unlock all`): every tablet unlocked and every wrong PIN
   * forgotten, the store's count included.
   */
  async unlockAll(): Promise<{ unlocked: string[] }> {
    const unlocked = this.lockedTablets().map((t) => t.deviceId);
    await this.db.update((data) => {
      data.pinGuards = {};
      data.storePinFailures = [];
    });
    if (unlocked.length > 0) for (const listener of this.lockListeners) listener();
    return { unlocked };
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

/** The tablet's wrong PINs in the window since it was last unlocked. */
function failuresSince(guard: PinGuard): number {
  const unlockedAt = guard.unlockedAt;
  return unlockedAt === null ? guard.failures.length : guard.failures.filter((at) => at > unlockedAt).length;
}

/**
 * Guards written before failures were kept as times (`{failures: n, lastFailureAt, lockedUntil}`):
 * their n failures are taken as sent at the last one, a lock-out still running becomes a lock, and
 * one that has run out is forgotten (as that version did).
 */
function upgradePinGuards(data: SecurityData, now: Date): void {
  data.storePinFailures ??= [];
  for (const [deviceId, guard] of Object.entries(data.pinGuards)) {
    if (Array.isArray(guard.failures)) continue;
    const old = guard as unknown as { failures: number; lastFailureAt: string; lockedUntil: string | null };
    const lockRunning = old.lockedUntil !== null && Date.parse(old.lockedUntil) > now.getTime();
    const ranOut = old.lockedUntil !== null && !lockRunning;
    data.pinGuards[deviceId] = {
      failures: ranOut
        ? []
        : Array.from({ length: Math.min(old.failures, PIN_FAILURES_PER_TABLET) }, () => old.lastFailureAt),
      lockedAt: lockRunning ? old.lastFailureAt : null,
      unlockedAt: null,
    };
  }
}

function toStaffView(staff: StaffRecord): StaffView {
  return { id: staff.staffId, name: staff.name, role: staff.role };
}
