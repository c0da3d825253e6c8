/**
 * Mobile numbers at the counter: Taiwan numbers as staff type them (0912-345-678), international
 * numbers in E.164. Validated with libphonenumber-js's full metadata, which knows which ranges are
 * mobile. Pure.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { DomainError } from './errors.js';

export interface MobileNumber {
  /** +886912345678 */
  e164: string;
  /** How staff write it: 0912345678 for Taiwan, +14155552671 otherwise. */
  display: string;
}

/** Reads a typed number or explains what is wrong with it. */
export function parseMobile(text: string): MobileNumber {
  const trimmed = text.trim();
  const parsed = parsePhoneNumberFromString(trimmed, 'TW');
  if (!parsed || !parsed.isValid()) {
    throw new DomainError(
      'invalid_phone',
      /^[0-9 -]+$/.test(trimmed) && !trimmed.replace(/\D/g, '').startsWith('09')
        ? 'A Taiwan mobile number has 10 digits and starts with 09 (e.g. 0912345678); for another country start with +'
        : 'Not a valid mobile number: Taiwan numbers are 09xxxxxxxx, others start with + and the country code',
    );
  }
  const type = parsed.getType();
  if (parsed.country === 'TW' ? type !== 'MOBILE' : type !== undefined && !type.includes('MOBILE')) {
    throw new DomainError('invalid_phone', 'This is a landline number; members sign up with a mobile number');
  }
  return { e164: parsed.number, display: displayPhone(parsed.number) };
}

/** How a number is written at the counter: 0912345678 for Taiwan, other countries in E.164. */
export function displayPhone(e164: string): string {
  return e164.startsWith('+886') ? `0${e164.slice(4)}` : e164;
}

/** True when the text could be meant as a whole number (rather than its last digits). */
export function looksLikeWholeNumber(text: string): boolean {
  const digits = text.replace(/[\s()-]/g, '');
  return digits.startsWith('+') || digits.length >= 8;
}

/**
 * 09*****678 (or +886******678): the last three digits, enough to confirm with the customer. Five
 * or more hidden digits, so guessing the rest by trying lookups would take 100,000 tries.
 */
export function maskPhone(phone: string): string {
  const keep = phone.startsWith('+') ? 4 : 2;
  if (phone.length <= keep + 3) return '*'.repeat(phone.length);
  return `${phone.slice(0, keep)}${'*'.repeat(phone.length - keep - 3)}${phone.slice(-3)}`;
}

/** The digits a customer says at the counter: "the last four are 5678". */
export function lastDigits(e164: string, count: 3 | 4): string {
  return e164.slice(-count);
}
