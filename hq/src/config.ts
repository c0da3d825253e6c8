/** HQ's settings, from the environment (see hq/README.md and hq/docs/security.md). */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { DEFAULT_LANES } from './ingest/consumer.js';

/** Where HQ keeps its data: all the `users` command needs. */
export interface HqDatabaseConfig {
  databaseUrl: string | undefined;
  dataDir: string;
}

export interface HqConfig extends HqDatabaseConfig {
  mqttUrl: string;
  mqttUsername: string | undefined;
  mqttPassword: string | undefined;
  chainId: string | undefined;
  workerId: string;
  shareGroup: string | undefined;
  /** MQTT connections this worker stores from at once. */
  lanes: number;
  /** How long a hole in a store's stream may stay open before HQ asks the store to resend it. */
  gapGraceSeconds: number;
  /** A store HQ has heard nothing from for this long gets a cmd/ping. */
  pingAfterSeconds: number;
}

/** fastify's trustProxy: off, every proxy, a number of hops, or the proxies' addresses / CIDR ranges. */
export type TrustProxy = boolean | number | string[];

export interface HqServerConfig {
  host: string;
  port: number;
  tls: { certFile: string; keyFile: string } | undefined;
  trustProxy: TrustProxy;
  /**
   * The origin browsers reach HQ at (`https://hq.example.com`): state-changing requests from any
   * other page are refused. Unset: where HQ listens (its host, bound port and protocol).
   */
  publicOrigin: string | undefined;
  /** A store HQ has heard nothing from (no event, no status, no ping answer) for this long is silent. */
  silentAfterSeconds?: number;
}

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

function readDatabase(env: NodeJS.ProcessEnv): HqDatabaseConfig {
  return {
    databaseUrl: env.AYI_HQ_DATABASE_URL || undefined,
    dataDir: path.resolve(env.AYI_HQ_DATA_DIR ?? path.join('data', 'hq')),
  };
}

function readIngest(env: NodeJS.ProcessEnv, problems: string[]): Omit<HqConfig, keyof HqDatabaseConfig> {
  const mqttUrl = env.AYI_HQ_MQTT_URL ?? '';
  if (!/^(mqtts?|wss?|tcp|ssl):\/\//.test(mqttUrl))
    problems.push('AYI_HQ_MQTT_URL: the broker, e.g. mqtt://broker:1883');
  const slug = (name: string, fallback?: string): string | undefined => {
    const value = env[name] ?? fallback;
    if (value !== undefined && !SLUG.test(value)) problems.push(`${name}: lower-case letters, digits and -`);
    return value;
  };
  const gapGraceSeconds = seconds(env, 'AYI_HQ_GAP_GRACE_S', 60, problems);
  const pingAfterSeconds = seconds(env, 'AYI_HQ_PING_AFTER_S', 300, problems);
  const lanes = Number(env.AYI_HQ_LANES ?? DEFAULT_LANES);
  if (!Number.isInteger(lanes) || lanes < 1 || lanes > 64) problems.push('AYI_HQ_LANES: a whole number from 1 to 64');
  return {
    mqttUrl,
    mqttUsername: env.AYI_HQ_MQTT_USERNAME || undefined,
    mqttPassword: env.AYI_HQ_MQTT_PASSWORD || undefined,
    chainId: slug('AYI_HQ_CHAIN'),
    workerId: slug('AYI_HQ_WORKER', 'hq-ingest-1')!,
    shareGroup: slug('AYI_HQ_SHARE_GROUP'),
    lanes,
    gapGraceSeconds,
    pingAfterSeconds,
  };
}

/** A whole number of seconds from 1 to a day. */
function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number, problems: string[]): number {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1 || value > 86_400) problems.push(`${name}: seconds, from 1 to 86400`);
  return value;
}

