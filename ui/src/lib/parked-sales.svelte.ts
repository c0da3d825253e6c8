/**
 * Sales parked at this counter: when the staff member whose sale is on screen logs out (or their
 * session ends, or someone else logs in on this tablet), the sale in progress is put aside under
 * their name and the screen starts empty. Only they, or a manager, see and resume it; nobody else
 * sees its lines or its customer by logging in.
 *
 * Parked sales live in this tablet's storage, like the cart itself: a parked sale is a draft of
 * this counter (its customer is standing here), it keeps its idempotency key (a sale that was
 * already sent is never booked twice when resumed), and it holds no phone number (the cart keeps
 * none). Keeping drafts off the hub means no new API, journal events or personal data there for
 * something that never became a sale.
 */
import type { StaffView } from '$protocol/api';
import { cart, checkSaved, type SavedCart } from './cart.svelte';
import { checkout } from './checkout.svelte';
import { memberDesk } from './member.svelte';
import { scanDesk } from './scan-desk.svelte';

export interface ParkedSale {
  id: string;
  /** Who parked it: only they or a manager resume it. */
  staffId: string;
  staffName: string;
  parkedAt: string;
  cart: SavedCart;
}

const STORAGE_KEY = 'ayi.parked';
/** A counter rarely has more than one or two; the oldest goes beyond this. */
const MAX_PARKED = 20;

function loadParked(): ParkedSale[] {
  try {
    const raw = typeof localStorage === 'undefined' ? null : localStorage.getItem(STORAGE_KEY);
    const list = raw ? (JSON.parse(raw) as ParkedSale[]) : [];
    if (!Array.isArray(list)) return [];
    return list.flatMap((p) => {
      const saved = checkSaved(p?.cart);
      return saved && typeof p.staffId === 'string' && typeof p.id === 'string'
        ? [
            {
              id: p.id,
              staffId: p.staffId,
              staffName: String(p.staffName ?? ''),
              parkedAt: String(p.parkedAt),
              cart: saved,
            },
          ]
        : [];
    });
  } catch {
    return [];
  }
}

class ParkedSales {
  list = $state<ParkedSale[]>(loadParked());
  /** The last staff member seen logged in, by id and name: the owner of what is parked at logout. */
  #lastStaff: { id: string; name: string } | null = null;

  #save(): void {
    try {
      if (this.list.length === 0) localStorage.removeItem(STORAGE_KEY);
      else localStorage.setItem(STORAGE_KEY, JSON.stringify($state.snapshot(this.list)));
    } catch {
      // storage full or unavailable: parked sales then last until a reload
    }
  }

  /** The parked sales `staff` may resume: their own, or all of them for a manager. */
  resumableBy(staff: StaffView | null): ParkedSale[] {
    if (!staff) return [];
    const manager = staff.role === 'manager' || staff.role === 'owner';
    return this.list.filter((p) => manager || p.staffId === staff.id);
  }

  /** How many parked sales belong to others (shown as a count, nothing more). */
  othersCount(staff: StaffView | null): number {
    return this.list.length - this.resumableBy(staff).length;
  }

  /**
   * Who is logged in changed (or the session was read): a sale on screen that is not theirs is
   * parked under its owner, and the screen is cleared. A sale with no owner yet becomes theirs.
   */
  staffChanged(staff: StaffView | null): void {
    const ownerId = cart.ownerId;
    const lastSeen = this.#lastStaff;
    if (staff) this.#lastStaff = { id: staff.id, name: staff.name };
    if (staff && !ownerId) {
      cart.setOwner(staff.id);
      return;
    }
    if (staff && ownerId === staff.id) return;
    // Someone else (or nobody) is at the counter now: nothing of the last sale stays on screen.
    if (checkout.completed) checkout.startNewSale();
    scanDesk.dismiss();
    if (cart.inProgress && ownerId) {
      // The name as last seen on this tablet (unknown after a reload, when only the id is kept).
      const name = lastSeen?.id === ownerId ? lastSeen.name : '';
      this.#park(ownerId, name);
    }
    cart.setOwner(staff?.id ?? null);
  }

  #park(staffId: string, staffName: string): void {
    const parked: ParkedSale = {
      id: cart.key,
      staffId,
      staffName,
      parkedAt: new Date().toISOString(),
      cart: cart.snapshot(),
    };
    this.list = [...this.list.filter((p) => p.id !== parked.id), parked].slice(-MAX_PARKED);
    this.#save();
    cart.reset();
    memberDesk.clear();
    checkout.resetPayment();
  }

  /** Puts a parked sale back on screen for `staff`; what was on screen is parked in its place. */
  resume(id: string, staff: StaffView): boolean {
    const parked = this.resumableBy(staff).find((p) => p.id === id);
    if (!parked || checkout.submitting) return false;
    if (checkout.completed) checkout.startNewSale();
    if (cart.inProgress) this.#park(staff.id, staff.name);
    this.list = this.list.filter((p) => p.id !== id);
    this.#save();
    memberDesk.clear();
    checkout.resetPayment();
    cart.restore(parked.cart, staff.id);
    if (cart.member) memberDesk.attach(cart.member);
    return true;
  }
}

export const parkedSales = new ParkedSales();
