/**
 * Hub configuration: defaults, then an optional JSON file (AYI_CONFIG), then AYI_* environment
 * variables. Validated once at start-up; every problem is reported by name.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const Slug = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' });

export const HubConfigSchema = Type.Object(
  {
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    host: Type.String({ minLength: 1 }),
    dataDir: Type.String({ minLength: 1 }),
    chainId: Slug,
    storeId: Slug,
    storeName: Type.String({ minLength: 1, maxLength: 60 }),
    tz: Type.String({ minLength: 1 }),
    mqttUrl: Type.Union([Type.String({ pattern: '^(mqtts?|wss?)://' }), Type.Null()]),
    /** Seed demo catalog and demo staff into a new data directory. */
    demo: Type.Boolean(),
    allowedOrigins: Type.Array(Type.String({ pattern: '^https?://' })),
    /** Take a snapshot after this many events (besides nightly and at shutdown). */
    snapshotEveryEvents: Type.Integer({ minimum: 100 }),
    /** node-cron expression for the nightly snapshot, in the store's time zone. */
    snapshotCron: Type.String({ minLength: 9 }),
    uiDir: Type.String({ minLength: 1 }),
    logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
  },
  { additionalProperties: false },
);
export type HubConfig = Static<typeof HubConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid hub configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const hubRoot = path.resolve(import.meta.dirname, '..', '..');

export function defaultConfig(): HubConfig {
  return {
    port: 8080,
    host: '0.0.0.0',
    dataDir: './data',
    chainId: 'demo',
    storeId: 'store-001',
    storeName: '阿姨的店 示範門市',
    tz: 'Asia/Taipei',
    mqttUrl: null,
    demo: true,
    allowedOrigins: [],
    snapshotEveryEvents: 5000,
    snapshotCron: '30 3 * * *',
    uiDir: path.join(hubRoot, '..', 'ui', 'build'),
    logLevel: 'info',
  };
}

/** Environment variable -> config key, and how to read its text. */
const ENV_KEYS: Record<string, [keyof HubConfig, (raw: string) => unknown]> = {
  AYI_PORT: ['port', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_HOST: ['host', String],
  AYI_DATA_DIR: ['dataDir', String],
  AYI_CHAIN_ID: ['chainId', String],
  AYI_STORE_ID: ['storeId', String],
  AYI_STORE_NAME: ['storeName', String],
  AYI_TZ: ['tz', String],
  AYI_MQTT_URL: ['mqttUrl', (v) => (v === '' ? null : v)],
  AYI_DEMO: ['demo', (v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v)],
  AYI_ALLOWED_ORIGINS: [
    'allowedOrigins',
    (v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
  ],
  AYI_SNAPSHOT_EVERY_EVENTS: ['snapshotEveryEvents', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_SNAPSHOT_CRON: ['snapshotCron', String],
  AYI_UI_DIR: ['uiDir', String],
  AYI_LOG_LEVEL: ['logLevel', String],
};

function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<HubConfig> = {}): HubConfig {
  const problems: string[] = [];
  const merged: Record<string, unknown> = { ...defaultConfig() };

  const file = env.AYI_CONFIG;
  if (file) {
    try {
      const fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      Object.assign(merged, fromFile);
    } catch (err) {
      problems.push(`AYI_CONFIG=${file}: cannot read it as JSON (${(err as Error).message})`);
    }
  }
  for (const [name, [key, parse]] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw !== undefined) merged[key] = parse(raw);
  }
  Object.assign(merged, overrides);

  const envNameOf = (key: string) => Object.entries(ENV_KEYS).find(([, [k]]) => k === key)?.[0];
  for (const error of Value.Errors(HubConfigSchema, merged)) {
    const key = error.path.split('/')[1] ?? error.path;
    const envName = envNameOf(key);
    problems.push(`${key}${envName ? ` (${envName})` : ''}: ${error.message}; got ${JSON.stringify(error.value)}`);
  }
  if (typeof merged.tz === 'string' && !isValidTimeZone(merged.tz)) {
    problems.push(`tz (AYI_TZ): unknown time zone ${JSON.stringify(merged.tz)}; use an IANA name such as Asia/Taipei`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = merged as HubConfig;
  config.dataDir = path.resolve(config.dataDir);
  return config;
}
