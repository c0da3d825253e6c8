/**
 * `scripts/provision` on a fresh Debian 13 (trixie), the base of Raspberry Pi OS 13: a minbase chroot
 * made with debootstrap from deb.debian.org stands in for the Pi (x86_64 here, the x64 release).
 * Inside it, as root, the script installs the release, Node.js from apt, the user, the settings and
 * the unit from a settings file, against a real mosquitto on this machine (the chroot shares the
 * network) over TLS, with the chain's CA file and a password file. Then the hub is started the way
 * the unit does (its user, its environment file, its ExecStart) and sells through the HTTP API, and
 * its data is moved to a "USB SSD" (a loop device over a file).
 *
 * systemd is not PID 1 in a chroot: the script's start and end check are not run here (it says so).
 * The chroot is cached in .cache/debootstrap-trixie.tar (and the .deb files apt fetched in
 * .cache/apt-archives/), so a second run does not download it again; from nothing it takes about a
 * minute and a half more. It needs root and debootstrap (.ci/run installs it); without them it is
 * skipped, with the reason.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEscPos } from '../support/escpos-decoder.ts';
import { freePort } from '../support/free-port.ts';
import { REPO_ROOT } from '../support/hub-process.ts';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { poll } from '../support/poll.ts';
import { packageRelease } from '../support/release-artifact.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { TabletClient, writeNetworkPrinterFile } from '../support/test-hub.ts';
import { TestPki } from '../support/test-pki.ts';
import { Virtual9100Printer } from '../support/virtual-9100-printer.ts';

const CACHE_DIR = path.join(REPO_ROOT, '.cache');
const CHROOT_CACHE = path.join(CACHE_DIR, 'debootstrap-trixie.tar');
const APT_CACHE = path.join(CACHE_DIR, 'apt-archives');
const MIRROR = 'http://deb.debian.org/debian';
const PATH_IN_CHROOT = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const BROKER_USER = 'taipei-daan-01';
const BROKER_PASSWORD = 'right-pass-7481';
const OWNER_PIN = '583920';

const cannotRun =
  process.platform !== 'linux'
    ? 'not Linux'
    : process.getuid?.() !== 0
      ? 'not root (debootstrap and chroot need root)'
      : !existsSync('/usr/sbin/debootstrap')
        ? 'debootstrap is not installed (apt-get install debootstrap)'
        : null;
if (cannotRun) console.warn(`provision.test.ts skipped: ${cannotRun}`);

let root = '';
let mosquitto: Mosquitto | null = null;
let hub: ChildProcess | null = null;
let hubOutput = '';
let artifactName = '';
let port = 0;
const timings: Record<string, number> = {};
/** A file on this machine standing in for the store's USB SSD, attached as a loop device. */
let ssdImage = '';
let pkiDir = '';
let loopDevice = '';

function timed<T>(what: string, run: () => T): T {
  const started = Date.now();
  try {
    return run();
  } finally {
    timings[what] = Math.round((Date.now() - started) / 100) / 10;
  }
}

const inRoot = (file: string) => path.join(root, file);

function settingsFile(overrides: Record<string, string> = {}): void {
  const settings: Record<string, string> = {
    AYI_CHAIN_ID: 'acme',
    AYI_STORE_ID: 'taipei-daan-01',
    AYI_STORE_NAME: '阿姨的店 大安店',
    AYI_TZ: 'Asia/Taipei',
    AYI_PORT: String(port),
    AYI_MQTT_URL: `mqtts://127.0.0.1:${mosquitto!.port}`,
    AYI_MQTT_CA_FILE: 'tls/ca.pem',
    AYI_MQTT_USERNAME: BROKER_USER,
    AYI_MQTT_PASSWORD_FILE: 'broker-password.txt',
    AYI_MEMBER_HASH_KEY: memberKey,
    // The demo catalog gives the sale below something to sell (the CSV import is its own command);
    // no demo history: a small store.
    AYI_DEMO: 'true',
    AYI_DEMO_HISTORY: 'off',
    ...overrides,
  };
  const text = Object.entries(settings)
    .map(([key, value]) => `${key}=${value}\n`)
    .join('');
  writeFileSync(inRoot('root/store/store.env'), `# The store's details, as a technician brings them\n${text}`);
}
const memberKey = randomBytes(32).toString('base64');

