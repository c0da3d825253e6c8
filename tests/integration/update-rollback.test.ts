/**
 * `ayi update` and `ayi rollback` on a box laid out as a store's (releases/<version>, `current` and
 * `previous` links, the unit of firmware-config/ayi-hub.service), with the hub started and stopped
 * through tests/support/fake-systemctl.mjs (no systemd as PID 1 here). A store sells on 0.1.0, is
 * updated to 0.2.0 (the sale stays, a new one works), to a 0.3.0 that does not start (rolled back by
 * itself, the sales stay), to a 0.4.0 that migrates the data and then fails (rolled back, the data
 * put back as it was), a damaged artifact is refused, and `ayi rollback` goes back to 0.1.0.
 *
 * One artifact is built (`npm run release -- --no-build`); the other versions are that one with
 * their version in RELEASE.json and package.json, repacked with a fresh .sha256.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubTablet } from '../../scripts/lib/hub-client.ts';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { freePort } from '../support/free-port.ts';
import { REPO_ROOT } from '../support/hub-process.ts';
import { packageRelease, THIS_ARCH } from '../support/release-artifact.ts';
import { checkoutRequest } from '../support/sales.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const arch = THIS_ARCH;
const work = temp.make('ayi-update-');
const artifacts = path.join(work, 'usb');
const installDir = path.join(work, 'opt', 'ayi');
const dataDir = path.join(work, 'var', 'lib', 'ayi');
const snapshotsDir = `${dataDir}-snapshots`;
const envFile = path.join(work, 'etc', 'ayi', 'hub.env');
const binDir = path.join(work, 'bin');
const systemdState = path.join(work, 'systemd');
let baseArtifact = '';
let port = 0;
let tablet: HubTablet;
const soldIds: string[] = [];

const env = (): NodeJS.ProcessEnv => ({
  PATH: `${binDir}:${process.env.PATH}`,
  HOME: process.env.HOME,
  AYI_INSTALL_DIR: installDir,
  AYI_SETTINGS_FILE: envFile,
  AYI_UPDATE_HEALTH_WAIT_S: '20',
  FAKE_SYSTEMCTL_UNIT: path.join(REPO_ROOT, 'firmware-config', 'ayi-hub.service'),
  FAKE_SYSTEMCTL_STATE: systemdState,
  FAKE_SYSTEMCTL_ENV_FILE: envFile,
});

/** `sudo ayi ...` as the technician types it: the installed command, from another directory. */
function ayi(...args: string[]) {
  const result = spawnSync(path.join(installDir, 'current', 'bin', 'ayi'), args, {
    cwd: os.tmpdir(),
    env: env(),
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function systemctl(action: string) {
  return spawnSync('systemctl', [action, 'ayi-hub'], { env: env(), encoding: 'utf8' });
}

const linked = (name: string) => readlinkSync(path.join(installDir, name));

/** The base artifact as another version: RELEASE.json and the package files say it; `edit` changes more. */
function repack(version: string, edit: (top: string) => void = () => undefined): string {
  const dir = temp.make('ayi-repack-');
  execFileSync('tar', ['-xzf', baseArtifact, '-C', dir]);
  const name = `ayi-hub-${version}-linux-${arch}`;
  renameSync(path.join(dir, readdirSync(dir)[0]!), path.join(dir, name));
  const top = path.join(dir, name);
  for (const file of ['RELEASE.json', 'package.json', 'hub/package.json']) {
    const json = JSON.parse(readFileSync(path.join(top, file), 'utf8')) as { version: string };
    json.version = version;
    writeFileSync(path.join(top, file), JSON.stringify(json, null, 2));
  }
  edit(top);
  const artifact = path.join(artifacts, `${name}.tar.gz`);
  execFileSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '-czf', artifact, '-C', dir, name]);
  writeSha256(artifact);
  rmSync(dir, { recursive: true, force: true });
  return artifact;
}

function writeSha256(artifact: string): void {
  const digest = createHash('sha256').update(readFileSync(artifact)).digest('hex');
  writeFileSync(`${artifact}.sha256`, `${digest}  ${path.basename(artifact)}\n`);
}

/** `sudo ayi health`: the version answering and its problems. */
function health(): { version: string; problems: string[] } {
  const answer = ayi('health');
  expect(answer.status, answer.output).toBe(0);
  return JSON.parse(answer.output) as { version: string; problems: string[] };
}

/** After a restart, as a tablet does: a new connection (the old one was closed with the hub) and a new login. */
async function loginAgain(): Promise<void> {
  tablet.close();
  await tablet.login('1111');
}

async function saleIds(): Promise<string[]> {
  return (await tablet.allSales()).map((sale) => sale.saleId);
}

async function sellOne(): Promise<string> {
  const { body } = await tablet.expect<SaleView>(
    [201],
    'POST',
    '/api/sales',
    checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 100 }]),
  );
  soldIds.push(body.saleId);
  return body.saleId;
}

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  baseArtifact = packageRelease(arch, artifacts);

  // The box as provisioning leaves it: the first release in releases/, `current` linking to it.
  const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
  expect(version).toBe('0.1.0');
  mkdirSync(path.join(installDir, 'releases'), { recursive: true });
  const unpacked = temp.make('ayi-first-');
  execFileSync('tar', ['-xzf', baseArtifact, '-C', unpacked]);
  renameSync(path.join(unpacked, readdirSync(unpacked)[0]!), path.join(installDir, 'releases', version));
  symlinkSync(path.join('releases', version), path.join(installDir, 'current'));

  port = await freePort();
  mkdirSync(path.dirname(envFile), { recursive: true });
  writeFileSync(
    envFile,
    `AYI_DATA_DIR=${dataDir}\nAYI_PORT=${port}\nAYI_HOST=127.0.0.1\nAYI_DEMO_HISTORY=off\nAYI_LOG_LEVEL=warn\n`,
  );
  mkdirSync(binDir);
  mkdirSync(systemdState);
  symlinkSync(path.join(REPO_ROOT, 'tests', 'support', 'fake-systemctl.mjs'), path.join(binDir, 'systemctl'));
  const started = systemctl('start');
  expect(started.status, started.stderr).toBe(0);

  tablet = new HubTablet(`http://127.0.0.1:${port}`);
  const pairing = /(\d{8})/.exec(ayi('pair').output)![1]!;
  await tablet.pair(pairing, 'Till 1');
  await tablet.login('1111');
  await sellOne();
}, 240_000);

