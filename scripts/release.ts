/**
 * Builds the hub's release: one versioned artifact a store's box runs as it is, without a checkout,
 * `npm ci`, a build or `tsx`.
 *
 *   npm run release                          ayi-hub-<version>-linux-arm64.tar.gz (the Raspberry Pi)
 *   npm run release -- --arch x64            the same for an x86_64 box
 *   npm run release -- --out <dir>           where the artifact goes (default ./release)
 *   npm run release -- --no-build            package the builds already there (hub/dist, the UI)
 *   npm run release -- --ui-build <dir>      the tablet UI's build to ship (default ui/build)
 *
 * The artifact holds, under ayi-hub-<version>/: the compiled hub (hub/dist), the built tablet UI
 * (ui/build), the hub's production dependencies only (node_modules, with the native modules' prebuilt
 * binaries for the target: `serialport` carries every platform's; `usb` and `@node-rs/crc32` load
 * theirs from a package per platform, fetched from the npm registry when the target is not this
 * machine), the `ayi`
 * command as a plain executable (bin/ayi, one JavaScript file), the systemd unit and udev rules of
 * firmware-config/, `provision` (scripts/provision, which installs it on a box), and RELEASE.json
 * (version, target, the data format its hub reads and writes, the commit: `ayi update` checks them).
 * Beside it,
 * <artifact>.sha256 in `sha256sum` format: `sha256sum -c` checks it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DATA_FORMAT } from '../hub/src/storage/data-format.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const ARCHES = { arm64: 'arm64', x64: 'x64' } as const;
type Arch = keyof typeof ARCHES;
/** Firmware files the box needs at run time or at provisioning. */
const FIRMWARE_FILES = ['ayi-hub.service', 'hub.env.example', 'store.env.example', 'devices.example.json', 'udev'];

function fail(message: string): never {
  console.error(`release: ${message}`);
  process.exit(1);
}

function run(command: string, args: string[], cwd = ROOT): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: 'arm64' },
    out: { type: 'string', default: path.join(ROOT, 'release') },
    'no-build': { type: 'boolean', default: false },
    'ui-build': { type: 'string', default: path.join(ROOT, 'ui', 'build') },
  },
});
const arch = values.arch as Arch;
if (!(arch in ARCHES)) fail(`--arch must be one of ${Object.keys(ARCHES).join(', ')} (got ${values.arch})`);
const outDir = path.resolve(values.out);
const uiBuild = path.resolve(values['ui-build']);

