/** A route's answer: what a query refuses as bad parameters is a 400 with its reason, never a 500. */
import type { FastifyRequest } from 'fastify';
import { AnalyticsParamError } from '../analytics/params.js';
import { HqError } from '../errors.js';

export function answer<Result>(work: (request: FastifyRequest) => Promise<Result>) {
  return async (request: FastifyRequest) => {
    try {
      return await work(request);
    } catch (err) {
      // The server's error handler answers it in HQ's one error shape: { error, message }.
      if (err instanceof AnalyticsParamError) throw new HqError('bad_request', err.message, 400);
      throw err;
    }
  };
}
