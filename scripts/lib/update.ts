/**
 * `ayi update <artifact>` and `ayi rollback`: a new release installed beside the old ones
 * (/opt/ayi/releases/<version>, `current` and `previous` links), started, and put back by itself when
 * it is not healthy within a minute.
 *
 *   sudo ayi update /media/usb/ayi-hub-0.2.0-linux-arm64.tar.gz [--allow-downgrade]
 *   sudo ayi rollback
 *
 * "Healthy": the hub answers on its socket and has no problem the running version did not have
 * before (a store without internet is degraded before and after: that is no reason to roll back).
 *
 * The data directory is copied before the new version starts (<data dir>-snapshots/before-<version>-
 * <time>, the newest two kept). The copy is put back only by an automatic rollback, and only when
 * the new version migrated the data to a format the old one cannot read and recorded nothing in
 * the journal: otherwise the data stays as it is and only the code goes back, so a sale the new
 * version acknowledged is never lost. A new version that migrated the data and recorded sales is
 * left running (rolling it back would drop them) and the command says to call support.
 *
 * Exit status: 0 done; 1 refused, nothing changed; 2 bad arguments; 3 the new version was not healthy
 * and was rolled back; 4 it was not healthy and could not be rolled back, or a step failed.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { readDataFormat } from '../../hub/src/storage/data-format.ts';
import { fsyncDirectory } from '../../hub/src/storage/fsync.ts';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';

export const UPDATE_USAGE =
  'usage: sudo ayi update <ayi-hub-VERSION-linux-ARCH.tar.gz> [--allow-downgrade]\n       sudo ayi rollback\n';
const SERVICE = 'ayi-hub';
/** Releases kept in releases/ (current and previous always among them). */
const KEEP_RELEASES = 3;
/** Copies of the data directory kept in <data dir>-snapshots. */
const KEEP_SNAPSHOTS = 2;
const DEFAULT_HEALTH_WAIT_S = 60;
const HEALTH_POLL_MS = 1000;

export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
export const EXIT_ROLLED_BACK = 3;
export const EXIT_NOT_ROLLED_BACK = 4;

export interface UpdateContext {
  /** The hub's data directory and its technician socket (as the rest of `ayi` finds them). */
  dataDir: string;
  socketPath: string;
  env?: NodeJS.ProcessEnv;
  say?: (line: string) => void;
}

interface ReleaseInfo {
  version: string;
  target: string;
  /** Absent in releases from before data formats: 1. */
  dataFormat?: number;
}

/** The hub's answer to `health` on its socket (what matters here). */
interface HealthAnswer {
  problems: string[];
  /** Absent from versions before `ayi update`. */
  version?: string;
  lastSeq: number;
}

/** Refused before anything on the box changed (the message says so). */
class Refusal extends Error {}

class Updater {
  readonly installDir: string;
  readonly releasesDir: string;
  readonly snapshotsDir: string;
  readonly healthWaitMs: number;
  readonly say: (line: string) => void;

  constructor(readonly ctx: UpdateContext) {
    const env = ctx.env ?? process.env;
    this.installDir = path.resolve(env.AYI_INSTALL_DIR || '/opt/ayi');
    this.releasesDir = path.join(this.installDir, 'releases');
    this.snapshotsDir = `${ctx.dataDir.replace(/\/+$/, '')}-snapshots`;
    const wait = Number(env.AYI_UPDATE_HEALTH_WAIT_S || DEFAULT_HEALTH_WAIT_S);
    this.healthWaitMs = (Number.isFinite(wait) && wait > 0 ? wait : DEFAULT_HEALTH_WAIT_S) * 1000;
    this.say = ctx.say ?? ((line) => process.stdout.write(`${line}\n`));
  }

