/**
 * The store's link to HQ (the MQTT outbox), as GET /api/health tells it: link state, broker host,
 * backlog and the age of the oldest event HQ has not acknowledged yet. The top bar polls it every
 * 30 s while a manager or owner is logged in, and on navigation, to raise a warning badge when the
 * backlog is older than the hub's limit; the HQ link page refreshes it every 10 s while open.
 *
 * A hub that does not report `hq` yet gives the state 'unknown' (never an alert).
 */
import { api } from './api';

export type HqLink = 'connected' | 'connecting' | 'disconnected' | 'disabled';
/** What the page shows: the hub's word, or 'unknown' when the hub does not say. */
export type HqLinkShown = HqLink | 'unknown';

export interface HqHealth {
  link: HqLink;
  /** The broker's host name (no credentials); null without a broker configured. */
  brokerHost: string | null;
  /** The last seq HQ acknowledged. */
  deliveredSeq: number;
  /** Events not acknowledged yet. */
  backlog: number;
  /** `at` of the oldest undelivered event; null without a backlog. */
  oldestUndeliveredAt: string | null;
  lastError: string | null;
  alertAfterMinutes: number;
  /** The oldest undelivered event is older than alertAfterMinutes. */
  alert: boolean;
}

export interface HealthWithHq {
  status: string;
  storeId: string;
  chainId?: string;
  version?: string;
  epoch?: string;
  lastSeq?: number;
  undeliveredEvents?: number;
  uptimeSeconds?: number;
  hq?: HqHealth | null;
  /** Why the hub is degraded (storage_full, storage_low, storage_error, journal_damaged, hq_backlog). */
  problems?: string[];
  storage?: { state: 'ok' | 'low' | 'full' | 'error'; freePercent: number | null; daysLeft: number | null };
  /** Seqs the journal lacks (damaged lines): HQ cannot get them from this hub. */
  journal?: { missingSeqs: number[] };
}

const POLL_MS = 30_000;
const LINKS: readonly HqLink[] = ['connected', 'connecting', 'disconnected', 'disabled'];

/** The `hq` object when it is there and looks like the contract; null otherwise. */
function readHq(h: HealthWithHq): HqHealth | null {
  const hq = h.hq;
  if (!hq || typeof hq !== 'object' || !LINKS.includes(hq.link)) return null;
  return hq;
}

/** Whole days, hours and minutes from `fromIso` to `now`; null without a (valid) time. */
export function ageParts(
  fromIso: string | null | undefined,
  now: number,
): { days: number; hours: number; minutes: number } | null {
  if (!fromIso) return null;
  const from = Date.parse(fromIso);
  if (Number.isNaN(from)) return null;
  const totalMinutes = Math.max(0, Math.floor((now - from) / 60_000));
  return {
    days: Math.floor(totalMinutes / 1440),
    hours: Math.floor((totalMinutes % 1440) / 60),
    minutes: totalMinutes % 60,
  };
}

class HqLinkStore {
  health = $state<HealthWithHq | null>(null);
  /** The last failure to read /api/health (null after a good answer). */
  error = $state<unknown>(null);
  loading = $state(false);
  /** When the hub last answered (ms since epoch): ages are counted to this moment. */
  checkedAt = $state<number | null>(null);

  readonly hq: HqHealth | null = $derived(this.health ? readHq(this.health) : null);
  readonly link: HqLinkShown = $derived(this.hq?.link ?? 'unknown');
  readonly alert: boolean = $derived(this.hq?.alert === true);

  #timer: ReturnType<typeof setInterval> | null = null;
  #generation = 0;

  /** Polls every 30 s (and once now); a second call does nothing. */
  start(): void {
    if (this.#timer) return;
    void this.check();
    this.#timer = setInterval(() => void this.check(), POLL_MS);
  }

  /** Stops polling and forgets the state (nobody, or no manager, is logged in). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#generation += 1;
    this.health = null;
    this.error = null;
    this.loading = false;
    this.checkedAt = null;
  }

  /** Reads /api/health once; an answer that comes after stop() is dropped. */
  async check(): Promise<void> {
    const generation = ++this.#generation;
    this.loading = true;
    try {
      const h = await api.get<HealthWithHq>('/api/health', { noAuthRedirect: true, timeoutMs: 5000 });
      if (generation !== this.#generation) return;
      this.health = h;
      this.error = null;
      this.checkedAt = Date.now();
    } catch (e) {
      // Keep the last state (and its badge); the page says the reading failed.
      if (generation === this.#generation) this.error = e;
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
  }
}

export const hqLink = new HqLinkStore();
