/**
 * `npm start`'s build step: builds the tablet UI and the hub (`npm run build`) and says one line
 * when it worked. The build tools' own hints are for developers (SvelteKit ends with "run npm run
 * preview", which would serve the UI without the hub), so they are shown only when the build fails,
 * with everything else it printed.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

const REPO_ROOT = path.resolve(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const child = spawn(npm, ['run', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
const output: Buffer[] = [];
child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
process.stdout.write('Building the tablet UI and the hub…\n');
child.on('close', (code, signal) => {
  if (code === 0) {
    process.stdout.write('Built. Starting the hub.\n');
    return;
  }
  process.stderr.write(Buffer.concat(output));
  process.stderr.write(`\nThe build failed (${signal ?? `exit code ${code}`}); the hub was not started.\n`);
  process.exitCode = code ?? 1;
});