const hubPackage = JSON.parse(readFileSync(path.join(ROOT, 'hub', 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  engines: Record<string, string>;
};
const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const name = `ayi-hub-${version}-linux-${arch}`;

if (!values['no-build']) {
  console.error('release: building the hub and the tablet UI');
  run('npm', ['run', 'build', '-w', 'hub']);
  if (uiBuild === path.join(ROOT, 'ui', 'build')) run('npm', ['run', 'build', '-w', 'ui']);
}
for (const [what, dir] of [
  ['the hub', path.join(ROOT, 'hub', 'dist', 'main.js')],
  ['the tablet UI', path.join(uiBuild, 'index.html')],
] as const) {
  if (!existsSync(dir)) fail(`${what} is not built (${path.relative(ROOT, dir)} is missing); run without --no-build`);
}

const staging = mkdtempSync(path.join(os.tmpdir(), 'ayi-release-'));
const top = path.join(staging, name);
try {
  mkdirSync(top, { recursive: true });
  cpSync(path.join(ROOT, 'hub', 'dist'), path.join(top, 'hub', 'dist'), { recursive: true });
  cpSync(uiBuild, path.join(top, 'ui', 'build'), { recursive: true });
  // The demo store's catalogs, which the hub reads beside its compiled code.
  for (const file of readdirSync(path.join(ROOT, 'hub', 'src', 'demo')).filter((f) => f.endsWith('.csv'))) {
    cpSync(path.join(ROOT, 'hub', 'src', 'demo', file), path.join(top, 'hub', 'src', 'demo', file));
  }
  writeFileSync(
    path.join(top, 'hub', 'package.json'),
    JSON.stringify({ name: '@ayi/hub', version, private: true, type: 'module', main: 'dist/main.js' }, null, 2),
  );
  writeFileSync(
    path.join(top, 'package.json'),
    JSON.stringify({ name: 'ayi-hub', version, private: true, type: 'module', engines: hubPackage.engines }, null, 2),
  );
  for (const file of FIRMWARE_FILES) {
    cpSync(path.join(ROOT, 'firmware-config', file), path.join(top, 'firmware-config', file), { recursive: true });
  }

  // The hub's production dependencies, as installed here (the lockfile's versions): npm names them.
  const installed = run('npm', ['ls', '-w', 'hub', '--omit=dev', '--all', '--parseable'])
    .split('\n')
    .filter((line) => line.startsWith(path.join(ROOT, 'node_modules') + path.sep));
  // Native modules that load their binary from a package of their own per platform (`usb` as
  // @node-usb/usb-linux-x64-gnu, `@node-rs/crc32` likewise): npm installed this machine's, an
  // optional dependency; the target's goes in its place, at the same version.
  const platformPackage = /^(.*)-linux-(x64|arm64)-gnu$/;
  for (const dir of installed) {
    const relative = path.relative(path.join(ROOT, 'node_modules'), dir).split(path.sep).join('/');
    // The hub's own workspace link: its compiled code is already in hub/dist.
    if (relative === '@ayi/hub') continue;
    const native = platformPackage.exec(relative);
    if (!native) {
      cpSync(dir, path.join(top, 'node_modules', relative), { recursive: true, dereference: true });
      continue;
    }
    const packageVersion = (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string })
      .version;
    addPlatformPackage(`${native[1]}-linux-${arch}-gnu`, packageVersion);
  }

  /** Copies the target's binary package from here when npm installed it, else fetches it. */
  function addPlatformPackage(packageName: string, packageVersion: string): void {
    const into = path.join(top, 'node_modules', packageName);
    const local = path.join(ROOT, 'node_modules', packageName);
    if (existsSync(local)) {
      cpSync(local, into, { recursive: true, dereference: true });
      return;
    }
    const fetched = mkdtempSync(path.join(os.tmpdir(), 'ayi-release-native-'));
    try {
      const tarball = run('npm', ['pack', `${packageName}@${packageVersion}`, '--silent'], fetched).trim();
      mkdirSync(into, { recursive: true });
      run('tar', ['-xzf', path.join(fetched, tarball), '--strip-components=1', '-C', into]);
    } catch (err) {
      fail(`could not fetch ${packageName}@${packageVersion} from the npm registry: ${(err as Error).message}`);
    } finally {
      rmSync(fetched, { recursive: true, force: true });
    }
  }

  // The script that installs this release on a fresh box (firmware-config/README.md).
  cpSync(path.join(ROOT, 'scripts', 'provision'), path.join(top, 'provision'));
  chmodSync(path.join(top, 'provision'), 0o755);

  // The technician's command: one file, nothing to compile at run time.
  mkdirSync(path.join(top, 'bin'));
  const cli = path.join(top, 'bin', 'ayi');
  run(path.join(ROOT, 'node_modules', '.bin', 'esbuild'), [
    path.join(ROOT, 'scripts', 'ayi.ts'),
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node20',
    `--outfile=${cli}`,
    '--banner:js=#!/usr/bin/env node',
    // mqtt.js is CommonJS that requires Node's modules at run time, which an ESM bundle cannot: it
    // loads from the artifact's node_modules (a production dependency of the hub).
    '--external:mqtt',
    '--log-level=warning',
  ]);
  chmodSync(cli, 0o755);

  const commit = (() => {
    try {
      return run('git', ['rev-parse', 'HEAD']).trim();
    } catch {
      return null;
    }
  })();
  writeFileSync(
    path.join(top, 'RELEASE.json'),
    `${JSON.stringify({ version, target: `linux-${arch}`, node: hubPackage.engines.node, dataFormat: DATA_FORMAT, commit }, null, 2)}\n`,
  );

  mkdirSync(outDir, { recursive: true });
  const artifact = path.join(outDir, `${name}.tar.gz`);
  run('tar', ['--owner=0', '--group=0', '--numeric-owner', '-czf', artifact, '-C', staging, name]);
  const digest = createHash('sha256').update(readFileSync(artifact)).digest('hex');
  writeFileSync(`${artifact}.sha256`, `${digest}  ${path.basename(artifact)}\n`);
  const megabytes = statSync(artifact).size / 1_000_000;
  console.log(JSON.stringify({ artifact, sha256: digest, megabytes: Math.round(megabytes * 10) / 10 }));
} finally {
  rmSync(staging, { recursive: true, force: true });
}
