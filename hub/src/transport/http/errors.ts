/** One error shape for every API answer: `{error: {code, message, details?}}`. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.js';
import type { ApiError } from '../../protocol/api.js';
import { isDiskFull, isStorageError } from '../../storage/storage-monitor.js';
import { isClockBehind } from '../../storage/clock-guard.js';

export function apiError(code: string, message: string, details?: unknown): ApiError {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

export function toApiError(err: unknown): { status: number; body: ApiError } {
  if (err instanceof DomainError) return { status: err.status, body: apiError(err.code, err.message, err.details) };
  // Something rejected with no error at all (null, a string): still one clear answer, never a crash here.
  if (typeof err !== 'object' || err === null) return internalError();
  // The disk refused the write: nothing was recorded, and the hub keeps serving what it has.
  if (isDiskFull(err)) {
    return {
      status: 507,
      body: apiError('storage_full', "The box's storage is full: nothing was saved. Call support to free space."),
    };
  }
  if (isStorageError(err)) {
    return {
      status: 503,
      body: apiError('storage_error', "The box's storage cannot be written: nothing was saved. Call support."),
    };
  }
  // The clock is behind the journal's last event (no time sync yet): nothing is written into the past.
  if (isClockBehind(err)) {
    return {
      status: 503,
      body: apiError(
        'clock_behind',
        "The box's clock is behind its last recorded sale: nothing was saved. Check its network so it can set the time, or call support.",
        { now: err.now, lastEventAt: err.lastEventAt },
      ),
    };
  }
  const e = err as FastifyError & { validation?: { instancePath: string; message?: string; params?: unknown }[] };
  if (e.validation) {
    const details = e.validation.map((v) => ({
      field: `${e.validationContext ?? 'body'}${v.instancePath.replaceAll('/', '.')}`,
      problem: v.message ?? 'is invalid',
      ...(v.params && typeof v.params === 'object' && 'additionalProperty' in v.params
        ? { property: (v.params as { additionalProperty: string }).additionalProperty }
        : {}),
    }));
    const first = details[0];
    const message = first
      ? `${first.field} ${first.problem}${'property' in first ? ` (${String(first.property)})` : ''}`
      : 'Invalid request';
    return { status: 400, body: apiError('invalid_request', message, details) };
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: apiError('too_large', 'The request body is too large') };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        body: apiError('unsupported_media_type', 'Send application/json (text/csv for catalog imports)'),
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: apiError('invalid_request', 'The request body is empty') };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: apiError('invalid_json', 'The request body is not valid JSON') };
  }
  if (e instanceof SyntaxError || e.statusCode === 400) {
    return { status: 400, body: apiError('invalid_json', 'The request body is not valid JSON') };
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: apiError('bad_request', e.message) };
  }
  return internalError();
}

function internalError(): { status: number; body: ApiError } {
  return {
    status: 500,
    body: apiError('internal_error', 'Something went wrong in the hub; the request was not completed'),
  };
}

export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body } = toApiError(err);
  if (status >= 500) request.log.error({ err }, 'request failed');
  if (status === 429) {
    const seconds = (body.error.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (seconds) void reply.header('retry-after', String(seconds));
  }
  return reply.code(status).send(body);
}
