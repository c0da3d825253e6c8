/**
 * Who this tablet is (paired device) and who is at the counter (staff session), from GET /api/me.
 * The tokens themselves live in HttpOnly cookies that the UI never sees.
 */
import type { Role, StaffView } from '$protocol/api';
import { ApiError, api, isApiError } from './api';
import { hubSocket } from './hub-socket.svelte';
import { setStoreTimeZone } from './store-zone';

export interface DeviceInfo {
  deviceId: string;
  name: string;
}

export interface MeResponse {
  device: DeviceInfo;
  staff: StaffView | null;
  storeId: string;
  storeName?: string;
  /** The store's IANA time zone: every date on screen is the store's, not the tablet's. */
  timeZone?: string;
}

export interface HealthResponse {
  status: string;
  storeId: string;
  chainId?: string;
  version?: string;
}

export type SessionState = 'unpaired' | 'login' | 'ready';

const MANAGER_ROLES: readonly Role[] = ['manager', 'owner'];

class Session {
  /** GET /api/me has answered at least once. */
  loaded = $state(false);
  paired = $state(false);
  device = $state<DeviceInfo | null>(null);
  staff = $state<StaffView | null>(null);
  storeId = $state<string | null>(null);
  storeName = $state<string | null>(null);
  /** Last failure to reach the hub at all (not 401s). */
  loadError = $state<ApiError | null>(null);

  readonly state: SessionState = $derived(!this.paired ? 'unpaired' : this.staff ? 'ready' : 'login');
  readonly isManager: boolean = $derived(!!this.staff && MANAGER_ROLES.includes(this.staff.role));

  #inflight: Promise<SessionState> | null = null;

  /** Asks the hub who we are. Network failures leave the previous state and set loadError. */
  refresh(fetchFn?: typeof fetch): Promise<SessionState> {
    this.#inflight ??= this.#refresh(fetchFn).finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  async #refresh(fetchFn?: typeof fetch): Promise<SessionState> {
    try {
      const me = await api.get<MeResponse>('/api/me', { noAuthRedirect: true, timeoutMs: 8000, fetch: fetchFn });
      this.paired = true;
      this.device = me.device;
      this.staff = me.staff;
      this.storeId = me.storeId;
      this.storeName = me.storeName ?? null;
      setStoreTimeZone(me.timeZone);
      this.loadError = null;
    } catch (e) {
      if (isApiError(e) && e.status === 401) {
        this.markUnpaired();
        this.loadError = null;
        void this.loadStoreId();
      } else {
        this.loadError = isApiError(e) ? e : new ApiError('network_error', String(e), 0);
        this.loaded = true;
        throw this.loadError;
      }
    }
    this.loaded = true;
    return this.state;
  }

  /** Store id for the top bar before pairing (GET /api/health needs no auth). */
  async loadStoreId(): Promise<void> {
    if (this.storeId) return;
    try {
      const h = await api.get<HealthResponse>('/api/health', { noAuthRedirect: true, timeoutMs: 5000 });
      this.storeId = h.storeId;
    } catch {
      // not important
    }
  }

  markUnpaired(): void {
    this.paired = false;
    this.device = null;
    this.staff = null;
    this.loaded = true;
  }

  markPaired(device: DeviceInfo): void {
    this.paired = true;
    this.device = device;
    this.staff = null;
    this.loaded = true;
  }

  markLoggedOut(): void {
    this.staff = null;
  }

  async login(pin: string): Promise<StaffView> {
    const res = await api.post<{ staff: StaffView }>('/api/session', { pin }, { noAuthRedirect: true });
    this.staff = res.staff;
    this.paired = true;
    // The hub binds the staff session to the socket at the handshake.
    hubSocket.reconnect();
    return res.staff;
  }

  async logout(): Promise<void> {
    try {
      await api.del('/api/session', { noAuthRedirect: true, timeoutMs: 8000 });
    } catch (e) {
      // Not logged out on the hub (e.g. offline): say so rather than pretend.
      if (!(isApiError(e) && e.status === 401)) throw e;
    }
    this.staff = null;
    hubSocket.reconnect();
  }
}

export const session = new Session();
