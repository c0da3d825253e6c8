/**
 * The chain's figures for its analysts (and operations and admins): overview, store comparison,
 * customers and cohorts, products (best sellers, slow movers, not sold for N days) and the pairs
 * bought together. Every answer is JSON; business dates are store-local days (YYYY-MM-DD), amounts
 * NT$ in whole dollars.
 */
import { cohorts, CohortsParams } from '../analytics/cohorts.js';
import { customers, CustomersParams } from '../analytics/customers.js';
import { overview, OverviewParams } from '../analytics/overview.js';
import type { DateRange } from '../analytics/params.js';
import {
  notSold,
  NotSoldParams,
  productPairs,
  products,
  PairsParams,
  ProductsParams,
  slowMovers,
  SlowMoversParams,
} from '../analytics/products.js';
import { storesCompare, StoresCompareParams } from '../analytics/stores-compare.js';
import { answer } from './answer.js';
import type { HqRoutes } from './route-deps.js';

export const analyticsRoutes: HqRoutes = (app, { db, allow }) => {
  const preHandler = allow('analyst', 'operations', 'admin');
  app.get(
    '/overview',
    { preHandler, schema: { querystring: OverviewParams } },
    answer((request) => overview(db, request.query as DateRange)),
  );
  app.get(
    '/stores/compare',
    { preHandler, schema: { querystring: StoresCompareParams } },
    answer((request) => storesCompare(db, request.query as DateRange)),
  );
  app.get(
    '/customers',
    { preHandler, schema: { querystring: CustomersParams } },
    answer((request) => customers(db, request.query as DateRange)),
  );
  app.get(
    '/customers/cohorts',
    { preHandler, schema: { querystring: CohortsParams } },
    answer((request) => cohorts(db, request.query as CohortsParams)),
  );
  app.get(
    '/products',
    { preHandler, schema: { querystring: ProductsParams } },
    answer((request) => products(db, request.query as ProductsParams)),
  );
  app.get(
    '/products/pairs',
    { preHandler, schema: { querystring: PairsParams } },
    answer((request) => productPairs(db, request.query as PairsParams)),
  );
  app.get(
    '/products/slow',
    { preHandler, schema: { querystring: SlowMoversParams } },
    answer((request) => slowMovers(db, request.query as SlowMoversParams)),
  );
  app.get(
    '/products/not-sold',
    { preHandler, schema: { querystring: NotSoldParams } },
    answer((request) => notSold(db, request.query as NotSoldParams)),
  );
};
