/**
 * `ayi doctor`: every check of the box, what is wrong and the fix for each. The running hub makes
 * its own (hub/src/services/doctor.ts: the same code as the summary in its status to HQ); this adds
 * what only root on the box sees: the hub is running at all, the settings file, the TLS files as the
 * `ayi` user would open them, the release installed. With the hub down, the checks that can be made
 * from files are made here.
 *
 * Exit status: 0 all ok, 1 warnings only, 2 something fails.
 */
import { execFileSync } from 'node:child_process';
import { constants, lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { ConfigError, loadConfig, type HubConfig } from '../../hub/src/config/config.ts';
import { StorageMonitor } from '../../hub/src/storage/storage-monitor.ts';
import { BACKUP_OLD_AFTER_MS } from '../../hub/src/services/backup.service.ts';
import { BACKUP_SUFFIX } from '../../hub/src/storage/backup-archive.ts';
import {
  backupsCheck,
  certificatesCheck,
  clockCheck,
  diskCheck,
  memberKeyCheck,
  ntpSynchronized,
  type CertificateFile,
  type CheckLevel,
  type DoctorCheck,
} from '../../hub/src/services/doctor.ts';

export const DOCTOR_USAGE = 'usage: ayi doctor [--json]   (exit status: 0 all ok, 1 warnings only, 2 failures)\n';

export interface DoctorContext {
  dataDir: string;
  /** The settings file the hub's unit reads, and its text (null: there is none, e.g. a checkout). */
  settingsFile: string;
  settingsText: string | null;
  /** A setting from the environment, else from the settings file. */
  setting: (name: string) => string | null;
  /** The install root (/opt/ayi; AYI_INSTALL_DIR). */
  installDir: string;
  now: Date;
  /** The `ayi` user's uid and groups (null: there is no such user, e.g. a checkout). */
  serviceUser: { uid: number; gids: number[] } | null;
}

interface HubDoctorAnswer {
  version: string;
  chainId: string;
  storeId: string;
  checks: DoctorCheck[];
}

const DOC = 'firmware-config/README.md';
const ORDER = [
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
];
const RANK: Record<CheckLevel, number> = { ok: 0, warn: 1, fail: 2 };

/** Runs the checks and prints them; resolves to the exit status. */
export async function runDoctor(args: string[], context: DoctorContext): Promise<number> {
  const json = args.includes('--json');
  const unknown = args.filter((arg) => arg !== '--json');
  if (unknown.length > 0) {
    process.stderr.write(`doctor: unknown argument ${unknown[0]}\n${DOCTOR_USAGE}`);
    return 3;
  }
  const checks = await doctorChecks(context);
  const worst = checks.reduce<CheckLevel>((w, c) => (RANK[c.level] > RANK[w] ? c.level : w), 'ok');
  if (json) process.stdout.write(`${JSON.stringify({ status: worst, checks }, null, 2)}\n`);
  else process.stdout.write(formatChecks(checks));
  return RANK[worst];
}

/** Every check, the hub's where it answers, in a fixed order. */
export async function doctorChecks(context: DoctorContext): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const { hubCheck, answer } = await askHub(context.dataDir);
  checks.push(hubCheck);
  const { check: settingsCheck, config } = checkSettings(context);
  checks.push(settingsCheck);
  if (answer) {
    checks.push(...answer.checks);
  } else {
    checks.push(...(await checksFromFiles(context, config)));
  }
  // The TLS files as the hub's user opens them: the directories on the way and the file's mode.
  const certificates = checks.find((c) => c.id === 'certificates');
  const access = serviceUserAccess(certificateFiles(context.setting), context.serviceUser);
  if (certificates && access) mergeInto(certificates, access);
  checks.push(updateCheck(context.installDir, answer?.version ?? null));
  return checks.sort((a, b) => order(a.id) - order(b.id));
}

function order(id: string): number {
  const at = ORDER.indexOf(id);
  return at === -1 ? ORDER.length : at;
}

