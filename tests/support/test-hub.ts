/**
 * The real hub in this process, on a free port, with a temporary data directory, plus a small
 * client that pairs and logs in the way a tablet does. For integration tests.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { loadConfig, type HubConfig } from '../../hub/src/config/config.ts';
import { DEFAULT_DEVICES, type DevicesConfig, type ScannerConfig } from '../../hub/src/devices/device-config.ts';
import { DEMO_STAFF, Hub } from '../../hub/src/hub.ts';
import type { Role } from '../../hub/src/protocol/api.ts';
import type { SignUpResult } from '../../hub/src/protocol/members.ts';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { tempDataDir, type HubProcess } from './hub-process.ts';

export interface TestHubOptions {
  dataDir?: string;
  config?: Partial<HubConfig>;
  clock?: () => Date;
  /** Defaults to a silent logger. */
  logger?: Logger;
}

export async function startTestHub(options: TestHubOptions = {}): Promise<Hub> {
  const config = loadConfig(
    {},
    {
      port: 0,
      host: '127.0.0.1',
      dataDir: options.dataDir ?? tempDataDir(),
      logLevel: 'silent',
      // The small demo store (no seeded year of history) unless a test asks for it.
      demoHistory: false,
      ...options.config,
    },
  );
  return Hub.start(config, {
    ...(options.clock ? { clock: options.clock } : {}),
    logger: options.logger ?? pino({ level: 'silent' }),
  });
}

/**
 * Writes `devices.json` into a data directory before the hub starts (or between two starts): the
 * default virtual printer plus `scanners`.
 */
/**
 * A `devices.json` whose one printer, the default, is a network receipt printer at `host`:`port`
 * (80 mm, Big5), with no scanners; its path.
 */
export function writeNetworkPrinterFile(
  dataDir: string,
  printer: { host: string; port: number },
  name = '櫃台印表機',
): string {
  const file = path.join(dataDir, 'devices.json');
  const devices: DevicesConfig = {
    printers: [
      {
        id: 'counter',
        name,
        transport: 'network',
        host: printer.host,
        port: printer.port,
        paperWidth: 80,
        encoding: 'cp950',
        default: true,
        cashDrawer: false,
      },
    ],
    scanners: [],
  };
  writeFileSync(file, JSON.stringify(devices), { mode: 0o600 });
  return file;
}

export function writeDevicesFile(dataDir: string, scanners: ScannerConfig[]): void {
  const devices: DevicesConfig = { printers: DEFAULT_DEVICES.printers, scanners };
  writeFileSync(path.join(dataDir, 'devices.json'), `${JSON.stringify(devices, null, 2)}\n`);
}

/** A hub in this process (startTestHub) or in its own (startHubProcess). */
export type AnyHub = Hub | HubProcess;

export async function newPairingCode(hub: AnyHub): Promise<string> {
  if (!(hub instanceof Hub)) return hub.newPairingCode();
  return (await adminRequest<{ code: string }>(path.join(hub.config.dataDir, 'ayi.sock'), 'pair')).code;
}

/** A tablet talking to the hub over real HTTP. */
export class TabletClient {
  deviceToken: string | null = null;
  sessionToken: string | null = null;
  deviceId: string | null = null;

  constructor(readonly baseUrl: string) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { ...extra };
    if (this.deviceToken) headers.authorization = `Bearer ${this.deviceToken}`;
    if (this.sessionToken) headers['x-ayi-session'] = this.sessionToken;
    return headers;
  }

  async request(method: string, url: string, body?: unknown, contentType = 'application/json') {
    const response = await fetch(this.baseUrl + url, {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': contentType }),
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return {
      status: response.status,
      body: json as Record<string, unknown> & { error?: { code: string; message: string } },
    };
  }

  async pair(code: string, name = 'Tablet'): Promise<void> {
    const res = await this.request('POST', '/api/pair', { code, name });
    if (res.status !== 201) throw new Error(`pairing failed: ${JSON.stringify(res.body)}`);
    this.deviceToken = res.body.token as string;
    this.deviceId = res.body.deviceId as string;
  }

  async login(pin: string): Promise<void> {
    const res = await this.request('POST', '/api/session', { pin });
    if (res.status !== 200) throw new Error(`login failed: ${JSON.stringify(res.body)}`);
    this.sessionToken = res.body.token as string;
  }
}

/** Pairs a new tablet and logs in with `pin`. */
export async function pairedTablet(hub: AnyHub, pin = '1111', name = 'Tablet'): Promise<TabletClient> {
  const tablet = new TabletClient(hub.url);
  await tablet.pair(await newPairingCode(hub), name);
  await tablet.login(pin);
  return tablet;
}

/** Signs a member up from `tablet` with a phone number alone; returns the new member's id. */
export async function signUpMember(tablet: TabletClient, phone: string): Promise<string> {
  const res = await tablet.request('POST', '/api/members', { phone });
  if (res.status !== 201) throw new Error(`sign-up failed: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as unknown as SignUpResult).member.memberId;
}

/** The PIN the demo store gives the staff member of this role. */
export const demoPin = (role: Role): string => DEMO_STAFF.find((staff) => staff.role === role)!.pin;
