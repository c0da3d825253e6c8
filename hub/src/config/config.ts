/**
 * Hub configuration: defaults, then an optional JSON file (AYI_CONFIG), then AYI_* environment
 * variables. Validated once at start-up; every problem is reported by name.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  DEFAULT_SMS_BODY_TEMPLATE,
  DEFAULT_SMS_TIMEOUT_MS,
  bodyTemplateProblem,
  parseAuthHeader,
} from '../services/sms/http-sms.provider.js';
import { MIN_PASSPHRASE_CHARS } from '../storage/backup-archive.js';

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
    /** The broker account of this store (the ACL lets it publish only under its own topics). */
    mqttUsername: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    /** Never echoed. */
    mqttPassword: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    /** PEM file of the CA that signed the broker's certificate (mqtts:// or wss://); unset: the system CAs. */
    mqttCaFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    /** PEM client certificate and its key, for brokers that authenticate stores by certificate. */
    mqttCertFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    mqttKeyFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    /** MQTT keepalive (s): a dead connection is noticed after about 1.5 times this. */
    mqttKeepaliveSeconds: Type.Integer({ minimum: 5, maximum: 3600 }),
    /** Unacknowledged QoS 1 publishes at a time (the outbox is the journal; this bounds memory). */
    mqttInflightWindow: Type.Integer({ minimum: 1, maximum: 1000 }),
    /** Longest wait between two connection attempts (ms); the backoff doubles from 1 s up to this. */
    mqttReconnectMaxMs: Type.Integer({ minimum: 500, maximum: 600_000 }),
    /** The oldest event not yet delivered to the broker raises an alert once it is this old (s). */
    mqttBacklogAlertSeconds: Type.Integer({ minimum: 1, maximum: 30 * 24 * 3600 }),
    /** How often (s) the online status is checked against time-based problems (backup_old) and sent again if they changed. */
    mqttStatusRecheckSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
    /** Seed demo catalog and demo staff into a new data directory. */
    demo: Type.Boolean(),
    /**
     * With demo: a new data directory also gets a year of history (members, sales) so the reports
     * have something to show. Tests turn it off (AYI_DEMO_HISTORY=off) for the small demo store.
     */
    demoHistory: Type.Boolean(),
    allowedOrigins: Type.Array(Type.String({ pattern: '^https?://' })),
    /**
     * Host names the hub answers to besides IP addresses, localhost and the machine's own name (with
     * and without .local): any other Host is refused (DNS rebinding).
     */
    allowedHosts: Type.Array(Type.String({ pattern: '^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$' })),
    /**
     * Where tablets reach the hub (`http://ayi-store.lan:8080`), for the pairing page's QR code.
     * Unset: the box's own LAN addresses and the port it listens on.
     */
    publicUrl: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()]),
    /** Take a snapshot after this many events (besides nightly and at shutdown). */
    snapshotEveryEvents: Type.Integer({ minimum: 100 }),
    /** A due periodic snapshot waits for this long without events (ms), so it never delays a sale. */
    snapshotQuietMs: Type.Integer({ minimum: 10, maximum: 600_000 }),
    /** node-cron expression for the nightly snapshot, in the store's time zone. */
    snapshotCron: Type.String({ minLength: 9 }),
    uiDir: Type.String({ minLength: 1 }),
    logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    /**
     * Base64 key (32+ bytes) of the HMACs that index members' phone numbers: the same in every store
     * of a chain, so HQ can link one person across stores. Unset: a key of this data directory's own.
     */
    memberHashKey: Type.Union([Type.String({ pattern: '^[A-Za-z0-9+/]{43,}={0,2}$' }), Type.Null()]),
    /** Where SMS go: console (the log, masked; the embedded default) or a generic HTTP gateway. */
    smsProvider: Type.Union([Type.Literal('console'), Type.Literal('http')]),
    /** The HTTP gateway's URL (required for the http provider). Checked below, never echoed. */
    smsHttpUrl: Type.Union([Type.String(), Type.Null()]),
    /** e.g. "Authorization: Bearer <token>". Checked below, never echoed. */
    smsHttpAuthHeader: Type.Union([Type.String(), Type.Null()]),
    /** JSON body with {{to}} (E.164), {{text}} and optionally {{messageId}}, each inside quotes. */
    smsHttpBodyTemplate: Type.String({ minLength: 2, maxLength: 4000 }),
    smsHttpTimeoutMs: Type.Integer({ minimum: 100, maximum: 120_000 }),
    /** Health turns `degraded` (storage_low) under this share of the data disk free (0: off). */
    diskMinFreePercent: Type.Number({ minimum: 0, maximum: 100 }),
    /** ... or under this many MB free (0: off), whichever comes first. */
    diskMinFreeMb: Type.Integer({ minimum: 0 }),
    /** How often free space is measured (s); every 5 s while the disk is full. */
    diskProbeSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
    /** How often the box checks (`ayi doctor`'s, the cheap ones) run again for the status to HQ (s). */
    checkEverySeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
    /** Where backups go (a USB stick, a mounted share); unset: no nightly backup. */
    backupDir: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    /** Backups of this store kept in it: the newest N. */
    backupKeep: Type.Integer({ minimum: 1, maximum: 1000 }),
    /** node-cron expression for the nightly backup, in the store's time zone. */
    backupCron: Type.String({ minLength: 9 }),
    /** The passphrase backups are encrypted with. Never echoed; a file (below) keeps it out of hub.env. */
    backupPassphrase: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    /** A file whose first line is the passphrase (read at each backup). */
    backupPassphraseFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
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
    mqttUsername: null,
    mqttPassword: null,
    mqttCaFile: null,
    mqttCertFile: null,
    mqttKeyFile: null,
    mqttKeepaliveSeconds: 30,
    mqttInflightWindow: 64,
    mqttReconnectMaxMs: 30_000,
    mqttBacklogAlertSeconds: 900,
    mqttStatusRecheckSeconds: 60,
    demo: true,
    demoHistory: true,
    allowedOrigins: [],
    allowedHosts: [],
    publicUrl: null,
    snapshotEveryEvents: 5000,
    snapshotQuietMs: 2000,
    snapshotCron: '30 3 * * *',
    uiDir: path.join(hubRoot, '..', 'ui', 'build'),
    logLevel: 'info',
    memberHashKey: null,
    smsProvider: 'console',
    smsHttpUrl: null,
    smsHttpAuthHeader: null,
    smsHttpBodyTemplate: DEFAULT_SMS_BODY_TEMPLATE,
    smsHttpTimeoutMs: DEFAULT_SMS_TIMEOUT_MS,
    diskMinFreePercent: 10,
    diskMinFreeMb: 500,
    diskProbeSeconds: 60,
    checkEverySeconds: 300,
    backupDir: null,
    backupKeep: 14,
    backupCron: '0 4 * * *',
    backupPassphrase: null,
    backupPassphraseFile: null,
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
  AYI_MQTT_USERNAME: ['mqttUsername', (v) => (v === '' ? null : v)],
  AYI_MQTT_PASSWORD: ['mqttPassword', (v) => (v === '' ? null : v)],
  AYI_MQTT_CA_FILE: ['mqttCaFile', (v) => (v === '' ? null : v)],
  AYI_MQTT_CERT_FILE: ['mqttCertFile', (v) => (v === '' ? null : v)],
  AYI_MQTT_KEY_FILE: ['mqttKeyFile', (v) => (v === '' ? null : v)],
  AYI_MQTT_KEEPALIVE_S: ['mqttKeepaliveSeconds', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_MQTT_INFLIGHT: ['mqttInflightWindow', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_MQTT_RECONNECT_MAX_MS: ['mqttReconnectMaxMs', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_MQTT_BACKLOG_ALERT_S: ['mqttBacklogAlertSeconds', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_MQTT_STATUS_RECHECK_S: ['mqttStatusRecheckSeconds', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_DEMO: ['demo', (v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v)],
  AYI_DEMO_HISTORY: [
    'demoHistory',
    (v) => (['on', 'true', '1'].includes(v) ? true : ['off', 'false', '0'].includes(v) ? false : v),
  ],
  AYI_ALLOWED_ORIGINS: [
    'allowedOrigins',
    (v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
  ],
  AYI_ALLOWED_HOSTS: [
    'allowedHosts',
    (v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
  ],
  AYI_PUBLIC_URL: ['publicUrl', (v) => (v === '' ? null : v)],
  AYI_SNAPSHOT_EVERY_EVENTS: ['snapshotEveryEvents', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_SNAPSHOT_QUIET_MS: ['snapshotQuietMs', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_SNAPSHOT_CRON: ['snapshotCron', String],
  AYI_UI_DIR: ['uiDir', String],
  AYI_LOG_LEVEL: ['logLevel', String],
  AYI_MEMBER_HASH_KEY: ['memberHashKey', (v) => (v === '' ? null : v)],
  AYI_SMS_PROVIDER: ['smsProvider', String],
  AYI_SMS_HTTP_URL: ['smsHttpUrl', (v) => (v === '' ? null : v)],
  AYI_SMS_HTTP_AUTH: ['smsHttpAuthHeader', (v) => (v === '' ? null : v)],
  AYI_SMS_HTTP_BODY: ['smsHttpBodyTemplate', String],
  AYI_SMS_HTTP_TIMEOUT_MS: ['smsHttpTimeoutMs', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_DISK_MIN_FREE_PERCENT: ['diskMinFreePercent', (v) => (/^\d+(\.\d+)?$/.test(v) ? Number(v) : v)],
  AYI_DISK_MIN_FREE_MB: ['diskMinFreeMb', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_DISK_PROBE_S: ['diskProbeSeconds', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_CHECK_EVERY_S: ['checkEverySeconds', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_BACKUP_DIR: ['backupDir', (v) => (v === '' ? null : v)],
  AYI_BACKUP_KEEP: ['backupKeep', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  AYI_BACKUP_CRON: ['backupCron', String],
  AYI_BACKUP_PASSPHRASE: ['backupPassphrase', (v) => (v === '' ? null : v)],
  AYI_BACKUP_PASSPHRASE_FILE: ['backupPassphraseFile', (v) => (v === '' ? null : v)],
};

/** Every setting's environment name (AYI_PORT, ...): what /etc/ayi/hub.env may hold. */
export const SETTING_NAMES: readonly string[] = Object.keys(ENV_KEYS);

/** Settings that may hold a secret (a token in a header or a URL): a problem never shows their value. */
const SECRET_KEYS = new Set<string>([
  'smsHttpUrl',
  'smsHttpAuthHeader',
  'memberHashKey',
  'mqttPassword',
  'backupPassphrase',
]);

function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The MQTT settings that the schema alone cannot check (the files are read when the link starts). */
function mqttProblems(merged: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const { mqttUrl, mqttUsername, mqttPassword, mqttCertFile, mqttKeyFile } = merged;
  if (typeof mqttPassword === 'string' && (mqttUsername === null || mqttUsername === undefined)) {
    problems.push('mqttPassword (AYI_MQTT_PASSWORD): set only with a user name (AYI_MQTT_USERNAME)');
  }
  const hasCert = typeof mqttCertFile === 'string';
  const hasKey = typeof mqttKeyFile === 'string';
  if (hasCert !== hasKey) {
    problems.push(
      'mqttCertFile (AYI_MQTT_CERT_FILE) and mqttKeyFile (AYI_MQTT_KEY_FILE): a client certificate needs its key, and the key its certificate',
    );
  }
  if (typeof mqttUrl === 'string' && /^\w+:\/\/[^/]*@/.test(mqttUrl)) {
    problems.push(
      'mqttUrl (AYI_MQTT_URL): put the user name and password in AYI_MQTT_USERNAME and AYI_MQTT_PASSWORD, not in the URL (value not shown)',
    );
  }
  return problems;
}

/**
 * The passphrase settings. A backup directory without a passphrase does not stop the start (the store
 * sells); each backup then fails with a clear error, shown in health (backup_failed).
 */
function backupProblems(merged: Record<string, unknown>): string[] {
  const { backupPassphrase, backupPassphraseFile } = merged;
  const problems: string[] = [];
  if (typeof backupPassphrase === 'string' && typeof backupPassphraseFile === 'string') {
    problems.push(
      'backupPassphrase (AYI_BACKUP_PASSPHRASE) and backupPassphraseFile (AYI_BACKUP_PASSPHRASE_FILE): set one, not both',
    );
  }
  if (typeof backupPassphrase === 'string' && [...backupPassphrase].length < MIN_PASSPHRASE_CHARS) {
    problems.push(
      `backupPassphrase (AYI_BACKUP_PASSPHRASE): at least ${MIN_PASSPHRASE_CHARS} characters (value not shown)`,
    );
  }
  return problems;
}

/**
 * The public URL is what a tablet opens from the pairing QR code: an origin only (the UI's paths are
 * added to it), and a host name the hub answers to (any other is refused as DNS rebinding).
 */
function publicUrlProblems(merged: Record<string, unknown>): string[] {
  const { publicUrl, allowedHosts } = merged;
  if (typeof publicUrl !== 'string' || !/^https?:\/\//.test(publicUrl)) return [];
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    return [`publicUrl (AYI_PUBLIC_URL): not a URL; got ${JSON.stringify(publicUrl)}`];
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    return [
      `publicUrl (AYI_PUBLIC_URL): scheme, host and port only, such as http://ayi-store.lan:8080; got ${JSON.stringify(publicUrl)}`,
    ];
  }
  const name = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const machine = hostname()
    .toLowerCase()
    .replace(/\.local$/, '');
  const known = new Set(['localhost', machine, `${machine}.local`]);
  for (const host of Array.isArray(allowedHosts) ? allowedHosts : []) known.add(String(host).toLowerCase());
  if (isIP(name) === 0 && !known.has(name)) {
    return [
      `publicUrl (AYI_PUBLIC_URL): the hub answers to ${name} only once it is in AYI_ALLOWED_HOSTS too (a tablet opening the pairing QR would be refused)`,
    ];
  }
  return [];
}

/** The SMS settings that the schema alone cannot check. */
function smsProblems(merged: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const { smsProvider, smsHttpUrl, smsHttpAuthHeader, smsHttpBodyTemplate } = merged;
  if (smsProvider === 'http' && (smsHttpUrl === null || smsHttpUrl === undefined || smsHttpUrl === '')) {
    problems.push('smsHttpUrl (AYI_SMS_HTTP_URL): required when the SMS provider (AYI_SMS_PROVIDER) is "http"');
  }
  if (typeof smsHttpUrl === 'string' && smsHttpUrl !== '') {
    let protocol = '';
    try {
      protocol = new URL(smsHttpUrl).protocol;
    } catch {
      protocol = '';
    }
    if (protocol !== 'http:' && protocol !== 'https:') {
      problems.push('smsHttpUrl (AYI_SMS_HTTP_URL): must be an http:// or https:// URL (value not shown)');
    }
  }
  if (typeof smsHttpAuthHeader === 'string') {
    try {
      parseAuthHeader(smsHttpAuthHeader);
    } catch (err) {
      problems.push(`smsHttpAuthHeader (AYI_SMS_HTTP_AUTH): ${(err as Error).message} (value not shown)`);
    }
  }
  if (typeof smsHttpBodyTemplate === 'string') {
    const problem = bodyTemplateProblem(smsHttpBodyTemplate);
    if (problem) problems.push(`smsHttpBodyTemplate (AYI_SMS_HTTP_BODY): ${problem}`);
  }
  return problems;
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
    const got = SECRET_KEYS.has(key) ? '' : `; got ${JSON.stringify(error.value)}`;
    problems.push(`${key}${envName ? ` (${envName})` : ''}: ${error.message}${got}`);
  }
  problems.push(...smsProblems(merged));
  problems.push(...mqttProblems(merged));
  problems.push(...backupProblems(merged));
  problems.push(...publicUrlProblems(merged));
  if (typeof merged.tz === 'string' && !isValidTimeZone(merged.tz)) {
    problems.push(`tz (AYI_TZ): unknown time zone ${JSON.stringify(merged.tz)}; use an IANA name such as Asia/Taipei`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = merged as HubConfig;
  config.dataDir = path.resolve(config.dataDir);
  return config;
}