/** The table: ✓ / ! / ✗, the check, what was found; the fix under each that is not ok. */
export function formatChecks(checks: DoctorCheck[]): string {
  const mark: Record<CheckLevel, string> = { ok: '✓', warn: '!', fail: '✗' };
  const width = Math.max(...checks.map((c) => c.id.length));
  const lines: string[] = [];
  for (const check of checks) {
    lines.push(`${mark[check.level]} ${check.id.padEnd(width)}  ${check.summary}`);
    if (check.level !== 'ok' && check.fix) lines.push(`  ${' '.repeat(width)}  fix: ${check.fix}`);
  }
  const failing = checks.filter((c) => c.level === 'fail').length;
  const warning = checks.filter((c) => c.level === 'warn').length;
  lines.push(
    '',
    failing + warning === 0
      ? 'All checks passed.'
      : `${failing} failing, ${warning} warning. What each check means: "ayi doctor" in ${DOC}.`,
  );
  return `${lines.join('\n')}\n`;
}

async function askHub(dataDir: string): Promise<{ hubCheck: DoctorCheck; answer: HubDoctorAnswer | null }> {
  const socket = path.join(dataDir, 'ayi.sock');
  try {
    const answer = await adminRequest<HubDoctorAnswer>(socket, 'doctor', [], 30_000);
    return {
      hubCheck: {
        id: 'hub',
        level: 'ok',
        summary: `The hub is running (version ${answer.version}, store ${answer.chainId}/${answer.storeId}).`,
        fix: null,
      },
      answer,
    };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') {
      // The socket is the hub's user's and root's only: not a hub problem.
      return {
        hubCheck: {
          id: 'hub',
          level: 'fail',
          summary: `This user may not talk to the hub (${socket} is for the hub's user and root): nothing checked by the hub.`,
          fix: 'Run it with sudo: sudo ayi doctor.',
        },
        answer: null,
      };
    }
    const down = code === 'ENOENT' || code === 'ECONNREFUSED';
    const service = serviceState();
    return {
      hubCheck: {
        id: 'hub',
        level: 'fail',
        summary:
          (down
            ? `The hub is not running (nothing answers on ${socket})`
            : `The hub does not answer (${(err as Error).message})`) +
          (service ? `; systemd says ayi-hub is ${service}` : '') +
          '. The journal, printers, scanners and the link to HQ are checked by the hub: not checked now.',
        fix:
          'sudo systemctl status ayi-hub, and sudo journalctl -u ayi-hub -n 50 for why it stopped (often a ' +
          `setting: see the settings check); then sudo systemctl start ayi-hub. See "ayi doctor" in ${DOC}.`,
      },
      answer: null,
    };
  }
}

/** `systemctl is-active ayi-hub` where systemd runs (null elsewhere). */
function serviceState(): string | null {
  try {
    return execFileSync('systemctl', ['is-active', 'ayi-hub'], { encoding: 'utf8', stdio: 'pipe' }).trim();
  } catch (err) {
    const out = (err as { stdout?: string }).stdout?.trim();
    // is-active exits non-zero for inactive/failed and prints the state; without systemd it prints nothing useful.
    return out && /^(inactive|failed|activating|deactivating|reloading)$/.test(out) ? out : null;
  }
}

/** The settings the hub's unit reads: the file is there and the hub would accept them. */
function checkSettings(context: DoctorContext): { check: DoctorCheck; config: HubConfig | null } {
  const env: NodeJS.ProcessEnv = { ...parseEnvFile(context.settingsText ?? '') };
  for (const [name, value] of Object.entries(process.env)) if (name.startsWith('AYI_')) env[name] = value;
  let config: HubConfig | null = null;
  let problem: string | null = null;
  try {
    config = loadConfig(env);
  } catch (err) {
    problem = err instanceof ConfigError ? err.problems.join('; ') : (err as Error).message;
  }
  const where = context.settingsText === null ? 'the environment (no settings file: a checkout)' : context.settingsFile;
  if (problem !== null) {
    return {
      check: {
        id: 'settings',
        level: 'fail',
        summary: `The hub refuses its settings in ${where}: ${problem}.`,
        fix: `Correct ${context.settingsFile} (firmware-config/hub.env.example lists each setting), then sudo systemctl restart ayi-hub.`,
      },
      config,
    };
  }
  return { check: { id: 'settings', level: 'ok', summary: `The settings in ${where} are valid.`, fix: null }, config };
}

