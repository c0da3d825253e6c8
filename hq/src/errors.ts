/** A refusal with a reason a person can act on: its code and HTTP status for the API, its message for people. */
export class HqError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'HqError';
  }
}
