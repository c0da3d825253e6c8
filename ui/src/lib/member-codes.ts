/**
 * What a scanned or typed code is, by its shape alone (no hub round trip):
 *
 * - `member`: a member card code, `AYI` + 10 digits (the barcode/QR on the member card);
 * - `carrier`: an e-invoice mobile carrier barcode (手機條碼), `/` + 7 of 0-9 A-Z . + -;
 * - `phone`: a Taiwan mobile number 09xxxxxxxx (typed or scanned into the item box);
 * - `barcode`: a retail barcode, all digits, EAN-8 / UPC-A / EAN-13 / GTIN-14 length;
 * - `other`: anything else (a SKU, or a coupon code once it is not a product).
 */
export type CodeShape = 'member' | 'carrier' | 'phone' | 'barcode' | 'other';

export const MEMBER_CODE_RE = /^AYI\d{10}$/;
export const CARRIER_RE = /^\/[0-9A-Z.+-]{7}$/;
const TW_MOBILE_RE = /^09\d{8}$/;
const RETAIL_BARCODE_RE = /^(?:\d{8}|\d{12,14})$/;
/** What the hub accepts as a coupon code (CheckoutRequest.couponCode). */
export const COUPON_CODE_RE = /^[A-Za-z0-9-]{3,20}$/;

/** Full-width characters (from a Chinese IME) as ASCII, no spaces; letters upper-case for codes. */
export function normaliseCode(raw: string): string {
  return raw.normalize('NFKC').replace(/\s+/g, '').trim();
}

export function codeShape(raw: string): CodeShape {
  const code = normaliseCode(raw);
  const upper = code.toUpperCase();
  if (MEMBER_CODE_RE.test(upper)) return 'member';
  // Carrier barcodes are upper-case by definition; a scanner with caps lock off still sends them so.
  if (CARRIER_RE.test(code)) return 'carrier';
  const digits = code.replace(/[-()]/g, '');
  if (TW_MOBILE_RE.test(digits)) return 'phone';
  if (RETAIL_BARCODE_RE.test(code)) return 'barcode';
  return 'other';
}

/** A code that may be tried as a coupon (upper-cased, as the hub stores shared codes). */
export function asCouponCode(raw: string): string | null {
  const code = normaliseCode(raw).toUpperCase();
  return COUPON_CODE_RE.test(code) ? code : null;
}

/**
 * Lookup input at the member box: what it looks like, to decide when to ask the hub.
 * 3-4 digits are "last digits", 10 digits starting 09 or + and 8+ digits a full number.
 */
export function lookupLooksComplete(raw: string): boolean {
  const q = normaliseCode(raw);
  if (MEMBER_CODE_RE.test(q.toUpperCase()) || CARRIER_RE.test(q)) return true;
  const digits = q.replace(/[-()]/g, '');
  if (/^\d{3,4}$/.test(digits)) return true;
  if (TW_MOBILE_RE.test(digits)) return true;
  return /^\+\d{8,15}$/.test(digits);
}
