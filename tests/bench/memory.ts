/**
 * The hub's memory with a long past: `npm run bench` runs this after run.ts.
 *
 * Prints one JSON object per line on stdout, {"metric","value","unit","baseline","ratio"}; progress
 * goes to stderr.
 *
 *   hub_rss_mb        resident memory of the hub process (VmRSS) once it has replayed a journal of
 *                     500,000 past sales with no snapshot, written the snapshot that follows and
 *                     settled; run with Node's options of the store's systemd unit
 *                     (firmware-config/ayi-hub.service: its heap limit); baseline = the target,
 *                     300 MB (a Pi 4 with 2 GB serves other things too)
 *   journal_disk_mb   the size on disk of that journal, beside it; baseline = hub_rss_mb
 *
 * The peak (VmHWM), the RSS of the same hub with an empty past and of the same replay without the
 * unit's options (Node's defaults on this machine) go to the progress log.
 *
 * Environment: AYI_BENCH_MEMORY_SALES (500000), AYI_BENCH_DAYS (500), AYI_BENCH_SEED,
 * AYI_BENCH_KEEP=1 keeps the temporary directory.
 */
import { promises as fs, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';
import { startHubProcess, unitNodeArgs, type HubProcess } from '../support/hub-process.ts';
import { seedPastSales } from './seed-journal.ts';
import { emit, progress, removeUnlessKept, runBench } from './report.ts';

const env = process.env;
const PAST_SALES = Number(env.AYI_BENCH_MEMORY_SALES ?? 500_000);
const PAST_DAYS = Number(env.AYI_BENCH_DAYS ?? 500);
const SEED = Number(env.AYI_BENCH_SEED ?? 20_240_601);
const TZ = env.AYI_TZ ?? 'Asia/Taipei';
const RSS_TARGET_MB = 300;
/** After start-up (and the snapshot a long replay ends with), the hub is left alone this long. */
const SETTLE_MS = 3000;
const HUB_ENV = { AYI_TZ: TZ };

/** VmRSS and VmHWM (peak) of a process, in MB. */
function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

function bytesUnder(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(path.join(dir, name)).size, 0);
}

/** Waits until the hub has written the snapshot a long replay ends with, then lets it settle. */
async function settled(dataDir: string, seq: number): Promise<void> {
  const name = `snapshot-${String(seq).padStart(12, '0')}.json`;
  const deadline = Date.now() + 120_000;
  while (!readdirSync(path.join(dataDir, 'snapshots')).includes(name)) {
    if (Date.now() > deadline) throw new Error(`the hub wrote no snapshot at seq ${seq}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

async function main(): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ayi-bench-memory-'));
  const dataDir = path.join(root, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  progress(`temporary directory ${root}`);
  let hub: HubProcess | null = null;
  try {
    hub = await startHubProcess({ dataDir, env: HUB_ENV });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const empty = memoryOf(hub.child.pid!);
    progress(`empty store: RSS ${empty.rssMb.toFixed(1)} MB`);
    await hub.stop();
    hub = null;

    const t0 = performance.now();
    const seed = seedPastSales(dataDir, { sales: PAST_SALES, days: PAST_DAYS, timeZone: TZ, rng: seededRng(SEED) });
    const journalMb = bytesUnder(path.join(dataDir, 'journal')) / 1024 / 1024;
    progress(
      `seeded ${seed.sales} past sales over ${seed.files} days, ${journalMb.toFixed(1)} MB of journal, ` +
        `in ${Math.round(performance.now() - t0)} ms`,
    );

    /** A start with no snapshot (every event replayed), settled: its memory. */
    const replayed = async (nodeArgs: string[]) => {
      rmSync(path.join(dataDir, 'snapshots'), { recursive: true, force: true });
      hub = await startHubProcess({ dataDir, env: HUB_ENV, readyTimeoutMs: 300_000, nodeArgs });
      const { startup } = await adminRequest<{ startup: { replayedEvents: number; startupMs: number } }>(
        path.join(dataDir, 'ayi.sock'),
        'health',
      );
      if (startup.replayedEvents !== seed.lastSeq) {
        throw new Error(`the hub replayed ${startup.replayedEvents} of ${seed.lastSeq} seeded events`);
      }
      await settled(dataDir, seed.lastSeq);
      const memory = memoryOf(hub.child.pid!);
      progress(
        `node ${nodeArgs.join(' ') || '(no options)'}: after replaying ${startup.replayedEvents} events in ` +
          `${startup.startupMs} ms: RSS ${memory.rssMb.toFixed(1)} MB, peak ${memory.peakMb.toFixed(1)} MB`,
      );
      await hub.stop();
      hub = null;
      return memory;
    };
    await replayed([]);
    const full = await replayed(unitNodeArgs());

    emit('hub_rss_mb', full.rssMb, 'MB', RSS_TARGET_MB, full.rssMb / RSS_TARGET_MB);
    emit('journal_disk_mb', journalMb, 'MB', full.rssMb, journalMb / full.rssMb);
  } finally {
    await hub?.kill('SIGKILL');
    removeUnlessKept(root);
  }
}

runBench(main);
