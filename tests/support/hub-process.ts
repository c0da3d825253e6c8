/**
 * Runs the built hub (`node hub/dist/main.js`) as a child process on a free port with its own data
 * directory, the way a technician or the quick start does; for end-to-end and crash tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { freePort } from './free-port.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
export const HUB_ENTRY = path.join(REPO_ROOT, 'hub', 'dist', 'main.js');
/**
 * The tablet UI the test hubs serve: built by `npm run build:test`, apart from `ui/build`, so a
 * test run never changes the files a hub started with `npm start` is serving.
 */
export const TEST_UI_DIR = path.join(REPO_ROOT, 'ui', 'build-test');

export interface HubProcess {
  url: string;
  port: number;
  dataDir: string;
  pairingCode: string;
  demoPins: { cashier: string; manager: string; owner: string };
  child: ChildProcess;
  /** Everything the hub printed so far (stdout and stderr). */
  output(): string;
  newPairingCode(): Promise<string>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<void>;
  /** Send a signal (SIGKILL by default) and wait for the process to be gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Node's options in the systemd unit a store's box runs the hub with (firmware-config/ayi-hub.service). */
export function unitNodeArgs(): string[] {
  const unit = readFileSync(path.join(REPO_ROOT, 'firmware-config', 'ayi-hub.service'), 'utf8');
  const execStart = /^ExecStart=(\S+)\s+(.*)$/m.exec(unit);
  if (!execStart) throw new Error('ayi-hub.service has no ExecStart');
  return execStart[2]!.split(/\s+/).filter((arg) => arg.startsWith('--'));
}

export function tempDataDir(prefix = 'ayi-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startHubProcess(
  opts: {
    env?: Record<string, string>;
    dataDir?: string;
    port?: number;
    readyTimeoutMs?: number;
    /** Node's own options, before the hub's entry point (e.g. the systemd unit's). */
    nodeArgs?: string[];
  } = {},
): Promise<HubProcess> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const port = opts.port ?? (await freePort());
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), HUB_ENTRY], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      AYI_PORT: String(port),
      AYI_HOST: '127.0.0.1',
      AYI_DATA_DIR: dataDir,
      AYI_LOG_LEVEL: 'warn',
      // The small demo store (no seeded year of history) unless a test asks for it.
      AYI_DEMO_HISTORY: 'off',
      AYI_UI_DIR: TEST_UI_DIR,
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const pairingCode = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`hub did not start within ${opts.readyTimeoutMs ?? 30_000} ms:\n${output}`)),
      opts.readyTimeoutMs ?? 30_000,
    );
    const check = () => {
      const match = /Pairing code \(valid 10 minutes, one tablet\): (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hub exited with code ${code} before it was ready:\n${output}`));
    });
  });

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    pairingCode,
    demoPins: { cashier: '1111', manager: '222222', owner: '333333' },
    child,
    output: () => output,
    newPairingCode: async () => (await adminRequest<{ code: string }>(path.join(dataDir, 'ayi.sock'), 'pair')).code,
    stop: () => kill('SIGTERM'),
    kill,
  };
}