/** systemd's EnvironmentFile lines, as far as the hub's settings need: KEY=VALUE, quotes optional. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (match) env[match[1]!] = match[2]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return env;
}

function certificateFiles(setting: (name: string) => string | null): CertificateFile[] {
  const files: CertificateFile[] = [];
  for (const [name, kind] of [
    ['AYI_MQTT_CA_FILE', 'certificate'],
    ['AYI_MQTT_CERT_FILE', 'certificate'],
    ['AYI_MQTT_KEY_FILE', 'key'],
  ] as const) {
    const file = setting(name);
    if (file) files.push({ setting: name, file, kind });
  }
  return files;
}

/** What can be checked with the hub down: from the settings and the files. */
async function checksFromFiles(context: DoctorContext, config: HubConfig | null): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [clockCheck(null, await ntpSynchronized())];
  const storage = new StorageMonitor(context.dataDir, {
    minFreePercent: config?.diskMinFreePercent ?? 10,
    minFreeBytes: (config?.diskMinFreeMb ?? 500) * 1024 * 1024,
    probeMs: 60_000,
    fullProbeMs: 5_000,
  });
  await storage.probe();
  const disk = storage.view();
  checks.push(
    disk.freeBytes === null
      ? {
          id: 'disk',
          level: 'fail',
          summary: `The data directory ${context.dataDir} cannot be measured (is it there?).`,
          fix: `Check AYI_DATA_DIR and that the disk is mounted: see "Disk space" in ${DOC}.`,
        }
      : diskCheck(disk),
  );
  checks.push(certificatesCheck(certificateFiles(context.setting), context.now));
  checks.push(memberKeyCheck(context.setting('AYI_MEMBER_HASH_KEY')));
  checks.push(backupsFromFiles(context.setting('AYI_BACKUP_DIR'), context.now));
  return checks;
}

