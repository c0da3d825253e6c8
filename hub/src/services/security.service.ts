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
 * - Times are clamped: a failure stored later than now (the clock was set back) counts as now, so a
 *   backwards jump never blocks longer than the window.
 * - One session per staff member per tablet: a new log-in replaces the old one.
 */
import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { Low } from 'lowdb';
import { ROLES, type Role, type StaffView } from '../protocol/api.js';
import { DomainError } from '../domain/errors.js';
import { updateSettings, updateSettingsAtOnce } from '../storage/settings.repo.js';

export const PAIRING_CODE_TTL_MS = 10 * 60_000;
/** A tablet paired without a name (from the pairing page's QR code) is 平板 1, 平板 2... */
export const DEFAULT_TABLET_NAME = '平板';
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

/** When the store's limit of wrong PINs stops every tablet from trying a PIN (the status to HQ, the devices page). */
export interface StorePinBlock {
  /** When the store's PIN_FAILURES_PER_STORE-th wrong PIN of the window was sent. */
  since: string;
  /** When the oldest of them leaves the window and PINs are tried again. */
  until: string;
}

/** Where the guard reports wrong PINs and locks (a pino logger will do). Never given a PIN or a name. */
export interface SecurityLog {
  warn(details: Record<string, unknown>, message: string): void;
}

/** A tablet locked by wrong PINs (the devices page, the status to HQ). */
export interface LockedTablet {
  deviceId: string;
  name: string;
  lockedAt: string;
}

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');
const newToken = () => randomBytes(32).toString('base64url');

/**
 * The key wrong pairing codes are counted under: an IPv4 address (also when it comes as an
 * IPv4-mapped IPv6 address, `::ffff:a.b.c.d`), or the /64 of an IPv6 address, since one IPv6 host
 * can pick any address of its /64.
 */
