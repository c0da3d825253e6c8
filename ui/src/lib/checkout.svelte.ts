/**
 * The payment of the sale in progress: the tender, the cash received, the totals the pay button
 * charges (from the hub's quote when a member, coupon or points are involved), the submit with its
 * retry and manager-approval paths, and the completed sale until "new sale".
 *
 * The checkout's panels (totals, tender, pay bar, receipt) all read this one state, so the amount
 * on the pay button is the amount charged whichever panel changed it.
 */
import type { DiscountOverLimit, SaleView, TenderType } from '$protocol/api';
import { isApiError } from './api';
import { cart, type CartMember } from './cart.svelte';
import type { Message } from './errors';
import { memberQuote } from './member-quote.svelte';
import { memberDesk, memberErrorMessage } from './member.svelte';
import { salesStore } from './sales.svelte';
import { session } from './session.svelte';
import { submitCheckout } from './submit';

export const TENDERS: TenderType[] = ['cash', 'card', 'linepay', 'jkopay'];

class CheckoutFlow {
  tender = $state<TenderType>('cash');
  /** Cash typed by the cashier; empty means "the exact amount". */
  cashText = $state('');
  submitting = $state(false);
  payError = $state<{ msg: Message; uncertain: boolean; keyReused: boolean } | null>(null);
  completed = $state<SaleView | null>(null);
  /** The member of the completed sale (the cart is reset by then). */
  completedMember = $state<CartMember | null>(null);
  /** Discounts over the owner's limit the hub refused without a manager's approval: the PIN dialog is open. */
  approvalFor = $state<DiscountOverLimit[] | null>(null);

  readonly totals = $derived(cart.totals);
  /** A member, coupon or points are involved: the hub's quote gives the totals. */
  readonly quoteActive = $derived(cart.needsQuote && !cart.isEmpty);
  /** The quote shown (possibly for the cart a moment ago, while the new one is on its way). */
  readonly shownQuote = $derived(this.quoteActive ? memberQuote.quote : null);
  readonly quoteReady = $derived(!this.quoteActive || memberQuote.fresh);
  readonly couponRefused = $derived(!!this.shownQuote?.coupon && !this.shownQuote.coupon.ok && memberQuote.fresh);
  readonly total = $derived(this.shownQuote ? this.shownQuote.total : this.totals.total);
  readonly #cashEntered = $derived(Number.parseInt(this.cashText.replace(/\D/g, ''), 10));
  readonly cashAmount = $derived(Number.isFinite(this.#cashEntered) ? this.#cashEntered : this.total);
  readonly tendered = $derived(this.tender === 'cash' ? this.cashAmount : this.total);
  readonly change = $derived(this.tender === 'cash' ? Math.max(0, this.cashAmount - this.total) : 0);
  readonly short = $derived(this.tender === 'cash' && this.cashAmount < this.total);
  readonly canPay = $derived(
    !cart.isEmpty &&
      cart.problems.length === 0 &&
      this.total >= 1 &&
      !this.submitting &&
      !this.short &&
      this.tendered >= 1 &&
      this.quoteReady &&
      !this.couponRefused,
  );

  selectTender(t: TenderType): void {
    this.tender = t;
    this.payError = null;
  }

  setCash(n: number): void {
    this.cashText = String(n);
    this.payError = null;
  }

  async pay(): Promise<void> {
    if (!this.canPay) return;
    const req = cart.toRequest([{ type: this.tender, amount: this.tendered }]);
    this.submitting = true;
    this.payError = null;
    try {
      const r = await submitCheckout(req, session.staff?.id);
      this.completedMember = cart.member ? { ...cart.member } : null;
      this.completed = r.sale;
      salesStore.upsert(r.sale);
      cart.reset();
      memberDesk.clear();
      this.cashText = '';
      this.tender = 'cash';
    } catch (e) {
      const keyReused = isApiError(e) && e.code === 'idempotency_key_reused';
      if (isApiError(e) && (e.code === 'discount_approval_required' || e.code === 'discount_approval_invalid')) {
        // A manager types their PIN here; the sale is sent again once they approve.
        cart.markNotBooked();
        const details = e.details as { discountsOverLimit?: DiscountOverLimit[] } | undefined;
        this.approvalFor = details?.discountsOverLimit ?? this.shownQuote?.discountsOverLimit ?? [];
        return;
      }
      // A definite refusal (not a lost answer, not "key already used"): nothing was booked.
      if (isApiError(e) && !e.uncertain && !keyReused) cart.markNotBooked();
      // The coupon or the points were refused: show the quote again with the reason.
      if (isApiError(e) && (e.code === 'coupon_invalid' || e.code.startsWith('points_'))) memberQuote.retry();
      this.payError = {
        msg: keyReused ? { key: 'checkout.keyReused' } : memberErrorMessage(e),
        uncertain: isApiError(e) && e.uncertain,
        keyReused,
      };
    } finally {
      this.submitting = false;
    }
  }

  approved(token: string, approverName: string): void {
    cart.setApproval(token, approverName);
    this.approvalFor = null;
    void this.pay();
  }

  /** After a "key already used" answer: the cashier checked the history and wants to charge this cart anew. */
  resendAsNew(): void {
    cart.renewKey();
    this.payError = null;
  }

  /** Forgets the payment in progress (the cart has been emptied, parked or resumed). */
  resetPayment(): void {
    this.approvalFor = null;
    this.cashText = '';
    this.tender = 'cash';
    this.payError = null;
  }

  /** Empties the cart and the screen for the next customer. */
  startNewSale(): void {
    this.completed = null;
    this.completedMember = null;
    cart.reset();
    memberDesk.clear();
    this.resetPayment();
  }
}

export const checkout = new CheckoutFlow();
