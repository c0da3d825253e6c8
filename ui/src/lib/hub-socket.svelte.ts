/**
 * The tablet's one WebSocket to the hub (`/api/ws` on the page's own host).
 *
 * - reconnects by itself: 250 ms, doubling to 1 s and no more, so the tablet is back within about a
 *   second of the hub (a store's hub is on the LAN: a refused attempt a second costs it nothing);
 *   an attempt that neither opens nor fails (a hub that is off) is given up after 2 s;
 * - exposes reactive `online` (socket open) for the connection indicator;
 * - hands every ServerMessage to its subscribers;
 * - request/response for checkout, matched by requestId, with a timeout;
 * - `reconnect()` after login/logout, because the hub binds the staff session at the handshake;
 * - counts `hello`s (`connections`), and separately the ones after the link was lost
 *   (`reconnections`, `onReconnect(fn)`): whatever happened meanwhile (sales on other tablets) has to
 *   be fetched again. A reconnect on purpose (login, logout) is not one;
 * - `onMemberChanged(fn)`: a member's record changed on the hub, refresh an open member card;
 * - `onScan(fn)`: a hardware scanner assigned to this tablet read a code (the checkout page handles
 *   it like a keyboard-wedge scan).
 */
import type {
  CheckoutRequest,
  ClientMessage,
  ClockState,
  SaleView,
  ServerMessage,
  StaffView,
  StorageState,
} from '$protocol/api';
import { ApiError, NETWORK_ERROR, TIMEOUT, reportAuthFailure } from './api';
import { deviceStore } from './devices.svelte';
import { randomId } from './ids';

export type SocketListener = (msg: ServerMessage) => void;
export type MemberChangedListener = (memberId: string) => void;
export type ScanMessage = Extract<ServerMessage, { type: 'scan' }>;
export type ScanListener = (scan: ScanMessage) => void;

export interface CheckoutResult {
  sale: SaleView;
  replayed: boolean;
}