export function pairingClientKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv6(address)) return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`;
  return address;
}

/** The eight groups of an IPv6 address, expanded (`::` filled in, zone dropped, an IPv4 tail converted). */
function ipv6Groups(address: string): string[] {
  let text = address.toLowerCase().split('%')[0]!;
  const v4Tail = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4Tail) {
    const [a, b, c, d] = v4Tail.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4Tail.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const middle = tail === undefined ? [] : Array(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...middle, ...tailGroups].map((g) => (parseInt(g, 16) || 0).toString(16));
}

/** Stored times (ISO) later than now are taken as now: a clock set back must not stretch a wait. */
function clampTimes(times: string[], nowMs: number, nowIso: string): string[] {
  return times.map((at) => (Date.parse(at) > nowMs ? nowIso : at));
}

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
  staffRemoved(staffId: string): Promise<void>;
  staffPinChanged(staffId: string): Promise<void>;
  /** `by` is null when the technician unlocked it. */
  deviceUnlocked(deviceId: string, by: { staffId: string; deviceId: string } | null): Promise<void>;
  /**
   * Throws when no event can be recorded now (the clock is behind the journal). Checked before a
   * change touches security.json, so a refused change is not left half made (a device paired that
   * the journal and the tablet never heard of).
   */
  checkRecordable?(): void;
}

export class SecurityService {
  private readonly codes = new Map<string, number>();
  /** Wrong pairing codes per client address: times (ms), oldest first, within PAIRING_WINDOW_MS. */
  private readonly pairingFailures = new Map<string, number[]>();
  private readonly devicesByToken = new Map<string, DeviceRecord>();
  private readonly lastSeen = new Map<string, string>();
  private readonly revokeListeners: ((deviceId: string) => void)[] = [];
  private readonly lockListeners: (() => void)[] = [];
  /** The sessions of security.json by token hash (a request's staff is one lookup). */
  private sessionsByToken = new Map<string, SessionRecord>();

  constructor(
    private readonly db: Low<SecurityData>,
    private readonly clock: () => Date,
    private readonly events: SecurityEvents,
    private readonly log: SecurityLog = { warn: () => undefined },
  ) {
    for (const device of db.data.devices) if (!device.revokedAt) this.devicesByToken.set(device.tokenHash, device);
    upgradePinGuards(db.data, clock());
    // Versions before one session per staff member and tablet kept every log-in's: only the newest
    // live one of each pair is kept (written back with the next change).
    db.data.sessions = latestSessions(db.data.sessions, clock().toISOString());
    this.indexSessions();
  }

  private indexSessions(): void {
    this.sessionsByToken = new Map(this.db.data.sessions.map((s) => [s.tokenHash, s]));
  }

  onRevoked(listener: (deviceId: string) => void): void {
    this.revokeListeners.push(listener);
  }

  /** Called when a tablet is locked or unlocked, and when the store's limit of wrong PINs is reached. */
  onLockChanged(listener: () => void): void {
    this.lockListeners.push(listener);
  }

  // ---- pairing ----

  /**
   * The technician's `ayi pair`: wrong codes counted so far are forgotten with it, so tablets that
   * share one address (behind an access point that NATs them) can pair again at once.
   */
  resetPairingLimits(): void {
    this.pairingFailures.clear();
  }

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
  async pair(
    code: string,
    requestedName: string | undefined,
    clientAddress: string,
  ): Promise<{ device: DeviceIdentity; token: string }> {
    const now = this.clock().getTime();
    const clientKey = pairingClientKey(clientAddress);
    const recent = this.recentPairingFailures(clientKey, now);
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
      this.pairingFailures.delete(clientKey); // re-inserted last: the map stays oldest-first
      this.pairingFailures.set(clientKey, recent);
      if (this.pairingFailures.size > PAIRING_ADDRESSES_KEPT) {
        const oldest = this.pairingFailures.keys().next().value;
        if (oldest !== undefined) this.pairingFailures.delete(oldest);
      }
      throw new DomainError('pairing_code_invalid', 'Wrong or expired pairing code', undefined, 401);
    }
    // Before the code is used up or the device stored: a refused pairing leaves nothing behind.
    this.events.checkRecordable?.();
    this.codes.delete(code);
    const name = requestedName ?? this.nextTabletName();
    const token = newToken();
    const device: DeviceRecord = {
      deviceId: `tab-${randomBytes(6).toString('hex')}`,
      name,
      tokenHash: hashToken(token),
      pairedAt: new Date(now).toISOString(),
      revokedAt: null,
    };
    await updateSettings(this.db, (data) => {
      data.devices.push(device);
    });
    this.devicesByToken.set(device.tokenHash, device);
    await this.events.devicePaired({ deviceId: device.deviceId, name });
    return { device: { deviceId: device.deviceId, name }, token };
  }

  /** 平板 N, the lowest N no paired tablet is named with: the name of a tablet paired from a QR code. */
  private nextTabletName(): string {
    const taken = new Set(this.db.data.devices.filter((d) => !d.revokedAt).map((d) => d.name));
    let n = 1;
    while (taken.has(`${DEFAULT_TABLET_NAME} ${n}`)) n++;
    return `${DEFAULT_TABLET_NAME} ${n}`;
  }

  private recentPairingFailures(clientKey: string, now: number): number[] {
    const times = this.pairingFailures.get(clientKey);
    if (!times) return [];
    // Math.min: a time later than now (the clock was set back) counts as now.
    const recent = times.map((t) => Math.min(t, now)).filter((t) => t > now - PAIRING_WINDOW_MS);
    if (recent.length === 0) this.pairingFailures.delete(clientKey);
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
    /** Wrong PINs typed on it in the last hour (slow guessing shows here before any lock). */
    wrongPinsLastHour: number;
  }[] {
    const now = this.clock();
    return this.db.data.devices.map((d) => ({
      deviceId: d.deviceId,
      name: d.name,
      pairedAt: d.pairedAt,
      revokedAt: d.revokedAt,
      lastSeenAt: this.lastSeen.get(d.deviceId) ?? null,
      lockedAt: this.db.data.pinGuards[d.deviceId]?.lockedAt ?? null,
      wrongPinsLastHour: inWindow(this.db.data.pinGuards[d.deviceId]?.failures ?? [], now).length,
    }));
  }

  /** The store-wide block, while PIN_FAILURES_PER_STORE wrong PINs in the window stop every tablet. */
  storePinBlock(): StorePinBlock | null {
    const now = this.clock();
    const failures = inWindow(this.db.data.storePinFailures, now).sort();
    if (failures.length < PIN_FAILURES_PER_STORE) return null;
    const firstCounting = failures[failures.length - PIN_FAILURES_PER_STORE]!;
    return {
      since: failures.at(-1)!,
      until: new Date(Date.parse(firstCounting) + PIN_WINDOW_MS).toISOString(),
    };
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
    this.events.checkRecordable?.();
    const revokedAt = this.clock().toISOString();
    await updateSettings(this.db, (data) => {
      const record = data.devices.find((d) => d.deviceId === deviceId);
      if (record) record.revokedAt = revokedAt;
      data.sessions = data.sessions.filter((s) => s.deviceId !== deviceId);
    });
    this.indexSessions();
    this.devicesByToken.delete(device.tokenHash);
    await this.events.deviceRevoked(deviceId);
    for (const listener of this.revokeListeners) listener(deviceId);
  }

  // ---- staff ----

  private pinHmac(pin: string): string {
    return createHmac('sha256', this.db.data.pinSecret).update(pin).digest('hex');
  }

  /** The HMAC of a new PIN for `role`, once it is long enough and nobody else (but `staffId`) has it. */
  private newPinHmac(role: Role, pin: string, staffId: string | null): string {
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
    if (this.db.data.staff.some((s) => s.pinHmac === pinHmac && s.staffId !== staffId)) {
      throw new DomainError('pin_taken', 'Another staff member already has this PIN', undefined, 409);
    }
    return pinHmac;
  }

  async addStaff(name: string, role: Role, pin: string): Promise<StaffView> {
    const pinHmac = this.newPinHmac(role, pin, null);
    const staff: StaffRecord = { staffId: `stf-${randomBytes(4).toString('hex')}`, name, role, pinHmac };
    this.events.checkRecordable?.();
    await updateSettings(this.db, (data) => {
      data.staff.push(staff);
    });
    await this.events.staffAdded(toStaffView(staff));
    return toStaffView(staff);
  }

  private staffRecord(staffId: string): StaffRecord {
    const staff = this.db.data.staff.find((s) => s.staffId === staffId);
    if (!staff) throw new DomainError('not_found', `No staff member ${staffId}`, undefined, 404);
    return staff;
  }

  /**
   * The technician's `ayi set-pin`: a new PIN for a staff member (a manager's or owner's of at least
   * MANAGER_PIN_MIN_DIGITS). Their open sessions end: whoever knew the old PIN is logged out.
   */
  async setPin(staffId: string, pin: string): Promise<StaffView> {
    const staff = this.staffRecord(staffId);
    const pinHmac = this.newPinHmac(staff.role, pin, staffId);
    this.events.checkRecordable?.();
    await updateSettings(this.db, (data) => {
      const record = data.staff.find((s) => s.staffId === staffId);
      if (record) record.pinHmac = pinHmac;
      data.sessions = data.sessions.filter((s) => s.staffId !== staffId);
    });
    this.indexSessions();
    await this.events.staffPinChanged(staffId);
    return toStaffView(staff);
  }

  /** The technician's `ayi remove-staff`: the PIN no longer logs in and open sessions end. Sales keep the name. */
  async removeStaff(staffId: string): Promise<StaffView> {
    const staff = this.staffRecord(staffId);
    this.events.checkRecordable?.();
    await updateSettings(this.db, (data) => {
      data.staff = data.staff.filter((s) => s.staffId !== staffId);
      data.sessions = data.sessions.filter((s) => s.staffId !== staffId);
    });
    this.indexSessions();
    await this.events.staffRemoved(staffId);
    return toStaffView(staff);
  }

  /**
   * Gives the staff member whose PIN is `oldPin` the PIN `newPin` (demo mode: the demo PINs of an
   * older version). Only HMACs are stored, so it is found by the HMAC of the old PIN.
   */
  async replacePin(oldPin: string, newPin: string): Promise<StaffView | null> {
    const oldHmac = this.pinHmac(oldPin);
    const newHmac = this.pinHmac(newPin);
    const staff = this.db.data.staff.find((s) => s.pinHmac === oldHmac);
    if (!staff || this.db.data.staff.some((s) => s.pinHmac === newHmac)) return null;
    await updateSettings(this.db, (data) => {
      const record = data.staff.find((s) => s.staffId === staff.staffId);
      if (record) record.pinHmac = newHmac;
    });
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
   * Opens a staff session on a tablet, replacing the one that staff member had there (one session
   * per staff member per tablet, so security.json does not grow with every log-in).
   */
  async login(deviceId: string, pin: string): Promise<{ staff: StaffView; token: string }> {
    const staff = await this.checkPin(deviceId, pin);
    const token = newToken();
    const now = this.clock();
    const nowIso = now.toISOString();
    const expiresAt = new Date(now.getTime() + SESSION_TTL_MS).toISOString();
    await updateSettings(this.db, (d) => {
      d.sessions = d.sessions.filter(
        (s) => s.expiresAt > nowIso && !(s.staffId === staff.staffId && s.deviceId === deviceId),
      );
      d.sessions.push({ tokenHash: hashToken(token), staffId: staff.staffId, deviceId, expiresAt });
    });
    this.indexSessions();
    return { staff: toStaffView(staff), token };
  }

  /**
   * Who `pin` belongs to, typed on `deviceId` (a manager approving a discount on a cashier's
   * tablet): the same limits as a log-in, without opening a session.
   */
  async verifyPin(deviceId: string, pin: string): Promise<StaffView> {
    return toStaffView(await this.checkPin(deviceId, pin));
  }

  /**
   * The staff member whose PIN this is, through the guard. Every limit is checked, and a wrong PIN
   * recorded, before the first await: requests sent in parallel cannot slip past a limit together.
   */
  private async checkPin(deviceId: string, pin: string): Promise<StaffRecord> {
    const now = this.clock();
    const nowMs = now.getTime();
    const nowIso = now.toISOString();
    const data = this.db.data;
    data.storePinFailures = inWindow(data.storePinFailures, now);
    const guard = data.pinGuards[deviceId];
    if (guard) {
      guard.failures = inWindow(guard.failures, now);
      if (guard.unlockedAt !== null && Date.parse(guard.unlockedAt) > nowMs) {
        // The clock was set back past an unlock: it counts as just before now, with every failure
        // it followed, so the next wrong PIN counts after it.
        const justBefore = new Date(nowMs - 1).toISOString();
        guard.unlockedAt = justBefore;
        guard.failures = guard.failures.map((at) => (at > justBefore ? justBefore : at));
      }
    }

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
      let lockedAt: string | null = null;
      let failuresSinceUnlock = 0;
      let tabletFailures = 0;
      let storeFailures = 0;
      await updateSettingsAtOnce(this.db, (d) => {
        const record = (d.pinGuards[deviceId] ??= { failures: [], lockedAt: null, unlockedAt: null });
        record.failures.push(nowIso);
        d.storePinFailures.push(nowIso);
        failuresSinceUnlock = failuresSince(record);
        tabletFailures = record.failures.length;
        storeFailures = d.storePinFailures.length;
        if (failuresSinceUnlock >= PIN_LOCK_AFTER) record.lockedAt = lockedAt = nowIso;
      });
      // Counts and the tablet only: never the PIN typed, nor whose it might have been.
      const counts = {
        deviceId,
        failuresSinceUnlock,
        tabletFailuresLastHour: tabletFailures,
        storeFailuresLastHour: storeFailures,
      };
      this.log.warn(counts, 'wrong staff PIN');
      if (lockedAt) this.log.warn({ ...counts, lockedAt }, 'tablet locked by wrong PINs');
      const storeBlocked = storeFailures === PIN_FAILURES_PER_STORE;
      if (storeBlocked) {
        this.log.warn(
          { ...counts, until: this.storePinBlock()?.until },
          "store-wide PIN block: the store's limit of wrong PINs in an hour is reached, no PIN is tried on any tablet",
        );
      }
      if (lockedAt || storeBlocked) for (const listener of this.lockListeners) listener();
      if (lockedAt) {
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
    // Wrong PINs stay counted: a right one (perhaps the guesser's own) does not wipe them.
    if (staff.role !== 'cashier' && pin.length < MANAGER_PIN_MIN_DIGITS) {
      // A PIN set before managers' and owners' had to be longer: right, but no longer enough.
      throw new DomainError(
        'pin_change_required',
        `This ${staff.role}'s PIN is shorter than ${MANAGER_PIN_MIN_DIGITS} digits and no longer opens anything: ask the technician to set a new one (ayi set-pin)`,
        { minDigits: MANAGER_PIN_MIN_DIGITS },
        403,
      );
    }
    return staff;
  }

  /**
   * Lifts a PIN lock from a tablet. The wrong PINs stay counted in their hour: an unlocked tablet
   * gets PIN_LOCK_AFTER tries again, never more than PIN_FAILURES_PER_TABLET in an hour.
   * `byDeviceId` is the manager's tablet (null for the technician): a tablet cannot unlock itself.
   */
  async unlock(
    deviceId: string,
    by: { staffId: string; deviceId: string } | null = null,
  ): Promise<{ deviceId: string; wasLocked: boolean }> {
    const byDeviceId = by?.deviceId ?? null;
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
      this.events.checkRecordable?.();
      const unlockedAt = this.clock().toISOString();
      await updateSettings(this.db, (data) => {
        const guard = data.pinGuards[deviceId];
        if (guard) {
          guard.lockedAt = null;
          guard.unlockedAt = unlockedAt;
        }
      });
      for (const listener of this.lockListeners) listener();
      await this.events.deviceUnlocked(deviceId, by);
    }
    return { deviceId, wasLocked };
  }

  /**
   * The technician's last resort (`ayi unlock all`): every tablet unlocked and every wrong PIN
   * forgotten, the store's count included.
   */
  async unlockAll(): Promise<{ unlocked: string[] }> {
    const unlocked = this.lockedTablets().map((t) => t.deviceId);
    if (unlocked.length > 0) this.events.checkRecordable?.();
    await updateSettings(this.db, (data) => {
      data.pinGuards = {};
      data.storePinFailures = [];
    });
    if (unlocked.length > 0) for (const listener of this.lockListeners) listener();
    for (const deviceId of unlocked) await this.events.deviceUnlocked(deviceId, null);
    return { unlocked };
  }

  /** The staff member of a session, if it is valid on this device. */
  authenticateStaff(deviceId: string, token: string | undefined): StaffView | null {
    if (!token) return null;
    const session = this.sessionsByToken.get(hashToken(token));
    if (!session || session.deviceId !== deviceId || session.expiresAt <= this.clock().toISOString()) return null;
    const staff = this.db.data.staff.find((s) => s.staffId === session.staffId);
    return staff ? toStaffView(staff) : null;
  }

  async logout(token: string | undefined): Promise<void> {
    if (!token) return;
    const tokenHash = hashToken(token);
    if (!this.sessionsByToken.has(tokenHash)) return;
    await updateSettings(this.db, (data) => {
      data.sessions = data.sessions.filter((s) => s.tokenHash !== tokenHash);
    });
    this.indexSessions();
  }
}

/** The times (ISO) of the last PIN_WINDOW_MS, oldest first; one later than now counts as now. */
function inWindow(times: string[], now: Date): string[] {
  const windowStart = now.getTime() - PIN_WINDOW_MS;
  return clampTimes(times, now.getTime(), now.toISOString()).filter((at) => Date.parse(at) > windowStart);
}

/** The newest live session of each staff member on each tablet. */
function latestSessions(sessions: SessionRecord[], nowIso: string): SessionRecord[] {
  const latest = new Map<string, SessionRecord>();
  for (const session of sessions) {
    if (session.expiresAt <= nowIso) continue;
    const key = `${session.staffId}\u0000${session.deviceId}`;
    const kept = latest.get(key);
    if (!kept || kept.expiresAt <= session.expiresAt) latest.set(key, session);
  }
  return [...latest.values()];
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
