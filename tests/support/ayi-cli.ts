/**
 * The technician's command as a child process (`npm run ayi -- …`, scripts/ayi.ts under tsx), against
 * the hub whose data directory is given, with no installed settings file.
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

export function runAyi(args: string[], dataDir: string, env: Record<string, string> = {}): Promise<AyiRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts', 'ayi.ts'), ...args], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        AYI_DATA_DIR: dataDir,
        AYI_SETTINGS_FILE: path.join(os.tmpdir(), 'ayi-no-settings.env'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
