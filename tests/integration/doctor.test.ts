/**
 * `ayi doctor` as the technician runs it (the real command, `node --import tsx scripts/ayi.ts`) on a
 * box whose settings are in a hub.env file (AYI_SETTINGS_FILE, as /etc/ayi/hub.env): a real hub
 * process (hub/dist, built) linked over TLS with a password to a real mosquitto, certificates made
 * with openssl. All ok; a client certificate that expires while the hub runs (HQ's status says so);
 * wrong broker credentials; the hub stopped; a full data disk. And `ayi unlock` of an unknown tablet
 * is an error.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorCheck } from '../../hub/src/services/doctor.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { runAyiWith, type AyiRun } from '../support/ayi-cli.ts';
import { HUB_ENTRY, REPO_ROOT, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import {
  MOSQUITTO_BIN,
  hqSubscriber,
  startMosquitto,
  type HqSubscriber,
  type Mosquitto,
} from '../support/mosquitto.ts';
import { poll } from '../support/poll.ts';
import { mountSmallDisk } from '../support/small-disk.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { TestPki, type CertificateFiles } from '../support/test-pki.ts';
import { Virtual9100Printer } from '../support/virtual-9100-printer.ts';
import { writeNetworkPrinterFile } from '../support/test-hub.ts';

const CHAIN = 'doctor-chain';
const STORE = 'doctor-store';
const PASSWORD = 'right-password-1';
const MEMBER_KEY = Buffer.alloc(32, 7).toString('base64');
const temp = new TempDirs();
const hubs: HubProcess[] = [];
let ca: CertificateFiles;
/** The store's receipt printer, on the network (a box printing only to the virtual one is warned about). */
let printer: Virtual9100Printer;
let server: CertificateFiles;
let client: CertificateFiles;
let expired: CertificateFiles;
let broker: Mosquitto;
let hq: HqSubscriber;
const disk = mountSmallDisk({
  prefix: 'ayi-doctor-disk-',
  label: 'the doctor full-disk case',
  size: '8m',
  skipBecause: existsSync(HUB_ENTRY) ? null : 'the hub is not built (npm run build -w hub)',
});

/** A CA, the broker's certificate, a client certificate for a year and one that expired in 2020. */
function makePki(): void {
  const pki = new TestPki(temp.make('ayi-doctor-pki-'));
  const year = { days: 365 };
  ca = pki.selfSigned('ca', '/CN=Ayi doctor CA', year);
  server = pki.server('server', ca, year);
  client = pki.client('client', ca, `${CHAIN}.${STORE}`, year);
  // The same key, certified from January to February 2020.
  expired = pki.client(
    'expired',
    ca,
    `${CHAIN}.${STORE}`,
    { from: new Date('2020-01-01T00:00:00Z'), until: new Date('2020-02-01T00:00:00Z') },
    client,
  );
}

interface Box {
  settingsFile: string;
  dataDir: string;
  tlsDir: string;
  installDir: string;
  hub: HubProcess | null;
}

/**
 * A box: its settings file (what the hub runs with and `ayi` reads), its TLS files, a backup
 * directory, and an install root with the release the checkout is.
 */
async function box(settings: Record<string, string> = {}, dataDir = temp.make('ayi-doctor-data-')): Promise<Box> {
  const tlsDir = temp.make('ayi-doctor-tls-');
  copyFileSync(ca.cert, path.join(tlsDir, 'ca.crt'));
  copyFileSync(client.cert, path.join(tlsDir, 'client.crt'));
  copyFileSync(client.key, path.join(tlsDir, 'client.key'));
  const installDir = temp.make('ayi-doctor-opt-');
  const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'hub', 'package.json'), 'utf8')) as { version: string })
    .version;
  mkdirSync(path.join(installDir, 'releases', version), { recursive: true });
  writeFileSync(path.join(installDir, 'releases', version, 'RELEASE.json'), JSON.stringify({ version }));
  symlinkSync(path.join('releases', version), path.join(installDir, 'current'));
  const values: Record<string, string> = {
    AYI_DATA_DIR: dataDir,
    AYI_CHAIN_ID: CHAIN,
    AYI_STORE_ID: STORE,
    AYI_MQTT_URL: `mqtts://127.0.0.1:${broker.port}`,
    AYI_MQTT_USERNAME: STORE,
    AYI_MQTT_PASSWORD: PASSWORD,
    AYI_MQTT_CA_FILE: path.join(tlsDir, 'ca.crt'),
    AYI_MQTT_CERT_FILE: path.join(tlsDir, 'client.crt'),
    AYI_MQTT_KEY_FILE: path.join(tlsDir, 'client.key'),
    AYI_MQTT_RECONNECT_MAX_MS: '1000',
    AYI_MEMBER_HASH_KEY: MEMBER_KEY,
    AYI_BACKUP_DIR: temp.make('ayi-doctor-backups-'),
    AYI_BACKUP_PASSPHRASE: 'a long backup passphrase',
    AYI_CHECK_EVERY_S: '1',
    ...settings,
  };
  mkdirSync(dataDir, { recursive: true });
  writeNetworkPrinterFile(dataDir, printer, 'Counter printer');
  const settingsFile = path.join(temp.make('ayi-doctor-etc-'), 'hub.env');
  writeFileSync(
    settingsFile,
    Object.entries(values)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
    { mode: 0o600 },
  );
  return { settingsFile, dataDir, tlsDir, installDir, hub: null };
}

