/**
 * The counter's words for a refused redemption: a member who owes points (欠點) is told so, with
 * how many, in both languages; otherwise the plain "not enough points".
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiError } from '$lib/api';
import { memberErrorMessage } from '$lib/member-errors';

const texts = (lang: string) =>
  JSON.parse(readFileSync(path.resolve(import.meta.dirname, `../../../ui/src/lib/i18n/${lang}.json`), 'utf8')) as {
    member: { errors: Record<string, string> };
  };

describe('memberErrorMessage', () => {
  it('says the member owes points when points_insufficient carries details.owed > 0', () => {
    const owed = new ApiError('points_insufficient', 'owes 8 points', 422, { balance: 0, owed: 8 });
    expect(memberErrorMessage(owed)).toEqual({ key: 'member.errors.points_owed', values: { owed: 8 } });
    for (const lang of ['zh-TW', 'en']) {
      expect(texts(lang).member.errors.points_owed).toContain('{owed}');
    }
    expect(texts('zh-TW').member.errors.points_owed).toContain('欠');
  });

  it('keeps "not enough points" when nothing is owed', () => {
    for (const details of [{ balance: 3, owed: 0 }, { balance: 3 }, undefined]) {
      const e = new ApiError('points_insufficient', 'not enough', 422, details);
      expect(memberErrorMessage(e)).toEqual({ key: 'member.errors.points_insufficient' });
    }
  });
});
