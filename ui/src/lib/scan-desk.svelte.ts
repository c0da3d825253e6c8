/**
 * What a scanned or typed code does at the counter, and the one-line message under the scan box
 * that says what happened ("added", "unknown code", "member attached"...). Scans are handled one
 * after another, in the order they arrive.
 */
import type { ProductView } from '$protocol/api';
import { cart } from './cart.svelte';
import { catalog } from './catalog.svelte';
import { checkout } from './checkout.svelte';
import type { Message } from './errors';
import { asCouponCode, codeShape, normaliseCode } from './member-codes';
import { memberQuote } from './member-quote.svelte';
import { couponReasonMessage, memberDesk, memberErrorMessage } from './member.svelte';

/** A code the hub might know as a barcode (printable ASCII, no spaces). */
export const CODE_RE = /^[\x21-\x7e]{4,64}$/;

/** ctx: the member and coupon the message was about; it goes when they change. */
export type ScanMessage = { kind: 'ok' | 'error' | 'info'; msg: Message; ctx?: string };

export function memberCtx(): string {
  return `${cart.member?.memberId ?? ''}|${cart.couponCode ?? ''}`;
}

class ScanDesk {
  message = $state<ScanMessage | null>(null);
  #timer: ReturnType<typeof setTimeout> | null = null;
  #chain: Promise<unknown> = Promise.resolve();

  show(msg: ScanMessage, ms = 4000): void {
    this.message = msg;
    if (this.#timer) clearTimeout(this.#timer);
    if (msg.kind !== 'error') this.#timer = setTimeout(() => (this.message = null), ms);
  }

  dismiss(): void {
    this.message = null;
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
  }

  addProduct(p: ProductView): void {
    if (checkout.completed) checkout.startNewSale();
    if (checkout.submitting) {
      this.show({ kind: 'error', msg: { key: 'checkout.busyPaying' } });
      return;
    }
    try {
      const qty = cart.add(p);
      checkout.payError = null;
      this.show({
        kind: 'ok',
        msg:
          qty > 1
            ? { key: 'checkout.addedMore', values: { name: p.name, qty } }
            : { key: 'checkout.added', values: { name: p.name } },
      });
    } catch {
      this.show({ kind: 'error', msg: { key: 'checkout.cartFull' } });
    }
  }

  /** Adds a product after the scans already queued. */
  enqueueProduct(p: ProductView): void {
    this.#chain = this.#chain.then(() => this.addProduct(p)).catch(() => undefined);
  }

  enqueueScan(code: string): void {
    this.#chain = this.#chain.then(() => this.#handleCode(code)).catch(() => undefined);
  }

  /**
   * A code read by a scanner attached to the hub and assigned to this tablet: handled like a
   * keyboard-wedge scan. Such a scanner can also read what a wedge could not type (a long QR code,
   * GS1 separators): that gets the "unknown code" message instead of nothing.
   */
  enqueueHubScan(raw: string): void {
    const code = normaliseCode(raw);
    if (!code) return;
    if (CODE_RE.test(code)) {
      this.enqueueScan(code);
      return;
    }
    // eslint-disable-next-line no-control-regex
    const shown = code.replace(/[\x00-\x1f\x7f]/g, ' ');
    this.#chain = this.#chain.then(() =>
      this.show({
        kind: 'error',
        msg: { key: 'checkout.unknownCode', values: { code: shown.length > 32 ? `${shown.slice(0, 32)}…` : shown } },
      }),
    );
  }

  /**
   * A scanned or typed code, by its shape: a member code or carrier barcode attaches the member;
   * otherwise the catalog (local index, then the hub); a mobile number finds the member. A code
   * with letters that is no product is tried as a coupon; digits that are neither a product nor a
   * mobile number (a landline, part of a number) are reported, never kept as a coupon.
   */
  async #handleCode(raw: string): Promise<void> {
    const code = normaliseCode(raw);
    if (!CODE_RE.test(code)) return;
    const shape = codeShape(code);
    if (shape === 'member' || shape === 'carrier') {
      await this.#handleMemberCode(shape === 'member' ? code.toUpperCase() : code);
      return;
    }
    try {
      await catalog.ensureLoaded().catch(() => undefined);
      const p = await catalog.lookupBarcode(code);
      if (p) {
        this.addProduct(p);
        return;
      }
    } catch (e) {
      this.show({ kind: 'error', msg: { error: e, prefix: { key: 'checkout.lookupFailed', values: { code } } } });
      return;
    }
    if (shape === 'phone') {
      await this.#handleMemberCode(code);
      return;
    }
    const coupon = shape === 'other' && /[A-Za-z]/.test(code) ? asCouponCode(code) : null;
    if (coupon) await this.#handleCouponCode(coupon);
    else this.show({ kind: 'error', msg: { key: 'checkout.unknownCode', values: { code } } });
  }

  /** A member code, carrier barcode or mobile number scanned at the counter. */
  async #handleMemberCode(code: string): Promise<void> {
    if (checkout.completed) checkout.startNewSale();
    if (checkout.submitting) {
      this.show({ ctx: memberCtx(), kind: 'error', msg: { key: 'checkout.busyPaying' } });
      return;
    }
    try {
      const out = await memberDesk.find(code);
      switch (out.type) {
        case 'attached':
          this.show({
            kind: 'ok',
            msg: { key: 'member.scan.attached', values: { name: out.member.name ?? out.member.memberCode } },
          });
          break;
        case 'carrier_unbound':
          this.show({
            kind: 'info',
            msg: { key: cart.member ? 'member.scan.carrierOffer' : 'member.scan.carrierUnbound', values: { code } },
          });
          break;
        case 'pick':
          this.show({ ctx: memberCtx(), kind: 'info', msg: { key: 'member.scan.pick' } });
          break;
        case 'signup':
          this.show({ ctx: memberCtx(), kind: 'info', msg: { key: 'member.scan.signUp' } });
          break;
        default:
          this.show({ ctx: memberCtx(), kind: 'error', msg: { key: 'member.scan.unknownMember', values: { code } } });
          break;
      }
    } catch (e) {
      this.show({ ctx: memberCtx(), kind: 'error', msg: memberErrorMessage(e) });
    }
  }

  /** A code that is no product: tried as a coupon (the cart keeps it only if the hub knows it). */
  async #handleCouponCode(code: string): Promise<void> {
    if (checkout.completed) checkout.startNewSale();
    if (cart.isEmpty) {
      cart.setCoupon(code);
      this.show({ ctx: memberCtx(), kind: 'info', msg: { key: 'member.scan.couponLater', values: { code } } });
      return;
    }
    try {
      const c = await memberQuote.tryCoupon(code);
      if (!c || (!c.ok && c.reason === 'unknown')) {
        this.show({ ctx: memberCtx(), kind: 'error', msg: { key: 'member.scan.unknownCode', values: { code } } });
        return;
      }
      cart.setCoupon(code);
      if (c.ok) {
        this.show({
          ctx: memberCtx(),
          kind: 'ok',
          msg: { key: 'member.scan.couponApplied', values: { name: c.name, code } },
        });
      } else {
        this.show({ ctx: memberCtx(), kind: 'error', msg: couponReasonMessage(c.reason, code) });
      }
    } catch (e) {
      this.show({ ctx: memberCtx(), kind: 'error', msg: memberErrorMessage(e) });
    }
  }
}

export const scanDesk = new ScanDesk();
