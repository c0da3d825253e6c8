/**
 * Route schemas compiled on first use (and by compileAll once the hub answers) must validate
 * exactly as fastify's own compiler does: a tablet sending a bad body gets every problem in it,
 * before and after the background compilation, and a good body goes through untouched.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { lazyValidators } from '../../../hub/src/transport/http/lazy-validators.ts';

type ValidatorFactory = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>['buildValidator'];

const bodySchema = {
  type: 'object',
  required: ['sku', 'qty'],
  additionalProperties: false,
  properties: { sku: { type: 'string', minLength: 1 }, qty: { type: 'integer', minimum: 1 } },
};
const ajv = { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } } as const;

async function appWith(lazy: boolean): Promise<{ app: FastifyInstance; compileAll: () => Promise<void> }> {
  const validators = lazyValidators();
  const app = Fastify(
    lazy
      ? {
          ajv,
          schemaController: {
            compilersFactory: { buildValidator: validators.buildValidator as unknown as ValidatorFactory },
          },
        }
      : { ajv },
  );
  app.post('/lines', { schema: { body: bodySchema } }, async (request) => ({ got: request.body }));
  app.post('/other', { schema: { body: bodySchema } }, async () => ({ ok: true }));
  await app.ready();
  return { app, compileAll: () => validators.compileAll(1) };
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('route schemas compiled lazily', () => {
  it('answers a bad body with the same errors as fastify, before and after compileAll', async () => {
    const eager = await appWith(false);
    const lazy = await appWith(true);
    apps.push(eager.app, lazy.app);
    const bad = { sku: '', qty: 0, extra: true };
    const expected = await eager.app.inject({ method: 'POST', url: '/lines', payload: bad });
    expect(expected.statusCode).toBe(400);

    const first = await lazy.app.inject({ method: 'POST', url: '/lines', payload: bad });
    expect(first.statusCode).toBe(400);
    expect(first.json()).toEqual(expected.json());
    // Every problem, not only the first (allErrors).
    expect(first.json().message.split(',').length).toBeGreaterThanOrEqual(3);

    await lazy.compileAll();
    const other = await lazy.app.inject({ method: 'POST', url: '/other', payload: bad });
    expect(other.json()).toEqual((await eager.app.inject({ method: 'POST', url: '/other', payload: bad })).json());
    const good = await lazy.app.inject({ method: 'POST', url: '/lines', payload: { sku: 'DRK-001', qty: 2 } });
    expect(good.statusCode).toBe(200);
    expect(good.json()).toEqual({ got: { sku: 'DRK-001', qty: 2 } });
  });

  it('compiles a schema on its first use, and compileAll compiles all the others', async () => {
    const validators = lazyValidators();
    const compile = validators.buildValidator({}, { customOptions: ajv.customOptions, plugins: [] });
    const routes = Array.from({ length: 5 }, (_, i) =>
      compile({ schema: bodySchema, method: 'POST', url: `/r${i}`, httpPart: 'body' }),
    );
    expect(validators.pending()).toBe(5);
    expect(routes[0]!({ sku: 1 })).toBe(false);
    expect(routes[0]!.errors).toHaveLength(2);
    expect(validators.pending()).toBe(4);
    await validators.compileAll(2);
    expect(validators.pending()).toBe(0);
    for (const validate of routes) expect(validate({ sku: 'A', qty: 1 })).toBe(true);
  });
});
