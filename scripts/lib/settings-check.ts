/**
 * `ayi check-settings <file>`: checks a store's settings (the KEY=value lines /etc/ayi/hub.env holds)
 * before anything is installed with them, as `scripts/provision` does: the hub's own validation of
 * every setting, the TLS files (PEM, the certificate valid today, the client key matching it), the
 * chain's member key (base64 of 32 bytes or more), the backup passphrase's length, and a real MQTT
 * CONNECT to the broker with those credentials. A refusal is said in plain words. Nothing is written.
 * Secrets (the broker password, the member key, the passphrase) are never printed.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { ConfigError, loadConfig, SETTING_NAMES } from '../../hub/src/config/config.ts';
import { MIN_PASSPHRASE_CHARS } from '../../hub/src/storage/backup-archive.ts';

/** Certificates that expire sooner than this are accepted with a warning. */
const EXPIRY_WARNING_DAYS = 30;
const BROKER_TIMEOUT_MS = 10_000;

/** systemd's EnvironmentFile lines as far as the settings use them: KEY=value, quotes optional. */
export function parseSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    settings.set(match[1]!, match[2]!.replace(/^(["'])(.*)\1$/, '$2'));
  }
  return settings;
}

/** MQTT v5 (and 3.1.1) CONNACK refusals, as a technician reads them. */
const CONNACK_WORDS: Record<number, string> = {
  1: 'the broker does not speak this MQTT version',
  2: 'the broker refused the client id',
  3: 'the broker is not available',
  4: 'the broker refused the user name or password',
  5: 'the broker refused this user (not authorised)',
  128: 'the broker refused the connection (unspecified error)',
  132: 'the broker does not speak this MQTT version',
  133: 'the broker refused the client id',
  134: 'the broker refused the user name or password',
  135: 'the broker refused this user (not authorised): check the user name and password HQ gave',
  136: 'the broker is not available',
  137: 'the broker is busy',
  138: 'the broker has banned this client',
  140: 'the broker refused the authentication method',
};

/** Why a connection failed, in plain words (never the password). */
export function brokerFailure(err: NodeJS.ErrnoException & { code?: string | number }, host: string): string {
  if (typeof err.code === 'number')
    return CONNACK_WORDS[err.code] ?? `the broker refused the connection (code ${err.code})`;
  switch (err.code) {
    case 'ECONNREFUSED':
      return `nothing answers at ${host} (no broker on that port)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the broker's name in ${host} does not resolve (DNS, or the box is offline)`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${host} cannot be reached from this box (network, firewall)`;
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return `the broker's certificate is not signed by the CA given (AYI_MQTT_CA_FILE)`;
    case 'CERT_HAS_EXPIRED':
      return `the broker's certificate has expired`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the broker's certificate is not for ${host}`;
    default:
      return err.message;
  }
}

function connectOnce(url: string, options: mqtt.IClientOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, options);
    const timer = setTimeout(() => {
      client.end(true);
      reject(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' }));
    }, BROKER_TIMEOUT_MS);
    client.once('connect', () => {
      clearTimeout(timer);
      client.end(false, {}, () => resolve());
    });
    client.once('error', (err) => {
      clearTimeout(timer);
      client.end(true);
      reject(err);
    });
  });
}

function readPem(file: string, what: string, problems: string[]): Buffer | null {
  try {
    const data = readFileSync(file);
    if (!data.toString('latin1').includes('-----BEGIN ')) {
      problems.push(`${what} ${file} is not a PEM file (no "-----BEGIN")`);
      return null;
    }
    return data;
  } catch (err) {
    problems.push(`${what} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return null;
  }
}

function checkCertificate(pem: Buffer, what: string, setting: string, notes: string[], problems: string[]) {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    problems.push(`${what} (${setting}) is not a certificate: ${(err as Error).message}`);
    return null;
  }
  const now = Date.now();
  const validTo = new Date(cert.validTo).getTime();
  if (validTo < now) {
    problems.push(
      `${what} (${setting}) expired on ${new Date(validTo).toISOString().slice(0, 10)}: ask HQ for a new one`,
    );
  } else if (new Date(cert.validFrom).getTime() > now) {
    problems.push(
      `${what} (${setting}) is valid only from ${new Date(cert.validFrom).toISOString()}: is this box's clock right?`,
    );
  } else {
    const days = Math.floor((validTo - now) / 86_400_000);
    notes.push(`${what}: valid until ${new Date(validTo).toISOString().slice(0, 10)} (${days} days)`);
    if (days < EXPIRY_WARNING_DAYS) notes.push(`warning: ${what} expires in ${days} days: ask HQ for a new one`);
  }
  return cert;
}

export interface SettingsCheck {
  notes: string[];
  problems: string[];
}