  async update(args: string[]): Promise<number> {
    const allowDowngrade = args.includes('--allow-downgrade');
    const files = args.filter((arg) => arg !== '--allow-downgrade');
    if (files.length !== 1 || files[0]!.startsWith('--')) throw new UsageError();
    requireRoot();
    const artifact = path.resolve(files[0]!);

    await this.checkChecksum(artifact);
    const currentVersion = await this.linkedVersion('current');
    const current = currentVersion === null ? null : await this.readRelease(currentVersion);
    const release = await this.unpack(artifact, current, allowDowngrade);

    const before = await this.health();
    const baseline = this.describeBefore(before);
    this.say(`Stopping the hub (systemctl stop ${SERVICE}) ...`);
    const stopped = await systemctl('stop');
    if (!stopped.ok) {
      throw new Refusal(
        `Could not stop the hub: ${stopped.output}\nNothing was switched: ${currentVersion ?? 'no version'} is still the current one.`,
      );
    }
    this.say(`Copying the data directory ${this.ctx.dataDir} ...`);
    let snapshot: string;
    try {
      snapshot = await this.snapshotData(release.version);
    } catch (err) {
      // A full disk, most likely: the store sells on the old version again.
      const restarted = await systemctl('start');
      throw new Refusal(
        `Could not copy the data directory (${(err as Error).message}). Nothing was switched; ` +
          (restarted.ok
            ? `${currentVersion ?? 'the hub'} was started again.`
            : `starting the hub failed too: ${restarted.output}`),
      );
    }
    this.say(`Data copied to ${snapshot} (kept in case the new version has to be taken back).`);

    const oldPrevious = await this.linkedVersion('previous');
    if (currentVersion !== null) await this.switchLink('previous', currentVersion);
    await this.switchLink('current', release.version);
    this.say(`Switched: current -> releases/${release.version}, previous -> releases/${currentVersion ?? '(none)'}`);

    const outcome = await this.startAndCheck(release.version, baseline);
    if (outcome.healthy) {
      this.say(`Ayi ${release.version} is running and healthy (${outcome.summary}).`);
      await this.pruneReleases();
      this.say(`Updated from ${currentVersion ?? 'no version'} to ${release.version}.`);
      return 0;
    }
    if (currentVersion === null || current === null) {
      this.say(`Ayi ${release.version} is NOT healthy: ${outcome.summary}. There is no earlier version to go back to.`);
      this.say('Call support with this output.');
      return EXIT_NOT_ROLLED_BACK;
    }
    return this.rollBackFailedUpdate(
      release.version,
      currentVersion,
      current,
      oldPrevious,
      snapshot,
      baseline,
      outcome.summary,
    );
  }

  async rollback(args: string[]): Promise<number> {
    if (args.length > 0) throw new UsageError();
    requireRoot();
    const currentVersion = await this.linkedVersion('current');
    const previousVersion = await this.linkedVersion('previous');
    if (previousVersion === null)
      throw new Refusal('There is no previous version to roll back to (no update was made yet).');
    if (currentVersion === previousVersion)
      throw new Refusal(`The previous version ${previousVersion} is already the current one.`);
    const previous = await this.readRelease(previousVersion);
    const format = await readDataFormat(this.ctx.dataDir);
    if (format !== null && format.format > (previous.dataFormat ?? 1)) {
      throw new Refusal(
        `Ayi ${previousVersion} cannot read the data: it is in data format ${format.format} (${format.writtenBy} migrated it) and ` +
          `${previousVersion} reads format ${previous.dataFormat ?? 1} at most. Going back would need the copy taken before ` +
          `the update (in ${this.snapshotsDir}) and lose every sale since. Nothing was changed; call support.`,
      );
    }
    this.say(`Rolling back from ${currentVersion ?? '(none)'} to ${previousVersion}.`);
    const baseline = this.describeBefore(await this.health());
    this.say(`Stopping the hub (systemctl stop ${SERVICE}) ...`);
    const stopped = await systemctl('stop');
    if (!stopped.ok) throw new Refusal(`Could not stop the hub: ${stopped.output}\nNothing was switched.`);
    // The data stays as it is: both versions read its format, so nothing either recorded is lost.
    if (currentVersion !== null) await this.switchLink('previous', currentVersion);
    await this.switchLink('current', previousVersion);
    this.say(`Switched: current -> releases/${previousVersion}, previous -> releases/${currentVersion ?? '(none)'}`);
    const outcome = await this.startAndCheck(previousVersion, baseline);
    if (outcome.healthy) {
      this.say(`Rolled back to ${previousVersion}: running and healthy (${outcome.summary}).`);
      return 0;
    }
    this.say(`Ayi ${previousVersion} is NOT healthy: ${outcome.summary}.`);
    if (currentVersion === null) return EXIT_NOT_ROLLED_BACK;
    this.say(`Going back to ${currentVersion} ...`);
    await systemctl('stop');
    await this.switchLink('current', currentVersion);
    await this.switchLink('previous', previousVersion);
    const again = await this.startAndCheck(currentVersion, baseline);
    this.say(
      again.healthy
        ? `Back on ${currentVersion} (${again.summary}). The rollback was not made; the data was not touched.`
        : `${currentVersion} is not healthy either: ${again.summary}. Call support with this output.`,
    );
    return again.healthy ? EXIT_ROLLED_BACK : EXIT_NOT_ROLLED_BACK;
  }

