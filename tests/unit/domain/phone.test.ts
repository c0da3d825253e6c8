/**
 * Mobile numbers as staff type them at the counter: Taiwan numbers in every usual spelling, other
 * countries in E.164; landlines and short numbers are refused with `invalid_phone`.
 */
import { describe, expect, it } from 'vitest';
import { lastDigits, looksLikeWholeNumber, maskPhone, parseMobile } from '../../../hub/src/domain/phone.ts';
import { DomainError } from '../../../hub/src/domain/errors.ts';

function domainError(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  }
  throw new Error('expected a DomainError, nothing was thrown');
}

describe('parseMobile: Taiwan numbers', () => {
  it.each([
    ['0912345678'],
    ['0912-345-678'],
    ['0912 345 678'],
    ['+886 912 345 678'],
    ['+886912345678'],
    ['886912345678'],
    ['  0912345678  '],
  ])('reads %j as +886912345678, shown as 0912345678', (typed) => {
    // The national number is 912345678 (the trunk 0 dropped); E.164 adds +886; staff write 0 + national.
    expect(parseMobile(typed)).toEqual({ e164: '+886912345678', display: '0912345678' });
  });

  it('reads another Taiwan mobile range (09 followed by 8 digits)', () => {
    expect(parseMobile('0987-654-321')).toEqual({ e164: '+886987654321', display: '0987654321' });
  });
});

describe('parseMobile: international numbers', () => {
  it('keeps an international mobile in E.164, also for display', () => {
    // Japan mobile 090-1234-5678 -> +81 90 1234 5678
    expect(parseMobile('+81 90-1234-5678')).toEqual({ e164: '+819012345678', display: '+819012345678' });
  });

  it('accepts a number whose type the metadata cannot tell apart (US fixed line or mobile)', () => {
    // US numbers are FIXED_LINE_OR_MOBILE: the type includes MOBILE, so it is accepted
    expect(parseMobile('+1 415 555 2671')).toEqual({ e164: '+14155552671', display: '+14155552671' });
  });

  it('refuses an international landline', () => {
    // +81 3-1234-5678 is a Tokyo fixed line
    const err = domainError(() => parseMobile('+81 3-1234-5678'));
    expect(err.code).toBe('invalid_phone');
    expect(err.message).toMatch(/landline/);
  });
});

describe('parseMobile: refusals', () => {
  it('refuses a Taiwan landline with invalid_phone, saying it is a landline', () => {
    // 02-2345-6789: a valid Taipei fixed-line number, not a mobile
    const err = domainError(() => parseMobile('02-2345-6789'));
    expect(err.code).toBe('invalid_phone');
    expect(err.message).toMatch(/landline/);
  });

  it('refuses a number one digit short, explaining the Taiwan format', () => {
    // 091234567: 9 digits
    const err = domainError(() => parseMobile('091234567'));
    expect(err.code).toBe('invalid_phone');
    expect(err.message).toMatch(/09/);
  });

  it('refuses far too short a number and text that is not a number', () => {
    for (const text of ['12345', '', 'abc', '+886']) {
      expect(domainError(() => parseMobile(text)).code, text).toBe('invalid_phone');
    }
  });

  it('refuses a number one digit too long', () => {
    expect(domainError(() => parseMobile('09123456789')).code).toBe('invalid_phone');
  });
});

describe('masking and last digits', () => {
  it('shows only 09 and the last three digits of a Taiwan number', () => {
    // 0912345678: "09", 5 hidden, "678"
    expect(maskPhone('0912345678')).toBe('09*****678');
  });

  it('keeps the country code of an international number and hides all but the last three', () => {
    // +14155552671 (12 characters): "+141", 5 hidden, "671"; +886912345678: "+886", 6 hidden, "678"
    expect(maskPhone('+14155552671')).toBe('+141*****671');
    expect(maskPhone('+886912345678')).toBe('+886******678');
  });

  it('hides a very short text completely', () => {
    expect(maskPhone('12345')).toBe('*****');
    expect(maskPhone('')).toBe('');
  });

  it('gives the last 3 or 4 digits of an E.164 number', () => {
    expect(lastDigits('+886912345678', 4)).toBe('5678');
    expect(lastDigits('+886912345678', 3)).toBe('678');
  });
});

describe('looksLikeWholeNumber', () => {
  it('tells a whole number from its last digits', () => {
    expect(looksLikeWholeNumber('5678')).toBe(false);
    expect(looksLikeWholeNumber('678')).toBe(false);
    // 8 digits or more once spaces and dashes are gone
    expect(looksLikeWholeNumber('0912-345-678')).toBe(true);
    expect(looksLikeWholeNumber('1234 5678')).toBe(true);
    expect(looksLikeWholeNumber('+1')).toBe(true);
  });
});