async function startHub(b: Box): Promise<HubProcess> {
  const env = Object.fromEntries(
    readFileSync(b.settingsFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
  b.hub = await startHubProcess({ dataDir: b.dataDir, env });
  hubs.push(b.hub);
  return b.hub;
}

/** `ayi <args>` as typed on the box: no AYI_DATA_DIR, the settings file names it. */
/** A user that is neither root nor the hub's (nobody), for setpriv. */
const OTHER_USER = ['--reuid=65534', '--regid=65534', '--clear-groups'];

function ayi(b: Box, args: string[], runAs: string[] = []): Promise<AyiRun> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('AYI_')) env[name] = value;
  env.AYI_SETTINGS_FILE = b.settingsFile;
  env.AYI_INSTALL_DIR = b.installDir;
  return runAyiWith(args, { env, runAs });
}

async function doctor(b: Box): Promise<{ code: number | null; checks: Record<string, DoctorCheck> }> {
  const run = await ayi(b, ['doctor', '--json']);
  let parsed: { checks: DoctorCheck[] };
  try {
    parsed = JSON.parse(run.stdout) as { checks: DoctorCheck[] };
  } catch {
    throw new Error(`ayi doctor --json printed no JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
  return { code: run.code, checks: Object.fromEntries(parsed.checks.map((c) => [c.id, c])) };
}

const statusOf = () => hq.last(`${storeTopics(CHAIN, STORE).root}/status`);

beforeAll(async () => {
  if (!MOSQUITTO_BIN || !existsSync(HUB_ENTRY)) return;
  makePki();
  printer = await Virtual9100Printer.start();
  broker = await startMosquitto({
    users: { [STORE]: PASSWORD, hq: 'hq-password' },
    extraConfig: [`certfile ${server.cert}`, `keyfile ${server.key}`, `cafile ${ca.cert}`, 'require_certificate false'],
  });
  hq = await hqSubscriber(`mqtts://127.0.0.1:${broker.port}`, 'ayi/v1/#', false, {
    username: 'hq',
    password: 'hq-password',
    ca: readFileSync(ca.cert),
  });
}, 60_000);

afterAll(async () => {
  await hq?.close();
  for (const hub of hubs) await hub.kill();
  await broker?.kill();
  await printer?.close();
  disk.remove();
  temp.removeAll();
});