  private async rollBackFailedUpdate(
    failedVersion: string,
    backTo: string,
    backToRelease: ReleaseInfo,
    oldPrevious: string | null,
    snapshot: string,
    baseline: string[],
    reason: string,
  ): Promise<number> {
    this.say(`Ayi ${failedVersion} is NOT healthy: ${reason}.`);
    this.say(`Rolling back to ${backTo} ...`);
    await systemctl('stop');
    const format = await readDataFormat(this.ctx.dataDir);
    let dataNote: string;
    if (format !== null && format.format > (backToRelease.dataFormat ?? 1)) {
      if (await journalChanged(snapshot, this.ctx.dataDir)) {
        // Putting the copy back would drop what the new version acknowledged: it stays.
        await systemctl('start');
        this.say(
          `NOT rolled back: ${failedVersion} migrated the data to format ${format.format}, which ${backTo} cannot read, and ` +
            `recorded sales or changes since; going back to the copy from before the update would lose them. ` +
            `${failedVersion} stays installed and was started again. Call support with this output.`,
        );
        return EXIT_NOT_ROLLED_BACK;
      }
      const aside = await this.restoreSnapshot(snapshot, failedVersion);
      dataNote =
        `The data directory is back as it was before the update (${failedVersion} had migrated it, and recorded ` +
        `nothing); what it made of it is kept in ${aside}.`;
    } else {
      dataNote = `The data directory was kept as it is (same data format): every sale ${failedVersion} recorded stays.`;
    }
    await this.switchLink('current', backTo);
    if (oldPrevious !== null) await this.switchLink('previous', oldPrevious);
    else await fs.rm(path.join(this.installDir, 'previous'), { force: true });
    this.say(`Switched back: current -> releases/${backTo}`);
    this.say(dataNote);
    const outcome = await this.startAndCheck(backTo, baseline);
    this.say(
      outcome.healthy
        ? `ROLLED BACK: the update to ${failedVersion} failed (${reason}); Ayi ${backTo} is running again (${outcome.summary}).`
        : `ROLLED BACK to ${backTo}, but it is not healthy either: ${outcome.summary}. Call support with this output.`,
    );
    await this.pruneReleases();
    this.say(`${failedVersion} stays in ${path.join(this.releasesDir, failedVersion)} for support to look at.`);
    return outcome.healthy ? EXIT_ROLLED_BACK : EXIT_NOT_ROLLED_BACK;
  }

  /** `<artifact>.sha256` beside it (sha256sum's format) must name the artifact's digest. */
  private async checkChecksum(artifact: string): Promise<void> {
    await fs.access(artifact).catch(() => {
      throw new Refusal(`No such file: ${artifact}. Nothing was changed.`);
    });
    let expected: string;
    try {
      expected = (await fs.readFile(`${artifact}.sha256`, 'utf8')).trim().split(/\s+/)[0]!.toLowerCase();
    } catch {
      throw new Refusal(
        `No checksum file ${path.basename(artifact)}.sha256 beside the artifact: copy it along with the artifact. Nothing was changed.`,
      );
    }
    const actual = await sha256File(artifact);
    if (actual !== expected) {
      throw new Refusal(
        `The checksum does not match (${path.basename(artifact)}.sha256 says ${expected.slice(0, 16)}..., the file has ` +
          `${actual.slice(0, 16)}...): the file is damaged or not the release. Copy it again. Nothing was changed.`,
      );
    }
    this.say(`Checksum OK: ${path.basename(artifact)}`);
  }

