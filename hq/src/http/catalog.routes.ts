/**
 * The chain's catalog for its operations: publish a new version (products and per-store prices)
 * to every store, as JSON or as a CSV file, and see the latest version and which version each
 * store runs.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CatalogVersionSchema } from '../../../hub/src/protocol/event-schemas.js';
import { chainCatalogFromCsv } from '../catalog/catalog-csv.js';
import type { CatalogPublisher } from '../catalog/catalog-publisher.js';
import { catalogView, createCatalogVersion } from '../catalog/catalogs.js';
import { HqError } from '../errors.js';
import type { HqRoutes } from './route-deps.js';

const SLUG = '^[a-z0-9][a-z0-9-]{0,62}$';

/** A new version: the contract's products and store prices; HQ gives it its number and time. */
export const PublishCatalogBody = Type.Object(
  {
    chainId: Type.Optional(Type.String({ pattern: SLUG })),
    products: CatalogVersionSchema.properties.products,
    storePrices: Type.Optional(CatalogVersionSchema.properties.storePrices),
  },
  { additionalProperties: false },
);

const CatalogQuery = Type.Object(
  { chain: Type.Optional(Type.String({ pattern: SLUG })) },
  { additionalProperties: false },
);

/** 5,000 products are about 1 MB of JSON; the contract allows up to 20,000. */
const CATALOG_BODY_LIMIT = 16 * 1024 * 1024;
/** How long a POST waits for the broker before answering that the version is stored but not yet out. */
const PUBLISH_WAIT_MS = 10_000;

export interface CatalogRoutesOptions {
  /** The chain HQ serves (AYI_HQ_CHAIN); without it, a new version names its chain. */
  chainId: string | undefined;
  /** null: HQ has no broker (AYI_HQ_MQTT_URL) to publish through. */
  publisher: CatalogPublisher | null;
}

export function catalogRoutes(options: CatalogRoutesOptions): HqRoutes {
  return (app, { db, allow }) => {
    const onRequest = allow('operations', 'admin');
    app.get<{ Querystring: { chain?: string } }>(
      '/catalog',
      { onRequest, schema: { querystring: CatalogQuery } },
      async (request) => ({ chains: await catalogView(db, request.query.chain ?? options.chainId) }),
    );
    app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: CATALOG_BODY_LIMIT }, (_request, body, done) =>
      done(null, body),
    );
    app.post<{ Body: Static<typeof PublishCatalogBody> | string; Querystring: { chain?: string } }>(
      '/catalog',
      {
        onRequest,
        bodyLimit: CATALOG_BODY_LIMIT,
        schema: {
          querystring: CatalogQuery,
          body: {
            content: {
              'application/json': { schema: PublishCatalogBody },
              'text/csv': { schema: Type.String() },
            },
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const chainField = typeof body === 'string' ? 'chain (in the query)' : 'body.chainId';
        const chainId = (typeof body === 'string' ? undefined : body.chainId) ?? request.query.chain ?? options.chainId;
        if (!chainId) throw new HqError('bad_request', `${chainField} is required: this HQ serves every chain`);
        if (options.chainId && chainId !== options.chainId) {
          throw new HqError('bad_request', `${chainField}: this HQ serves chain ${options.chainId}`);
        }
        // Read before the broker is asked about: a bad file is refused whatever the link.
        const catalog =
          typeof body === 'string'
            ? chainCatalogFromCsv(body)
            : { products: body.products, storePrices: body.storePrices ?? {} };
        const publisher = options.publisher;
        if (!publisher) {
          throw new HqError('no_broker', 'HQ has no broker to publish through (AYI_HQ_MQTT_URL)', 503);
        }
        const message = await createCatalogVersion(db, chainId, catalog, request.hqUser!.username);
        const published = await Promise.race([
          publisher.publishLatest(chainId).then(
            () => true,
            () => false,
          ),
          new Promise<false>((resolve) => setTimeout(() => resolve(false), PUBLISH_WAIT_MS).unref()),
        ]);
        request.log.info(
          { chainId, version: message.version, products: message.products.length, published },
          'catalog version',
        );
        // Stored either way: a version not yet out is published when the broker answers again.
        return reply.code(published ? 201 : 202).send({
          chainId,
          version: message.version,
          publishedAt: message.publishedAt,
          products: message.products.length,
          published,
        });
      },
    );
  };
}
