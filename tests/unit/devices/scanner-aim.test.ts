import { describe, expect, it } from 'vitest';
import { parseAim, symbologyName } from '../../../hub/src/devices/aim-symbology.ts';

describe('AIM symbology identifiers', () => {
  it('splits a leading identifier off the code', () => {
    expect(parseAim(']E04710000000001')).toEqual({ code: '4710000000001', symbology: ']E0' });
    expect(parseAim(']C1010471000000000117251231')).toEqual({
      code: '010471000000000117251231',
      symbology: ']C1',
    });
    expect(parseAim(']Q1AYI0000000001')).toEqual({ code: 'AYI0000000001', symbology: ']Q1' });
    expect(parseAim(']d2\x1d0104710000000001')).toEqual({ code: '\x1d0104710000000001', symbology: ']d2' });
  });

  it('keeps a code without one as it is', () => {
    expect(parseAim('4710000000001')).toEqual({ code: '4710000000001', symbology: null });
    expect(parseAim('/ABC+1.2')).toEqual({ code: '/ABC+1.2', symbology: null });
    // Not an identifier: no letter, no digit, or nothing after it.
    expect(parseAim(']12345')).toEqual({ code: ']12345', symbology: null });
    expect(parseAim(']EX123')).toEqual({ code: ']EX123', symbology: null });
    expect(parseAim(']E0')).toEqual({ code: ']E0', symbology: null });
    expect(parseAim('')).toEqual({ code: '', symbology: null });
  });

  it('names the common symbologies', () => {
    expect(symbologyName(']E0')).toBe('EAN-13');
    expect(symbologyName(']C1')).toBe('GS1-128');
    expect(symbologyName(']C0')).toBe('Code 128');
    expect(symbologyName(']Q1')).toBe('QR Code');
    expect(symbologyName(']d2')).toBe('GS1 DataMatrix');
    expect(symbologyName(null)).toBeNull();
    expect(symbologyName(']Y9')).toBeNull();
  });
});
