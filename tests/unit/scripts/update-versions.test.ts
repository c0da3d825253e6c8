/** `ayi update` tells a newer release from an older one (a downgrade needs --allow-downgrade). */
import { describe, expect, it } from 'vitest';
import { compareVersions } from '../../../scripts/lib/update.ts';

describe('release versions', () => {
  it('compares each number, not the text', () => {
    expect(compareVersions('0.10.0', '0.9.1')).toBe(1);
    expect(compareVersions('0.2.0', '0.10.0')).toBe(-1);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
  });

  it('puts a pre-release before its release, and orders pre-releases by their numbers', () => {
    expect(compareVersions('0.2.0-rc.1', '0.2.0')).toBe(-1);
    expect(compareVersions('0.2.0', '0.2.0-rc.1')).toBe(1);
    expect(compareVersions('0.2.0-rc.10', '0.2.0-rc.9')).toBe(1);
    expect(compareVersions('0.2.0-rc.1', '0.1.9')).toBe(1);
  });
});