  /** Unpacks into releases/ under a temporary name, checks RELEASE.json, then renames it into place. */
  /**
   * Reads RELEASE.json out of the artifact and checks it (target, version) before anything is
   * written, then unpacks into releases/ under a temporary name and renames it into place.
   */
  private async unpack(artifact: string, current: ReleaseInfo | null, allowDowngrade: boolean): Promise<ReleaseInfo> {
    const listed = await run('tar', [
      '-xzf',
      artifact,
      '-O',
      '--wildcards',
      '--no-wildcards-match-slash',
      '*/RELEASE.json',
    ]);
    let release: ReleaseInfo;
    try {
      release = parseRelease(listed.stdout);
    } catch {
      throw new Refusal('The artifact holds no RELEASE.json: it is not a release. Nothing was changed.');
    }
    checkRelease(release, current, allowDowngrade);

    await fs.mkdir(this.releasesDir, { recursive: true, mode: 0o755 });
    const incoming = await fs.mkdtemp(path.join(this.releasesDir, '.incoming-'));
    try {
      this.say(`Unpacking ${path.basename(artifact)} ...`);
      const tar = await run('tar', ['-xzf', artifact, '-C', incoming]);
      if (!tar.ok) throw new Refusal(`The artifact does not unpack: ${tar.output}. Nothing was changed.`);
      const entries = await fs.readdir(incoming);
      const unpacked = path.join(incoming, entries[0] ?? '');
      const unpackedRelease = entries.length === 1 ? await readReleaseFile(unpacked).catch(() => null) : null;
      if (unpackedRelease?.version !== release.version) {
        throw new Refusal('The artifact is not a release (no single ayi-hub-... directory). Nothing was changed.');
      }
      const releaseDir = path.join(this.releasesDir, release.version);
      // The same version unpacked before (an update that was rolled back): this copy replaces it.
      await fs.rm(releaseDir, { recursive: true, force: true });
      await fs.rename(unpacked, releaseDir);
      // tar gave it the build's time: the install time says which releases are the newest here.
      const now = new Date();
      await fs.utimes(releaseDir, now, now);
      await fsyncDirectory(this.releasesDir);
      this.say(`Ayi ${release.version} (${release.target}) installed in ${releaseDir}`);
      return release;
    } finally {
      await fs.rm(incoming, { recursive: true, force: true });
    }
  }

  private describeBefore(before: HealthAnswer | null): string[] {
    if (before === null) {
      this.say(
        'The hub does not answer now (stopped or failing): after the update it must answer with no problem at all.',
      );
      return [];
    }
    this.say(
      `The hub answers now${before.version ? ` (${before.version})` : ''}: ` +
        (before.problems.length > 0
          ? `degraded (${before.problems.join(', ')}: these do not count against the new version)`
          : 'ok'),
    );
    return before.problems;
  }

  /** Starts the service and waits for health with no problem beyond `baseline`. */
  private async startAndCheck(version: string, baseline: string[]): Promise<{ healthy: boolean; summary: string }> {
    this.say(`Starting the hub (systemctl start ${SERVICE}) ...`);
    const started = await systemctl('start');
    if (!started.ok) return { healthy: false, summary: `the service did not start (${started.output})` };
    this.say(`Waiting up to ${Math.round(this.healthWaitMs / 1000)} s for the hub to be healthy ...`);
    const deadline = Date.now() + this.healthWaitMs;
    let last = 'no answer from the hub';
    for (;;) {
      const health = await this.health();
      if (health !== null && health.version !== undefined && health.version !== version) {
        // Another hub than the one just started answers on the socket (one the service does not run).
        last = `a hub of version ${health.version ?? 'unknown'} answers instead of ${version}`;
      } else if (health !== null) {
        const added = health.problems.filter((problem) => !baseline.includes(problem));
        if (added.length === 0) {
          return {
            healthy: true,
            summary: health.problems.length > 0 ? `degraded as before: ${health.problems.join(', ')}` : 'ok',
          };
        }
        last = `new problems: ${added.join(', ')}`;
      }
      if (Date.now() >= deadline)
        return { healthy: false, summary: `${last} after ${Math.round(this.healthWaitMs / 1000)} s` };
      await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
    }
  }

  private async health(): Promise<HealthAnswer | null> {
    try {
      return await adminRequest<HealthAnswer>(this.ctx.socketPath, 'health', [], 5000);
    } catch {
      return null;
    }
  }

