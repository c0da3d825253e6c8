/**
 * The technician's command as a child process (`npm run ayi -- …`, scripts/ayi.ts under tsx): against
 * the hub whose data directory is given, with no installed settings file (`runAyi`), or with an
 * environment of the caller's (`runAyiWith`).
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './hub-process.ts';

export interface AyiRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface AyiRunOptions {
  /** The command's whole environment. */
  env: NodeJS.ProcessEnv;
  /** What is typed at its prompts; none: its stdin is closed. */
  stdin?: string;
  /** A command that runs it, as `sudo` would (e.g. setpriv for another user). */
  runAs?: string[];
}

export function runAyiWith(args: string[], { env, stdin, runAs = [] }: AyiRunOptions): Promise<AyiRun> {
  const command = [...runAs, process.execPath, '--import', 'tsx', path.join(REPO_ROOT, 'scripts', 'ayi.ts'), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      cwd: REPO_ROOT,
      env,
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

export function runAyi(
  args: string[],
  dataDir: string,
  env: Record<string, string> = {},
  stdin?: string,
): Promise<AyiRun> {
  return runAyiWith(args, {
    env: {
      ...process.env,
      AYI_DATA_DIR: dataDir,
      AYI_SETTINGS_FILE: path.join(os.tmpdir(), 'ayi-no-settings.env'),
      ...env,
    },
    stdin,
  });
}
