/**
 * Publishes each chain's latest catalog version, retained (QoS 1), on ayi/v1/{chain}/catalog: after
 * a new version is stored, and again at every connection to the broker (a broker that lost its
 * retained messages gets the latest back). One publish at a time, each reading the latest version
 * from the database, so an older version never lands after a newer one.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { chainCatalogTopic } from '../../../hub/src/transport/mqtt/topics.js';
import type { Database } from '../db/database.js';
import { catalogChains, latestCatalogMessage } from './catalogs.js';

export interface CatalogPublisher {
  /** Publishes the chain's latest version; resolves at the broker's PUBACK (false: none to publish). */
  publishLatest(chainId: string): Promise<boolean>;
  stop(): Promise<void>;
}

export interface CatalogPublisherLink {
  brokerUrl: string;
  /** The connection's client id is `{workerId}.catalog`. */
  workerId: string;
  /** Only this chain (AYI_HQ_CHAIN); otherwise every chain with a catalog. */
  chainId?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
}

export async function startCatalogPublisher(
  db: Database,
  link: CatalogPublisherLink,
  log: Logger,
): Promise<CatalogPublisher> {
  const { connect } = await import('mqtt');
  const options: IClientOptions = {
    protocolVersion: 5,
    clientId: `${link.workerId}.catalog`,
    clean: true,
    reconnectPeriod: 1000,
    username: link.username,
    password: link.password,
  };
  const client: MqttClient = connect(link.brokerUrl, options);
  let queue: Promise<unknown> = Promise.resolve();
  const publishLatest = (chainId: string): Promise<boolean> => {
    const next = queue.then(async () => {
      const message = await latestCatalogMessage(db, chainId);
      if (!message) return false;
      await client.publishAsync(chainCatalogTopic(chainId), JSON.stringify(message), { qos: 1, retain: true });
      log.info({ chainId, version: message.version }, 'catalog version published');
      return true;
    });
    queue = next.catch(() => undefined);
    return next;
  };
  client.on('error', (err) => log.warn({ err: err.message }, 'catalog publisher: broker connection error'));
  client.on('connect', () => {
    void (async () => {
      const chains = link.chainId ? [link.chainId] : await catalogChains(db);
      for (const chain of chains) await publishLatest(chain);
    })().catch((err: unknown) =>
      log.warn({ err: (err as Error).message }, 'catalog publisher: cannot publish the latest versions'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return {
    publishLatest,
    stop: async () => {
      await queue;
      await client.endAsync();
    },
  };
}
