/**
 * Sends a checkout: over the WebSocket when it is up (and bound to this staff member), else
 * POST /api/sales. A lost or late answer on the socket falls back to HTTP with the SAME
 * idempotency key, so the hub answers the sale it already has instead of booking a second one.
 */
import type { CheckoutRequest, SaleView } from '$protocol/api';
import { api, isApiError } from './api';
import { hubSocket } from './hub-socket.svelte';

export interface SubmitResult {
  sale: SaleView;
  replayed: boolean;
  via: 'ws' | 'http';
}

export async function submitCheckout(req: CheckoutRequest, staffId: string | null | undefined): Promise<SubmitResult> {
  if (hubSocket.canCheckoutAs(staffId)) {
    try {
      const r = await hubSocket.checkout(req, 10_000);
      return { sale: r.sale, replayed: r.replayed, via: 'ws' };
    } catch (e) {
      // An uncertain outcome is retried over HTTP with the same key; so is a socket whose staff
      // session has gone (HTTP then either works or sends the tablet to the PIN pad).
      // A definite answer (422, 409, ...) is final.
      if (!(isApiError(e) && (e.uncertain || e.code === 'staff_login_required'))) throw e;
    }
  }
  const sale = await api.post<SaleView>('/api/sales', req, { timeoutMs: 15_000 });
  return { sale, replayed: false, via: 'http' };
}
