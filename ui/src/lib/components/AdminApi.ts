/**
 * Calls for the member profile and the manager pages (members, coupons, outbound messages), typed
 * with the hub's wire types. Personal data (a phone number, a carrier) only ever goes in a body.
 */
import type { SaleView, ServerMessage } from '$protocol/api';
import type {
  ConsentChangeView,
  ConsentChannel,
  CouponCreateRequest,
  CouponView,
  LookupResult,
  MemberCard,
  MemberSummary,
  MessageView,
  PointsLedgerView,
  ProfileUpdate,
  SignUpResult,
} from '$protocol/members';
import { api, isApiError, request } from '$lib/api';
import { describeError } from '$lib/errors';

const m = (memberId: string) => `/api/members/${encodeURIComponent(memberId)}`;

export type MessageCounts = Record<MessageView['status'], number>;

export interface LoyaltyView {
  tiers: { tier: string; name: string; threshold: number; discountPercent: number; pointsMultiplier: number }[];
  amountPerPoint: number;
  pointValue: number;
  maxRedeemPercent: number;
  expiryMonths: number;
  windowMonths: number;
}

export const adminApi = {
  // A name is personal data: the query goes in the body, never in the URL.
  searchMembers: (q: string, limit = 50, offset = 0) =>
    api.post<{ members: MemberSummary[]; total: number }>('/api/members/search', { q: q.trim(), limit, offset }),
  signUp: (phone: string) => api.post<SignUpResult>('/api/members', { phone }),
  lookup: (query: string) => api.post<LookupResult>('/api/members/lookup', { query }),
  card: (memberId: string) => api.get<MemberCard>(`${m(memberId)}/card`),
  update: (memberId: string, body: ProfileUpdate) => request<MemberCard>(m(memberId), { method: 'PATCH', body }),
  setConsent: (memberId: string, channel: ConsentChannel, granted: boolean) =>
    request<MemberCard>(`${m(memberId)}/consent`, { method: 'PUT', body: { channel, granted } }),
  consentHistory: (memberId: string) => api.get<{ history: ConsentChangeView[] }>(`${m(memberId)}/consent-history`),
  addTag: (memberId: string, tag: string) => api.post<MemberCard>(`${m(memberId)}/tags`, { tag }),
  removeTag: (memberId: string, tag: string) => api.post<MemberCard>(`${m(memberId)}/untag`, { tag }),
  tags: () => api.get<{ tags: string[] }>('/api/tags'),
  points: (memberId: string) =>
    api.get<{ balance: number; owed: number; entries: PointsLedgerView[] }>(`${m(memberId)}/points`),
  sales: (memberId: string) => api.get<{ sales: SaleView[] }>(`${m(memberId)}/sales`),
  merge: (fromMemberId: string, intoMemberId: string) =>
    api.post<MemberCard>('/api/members/merge', { fromMemberId, intoMemberId }),
  erase: (memberId: string, confirmMemberCode: string) => api.post<void>(`${m(memberId)}/erase`, { confirmMemberCode }),
  loyalty: () => api.get<LoyaltyView>('/api/loyalty'),
  coupons: () => api.get<{ coupons: CouponView[] }>('/api/coupons'),
  createCoupon: (body: CouponCreateRequest) => api.post<CouponView>('/api/coupons', body),
  /** The newest messages; counts (all messages, not just those listed) when the hub gives them. */
  messages: () => api.get<{ messages: MessageView[]; counts?: MessageCounts; provider?: string }>('/api/messages'),
  retryMessage: (messageId: string) =>
    api.post<MessageView>(`/api/messages/${encodeURIComponent(messageId)}/retry`, {}),
};

type Translate = (id: string, options?: { default?: string; values?: Record<string, string | number> }) => string;

/** An error for these pages: the member/coupon codes under admin.errors first, then the shared ones. */
export function adminError(e: unknown, t: Translate): string {
  if (isApiError(e)) {
    const reason =
      e.code === 'coupon_invalid' && e.details && typeof e.details === 'object' && 'reason' in e.details
        ? String((e.details as { reason: unknown }).reason)
        : null;
    if (reason) {
      const r = t(`admin.couponReasons.${reason}`, { default: '' });
      if (r) return r;
    }
    const own = t(`admin.errors.${e.code}`, { default: '', values: { message: e.message, status: e.status } });
    if (own) return own;
  }
  return describeError(e, t);
}

export function isNotFound(e: unknown): boolean {
  return isApiError(e) && e.status === 404;
}

// Dates are formatted in one place for every page (the store's zone, the UI's language).
export { formatDate, formatDateTime, todayInStore } from '$lib/dates';

// --- devices: printers and scanners (GET /api/hardware and the manager's actions) ---

/** What the hub tells of one printer or scanner (the `device.status` message carries the same). */
export type DeviceStatusView = Extract<ServerMessage, { type: 'device.status' }>['device'];

/** A paired tablet a scanner can be assigned to. */
export interface TabletRef {
  deviceId: string;
  name: string;
  /** Locked by wrong staff PINs since then (a manager on another tablet can unlock it). */
  lockedAt?: string | null;
  /** Wrong staff PINs typed on it in the last hour (slow guessing shows before any lock). */
  wrongPinsLastHour?: number;
}

/** The store's limit of wrong PINs in an hour is reached: no PIN is tried on any tablet until `until`. */
export interface StorePinBlock {
  since: string;
  until: string;
}

export interface HardwareView {
  devices: DeviceStatusView[];
  tablets: TabletRef[];
  /** Set while the store-wide limit of wrong PINs stops every tablet from trying a PIN. */
  storePinBlock?: StorePinBlock | null;
  /** The printer receipts go to, when the hub says which one it is. */
  defaultPrinterId?: string | null;
}

const printer = (deviceId: string) => `/api/hardware/printers/${encodeURIComponent(deviceId)}`;
const scanner = (deviceId: string) => `/api/hardware/scanners/${encodeURIComponent(deviceId)}`;

export const devicesApi = {
  /** Every device with its status, and the paired tablets (cashier and up). */
  list: () => api.get<HardwareView>('/api/hardware'),
  /** Prints a test page (測試頁: Chinese text, a QR code, a barcode) on a printer (manager). */
  testPage: (deviceId: string) => api.post<{ jobId: string }>(`${printer(deviceId)}/test-page`, {}),
  /** Sends a scanner's scans to a paired tablet, or to none (manager). */
  assignScanner: (deviceId: string, tablet: string | null) =>
    request<DeviceStatusView>(`${scanner(deviceId)}/assignment`, { method: 'PUT', body: { deviceId: tablet } }),
  /** Lifts a PIN lock from another tablet (manager). */
  unlockTablet: (deviceId: string) =>
    api.post<{ deviceId: string; wasLocked: boolean }>(`/api/devices/${encodeURIComponent(deviceId)}/unlock`, {}),
};