  /** The version a link (`current`, `previous`) points at, or null when there is none. */
  private async linkedVersion(name: 'current' | 'previous'): Promise<string | null> {
    try {
      const target = await fs.readlink(path.join(this.installDir, name));
      return path.basename(target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  private readRelease(version: string): Promise<ReleaseInfo> {
    return readReleaseFile(path.join(this.releasesDir, version));
  }

  /** A new link under a temporary name, renamed over the old one: the link is never missing. */
  private async switchLink(name: 'current' | 'previous', version: string): Promise<void> {
    const link = path.join(this.installDir, name);
    const temporary = `${link}.${process.pid}.tmp`;
    await fs.rm(temporary, { force: true });
    await fs.symlink(path.join('releases', version), temporary);
    await fs.rename(temporary, link);
    await fsyncDirectory(this.installDir);
  }

  /** A copy of the data directory (the hub is stopped), every file fsync'd before it gets its name. */
  private async snapshotData(version: string): Promise<string> {
    await fs.mkdir(this.snapshotsDir, { recursive: true, mode: 0o700 });
    // Members' data is in it: nobody but root (and the hub's user) may read it.
    await fs.chmod(this.snapshotsDir, 0o700);
    const name = `before-${version}-${timestamp()}`;
    const snapshot = path.join(this.snapshotsDir, name);
    await copyDurably(this.ctx.dataDir, snapshot).catch(async (err: unknown) => {
      await fs.rm(`${snapshot}.partial`, { recursive: true, force: true });
      throw err;
    });
    // cp -a kept the data directory's time: the copy's own time says which copies are the newest.
    const now = new Date();
    await fs.utimes(snapshot, now, now);
    await pruneOldest(this.snapshotsDir, 'before-', KEEP_SNAPSHOTS);
    return snapshot;
  }

  /** Moves the data directory aside (never deleted) and puts the copy from before the update in its place. */
  private async restoreSnapshot(snapshot: string, failedVersion: string): Promise<string> {
    const aside = path.join(this.snapshotsDir, `failed-${failedVersion}-${timestamp()}`);
    await fs.rename(this.ctx.dataDir, aside);
    const now = new Date();
    await fs.utimes(aside, now, now);
    await fsyncDirectory(path.dirname(this.ctx.dataDir));
    await copyDurably(snapshot, this.ctx.dataDir);
    await pruneOldest(this.snapshotsDir, 'failed-', KEEP_SNAPSHOTS);
    return aside;
  }

  /** The newest KEEP_RELEASES releases stay, and current and previous whatever their age. */
  private async pruneReleases(): Promise<void> {
    const keep = new Set([await this.linkedVersion('current'), await this.linkedVersion('previous')]);
    const releases = await newestFirst(this.releasesDir, (name) => !name.startsWith('.'));
    let kept = keep.size;
    for (const name of releases) {
      if (keep.has(name)) continue;
      if (kept < KEEP_RELEASES) {
        kept += 1;
        continue;
      }
      await fs.rm(path.join(this.releasesDir, name), { recursive: true, force: true });
      this.say(`Removed the old release ${name}`);
    }
  }
}

class UsageError extends Error {}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Refusal('Run this as root: sudo ayi <command>. Nothing was changed.');
}

async function readReleaseFile(dir: string): Promise<ReleaseInfo> {
  return parseRelease(await fs.readFile(path.join(dir, 'RELEASE.json'), 'utf8'));
}

function parseRelease(text: string): ReleaseInfo {
  const release = JSON.parse(text) as ReleaseInfo;
  // The version names a directory: nothing that could leave releases/.
  if (typeof release.version !== 'string' || !/^[0-9A-Za-z][0-9A-Za-z.+-]*$/.test(release.version)) {
    throw new Error(`RELEASE.json has no usable version (${JSON.stringify(release.version)})`);
  }
  return release;
}

/** For this box's kind, and newer than the running version (older only when asked for). */
function checkRelease(release: ReleaseInfo, current: ReleaseInfo | null, allowDowngrade: boolean): void {
  const target = `linux-${process.arch}`;
  if (release.target !== target) {
    throw new Refusal(
      `The release is for ${release.target}, this box is ${target}: take the ${target} artifact. Nothing was changed.`,
    );
  }
  if (current === null) return;
  const order = compareVersions(release.version, current.version);
  if (order === 0) throw new Refusal(`Ayi ${release.version} is already the current version. Nothing was changed.`);
  if (order < 0 && !allowDowngrade) {
    throw new Refusal(
      `${release.version} is older than the current ${current.version}: to install it anyway, add --allow-downgrade ` +
        '(or use `sudo ayi rollback` for the version before). Nothing was changed.',
    );
  }
}

/** Semantic versions: 0.10.0 after 0.9.1; a pre-release (0.2.0-rc.1) before its release. */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const [core, pre] = v.split('+')[0]!.split(/-(.*)/s);
    return { core: core!.split('.').map((n) => Number(n) || 0), pre: pre ?? null };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < Math.max(x.core.length, y.core.length); i++) {
    const diff = (x.core[i] ?? 0) - (y.core[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === null) return 1;
  if (y.pre === null) return -1;
  return x.pre.localeCompare(y.pre, 'en', { numeric: true });
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

function run(command: string, args: string[]): Promise<{ ok: boolean; stdout: string; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      resolve({ ok: !err, stdout, output: (stderr || stdout || (err?.message ?? '')).trim() });
    });
  });
}

