#!/usr/bin/env node
/**
 * `systemctl start|stop|is-active ayi-hub` for tests: there is no systemd as PID 1 here, so this
 * runs the hub the way firmware-config/ayi-hub.service tells systemd to, from that unit file:
 * its ExecStart and WorkingDirectory (with /opt/ayi replaced by AYI_INSTALL_DIR and /usr/bin/node by
 * this Node) and its EnvironmentFile (FAKE_SYSTEMCTL_ENV_FILE in place of /etc/ayi/hub.env).
 *
 * As systemd does with it:
 * - start returns once the hub is ready (the unit is Type=notify: READY=1 is sent when the hub
 *   answers, right after it prints "Ayi hub ready"), and fails ("Job for ayi-hub.service failed")
 *   when the process exits before that; starting a running unit does nothing.
 * - stop sends SIGTERM (KillSignal=) and waits for the process to exit, SIGKILL after
 *   TimeoutStopSec=; stopping a stopped unit succeeds.
 * Not done: Restart=always (a crashed hub stays down here) and the watchdog.
 *
 * FAKE_SYSTEMCTL_UNIT: the unit file; FAKE_SYSTEMCTL_STATE: a directory for the main process's
 * pid and the hub's output (the journal, for `journalctl`).
 */
import { spawn } from 'node:child_process';
import { openSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';

const [action, unitName] = process.argv.slice(2);
const unitFile = required('FAKE_SYSTEMCTL_UNIT');
const stateDir = required('FAKE_SYSTEMCTL_STATE');
const installDir = required('AYI_INSTALL_DIR');
const envFile = required('FAKE_SYSTEMCTL_ENV_FILE');
const pidFile = path.join(stateDir, 'ayi-hub.pid');
const logFile = path.join(stateDir, 'ayi-hub.log');

function required(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`fake systemctl: ${name} is not set\n`);
    process.exit(1);
  }
  return value;
}

if (unitName !== 'ayi-hub' && unitName !== 'ayi-hub.service') {
  process.stderr.write(`Unit ${unitName}.service not found.\n`);
  process.exit(5);
}

const unit = readFileSync(unitFile, 'utf8');
const setting = (key) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1].trim());
const onBox = (file) => file.replace(/^\/opt\/ayi(?=\/|$)/, installDir);
const stopTimeoutMs = Number(setting('TimeoutStopSec')[0] ?? 90) * 1000;

function runningPid() {
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    // An exited process nobody has reaped yet (a zombie, state Z) is no longer running.
    const state = /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    return state === 'Z' ? null : pid;
  } catch {
    return null;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** systemd's EnvironmentFile: KEY=VALUE lines, # comments, optional quotes. */
function environmentFile(file) {
  const env = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (match) env[match[1]] = match[2].replace(/^(["'])(.*)\1$/, '$2');
  }
  return env;
}

async function start() {
  if (runningPid() !== null) return 0;
  const [command, ...args] = setting('ExecStart')[0].split(/\s+/);
  const executable = command === '/usr/bin/node' ? process.execPath : onBox(command);
  const cwd = onBox(setting('WorkingDirectory')[0]);
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
  const out = openSync(logFile, 'a');
  const child = spawn(executable, args.map(onBox), {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...environmentFile(envFile) },
    stdio: ['ignore', out, out],
    detached: true,
  });
  let exited = null;
  child.once('exit', (code, signal) => (exited = signal ?? code));
  child.once('error', (err) => (exited = err.message));
  writeFileSync(pidFile, String(child.pid));
  const deadline = Date.now() + 120_000;
  for (;;) {
    // From the byte where this start's output begins (the log holds multi-byte characters).
    const output = readFileSync(logFile).subarray(logStart).toString('utf8');
    if (output.includes('Ayi hub ready')) {
      child.unref();
      return 0;
    }
    if (exited !== null || Date.now() > deadline) {
      if (exited === null) child.kill('SIGKILL');
      rmSync(pidFile, { force: true });
      process.stderr.write(
        'Job for ayi-hub.service failed because the control process exited with error code.\n' +
          'See "systemctl status ayi-hub.service" and "journalctl -xeu ayi-hub.service" for details.\n',
      );
      return 1;
    }
    await sleep(100);
  }
}

async function stop() {
  const pid = runningPid();
  if (pid === null) return 0;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + stopTimeoutMs;
  while (runningPid() !== null) {
    if (Date.now() > deadline) process.kill(pid, 'SIGKILL');
    await sleep(100);
  }
  rmSync(pidFile, { force: true });
  return 0;
}

if (action === 'start') process.exitCode = await start();
else if (action === 'stop') process.exitCode = await stop();
else if (action === 'restart') process.exitCode = (await stop()) || (await start());
else if (action === 'is-active') {
  const active = runningPid() !== null;
  process.stdout.write(active ? 'active\n' : 'inactive\n');
  process.exitCode = active ? 0 : 3;
} else {
  process.stderr.write(`fake systemctl: ${action} is not supported\n`);
  process.exitCode = 1;
}