interface Pending {
  resolve: (r: CheckoutResult) => void;
  reject: (e: ApiError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Close code the hub uses when this device's pairing is revoked. */
const CLOSE_REVOKED = 4401;
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 1_000;
/** An attempt that has neither opened nor failed by then is dropped for a fresh one. */
const CONNECT_TIMEOUT_MS = 2_000;
const HEARTBEAT_MS = 15_000;
/** No message at all for this long (pings included) means the link is dead. */
const SILENCE_LIMIT_MS = 40_000;

/** HTTP status that a REST call would have given for an error code (WS errors carry no status). */
const STATUS_BY_CODE: Record<string, number> = {
  invalid_request: 400,
  device_not_paired: 401,
  staff_login_required: 401,
  role_required: 403,
  not_found: 404,
  conflict: 409,
  idempotency_key_reused: 409,
  too_large: 413,
  insufficient_payment: 422,
  locked_out: 423,
  retry_later: 429,
};

export function socketUrl(loc: Location = location): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/api/ws`;
}

export class HubSocket {
  /** True while the socket is open. */
  online = $state(false);
  /** Staff bound to this socket by the hub (from `hello`); undefined until the first hello. */
  socketStaff = $state<StaffView | null | undefined>(undefined);
  storeId = $state<string | null>(null);
  lastSeq = $state(0);
  /** The hub's data disk as it last said (`full`: sales and changes are refused; the banner shows). */
  storage = $state<StorageState>('ok');
  /** The hub's clock as it last said (`behind`: sales and changes are refused until time sync; a banner shows). */
  clock = $state<ClockState>('ok');
  /** When the next reconnect attempt is due (ms since epoch), for the status tooltip. */
  nextRetryAt = $state<number | null>(null);
  /** How many `hello`s this tablet has had (one per established connection). */
  connections = $state(0);
  /** How many times the link came back after being lost (a `hello` after a drop). */
  reconnections = $state(0);

  #ws: WebSocket | null = null;
  #active = false;
  #backoff = MIN_BACKOFF_MS;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #connectTimer: ReturnType<typeof setTimeout> | null = null;
  /** The link dropped (not closed on purpose) since the last `hello`. */
  #linkLost = false;
  #heartbeat: ReturnType<typeof setInterval> | null = null;
  #lastHeard = 0;
  // Plumbing, not UI state: plain collections on purpose.
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  #listeners = new Set<SocketListener>();
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  #memberListeners = new Set<MemberChangedListener>();
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  #scanListeners = new Set<ScanListener>();
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  #reconnectListeners = new Set<() => void>();
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  #pending = new Map<string, Pending>();
  #windowHooked = false;

  /** Starts (or keeps) the connection. Safe to call more than once. */
  start(): void {
    this.#hookWindow();
    if (this.#active) return;
    this.#active = true;
    this.#backoff = MIN_BACKOFF_MS;
    this.#connect();
  }

  /** Closes the socket and stops reconnecting (e.g. the tablet is not paired). */
  stop(): void {
    this.#active = false;
    this.#linkLost = false;
    this.#clearRetry();
    this.#teardown('stopped');
  }

  /** Drops the current socket and connects again at once (new staff session after login/logout). */
  reconnect(): void {
    this.#active = true;
    this.#hookWindow();
    this.#clearRetry();
    this.#backoff = MIN_BACKOFF_MS;
    this.#teardown('reconnect');
    this.#connect();
  }

  subscribe(fn: SocketListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Called with the memberId of every `member.changed` message. */
  onMemberChanged(fn: MemberChangedListener): () => void {
    this.#memberListeners.add(fn);
    return () => this.#memberListeners.delete(fn);
  }

  /**
   * Called each time the link comes back after being lost, once the hub has said `hello`: what the
   * screen shows may be out of date (pages use `reloadOnReconnect`).
   */
  onReconnect(fn: () => void): () => void {
    this.#reconnectListeners.add(fn);
    return () => this.#reconnectListeners.delete(fn);
  }

  /** Called with every `scan` message (a hub-attached scanner assigned to this tablet). */
  onScan(fn: ScanListener): () => void {
    this.#scanListeners.add(fn);
    return () => this.#scanListeners.delete(fn);
  }

  /** True when a checkout can go over this socket for the given staff member. */
  canCheckoutAs(staffId: string | null | undefined): boolean {
    return (
      this.online &&
      !!staffId &&
      this.socketStaff !== undefined &&
      this.socketStaff !== null &&
      this.socketStaff.id === staffId
    );
  }

  /** Sends a checkout and waits for its `checkout.result` (or `error`) with the same requestId. */
  checkout(sale: CheckoutRequest, timeoutMs = 10_000): Promise<CheckoutResult> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ApiError(NETWORK_ERROR, 'Not connected to the hub', 0));
    }
    const requestId = `co-${randomId(16)}`;
    return new Promise<CheckoutResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new ApiError(TIMEOUT, 'The hub did not answer in time', 0));
      }, timeoutMs);
      this.#pending.set(requestId, { resolve, reject, timer });
      try {
        this.#send({ type: 'checkout', requestId, sale });
      } catch {
        clearTimeout(timer);
        this.#pending.delete(requestId);
        reject(new ApiError(NETWORK_ERROR, 'Could not send to the hub', 0));
      }
    });
  }

  #send(msg: ClientMessage): void {
    this.#ws?.send(JSON.stringify(msg));
  }

  #connect(): void {
    if (!this.#active) return;
    this.nextRetryAt = null;
    let ws: WebSocket;
    try {
      ws = new WebSocket(socketUrl());
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      if (this.#ws !== ws || ws.readyState !== WebSocket.CONNECTING) return;
      this.#linkLost = true;
      this.#teardown('connect timeout');
      this.#scheduleRetry();
    }, CONNECT_TIMEOUT_MS);

    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#clearConnectTimer();
      this.online = true;
      this.#backoff = MIN_BACKOFF_MS;
      this.#lastHeard = Date.now();
      this.#startHeartbeat();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.#ws !== ws) return;
      this.#lastHeard = Date.now();
      let msg: ServerMessage;
      try {
        msg = JSON.parse(String(ev.data)) as ServerMessage;
      } catch {
        return;
      }
      this.#handle(msg);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#clearConnectTimer();
      this.#linkLost = true;
      this.#markOffline('closed');
      if (ev.code === CLOSE_REVOKED) {
        // The owner revoked this tablet: it has to be paired again.
        this.#active = false;
        reportAuthFailure('device_not_paired');
        return;
      }
      this.#scheduleRetry();
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry
    };
  }

  #handle(msg: ServerMessage): void {
    switch (msg.type) {
      case 'hello':
        this.socketStaff = msg.staff;
        this.storeId = msg.storeId;
        this.lastSeq = msg.lastSeq;
        this.storage = msg.storage ?? 'ok';
        this.clock = msg.clock ?? 'ok';
        this.connections += 1;
        if (this.#linkLost) {
          this.#linkLost = false;
          this.reconnections += 1;
          for (const fn of this.#reconnectListeners) {
            try {
              fn();
            } catch (e) {
              console.error('reconnect listener failed', e);
            }
          }
        }
        break;
      case 'storage':
        this.storage = msg.state;
        break;
      case 'clock':
        this.clock = msg.state;
        break;
      case 'sale':
        if (msg.sale.seq > this.lastSeq) this.lastSeq = msg.sale.seq;
        break;
      case 'member.changed':
        for (const fn of this.#memberListeners) {
          try {
            fn(msg.memberId);
          } catch (e) {
            console.error('member listener failed', e);
          }
        }
        break;
      case 'device.status':
        deviceStore.apply(msg.device);
        break;
      case 'scan':
        for (const fn of this.#scanListeners) {
          try {
            fn(msg);
          } catch (e) {
            console.error('scan listener failed', e);
          }
        }
        break;
      case 'checkout.result': {
        const p = this.#pending.get(msg.requestId);
        if (p) {
          this.#pending.delete(msg.requestId);
          clearTimeout(p.timer);
          p.resolve({ sale: msg.sale, replayed: msg.replayed });
        }
        break;
      }
      case 'error': {
        const status = STATUS_BY_CODE[msg.error.code] ?? 0;
        const err = new ApiError(msg.error.code, msg.error.message, status, msg.error.details);
        const p = msg.requestId ? this.#pending.get(msg.requestId) : undefined;
        if (p && msg.requestId) {
          this.#pending.delete(msg.requestId);
          clearTimeout(p.timer);
          p.reject(err);
        }
        if (err.code === 'device_not_paired') reportAuthFailure(err.code);
        break;
      }
      default:
        break;
    }
    for (const fn of this.#listeners) {
      try {
        fn(msg);
      } catch (e) {
        console.error('socket listener failed', e);
      }
    }
  }

  #startHeartbeat(): void {
    this.#stopHeartbeat();
    this.#heartbeat = setInterval(() => {
      const ws = this.#ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.#lastHeard > SILENCE_LIMIT_MS) {
        // Half-open link (Wi-Fi dropped without a close): give up on it and reconnect.
        this.#linkLost = true;
        this.#teardown('silent');
        this.#scheduleRetry();
        return;
      }
      try {
        this.#send({ type: 'ping', requestId: `p-${randomId(8)}` });
      } catch {
        // the close handler deals with it
      }
    }, HEARTBEAT_MS);
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
  }

  #teardown(reason: string): void {
    this.#clearConnectTimer();
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onopen = null;
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = null;
      try {
        ws.close(1000, reason);
      } catch {
        // already closed
      }
    }
    this.#markOffline(reason);
  }

  #markOffline(reason: string): void {
    this.online = false;
    this.socketStaff = undefined;
    this.#stopHeartbeat();
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new ApiError(NETWORK_ERROR, `Connection to the hub lost (${reason})`, 0));
      this.#pending.delete(id);
    }
  }

  #scheduleRetry(): void {
    if (!this.#active || this.#retryTimer) return;
    // Up to a quarter earlier or later at random: a store's tablets dropped by one hub restart do
    // not all knock, and all reload their screens, in the same instant.
    const delay = Math.round(this.#backoff * (0.75 + Math.random() / 2));
    this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
    this.nextRetryAt = Date.now() + delay;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#connect();
    }, delay);
  }

  #clearRetry(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.nextRetryAt = null;
  }

  /** The network came back or the tablet woke up: try now instead of waiting out the backoff. */
  #retrySoon = (): void => {
    if (!this.#active || this.#ws) return;
    this.#clearRetry();
    this.#backoff = MIN_BACKOFF_MS;
    this.#connect();
  };

  #hookWindow(): void {
    if (this.#windowHooked || typeof window === 'undefined') return;
    this.#windowHooked = true;
    window.addEventListener('online', this.#retrySoon);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.#retrySoon();
    });
  }
}

/** The one socket of this tablet. */
export const hubSocket = new HubSocket();