/** The backups in AYI_BACKUP_DIR: the newest one's age (its file's time). */
export function backupsFromFiles(dir: string | null, now: Date): DoctorCheck {
  const view = {
    enabled: dir !== null,
    keep: 0,
    lastBackupAt: null as string | null,
    lastBackupFile: null as string | null,
    lastBackupSeq: null,
    lastAttemptAt: null,
    lastResult: null,
    lastError: null as string | null,
  };
  const problems: string[] = [];
  if (dir !== null) {
    try {
      const newest = readdirSync(dir)
        .filter((name) => name.endsWith(BACKUP_SUFFIX))
        .map((name) => ({ name, at: statSync(path.join(dir, name)).mtime }))
        .sort((a, b) => b.at.getTime() - a.at.getTime())[0];
      if (newest) {
        view.lastBackupAt = newest.at.toISOString();
        view.lastBackupFile = newest.name;
      }
    } catch (err) {
      view.lastError = `cannot read ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      problems.push('backup_failed');
    }
    if (view.lastBackupAt === null || now.getTime() - Date.parse(view.lastBackupAt) > BACKUP_OLD_AFTER_MS) {
      problems.push('backup_old');
    }
  }
  return backupsCheck(view, problems, now);
}

/**
 * Whether the hub's user can open each file: every directory on the way searchable by it, the file
 * readable by it (owner, group or other bits, as the kernel decides). Null when there is no such
 * user here or no file to check.
 */
export function serviceUserAccess(
  files: CertificateFile[],
  user: { uid: number; gids: number[] } | null,
): DoctorCheck | null {
  if (!user || files.length === 0) return null;
  const problems: string[] = [];
  for (const { setting, file } of files) {
    const blocked = blockedFor(path.resolve(file), user);
    if (blocked) problems.push(`${setting} (${file}): the ayi user cannot read it (${blocked})`);
  }
  if (problems.length === 0) return null;
  return {
    id: 'certificates',
    level: 'fail',
    summary: `${problems.join('; ')}; the hub cannot start with it.`,
    fix:
      'sudo chown root:ayi /etc/ayi/tls /etc/ayi/tls/* && sudo chmod 0750 /etc/ayi/tls && sudo chmod 0640 /etc/ayi/tls/* ' +
      `(and /etc/ayi 0750 root:ayi): see "Certificates" in ${DOC}.`,
  };
}

function blockedFor(file: string, user: { uid: number; gids: number[] }): string | null {
  const allowed = (at: string, bits: { owner: number; group: number; other: number }): boolean => {
    const stat = statSync(at);
    if (stat.uid === user.uid) return (stat.mode & bits.owner) !== 0;
    if (user.gids.includes(stat.gid)) return (stat.mode & bits.group) !== 0;
    return (stat.mode & bits.other) !== 0;
  };
  const search = { owner: constants.S_IXUSR, group: constants.S_IXGRP, other: constants.S_IXOTH };
  const read = { owner: constants.S_IRUSR, group: constants.S_IRGRP, other: constants.S_IROTH };
  try {
    let dir = path.dirname(file);
    const dirs: string[] = [];
    while (dir !== path.dirname(dir)) {
      dirs.unshift(dir);
      dir = path.dirname(dir);
    }
    for (const at of dirs) if (!allowed(at, search)) return `the directory ${at} is closed to it`;
    if (!allowed(file, read)) return 'its mode or owner';
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

/** The worse of two findings of one check, both said. */
function mergeInto(into: DoctorCheck, other: DoctorCheck): void {
  if (RANK[other.level] < RANK[into.level]) return;
  into.summary = into.level === 'ok' ? other.summary : `${other.summary}; ${into.summary}`;
  into.level = other.level;
  into.fix = other.fix;
}

/**
 * The release installed (/opt/ayi/current -> releases/<version>, its RELEASE.json) and when it was
 * switched to (the link's own time); a warning when the running hub is another version.
 */
export function updateCheck(installDir: string, runningVersion: string | null): DoctorCheck {
  const current = path.join(installDir, 'current');
  let link: string;
  let switchedAt: Date;
  try {
    switchedAt = lstatSync(current).mtime;
    link = readlinkSync(current);
  } catch {
    return {
      id: 'update',
      level: 'ok',
      summary: `Not installed from a release (no ${current}): a checkout.`,
      fix: null,
    };
  }
  let version: string;
  try {
    version = (JSON.parse(readFileSync(path.join(current, 'RELEASE.json'), 'utf8')) as { version: string }).version;
  } catch (err) {
    return {
      id: 'update',
      level: 'fail',
      summary: `${current} (-> ${link}) has no readable RELEASE.json (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`,
      fix: `Roll back to the release that ran before: sudo ayi rollback; see "The release installed" in ${DOC}.`,
    };
  }
  const installed = `Release ${version}, installed ${switchedAt.toISOString()}`;
  if (runningVersion !== null && runningVersion !== version) {
    return {
      id: 'update',
      level: 'warn',
      summary: `${installed}, but the hub running is version ${runningVersion}.`,
      fix: 'Restart the hub to run the installed release: sudo systemctl restart ayi-hub.',
    };
  }
  return { id: 'update', level: 'ok', summary: `${installed}.`, fix: null };
}

/** The `ayi` user's uid and groups (`id`), null where there is none. */
export function findServiceUser(): { uid: number; gids: number[] } | null {
  try {
    const uid = Number(execFileSync('id', ['-u', 'ayi'], { encoding: 'utf8', stdio: 'pipe' }).trim());
    const gids = execFileSync('id', ['-G', 'ayi'], { encoding: 'utf8', stdio: 'pipe' }).trim().split(/\s+/).map(Number);
    return { uid, gids };
  } catch {
    return null;
  }
}
