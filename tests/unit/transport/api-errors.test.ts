/**
 * Every failure reaches a tablet as one clear API error: a full disk as 507 `storage_full`, a disk
 * that cannot be written as 503 `storage_error`, and a rejection carrying no error at all (null,
 * undefined, a string) as 500 `internal_error`, never a crash inside the error handler itself.
 */
import { describe, expect, it } from 'vitest';
import { toApiError } from '../../../hub/src/transport/http/errors.ts';

describe('toApiError', () => {
  it('answers 500 internal_error for a rejection with no error object', () => {
    for (const value of [null, undefined, 'boom', 42]) {
      expect(toApiError(value)).toMatchObject({ status: 500, body: { error: { code: 'internal_error' } } });
    }
  });

  it('answers 507 storage_full for a full disk and 503 storage_error for a failing one', () => {
    const errno = (code: string) => Object.assign(new Error(code), { code });
    expect(toApiError(errno('ENOSPC'))).toMatchObject({ status: 507, body: { error: { code: 'storage_full' } } });
    expect(toApiError(errno('EIO'))).toMatchObject({ status: 503, body: { error: { code: 'storage_error' } } });
    expect(toApiError(errno('EROFS'))).toMatchObject({ status: 503, body: { error: { code: 'storage_error' } } });
  });
});