function provision(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(
    'chroot',
    [
      root,
      '/usr/bin/env',
      '-i',
      PATH_IN_CHROOT,
      '/bin/bash',
      '/root/provision',
      '--settings',
      '/root/store/store.env',
      '--release',
      `/root/${artifactName}`,
      ...args,
    ],
    { encoding: 'utf8', timeout: 600_000 },
  );
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Every file provisioning may touch: its modification time, mode and owner. */
function installedFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (relative: string) => {
    const full = inRoot(relative);
    if (!existsSync(full) && !isLink(full)) return;
    const stat = lstatSync(full);
    // A directory's own time changes when a file in it is replaced: its files say what changed.
    const time = stat.isDirectory() ? 'dir' : String(stat.mtimeMs);
    files.set(relative, `${time} ${stat.mode.toString(8)} ${stat.uid}:${stat.gid}`);
    if (stat.isDirectory()) for (const entry of readdirSync(full)) visit(path.join(relative, entry));
  };
  for (const top of [
    'etc/ayi',
    'opt/ayi',
    'var/lib/ayi',
    'etc/systemd',
    'etc/udev/rules.d',
    'etc/localtime',
    'etc/timezone',
    'etc/fstab',
    'etc/passwd',
    'etc/group',
    'usr/local/bin/ayi',
  ]) {
    visit(top);
  }
  return files;
}
function isLink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
function changedFiles(before: Map<string, string>, after: Map<string, string>): string[] {
  const names = new Set([...before.keys(), ...after.keys()]);
  return [...names].filter((name) => before.get(name) !== after.get(name)).sort();
}