describe.skipIf(!MOSQUITTO_BIN || !existsSync(HUB_ENTRY))('ayi doctor', () => {
  let healthy: Box;

  it('passes every check on a box set up right, and HQ receives the summary: nothing failing', async () => {
    healthy = await box();
    await startHub(healthy);
    const { code, checks } = await poll(
      () => doctor(healthy),
      (run) => run.checks.broker?.level === 'ok',
      'the link to HQ',
      20_000,
    );
    expect(Object.keys(checks)).toEqual([
      'hub',
      'settings',
      'clock',
      'disk',
      'journal',
      'printers',
      'scanners',
      'broker',
      'certificates',
      'member-key',
      'backups',
      'update',
    ]);
    expect(Object.values(checks).filter((c) => c.level !== 'ok')).toEqual([]);
    expect(code).toBe(0);
    expect(checks.update!.summary).toMatch(/^Release \d+\.\d+\.\d+, installed /);

    const text = await ayi(healthy, ['doctor']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^✓ hub +The hub is running/m);
    expect(text.stdout).toContain('All checks passed.');

    await hq.waitFor(() => statusOf()?.state === 'online', 20_000, 'the online status');
    expect(statusOf()!.checks).toEqual({ failing: [], warning: [] });
  });

  it('tells a technician without sudo to use it (the hub answers root and its own user only)', async (context) => {
    // Another user runs the checkout's ayi: where the checkout lies under a directory only root may
    // enter (a CI's temporary directory), that user cannot read it at all, and there is nothing to see.
    const readableByOthers = spawnSync('setpriv', [
      ...OTHER_USER,
      'test',
      '-r',
      path.join(REPO_ROOT, 'scripts', 'ayi.ts'),
    ]);
    if (readableByOthers.status !== 0) {
      console.warn('doctor without sudo: skipped, the checkout is not readable by other users here');
      context.skip();
    }
    // The settings file is root's (0600 here): a copy the other user may read, as a group-readable one would be.
    const readable = path.join(temp.make('ayi-doctor-etc-'), 'hub.env');
    copyFileSync(healthy.settingsFile, readable);
    chmodSync(readable, 0o644);
    chmodSync(path.dirname(readable), 0o755);
    const run = await ayi({ ...healthy, settingsFile: readable }, ['doctor', '--json'], ['setpriv', ...OTHER_USER]);
    const checks = (JSON.parse(run.stdout) as { checks: DoctorCheck[] }).checks;
    const hub = checks.find((c) => c.id === 'hub')!;
    expect(hub.level).toBe('fail');
    expect(hub.summary).toContain('This user may not talk to the hub');
    expect(hub.fix).toBe('Run it with sudo: sudo ayi doctor.');
    expect(run.code).toBe(2);
  });

  it('fails the certificates check when the client certificate has expired, and HQ is told without a restart', async () => {
    // The file on the box is replaced (a wrong renewal): the running link keeps its connection.
    copyFileSync(expired.cert, path.join(healthy.tlsDir, 'client.crt'));
    await hq.waitFor(
      () => JSON.stringify(statusOf()?.checks) === JSON.stringify({ failing: ['certificates'], warning: [] }),
      20_000,
      'the status with the failing certificates check',
    );
    const { code, checks } = await doctor(healthy);
    expect(code).toBe(2);
    expect(checks.certificates!.level).toBe('fail');
    expect(checks.certificates!.summary).toContain('AYI_MQTT_CERT_FILE');
    expect(checks.certificates!.summary).toContain('expired on 2020-02-01');
    expect(checks.certificates!.fix).toMatch(/new certificate.*\/etc\/ayi\/tls/);
    const text = await ayi(healthy, ['doctor']);
    expect(text.stdout).toMatch(/^✗ certificates +AYI_MQTT_CERT_FILE .* expired on 2020-02-01/m);
    expect(text.stdout).toMatch(/^ +fix: Ask HQ for a new certificate/m);
  });

  it('says the hub is not running, with the fix, and still checks what files show', async () => {
    await healthy.hub!.stop();
    const { code, checks } = await doctor(healthy);
    expect(code).toBe(2);
    expect(checks.hub!.level).toBe('fail');
    expect(checks.hub!.summary).toContain('The hub is not running');
    expect(checks.hub!.fix).toContain('sudo systemctl status ayi-hub');
    expect(checks.hub!.fix).toContain('journalctl -u ayi-hub');
    // From the files: the settings, the disk, the expired certificate, the key, the backups.
    expect(checks.settings!.level).toBe('ok');
    expect(checks.disk!.level).toBe('ok');
    expect(checks.certificates!.summary).toContain('expired on 2020-02-01');
    expect(checks['member-key']!.level).toBe('ok');
    expect(checks.journal).toBeUndefined();
  });

  it('fails the broker check with the credentials to check when the broker refuses the password', async () => {
    const wrong = await box({ AYI_MQTT_PASSWORD: 'wrong-password' });
    await startHub(wrong);
    const { code, checks } = await poll(
      () => doctor(wrong),
      (run) => run.checks.broker?.level === 'fail' && /refused/i.test(run.checks.broker.summary),
      'the broker refusing the password',
      20_000,
    );
    expect(code).toBe(2);
    expect(checks.broker!.summary).toMatch(
      /Not connected to mqtts:\/\/127\.0\.0\.1:\d+: Connection refused: (Bad User Name or Password|Not authorized)/,
    );
    expect(checks.broker!.fix).toContain('AYI_MQTT_PASSWORD');
    // The password is never printed.
    expect(JSON.stringify(checks)).not.toContain('wrong-password');
    await wrong.hub!.stop();
  });

  it('says a settings file the hub would refuse is the problem', async () => {
    const broken = await box({ AYI_MQTT_URL: 'http://example.invalid' });
    const { code, checks } = await doctor(broken);
    expect(code).toBe(2);
    expect(checks.settings!.level).toBe('fail');
    expect(checks.settings!.summary).toContain('AYI_MQTT_URL');
  });

  it.skipIf(disk.problem !== null)('fails the disk check on a full data disk', async () => {
    const full = await box({}, disk.mountPoint);
    disk.fill();
    const { code, checks } = await doctor(full);
    expect(code).toBe(2);
    expect(checks.disk!.level).toBe('fail');
    expect(checks.disk!.summary).toMatch(/^The data disk is full/);
    expect(checks.disk!.fix).toContain('Disk space');
  });
});

describe.skipIf(!MOSQUITTO_BIN || !existsSync(HUB_ENTRY))('ayi unlock', () => {
  it('of a tablet that was never paired is an error, and nothing is recorded', async () => {
    const b = await box({
      AYI_MQTT_URL: '',
      AYI_MQTT_CA_FILE: '',
      AYI_MQTT_CERT_FILE: '',
      AYI_MQTT_KEY_FILE: '',
      AYI_MQTT_USERNAME: '',
      AYI_MQTT_PASSWORD: '',
    });
    const hub = await startHub(b);
    const run = await ayi(b, ['unlock', 'no-such-tablet']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('No paired device no-such-tablet');
    expect(run.stdout).toBe('');
    await hub.stop();
  });
});
