/**
 * A rule was broken (business or access); `code` is stable (tablets translate it), `message`
 * explains in plain words, `status` is the HTTP status the transport answers with.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** HTTP-ish status the transport should answer with. */
    readonly status: 400 | 401 | 403 | 404 | 409 | 422 | 423 | 429 = 422,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
