/** A route's answer: what a query refuses as bad parameters is a 400 with its reason, never a 500. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AnalyticsParamError } from '../analytics/params.js';

export function answer<Result>(work: (request: FastifyRequest) => Promise<Result>) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      return await work(request);
    } catch (err) {
      if (!(err instanceof AnalyticsParamError)) throw err;
      return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: err.message });
    }
  };
}