function systemctl(action: 'start' | 'stop'): Promise<{ ok: boolean; output: string }> {
  return run('systemctl', [action, SERVICE]);
}

function timestamp(): string {
  return new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
}

/**
 * `cp -a` (owners, modes, times: the hub's user must own the copy it may run on), then every file
 * and directory fsync'd, then the copy renamed to its name: a copy with its name is whole.
 */
async function copyDurably(from: string, to: string): Promise<void> {
  const temporary = `${to}.partial`;
  await fs.rm(temporary, { recursive: true, force: true });
  const copied = await run('cp', ['-a', '--', from, temporary]);
  if (!copied.ok) throw new Error(`copying ${from} to ${temporary} failed: ${copied.output}`);
  await fsyncTree(temporary);
  await fs.rename(temporary, to);
  await fsyncDirectory(path.dirname(to));
}

async function fsyncTree(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) await fsyncTree(file);
    else if (entry.isFile()) {
      const handle = await fs.open(file, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }
  await fsyncDirectory(dir);
}

/** Entries of `dir` that pass `keep`, newest first (by modification time). */
async function newestFirst(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const names = (await fs.readdir(dir)).filter(keep);
  const times = await Promise.all(names.map(async (name) => (await fs.lstat(path.join(dir, name))).mtimeMs));
  return names
    .map((name, i) => ({ name, time: times[i]! }))
    .sort((a, b) => b.time - a.time)
    .map((e) => e.name);
}

async function pruneOldest(dir: string, prefix: string, keep: number): Promise<void> {
  const names = await newestFirst(dir, (name) => name.startsWith(prefix) && !name.endsWith('.partial'));
  for (const name of names.slice(keep)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
}

/** Whether the journal differs from the copy's: a day file added or grown, i.e. something recorded. */
async function journalChanged(snapshot: string, dataDir: string): Promise<boolean> {
  const sizes = async (dir: string) => {
    const result = new Map<string, number>();
    const journal = path.join(dir, 'journal');
    let names: string[] = [];
    try {
      names = await fs.readdir(journal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const name of names) result.set(name, (await fs.stat(path.join(journal, name))).size);
    return result;
  };
  const [before, after] = await Promise.all([sizes(snapshot), sizes(dataDir)]);
  if (before.size !== after.size) return true;
  return [...after].some(([name, size]) => before.get(name) !== size);
}

/** `ayi update ...` / `ayi rollback`: prints each step; resolves to the exit status. */
export async function runUpdateCommand(command: string, args: string[], ctx: UpdateContext): Promise<number> {
  const updater = new Updater(ctx);
  try {
    return command === 'rollback' ? await updater.rollback(args) : await updater.update(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(UPDATE_USAGE);
      return EXIT_USAGE;
    }
    if (err instanceof Refusal) {
      process.stderr.write(`${command === 'rollback' ? 'Rollback' : 'Update'} refused: ${err.message}\n`);
      return EXIT_REFUSED;
    }
    // Somewhere between the steps printed above: the links and the service are as they printed.
    process.stderr.write(`${command} failed: ${(err as Error).message}\nCheck with: sudo ayi health\n`);
    return EXIT_NOT_ROLLED_BACK;
  }
}