/** Every check but the broker's, then the broker's (only when the rest holds). */
export async function checkSettings(settings: Map<string, string>): Promise<SettingsCheck> {
  const notes: string[] = [];
  const problems: string[] = [];
  const known = new Set(SETTING_NAMES);
  for (const name of settings.keys()) {
    if (name.startsWith('AYI_') && !known.has(name)) problems.push(`${name}: not a setting of the hub (a typo?)`);
  }
  const env = Object.fromEntries(settings);
  try {
    loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const get = (name: string) => (settings.get(name) ?? '') || null;

  const memberKey = get('AYI_MEMBER_HASH_KEY');
  if (memberKey === null) {
    problems.push(
      "AYI_MEMBER_HASH_KEY: the chain's member key is missing (from HQ; the same in every store, or members cannot be found across stores)",
    );
  } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(memberKey) && Buffer.from(memberKey, 'base64').length < 32) {
    problems.push(
      `AYI_MEMBER_HASH_KEY: the chain's member key is ${Buffer.from(memberKey, 'base64').length} bytes; it needs 32 or more (value not shown)`,
    );
  }

  const passphraseFile = get('AYI_BACKUP_PASSPHRASE_FILE');
  if (passphraseFile !== null) {
    try {
      const passphrase = readFileSync(passphraseFile, 'utf8').split('\n')[0]!.trim();
      if ([...passphrase].length < MIN_PASSPHRASE_CHARS) {
        problems.push(
          `AYI_BACKUP_PASSPHRASE_FILE: the passphrase in ${passphraseFile} is shorter than ${MIN_PASSPHRASE_CHARS} characters (not shown)`,
        );
      }
    } catch (err) {
      problems.push(
        `AYI_BACKUP_PASSPHRASE_FILE: ${passphraseFile} cannot be read (${(err as NodeJS.ErrnoException).code})`,
      );
    }
  }

  const url = get('AYI_MQTT_URL');
  const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  const caFile = get('AYI_MQTT_CA_FILE');
  if (caFile !== null) {
    const pem = readPem(caFile, 'the CA file (AYI_MQTT_CA_FILE)', problems);
    if (pem && checkCertificate(pem, 'the CA certificate', 'AYI_MQTT_CA_FILE', notes, problems)) tls.ca = pem;
  }
  const certFile = get('AYI_MQTT_CERT_FILE');
  const keyFile = get('AYI_MQTT_KEY_FILE');
  if (certFile !== null && keyFile !== null) {
    const certPem = readPem(certFile, 'the client certificate (AYI_MQTT_CERT_FILE)', problems);
    const keyPem = readPem(keyFile, 'the client key (AYI_MQTT_KEY_FILE)', problems);
    const cert = certPem && checkCertificate(certPem, 'the client certificate', 'AYI_MQTT_CERT_FILE', notes, problems);
    if (cert && keyPem) {
      try {
        if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
          problems.push('AYI_MQTT_KEY_FILE: the client key does not belong to the client certificate');
        } else {
          tls.cert = certPem;
          tls.key = keyPem;
        }
      } catch (err) {
        problems.push(`AYI_MQTT_KEY_FILE: not a private key (${(err as Error).message})`);
      }
    }
  }

  if (url === null) {
    notes.push('broker: none set (AYI_MQTT_URL): the store sells, HQ receives nothing');
    return { notes, problems };
  }
  if (problems.length > 0) return { notes, problems };
  const host = (() => {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  })();
  const username = get('AYI_MQTT_USERNAME');
  const password = get('AYI_MQTT_PASSWORD');
  try {
    await connectOnce(url, {
      protocolVersion: 5,
      // Not the hub's client id: a running hub of this store is not disconnected by the check.
      clientId: `ayi-check-${settings.get('AYI_STORE_ID') ?? 'store'}-${process.pid}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: BROKER_TIMEOUT_MS,
      ...(username !== null ? { username } : {}),
      ...(password !== null ? { password } : {}),
      ...tls,
      rejectUnauthorized: true,
    });
    notes.push(`broker: ${host} accepted ${username ?? 'the connection'}`);
  } catch (err) {
    problems.push(`broker ${host}: ${brokerFailure(err as NodeJS.ErrnoException, host)}`);
  }
  return { notes, problems };
}

/** The command: prints each note and problem; 0 when there is no problem, else 1. */
export async function checkSettingsCommand(args: string[]): Promise<number> {
  const [file, ...extra] = args;
  if (!file || extra.length > 0) throw new Error('usage: check-settings <settings file>');
  const { notes, problems } = await checkSettings(parseSettings(readFileSync(file, 'utf8')));
  for (const note of notes) process.stdout.write(`  ok: ${note}\n`);
  for (const problem of problems) process.stdout.write(`  wrong: ${problem}\n`);
  return problems.length > 0 ? 1 : 0;
}