function readTrustProxy(value: string | undefined, problems: string[]): TrustProxy {
  const text = (value ?? '').trim();
  if (text === '' || text === 'false') return false;
  if (text === 'true') return true;
  if (/^\d+$/.test(text)) return Number(text);
  const proxies = text.split(',').map((entry) => entry.trim());
  if (proxies.every((entry) => isIP(entry.replace(/\/\d{1,3}$/, '')) !== 0)) return proxies;
  problems.push(
    'AYI_HQ_TRUST_PROXY: true (any proxy), a number of proxy hops, or the proxies’ addresses or CIDR ranges, comma-separated (e.g. 10.0.0.5,10.1.0.0/16)',
  );
  return false;
}

function readServer(env: NodeJS.ProcessEnv, problems: string[]): HqServerConfig {
  const host = env.AYI_HQ_HOST || '127.0.0.1';
  const port = Number(env.AYI_HQ_PORT ?? 8090);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) problems.push('AYI_HQ_PORT: a TCP port, from 0 to 65535');
  const certFile = env.AYI_HQ_TLS_CERT || undefined;
  const keyFile = env.AYI_HQ_TLS_KEY || undefined;
  let tls: HqServerConfig['tls'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push(
      'AYI_HQ_TLS_CERT and AYI_HQ_TLS_KEY: both (HQ serves https) or neither (plain http, for a TLS proxy)',
    );
  } else if (certFile !== undefined && keyFile !== undefined) {
    for (const [name, file] of [
      ['AYI_HQ_TLS_CERT', certFile],
      ['AYI_HQ_TLS_KEY', keyFile],
    ] as const)
      if (!existsSync(file)) problems.push(`${name}: no file at ${path.resolve(file)}`);
    tls = { certFile: path.resolve(certFile), keyFile: path.resolve(keyFile) };
  }
  let publicOrigin: string | undefined;
  const origin = env.AYI_HQ_PUBLIC_ORIGIN?.trim();
  if (origin) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== origin.replace(/\/$/, ''))
      problems.push(
        'AYI_HQ_PUBLIC_ORIGIN: the address browsers open, scheme and host only, e.g. https://hq.example.com',
      );
    else publicOrigin = url.origin;
  } else if (host === '0.0.0.0' || host === '::') {
    problems.push(
      `AYI_HQ_PUBLIC_ORIGIN: required when AYI_HQ_HOST is ${host} (every address): the address browsers open, e.g. https://hq.example.com`,
    );
  }
  const trustProxy = readTrustProxy(env.AYI_HQ_TRUST_PROXY, problems);
  // Behind a proxy, browsers open the proxy's address, not HQ's: without it every sign-in would be
  // refused as coming from another site.
  if (!origin && trustProxy !== false)
    problems.push(
      'AYI_HQ_PUBLIC_ORIGIN: required behind a proxy (AYI_HQ_TRUST_PROXY is set): the address browsers open, e.g. https://hq.example.com',
    );
  return {
    host,
    port,
    tls,
    trustProxy,
    publicOrigin,
    silentAfterSeconds: seconds(env, 'AYI_HQ_SILENT_AFTER_S', 900, problems),
  };
}

function settled<T>(problems: string[], value: T): T {
  if (problems.length > 0) throw new Error(`HQ cannot start:\n  ${problems.join('\n  ')}`);
  return value;
}

/** The database settings alone: the `users` command runs without a broker. */
export function loadDatabaseConfig(env: NodeJS.ProcessEnv = process.env): HqDatabaseConfig {
  return readDatabase(env);
}

/** Ingest's settings: the database and the broker. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): HqConfig {
  const problems: string[] = [];
  return settled(problems, { ...readDatabase(env), ...readIngest(env, problems) });
}

/** The dashboard server's settings. */
export function loadServerConfig(env: NodeJS.ProcessEnv = process.env): HqServerConfig {
  const problems: string[] = [];
  return settled(problems, readServer(env, problems));
}

/** Ingest and the server in one process: every problem of both told at once. */
export function loadFullConfig(env: NodeJS.ProcessEnv = process.env): { ingest: HqConfig; server: HqServerConfig } {
  const problems: string[] = [];
  const ingest = { ...readDatabase(env), ...readIngest(env, problems) };
  return settled(problems, { ingest, server: readServer(env, problems) });
}
