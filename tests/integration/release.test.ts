/**
 * The hub's release artifact (`npm run release`) as a box gets it: unpacked away from the checkout
 * (no node_modules above it, no tsx, nothing built on the box), its checksum checked with
 * `sha256sum -c`, then the hub started from it the way the systemd unit does (`node hub/dist/main.js`)
 * serves the tablet UI and its API, and `bin/ayi`, run as a plain executable, talks to it.
 * Packaged for this machine's architecture from the test builds (`npm run build:test`).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.ts';
import { REPO_ROOT } from '../support/hub-process.ts';
import { packageRelease, THIS_ARCH } from '../support/release-artifact.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const arch = THIS_ARCH;
const outDir = temp.make('ayi-release-out-');
const boxDir = temp.make('ayi-release-box-');
const dataDir = temp.make('ayi-release-data-');
let unpacked = '';
let artifact = '';
let hub: ChildProcess | null = null;
let hubUrl = '';
let hubOutput = '';

beforeAll(async () => {
  artifact = packageRelease(arch, outDir);
  execFileSync('tar', ['-xzf', artifact, '-C', boxDir]);
  const [top] = readdirSync(boxDir);
  unpacked = path.join(boxDir, top!);
}, 180_000);

afterAll(async () => {
  if (hub && hub.exitCode === null) {
    const exited = new Promise((resolve) => hub!.once('exit', resolve));
    hub.kill('SIGTERM');
    await exited;
  }
  temp.removeAll();
});

describe('the release artifact', () => {
  it('is named for its version and target, and its checksum file checks with sha256sum -c', () => {
    const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
      .version;
    expect(path.basename(artifact)).toBe(`ayi-hub-${version}-linux-${arch}.tar.gz`);
    expect(path.basename(unpacked)).toBe(`ayi-hub-${version}-linux-${arch}`);
    const checked = execFileSync('sha256sum', ['-c', `${path.basename(artifact)}.sha256`], {
      cwd: outDir,
      encoding: 'utf8',
    });
    expect(checked).toContain(': OK');
    const release = JSON.parse(readFileSync(path.join(unpacked, 'RELEASE.json'), 'utf8')) as Record<string, unknown>;
    expect(release).toMatchObject({ version, target: `linux-${arch}` });
  });

  it('holds compiled code and production dependencies only', () => {
    const modules = path.join(unpacked, 'node_modules');
    for (const runtime of ['fastify', 'mqtt', 'lowdb', 'escpos', 'usb', 'serialport', 'node-cron']) {
      expect(existsSync(path.join(modules, runtime, 'package.json')), runtime).toBe(true);
    }
    for (const tooling of ['tsx', 'typescript', 'vitest', 'vite', 'esbuild', '@sveltejs/kit', 'svelte', 'eslint']) {
      expect(existsSync(path.join(modules, tooling)), `${tooling} must not ship`).toBe(false);
    }
    // The native modules' binaries for the target.
    expect(existsSync(path.join(modules, '@node-usb', `usb-linux-${arch}-gnu`))).toBe(true);
    expect(existsSync(path.join(modules, '@node-rs', `crc32-linux-${arch}-gnu`))).toBe(true);
    const typescriptFiles = readdirSync(path.join(unpacked, 'hub'), { recursive: true }).filter((f) =>
      /\.ts$/.test(String(f)),
    );
    expect(typescriptFiles).toEqual([]);
    const cli = path.join(unpacked, 'bin', 'ayi');
    expect(statSync(cli).mode & 0o111).not.toBe(0);
    expect(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('runs as unpacked: the hub serves the tablet UI and its API, and bin/ayi talks to it', async () => {
    const port = await freePort();
    hub = spawn(process.execPath, ['hub/dist/main.js'], {
      cwd: unpacked,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AYI_PORT: String(port),
        AYI_HOST: '127.0.0.1',
        AYI_DATA_DIR: dataDir,
        AYI_DEMO_HISTORY: 'off',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    hub.stdout!.setEncoding('utf8').on('data', (chunk: string) => (hubOutput += chunk));
    hub.stderr!.setEncoding('utf8').on('data', (chunk: string) => (hubOutput += chunk));
    const deadline = Date.now() + 60_000;
    while (!hubOutput.includes('"msg":"hub started"')) {
      if (hub.exitCode !== null) throw new Error(`the released hub exited:\n${hubOutput}`);
      if (Date.now() > deadline) throw new Error(`the released hub did not start:\n${hubOutput}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    hubUrl = `http://127.0.0.1:${port}`;

    const page = await fetch(`${hubUrl}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const health = (await (await fetch(`${hubUrl}/api/health`)).json()) as { status: string; lastSeq: number };
    expect(health.status).toBe('ok');
    // The demo store's catalog was loaded from the artifact's own files.
    expect(health.lastSeq).toBeGreaterThan(0);

    const printed = execFileSync(path.join(unpacked, 'bin', 'ayi'), ['health'], {
      env: { PATH: process.env.PATH, AYI_DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect((JSON.parse(printed) as { lastSeq: number }).lastSeq).toBe(health.lastSeq);
    const pairing = execFileSync(path.join(unpacked, 'bin', 'ayi'), ['pair'], {
      env: { PATH: process.env.PATH, AYI_DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(pairing).toMatch(/\d{8}/);
    // The pairing page's QR code on the screen: the bundled command carries its QR library. The demo
    // store prints on the virtual printer only, which the command reports with exit status 1.
    const pairingPage = spawnSync(path.join(unpacked, 'bin', 'ayi'), ['pair', '--print'], {
      env: { PATH: process.env.PATH, AYI_DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(pairingPage.stderr).toBe('');
    expect(pairingPage.stdout).toMatch(/\/pair#code=\d{8}\n/);
    expect(pairingPage.stdout).toMatch(/[▀▄█]{7}/);
    expect(pairingPage.stdout).toContain('virtual printer');
    expect(pairingPage.status).toBe(1);

    // As a technician types it on the box: no AYI_DATA_DIR, from any directory; the data directory
    // comes from the settings the service runs with.
    const settingsFile = path.join(boxDir, 'hub.env');
    writeFileSync(settingsFile, `AYI_CHAIN_ID=chain-1\nAYI_STORE_ID=store-1\nAYI_DATA_DIR="${dataDir}"\n`);
    const typed = (args: string[]) =>
      spawnSync(path.join(unpacked, 'bin', 'ayi'), args, {
        cwd: os.tmpdir(),
        env: { PATH: process.env.PATH, AYI_SETTINGS_FILE: settingsFile },
        encoding: 'utf8',
      });
    const healthTyped = typed(['health']);
    expect(healthTyped.status, healthTyped.stderr).toBe(0);
    expect((JSON.parse(healthTyped.stdout) as { lastSeq: number }).lastSeq).toBeGreaterThanOrEqual(health.lastSeq);
    const unknownTablet = typed(['unlock', 'dev-no-such-tablet']);
    expect(unknownTablet.status).toBe(1);
    expect(unknownTablet.stderr).toContain('No paired device dev-no-such-tablet');

    // ayi doctor from the release, installed as on a box: <install root>/current -> the release.
    symlinkSync(path.basename(unpacked), path.join(boxDir, 'current'));
    const release = JSON.parse(readFileSync(path.join(unpacked, 'RELEASE.json'), 'utf8')) as { version: string };
    const doctor = spawnSync(path.join(unpacked, 'bin', 'ayi'), ['doctor', '--json'], {
      cwd: os.tmpdir(),
      env: { PATH: process.env.PATH, AYI_SETTINGS_FILE: settingsFile, AYI_INSTALL_DIR: boxDir },
      encoding: 'utf8',
    });
    const checks = (JSON.parse(doctor.stdout) as { checks: { id: string; level: string; summary: string }[] }).checks;
    const check = (id: string) => checks.find((c) => c.id === id);
    expect(check('hub')?.level, doctor.stderr).toBe('ok');
    expect(check('update')?.summary).toContain(`Release ${release.version}, installed `);
    // This box prints on the virtual printer only and has no broker, no chain member key and no
    // backups set up: warnings only (exit status 1).
    expect(checks.filter((c) => c.level !== 'ok').map((c) => c.id)).toEqual([
      'printers',
      'broker',
      'member-key',
      'backups',
    ]);
    expect(doctor.status).toBe(1);
  });
});
