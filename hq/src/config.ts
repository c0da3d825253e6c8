/** HQ's settings, from the environment (see hq/README.md). */
import path from 'node:path';
import { DEFAULT_LANES } from './ingest/consumer.js';

export interface HqConfig {
  databaseUrl: string | undefined;
  dataDir: string;
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
}

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): HqConfig {
  const problems: string[] = [];
  const mqttUrl = env.AYI_HQ_MQTT_URL ?? '';
  if (!/^(mqtts?|wss?|tcp|ssl):\/\//.test(mqttUrl))
    problems.push('AYI_HQ_MQTT_URL: the broker, e.g. mqtt://broker:1883');
  const slug = (name: string, fallback?: string): string | undefined => {
    const value = env[name] ?? fallback;
    if (value !== undefined && !SLUG.test(value)) problems.push(`${name}: lower-case letters, digits and -`);
    return value;
  };
  const gapGraceSeconds = Number(env.AYI_HQ_GAP_GRACE_S ?? 60);
  if (!Number.isInteger(gapGraceSeconds) || gapGraceSeconds < 1 || gapGraceSeconds > 86_400)
    problems.push('AYI_HQ_GAP_GRACE_S: seconds, from 1 to 86400');
  const lanes = Number(env.AYI_HQ_LANES ?? DEFAULT_LANES);
  if (!Number.isInteger(lanes) || lanes < 1 || lanes > 64) problems.push('AYI_HQ_LANES: a whole number from 1 to 64');
  const config: HqConfig = {
    databaseUrl: env.AYI_HQ_DATABASE_URL || undefined,
    dataDir: path.resolve(env.AYI_HQ_DATA_DIR ?? path.join('data', 'hq')),
    mqttUrl,
    mqttUsername: env.AYI_HQ_MQTT_USERNAME || undefined,
    mqttPassword: env.AYI_HQ_MQTT_PASSWORD || undefined,
    chainId: slug('AYI_HQ_CHAIN'),
    workerId: slug('AYI_HQ_WORKER', 'hq-ingest-1')!,
    shareGroup: slug('AYI_HQ_SHARE_GROUP'),
    lanes,
    gapGraceSeconds,
  };
  if (problems.length > 0) throw new Error(`HQ cannot start:\n  ${problems.join('\n  ')}`);
  return config;
}
