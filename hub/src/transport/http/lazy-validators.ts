/**
 * Fastify's own validator compiler (ajv, the server's `ajv` options), compiling each route's
 * schemas when they are first needed instead of while the server starts: compiling every route's
 * schemas took about 350 ms of the start, before the hub could answer anything. `compileAll()`
 * compiles what is still pending, a few routes per turn of the event loop, once the hub answers, so
 * a tablet's first requests normally find their validators ready. Validation itself (and its error
 * answers) is the same validator fastify would have used.
 */
import { createRequire } from 'node:module';

interface RouteSchemaDefinition {
  schema: unknown;
  method: string;
  url: string;
  httpPart: string;
}
type ValidateFunction = ((data: unknown, dataContext?: unknown) => unknown) & {
  errors?: unknown;
  schemaEnv?: unknown;
};
type RouteCompiler = (route: RouteSchemaDefinition) => ValidateFunction;
type BuildRouteCompiler = (externalSchemas: unknown, ajvOptions: unknown) => RouteCompiler;

/** @fastify/ajv-compiler as fastify itself loads it (a dependency of fastify, not of the hub). */
function fastifyAjvCompiler(): BuildRouteCompiler {
  const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
  return (fromFastify('@fastify/ajv-compiler') as () => BuildRouteCompiler)();
}

export interface LazyValidators {
  /** For fastify's `schemaController.compilersFactory.buildValidator`. */
  buildValidator: BuildRouteCompiler;
  /** Compiles every schema not compiled yet, `perTurn` at a time; resolves when none is left. */
  compileAll(perTurn?: number): Promise<void>;
  /** How many schemas are still to be compiled. */
  pending(): number;
}

export function lazyValidators(): LazyValidators {
  const buildDefault = fastifyAjvCompiler();
  const pending = new Set<() => void>();
  return {
    buildValidator(externalSchemas, ajvOptions) {
      const compile = buildDefault(externalSchemas, ajvOptions);
      return (route) => {
        let compiled: ValidateFunction | null = null;
        const ensure = () => {
          pending.delete(ensure);
          compiled ??= compile(route);
          return compiled;
        };
        pending.add(ensure);
        const validate: ValidateFunction = function (this: unknown, data, dataContext) {
          const real = ensure();
          const result = real.call(this, data, dataContext);
          validate.errors = real.errors;
          return result;
        };
        // Fastify passes the parent object (to let ajv replace a root value) to ajv's validators,
        // which it recognises by this property.
        validate.schemaEnv = true;
        return validate;
      };
    },
    async compileAll(perTurn = 4) {
      while (pending.size > 0) {
        let n = 0;
        for (const ensure of pending) {
          ensure();
          if (++n >= perTurn) break;
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    },
    pending: () => pending.size,
  };
}
