/**
 * Totals from the hub (POST /api/sales/quote) whenever a member, a coupon or points are involved:
 * the member's tier discount, the coupon (or why it was refused), points off, what the member
 * earns. The tablet cannot work these out alone (tiers, coupon rules and balances live on the hub).
 *
 * `update(req)` is called with the cart's quote request whenever the cart changes; requests are
 * debounced and answers to older requests are dropped. `fresh` says the quote shown is for the
 * cart as it is now: the pay button waits for it, so the amount charged is the one on screen.
 */
import type { QuoteRequest, QuoteView } from '$protocol/api';
import { api, isApiError } from './api';
import { cart } from './cart.svelte';
import { hubSocket } from './hub-socket.svelte';

const DEBOUNCE_MS = 200;

function keyOf(req: QuoteRequest | null): string {
  return req ? JSON.stringify(req) : '';
}

class MemberQuote {
  quote = $state<QuoteView | null>(null);
  /** The request the quote shown answers. */
  quotedKey = $state('');
  /** The request the cart needs quoted now. */
  wantedKey = $state('');
  loading = $state(false);
  error = $state<unknown>(null);

  readonly fresh = $derived(this.wantedKey !== '' && this.quotedKey === this.wantedKey && !!this.quote);

  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor() {
    // A quote the hub could not be asked for while it was down: ask now.
    hubSocket.onReconnect(() => {
      if (this.error) this.retry();
    });
  }

  /** The cart changed: quote it (soon), or forget the quote when no quote is needed. */
  update(req: QuoteRequest | null, needed: boolean): void {
    const key = needed ? keyOf(req) : '';
    if (key === this.wantedKey && (this.fresh || this.loading)) return;
    this.wantedKey = key;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (!key || !req) {
      this.#seq++;
      this.quote = null;
      this.quotedKey = '';
      this.loading = false;
      this.error = null;
      return;
    }
    this.loading = true;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#fetch(req, key);
    }, DEBOUNCE_MS);
  }

  /** Asks again now (after an error). */
  retry(): void {
    const req = cart.quoteRequest();
    this.wantedKey = '';
    this.update(req, cart.needsQuote);
  }

  async #fetch(req: QuoteRequest, key: string): Promise<void> {
    const seq = ++this.#seq;
    this.loading = true;
    try {
      const q = await api.post<QuoteView>('/api/sales/quote', req, { timeoutMs: 8000 });
      if (seq !== this.#seq) return;
      this.quote = q;
      this.quotedKey = key;
      this.error = null;
      // More points asked for than this cart may take (balance or the store's cap): take the most.
      if (req.redeemPoints && q.maxRedeemablePoints < req.redeemPoints) cart.setRedeemPoints(q.maxRedeemablePoints);
    } catch (e) {
      if (seq !== this.#seq) return;
      if (isApiError(e) && e.code.startsWith('points_') && req.redeemPoints) {
        // The hub refuses the points outright: learn the most it allows from a quote without them.
        const { redeemPoints: _asked, ...rest } = req;
        void _asked;
        try {
          const q = await api.post<QuoteView>('/api/sales/quote', rest, { timeoutMs: 8000 });
          if (seq !== this.#seq) return;
          cart.setRedeemPoints(q.maxRedeemablePoints < req.redeemPoints ? q.maxRedeemablePoints : 0);
          return;
        } catch {
          // fall through: show the first error
        }
      }
      this.error = e;
      this.quote = null;
      this.quotedKey = '';
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }

  /** A trial quote for a scanned code as a coupon, without touching the cart. */
  async tryCoupon(code: string): Promise<QuoteView['coupon']> {
    const req = cart.quoteRequest();
    if (!req) return null;
    const q = await api.post<QuoteView>(
      '/api/sales/quote',
      { ...req, couponCode: code, redeemPoints: undefined },
      { timeoutMs: 8000 },
    );
    return q.coupon;
  }
}

export const memberQuote = new MemberQuote();