afterAll(() => {
  tablet?.close();
  systemctl('stop');
  temp.removeAll();
}, 120_000);

describe('ayi update and ayi rollback', { timeout: 120_000 }, () => {
  it('updates to a new version: switched, the sale sold before is still there, a new sale works', async () => {
    const v2 = repack('0.2.0');
    const update = ayi('update', v2);
    expect(update.status, update.output).toBe(0);
    expect(update.output).toContain('Checksum OK');
    expect(update.output).toContain('Updated from 0.1.0 to 0.2.0');
    expect(linked('current')).toBe('releases/0.2.0');
    expect(linked('previous')).toBe('releases/0.1.0');
    expect(health().version).toBe('0.2.0');
    // The data was copied before the switch.
    expect(readdirSync(snapshotsDir).filter((name) => name.startsWith('before-0.2.0-'))).toHaveLength(1);

    await loginAgain();
    expect(await saleIds()).toEqual(expect.arrayContaining(soldIds));
    await sellOne();
    expect(await saleIds()).toEqual(expect.arrayContaining(soldIds));
  });

  it('rolls back by itself from a version that does not start, keeping every sale', async () => {
    const v3 = repack('0.3.0', (top) => {
      const main = path.join(top, 'hub', 'dist', 'main.js');
      writeFileSync(main, `throw new Error('this release is broken');\n${readFileSync(main, 'utf8')}`);
    });
    const update = ayi('update', v3);
    expect(update.status, update.output).toBe(3);
    expect(update.output).toContain('Ayi 0.3.0 is NOT healthy');
    expect(update.output).toContain('ROLLED BACK');
    expect(update.output).toContain('every sale 0.3.0 recorded stays');
    expect(linked('current')).toBe('releases/0.2.0');
    expect(linked('previous')).toBe('releases/0.1.0');
    expect(health().version).toBe('0.2.0');
    await loginAgain();
    expect(await saleIds()).toEqual(expect.arrayContaining(soldIds));
  });

  it('puts the data back when a version that migrated it fails, so the old version runs on it again', async () => {
    const v4 = repack('0.4.0', (top) => {
      // Data format 2, with its migration, and a hub that stops right after it started.
      const format = path.join(top, 'hub', 'dist', 'storage', 'data-format.js');
      const code = readFileSync(format, 'utf8')
        .replace('export const DATA_FORMAT = 1;', 'export const DATA_FORMAT = 2;')
        .replace(
          'export const DATA_MIGRATIONS = [];',
          "export const DATA_MIGRATIONS = [{ from: 1, description: 'format 2', run: async () => {} }];",
        );
      expect(code).toContain('DATA_FORMAT = 2;');
      expect(code).toContain("description: 'format 2'");
      writeFileSync(format, code);
      const release = JSON.parse(readFileSync(path.join(top, 'RELEASE.json'), 'utf8')) as { dataFormat: number };
      release.dataFormat = 2;
      writeFileSync(path.join(top, 'RELEASE.json'), JSON.stringify(release));
      const main = path.join(top, 'hub', 'dist', 'main.js');
      const text = readFileSync(main, 'utf8').replace(
        'const hub = await Hub.start(config);',
        "const hub = await Hub.start(config);\n    throw new Error('fails after the migration');",
      );
      expect(text).toContain('fails after the migration');
      writeFileSync(main, text);
    });
    const update = ayi('update', v4);
    expect(update.status, update.output).toBe(3);
    expect(update.output).toContain('The data directory is back as it was before the update');
    expect(linked('current')).toBe('releases/0.2.0');
    expect(linked('previous')).toBe('releases/0.1.0');
    // The newest 3 releases stay (0.3.0 goes), current and previous among them.
    expect(readdirSync(path.join(installDir, 'releases')).sort()).toEqual(['0.1.0', '0.2.0', '0.4.0']);
    expect((JSON.parse(readFileSync(path.join(dataDir, 'format.json'), 'utf8')) as { format: number }).format).toBe(1);
    // What 0.4.0 made of the data is kept, not deleted.
    const failed = readdirSync(snapshotsDir).filter((name) => name.startsWith('failed-0.4.0-'));
    expect(failed).toHaveLength(1);
    expect(
      (JSON.parse(readFileSync(path.join(snapshotsDir, failed[0]!, 'format.json'), 'utf8')) as { format: number })
        .format,
    ).toBe(2);
    expect(health().version).toBe('0.2.0');
    await loginAgain();
    expect(await saleIds()).toEqual(expect.arrayContaining(soldIds));
  });

  it('refuses an artifact whose checksum does not match, and changes nothing', async () => {
    const good = path.join(artifacts, `ayi-hub-0.5.0-linux-${arch}.tar.gz`);
    copyFileSync(repack('0.5.0'), `${good}.orig`);
    const bytes = readFileSync(`${good}.orig`);
    bytes[bytes.length >> 1]! ^= 0xff;
    writeFileSync(good, bytes);
    const releasesBefore = readdirSync(path.join(installDir, 'releases')).sort();
    const update = ayi('update', good);
    expect(update.status, update.output).toBe(1);
    expect(update.output).toContain('The checksum does not match');
    expect(update.output).toContain('Nothing was changed');
    expect(readdirSync(path.join(installDir, 'releases')).sort()).toEqual(releasesBefore);
    expect(linked('current')).toBe('releases/0.2.0');
    expect(health().version).toBe('0.2.0');

    rmSync(`${good}.sha256`);
    const missing = ayi('update', good);
    expect(missing.status).toBe(1);
    expect(missing.output).toContain('No checksum file');
  });

  it('refuses a downgrade and the version already running, before unpacking anything', () => {
    const releasesBefore = readdirSync(path.join(installDir, 'releases')).sort();
    const older = ayi('update', baseArtifact);
    expect(older.status, older.output).toBe(1);
    expect(older.output).toContain('--allow-downgrade');
    const same = ayi('update', path.join(artifacts, `ayi-hub-0.2.0-linux-${arch}.tar.gz`));
    expect(same.status, same.output).toBe(1);
    expect(same.output).toContain('already the current version');
    expect(same.output).not.toContain('Unpacking');
    expect(readdirSync(path.join(installDir, 'releases')).sort()).toEqual(releasesBefore);
    expect(linked('current')).toBe('releases/0.2.0');
  });

  it('ayi rollback goes back to the version before, with every sale', async () => {
    const rollback = ayi('rollback');
    expect(rollback.status, rollback.output).toBe(0);
    expect(rollback.output).toContain('Rolled back to 0.1.0');
    expect(linked('current')).toBe('releases/0.1.0');
    expect(linked('previous')).toBe('releases/0.2.0');
    expect(health().version).toBe('0.1.0');
    await loginAgain();
    expect(await saleIds()).toEqual(expect.arrayContaining(soldIds));
    await sellOne();
  });

  it('a hub refuses a data directory in a newer format than it reads', () => {
    expect(systemctl('stop').status).toBe(0);
    const marker = path.join(dataDir, 'format.json');
    const original = readFileSync(marker, 'utf8');
    writeFileSync(marker, JSON.stringify({ format: 99, writtenBy: '9.0.0', changedAt: new Date().toISOString() }));
    const started = systemctl('start');
    expect(started.status).toBe(1);
    const log = readFileSync(path.join(systemdState, 'ayi-hub.log'), 'utf8');
    expect(log).toContain('is in data format 99, written by Ayi 9.0.0');
    expect(log).toContain('sudo ayi rollback');
    writeFileSync(marker, original);
    expect(systemctl('start').status).toBe(0);
    expect(existsSync(path.join(dataDir, 'ayi.sock'))).toBe(true);
  });
});
