/**
 * The mqtt.js connection options of the HQ link: MQTT v5, a fresh clean session per connection
 * (the outbox is the journal, so nothing is left in mqtt.js's in-memory store between connections),
 * credentials, TLS files read once at start with errors that name the setting, and the last will.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';

export interface MqttLinkSettings {
  url: string;
  username: string | null;
  password: string | null;
  caFile: string | null;
  certFile: string | null;
  keyFile: string | null;
  keepaliveSeconds: number;
}

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export class MqttSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MqttSettingsError';
  }
}

function readPem(file: string, setting: string, env: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new MqttSettingsError(`HQ link: cannot read ${setting} (${env}) at ${file}: ${code}`);
  }
  if (!data.toString('latin1').includes('-----BEGIN ')) {
    throw new MqttSettingsError(`HQ link: ${setting} (${env}) at ${file} is not a PEM file (no "-----BEGIN")`);
  }
  return data;
}

/** Reads the CA, client certificate and key named by the settings; throws a clear error. */
export function readTlsMaterial(settings: MqttLinkSettings): TlsMaterial {
  const tls: TlsMaterial = {};
  if (settings.caFile) tls.ca = readPem(settings.caFile, 'the CA file', 'AYI_MQTT_CA_FILE');
  if (settings.certFile) tls.cert = readPem(settings.certFile, 'the client certificate', 'AYI_MQTT_CERT_FILE');
  if (settings.keyFile) tls.key = readPem(settings.keyFile, 'the client key', 'AYI_MQTT_KEY_FILE');
  const secure = /^(mqtts|wss):/.test(settings.url);
  if (!secure && (tls.ca || tls.cert)) {
    throw new MqttSettingsError(
      `HQ link: TLS files are set but the broker URL (AYI_MQTT_URL) is ${redactUrl(settings.url)}; use mqtts:// or wss://`,
    );
  }
  return tls;
}

/** The URL without credentials, for logs and the health view. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(invalid URL)';
  }
}

export function clientOptions(
  settings: MqttLinkSettings,
  tls: TlsMaterial,
  clientId: string,
  will: { topic: string; payload: string },
): IClientOptions {
  return {
    protocolVersion: 5,
    clientId,
    clean: true,
    // One mqtt.js client per connection: the link reconnects itself, with its own backoff.
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    keepalive: settings.keepaliveSeconds,
    resubscribe: false,
    queueQoSZero: false,
    ...(settings.username !== null ? { username: settings.username } : {}),
    ...(settings.password !== null ? { password: settings.password } : {}),
    ...tls,
    rejectUnauthorized: true,
    will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true },
    properties: { sessionExpiryInterval: 0 },
  };
}