/** A user's or group's id in the chroot's own files. */
function chrootId(file: 'passwd' | 'group', name: string): number {
  const line = readFileSync(inRoot(`etc/${file}`), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no ${name} in the chroot's /etc/${file}`);
  return Number(line.split(':')[2]);
}

/** The chroot: from the cache, else made with debootstrap and cached. */
function makeChroot(): void {
  root = mkdtempSync(path.join(os.tmpdir(), 'ayi-chroot-'));
  if (existsSync(CHROOT_CACHE)) {
    timed('chroot from cache (s)', () => execFileSync('tar', ['-xpf', CHROOT_CACHE, '-C', root]));
  } else {
    timed('debootstrap (s)', () =>
      // udev: its udevadm verifies the rules the script installs (Raspberry Pi OS has it).
      execFileSync('debootstrap', ['--variant=minbase', '--include=udev', 'trixie', root, MIRROR], {
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 900_000,
      }),
    );
    // The packages debootstrap fetched are installed: the cache need not hold them twice.
    execFileSync('chroot', [root, 'apt-get', 'clean']);
    mkdirSync(CACHE_DIR, { recursive: true });
    const partial = `${CHROOT_CACHE}.partial`;
    execFileSync('tar', ['-cpf', partial, '-C', root, '.']);
    renameSync(partial, CHROOT_CACHE);
  }
  // A system's / is 0755 (mkdtemp's, and the cache's, is 0700): the hub's user must get through it.
  chmodSync(root, 0o755);
  writeFileSync(inRoot('etc/resolv.conf'), readFileSync('/etc/resolv.conf'));
  if (existsSync(APT_CACHE)) cpSync(APT_CACHE, inRoot('var/cache/apt/archives'), { recursive: true });
  execFileSync('mount', ['-t', 'proc', 'proc', inRoot('proc')]);
  execFileSync('mount', ['--bind', '/dev', inRoot('dev')]);
}

function removeChroot(): void {
  // Deepest first: the data device provisioning mounted inside, then /dev and /proc.
  const mountedUnder = () =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((point) => root !== '' && (point === root || point.startsWith(`${root}/`)))
      .sort((a, b) => b.length - a.length);
  for (const point of mountedUnder()) {
    if (spawnSync('umount', [point]).status !== 0) spawnSync('umount', ['-l', point]);
  }
  if (loopDevice) spawnSync('losetup', ['-d', loopDevice]);
  if (ssdImage) rmSync(ssdImage, { force: true });
  // Never delete through a mount (the bind-mounted /dev is this machine's).
  if (root && mountedUnder().length === 0) rmSync(root, { recursive: true, force: true });
  else if (root) console.warn(`left ${root} in place: something is still mounted under it`);
}

interface Health {
  status: string;
  storeId: string;
  lastSeq: number;
  hq: { link: string };
}

/** The hub as its unit starts it: its user and group, its environment file, its directory, its ExecStart. */
async function startHubAsTheUnitDoes(): Promise<Health> {
  hubOutput = '';
  const unit = readFileSync(inRoot('etc/systemd/system/ayi-hub.service'), 'utf8');
  const directive = (name: string) => {
    const found = new RegExp(`^${name}=(.*)$`, 'm').exec(unit)?.[1];
    if (!found) throw new Error(`the unit has no ${name}=`);
    return found;
  };
  expect(directive('User')).toBe('ayi');
  const environment = readFileSync(inRoot(directive('EnvironmentFile')), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line));
  const uid = chrootId('passwd', directive('User'));
  const gid = chrootId('group', directive('Group'));
  hub = spawn(
    'chroot',
    [
      `--userspec=${uid}:${gid}`,
      root,
      '/usr/bin/env',
      '-i',
      PATH_IN_CHROOT,
      ...environment,
      '/bin/sh',
      '-c',
      `cd ${directive('WorkingDirectory')} && exec ${directive('ExecStart')}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  hub.stdout!.setEncoding('utf8').on('data', (chunk: string) => (hubOutput += chunk));
  hub.stderr!.setEncoding('utf8').on('data', (chunk: string) => (hubOutput += chunk));
  const baseUrl = `http://127.0.0.1:${port}`;
  return poll(
    async () => {
      if (hub!.exitCode !== null) throw new Error(`the hub exited:\n${hubOutput}`);
      try {
        return (await (await fetch(`${baseUrl}/api/health`)).json()) as Health;
      } catch {
        return null;
      }
    },
    (h) => h?.hq.link === 'connected',
    'the hub to answer with its link to HQ up',
    60_000,
  ) as Promise<Health>;
}

async function stopHub(): Promise<void> {
  if (!hub || hub.exitCode !== null) return;
  const exited = new Promise((resolve) => hub!.once('exit', resolve));
  hub.kill('SIGTERM');
  await exited;
}

describe.skipIf(cannotRun !== null)('scripts/provision in a Debian 13 chroot', () => {
  beforeAll(async () => {
    makeChroot();
    const outDir = mkdtempSync(path.join(os.tmpdir(), 'ayi-provision-release-'));
    const artifact = timed('release (s)', () => packageRelease('x64', outDir));
    artifactName = path.basename(artifact);
    // The technician takes the script out of the artifact, as the README says.
    execFileSync('tar', ['-xzf', artifact, '-C', outDir]);
    cpSync(path.join(outDir, artifactName.replace(/\.tar\.gz$/, ''), 'provision'), inRoot('root/provision'));
    cpSync(artifact, inRoot(`root/${artifactName}`));
    cpSync(`${artifact}.sha256`, inRoot(`root/${artifactName}.sha256`));
    rmSync(outDir, { recursive: true, force: true });

    // The chain's broker over TLS, as a store's box reaches it: its CA comes with the store's details.
    pkiDir = mkdtempSync(path.join(os.tmpdir(), 'ayi-provision-pki-'));
    const pki = new TestPki(pkiDir);
    const ca = pki.selfSigned('ca', '/CN=Acme chain CA', { days: 2 });
    const server = pki.server('server', ca, { days: 2 });
    mosquitto = await startMosquitto({
      users: { [BROKER_USER]: BROKER_PASSWORD },
      extraConfig: [`certfile ${server.cert}`, `keyfile ${server.key}`],
    });
    port = await freePort();
    mkdirSync(inRoot('root/store/tls'), { recursive: true });
    cpSync(ca.cert, inRoot('root/store/tls/ca.pem'));
    writeFileSync(inRoot('root/store/broker-password.txt'), `${BROKER_PASSWORD}\n`, { mode: 0o600 });
    settingsFile();
  }, 1_200_000);

  afterAll(async () => {
    await stopHub();
    await mosquitto?.kill();
    if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
    if (root) {
      // The .deb files apt fetched: the next run installs Node.js without downloading it again.
      const archives = inRoot('var/cache/apt/archives');
      const debs = existsSync(archives) ? readdirSync(archives).filter((f) => f.endsWith('.deb')) : [];
      if (debs.length > 0) {
        mkdirSync(APT_CACHE, { recursive: true });
        for (const deb of debs) cpSync(path.join(archives, deb), path.join(APT_CACHE, deb));
      }
      removeChroot();
    }
    console.log(`provision.test.ts timings: ${JSON.stringify(timings)}`);
  }, 120_000);

  it('installs the store from a settings file: Node.js, the release, the user, settings the service can read, the unit', () => {
    const first = timed('first provision (s)', () => provision());
    expect(first.status, first.output).toBe(0);
    expect(first.output).toContain('accepted taipei-daan-01');
    expect(first.output).toContain('Changed:');
    expect(first.output).toMatch(/installed nodejs/);
    expect(first.output).toContain('Not started: systemd is not running here');

    const node = spawnSync('chroot', [root, '/usr/bin/node', '--version'], { encoding: 'utf8' });
    expect(node.stdout.trim()).toMatch(/^v(2\d)\./);

    const ayiUid = chrootId('passwd', 'ayi');
    const ayiGid = chrootId('group', 'ayi');
    const mode = (file: string) => statSync(inRoot(file)).mode & 0o7777;
    const owner = (file: string) => `${statSync(inRoot(file)).uid}:${statSync(inRoot(file)).gid}`;
    expect([mode('etc/ayi'), owner('etc/ayi')]).toEqual([0o750, `0:${ayiGid}`]);
    expect([mode('etc/ayi/hub.env'), owner('etc/ayi/hub.env')]).toEqual([0o640, `0:${ayiGid}`]);
    expect([mode('var/lib/ayi'), owner('var/lib/ayi')]).toEqual([0o700, `${ayiUid}:${ayiGid}`]);
    // The CA file where the hub, running as ayi, can read it (not in a directory only root enters).
    expect([mode('etc/ayi/tls'), owner('etc/ayi/tls')]).toEqual([0o750, `0:${ayiGid}`]);
    expect([mode('etc/ayi/tls/ca.pem'), owner('etc/ayi/tls/ca.pem')]).toEqual([0o640, `0:${ayiGid}`]);
    expect(readFileSync(inRoot('etc/ayi/tls/ca.pem'), 'utf8')).toBe(
      readFileSync(inRoot('root/store/tls/ca.pem'), 'utf8'),
    );
    expect(readlinkSync(inRoot('opt/ayi/current'))).toBe('releases/0.1.0');
    expect(readlinkSync(inRoot('usr/local/bin/ayi'))).toBe('/opt/ayi/current/bin/ayi');
    expect(existsSync(inRoot('opt/ayi/releases/0.1.0/hub/dist/main.js'))).toBe(true);

    const hubEnv = readFileSync(inRoot('etc/ayi/hub.env'), 'utf8');
    expect(hubEnv).toContain('AYI_STORE_NAME=阿姨的店 大安店\n');
    expect(hubEnv).toContain('AYI_DATA_DIR=/var/lib/ayi\n');
    expect(hubEnv).toContain('AYI_MQTT_CA_FILE=/etc/ayi/tls/ca.pem\n');
    // The password file's line, in the file only root and the hub read; the file's name is not a hub setting.
    expect(hubEnv).toContain(`AYI_MQTT_PASSWORD=${BROKER_PASSWORD}\n`);
    expect(hubEnv).not.toContain('AYI_MQTT_PASSWORD_FILE');

    expect(readFileSync(inRoot('etc/systemd/system/ayi-hub.service'), 'utf8')).toBe(
      readFileSync(path.join(REPO_ROOT, 'firmware-config', 'ayi-hub.service'), 'utf8'),
    );
    expect(readlinkSync(inRoot('etc/systemd/system/multi-user.target.wants/ayi-hub.service'))).toBe(
      '/etc/systemd/system/ayi-hub.service',
    );
    expect(readFileSync(inRoot('etc/udev/rules.d/70-ayi-devices.rules'), 'utf8')).toBe(
      readFileSync(path.join(REPO_ROOT, 'firmware-config', 'udev', '70-ayi-devices.rules'), 'utf8'),
    );
    expect(readFileSync(inRoot('etc/systemd/journald.conf.d/ayi.conf'), 'utf8')).toMatch(/^SystemMaxUse=\d+M$/m);
    expect(readlinkSync(inRoot('etc/localtime'))).toBe('/usr/share/zoneinfo/Asia/Taipei');
  }, 600_000);

  it('changes nothing on a second run, and says so', () => {
    const before = installedFiles();
    const second = timed('second provision (s)', () => provision());
    expect(second.status, second.output).toBe(0);
    expect(second.output).toContain('Nothing changed.');
    expect(changedFiles(before, installedFiles())).toEqual([]);
  }, 300_000);

  it('with a new store name changes hub.env alone', () => {
    settingsFile({ AYI_STORE_NAME: '阿姨的店 信義店' });
    const before = installedFiles();
    const run = provision();
    expect(run.status, run.output).toBe(0);
    expect(run.output).toMatch(/Changed:\n {2}\/etc\/ayi\/hub\.env\n(?! {2})/);
    expect(changedFiles(before, installedFiles())).toEqual(['etc/ayi/hub.env']);
    expect(readFileSync(inRoot('etc/ayi/hub.env'), 'utf8')).toContain('AYI_STORE_NAME=阿姨的店 信義店\n');
  }, 300_000);

  it('refuses a wrong broker password, in plain words, and writes nothing', () => {
    writeFileSync(inRoot('root/store/broker-password.txt'), 'not-the-password\n');
    settingsFile({ AYI_STORE_NAME: '阿姨的店 板橋店' });
    const before = installedFiles();
    const run = provision();
    writeFileSync(inRoot('root/store/broker-password.txt'), `${BROKER_PASSWORD}\n`);
    expect(run.status).toBe(1);
    expect(run.output).toContain('the broker refused this user (not authorised)');
    expect(run.output).toContain('nothing was changed');
    expect(run.output).not.toContain('not-the-password');
    expect(changedFiles(before, installedFiles())).toEqual([]);
  }, 300_000);

  it('refuses a bad store id and an unknown time zone before writing anything', () => {
    settingsFile({ AYI_STORE_ID: 'Taipei Daan', AYI_TZ: 'Asia/Taipeh' });
    const before = installedFiles();
    const run = provision();
    settingsFile({ AYI_STORE_NAME: '阿姨的店 信義店' });
    expect(run.status).toBe(1);
    expect(run.output).toContain('storeId (AYI_STORE_ID)');
    expect(run.output).toContain('unknown time zone "Asia/Taipeh"');
    expect(run.output).toContain('nothing was changed');
    expect(changedFiles(before, installedFiles())).toEqual([]);
  }, 300_000);

  it('the installed udev rules pass udevadm verify', (context) => {
    const udevadm = spawnSync('chroot', [root, 'udevadm', 'verify', '--help'], { encoding: 'utf8' });
    if (udevadm.status !== 0) {
      console.warn(`udevadm verify skipped: this udevadm has no verify (${udevadm.stderr.trim()})`);
      context.skip();
    }
    const verified = spawnSync(
      'chroot',
      [root, 'udevadm', 'verify', '--resolve-names=never', '/etc/udev/rules.d/70-ayi-devices.rules'],
      { encoding: 'utf8' },
    );
    expect(verified.status, `${verified.stdout}${verified.stderr}`).toBe(0);
  });

  it('the hub started as the unit starts it sells, paired and staffed with ayi', async () => {
    const health = await startHubAsTheUnitDoes();
    expect(health).toMatchObject({ status: 'ok', storeId: 'taipei-daan-01' });

    // As the technician types them on the box: root, no AYI_DATA_DIR (it is in hub.env).
    const ayi = (args: string[], input?: string) =>
      spawnSync('chroot', [root, '/usr/bin/env', '-i', PATH_IN_CHROOT, '/usr/local/bin/ayi', ...args], {
        encoding: 'utf8',
        input,
      });
    const staff = ayi(['add-staff', '王老闆', 'owner'], `${OWNER_PIN}\n`);
    expect(staff.status, staff.stderr).toBe(0);
    const pairing = ayi(['pair']);
    expect(pairing.status, pairing.stderr).toBe(0);
    const code = /\b(\d{8})\b/.exec(pairing.stdout)?.[1];
    expect(code, pairing.stdout).toBeDefined();

    const tablet = new TabletClient(`http://127.0.0.1:${port}`);
    await tablet.pair(code!, 'Counter');
    await tablet.login(OWNER_PIN);
    const sale = await sell(tablet, checkoutRequest([{ sku: 'FOD-001', qty: 1 }], [{ type: 'cash', amount: 500 }]));
    expect(sale.total).toBe(399);
    // Written by the hub as its user, in the data directory provisioning made.
    const journalFiles = readdirSync(inRoot('var/lib/ayi'), { recursive: true }).map(String);
    expect(journalFiles.length).toBeGreaterThan(0);
    expect(statSync(inRoot('var/lib/ayi/ayi.sock')).uid).toBe(chrootId('passwd', 'ayi'));
  }, 120_000);

  it('ends with the check that the box sells: service, health, the link to HQ, the catalog, the pairing page printed', async () => {
    // The store's receipt printer, on the network; the hub reads devices.json when it starts.
    const printer = await Virtual9100Printer.start();
    const devicesFile = inRoot('var/lib/ayi/devices.json');
    const standIn = inRoot('usr/local/sbin/systemctl');
    try {
      await stopHub();
      writeNetworkPrinterFile(inRoot('var/lib/ayi'), printer);
      chownSync(devicesFile, chrootId('passwd', 'ayi'), chrootId('group', 'ayi'));
      await startHubAsTheUnitDoes();

      // systemd is not PID 1 here: "systemd runs" is its directory, and `systemctl is-active` answers
      // from the main PID the hub was started as, as systemd answers from the unit's main process.
      writeFileSync(inRoot('run/ayi-hub.pid'), `${hub!.pid}\n`);
      mkdirSync(inRoot('run/systemd/system'), { recursive: true });
      writeFileSync(
        standIn,
        '#!/bin/sh\n# systemctl stand-in for a chroot: is-active from the main PID, nothing else.\n' +
          'case "$1" in\n' +
          '  is-active) pid=$(cat /run/ayi-hub.pid 2>/dev/null) && [ -n "$pid" ] && [ -d "/proc/$pid" ] ;;\n' +
          '  *) echo "systemctl stand-in: $* is not done here" >&2; exit 1 ;;\n' +
          'esac\n',
        { mode: 0o755 },
      );
      writeFileSync(
        inRoot('root/store/products.csv'),
        'sku,barcodes,name,category,price,repurchase_days\n' +
          'RIC-001,4710000099001,池上米 3kg,米,459,30\nOIL-001,4710000099002,苦茶油 500ml,油,680,\n',
      );

      const check = provision('--check', '--catalog', '/root/store/products.csv');
      expect(check.status, check.output).toBe(0);
      for (const line of [
        'ok: the service ayi-hub is active',
        'ok: health is ok',
        'ok: the link to HQ is up',
        'ok: catalog loaded from /root/store/products.csv',
        'ok: test page with the pairing QR code printed',
      ])
        expect(check.output).toContain(line);
      // The page the printer got: a QR code a tablet's camera opens to pair with this box.
      // (This process's loop was held by the synchronous provision run: the bytes are read now.)
      const page = await poll(
        () => Promise.resolve(decodeEscPos(Uint8Array.from(printer.printed), { encoding: 'cp950', columns: 42 })),
        (printedPage) => printedPage.qrCodes.length > 0,
        'the pairing page at the printer',
      );
      expect(page.qrCodes).toHaveLength(1);
      expect(page.qrCodes[0]).toMatch(new RegExp(`^http://[0-9.]+:${port}/pair#code=\\d{8}$`));

      // A hub that is not running: the check says so and fails.
      await stopHub();
      const down = provision('--check');
      expect(down.status).not.toBe(0);
      expect(down.output).toContain('wrong: the service ayi-hub is not active');
    } finally {
      rmSync(inRoot('run/systemd'), { recursive: true, force: true });
      rmSync(standIn, { force: true });
      rmSync(inRoot('run/ayi-hub.pid'), { force: true });
      rmSync(devicesFile, { force: true });
      await printer.close();
      // The store sells on for the next step (without the printer).
      await stopHub();
      await startHubAsTheUnitDoes();
    }
  }, 240_000);

  it('moves the data to a USB SSD: formatted only when asked, copied and checked, mounted by UUID, the old copy kept', async (context) => {
    // A loop device over a file is the SSD here (the chroot sees this machine's /dev).
    ssdImage = path.join(os.tmpdir(), `ayi-ssd-${process.pid}.img`);
    writeFileSync(ssdImage, '');
    execFileSync('truncate', ['-s', '64M', ssdImage]);
    const attached = spawnSync('losetup', ['--find', '--show', ssdImage], { encoding: 'utf8' });
    if (attached.status !== 0) {
      console.warn(`the USB SSD step skipped: no loop device here (${attached.stderr.trim()})`);
      context.skip();
    }
    loopDevice = attached.stdout.trim();
    const before = (await (await fetch(`http://127.0.0.1:${port}/api/health`)).json()) as Health;
    await stopHub();
    const dataFiles = () =>
      readdirSync(inRoot('var/lib/ayi'), { recursive: true })
        .map(String)
        .filter((f) => !f.startsWith('lost+found'))
        .sort();
    const held = dataFiles();
    expect(held).toContain('security.json');

    const unformatted = provision('--data-device', loopDevice);
    expect(unformatted.status).toBe(1);
    expect(unformatted.output).toContain('has no filesystem: add --format-data-device');
    expect(unformatted.output).toContain('nothing was changed');

    const moved = timed('provision moving the data (s)', () =>
      provision('--data-device', loopDevice, '--format-data-device'),
    );
    expect(moved.status, moved.output).toBe(0);
    expect(moved.output).toContain(`formatted (ext4, label ayi-data)`);
    expect(moved.output).toMatch(
      /\/var\/lib\/ayi moved to \/dev\/loop\d+ \(the old copy stays in \/var\/lib\/ayi\.before-ssd-/,
    );
    const mountInfo = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find((line) => line.split(' ')[4] === inRoot('var/lib/ayi'));
    expect(mountInfo, 'the SSD is mounted at /var/lib/ayi').toBeDefined();
    expect(mountInfo).toContain('noatime');
    const uuid = execFileSync('blkid', ['-p', '-o', 'value', '-s', 'UUID', loopDevice], { encoding: 'utf8' }).trim();
    expect(readFileSync(inRoot('etc/fstab'), 'utf8')).toContain(
      `UUID=${uuid} /var/lib/ayi ext4 defaults,noatime,commit=30,nofail,x-systemd.device-timeout=30s 0 2\n`,
    );
    expect(readFileSync(inRoot('etc/systemd/system/ayi-hub.service.d/data-device.conf'), 'utf8')).toContain(
      'RequiresMountsFor=/var/lib/ayi',
    );
    expect(dataFiles()).toEqual(held);
    const aside = readdirSync(inRoot('var/lib')).filter((name) => name.startsWith('ayi.before-ssd-'));
    expect(aside).toHaveLength(1);
    const ayiUid = chrootId('passwd', 'ayi');
    expect([statSync(inRoot('var/lib/ayi')).mode & 0o7777, statSync(inRoot('var/lib/ayi')).uid]).toEqual([
      0o700,
      ayiUid,
    ]);

    const again = provision('--data-device', loopDevice);
    expect(again.status, again.output).toBe(0);
    expect(again.output).toContain('Nothing changed.');

    // The hub on the SSD: the same store, every event there.
    const after = await startHubAsTheUnitDoes();
    expect(after.lastSeq).toBe(before.lastSeq);
  }, 600_000);
});
