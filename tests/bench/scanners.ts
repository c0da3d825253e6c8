/**
 * Scanner latency, in process (`node --import tsx tests/bench/scanners.ts`):
 *
 *   scan_to_tablet_p99_ms   a code written into a pty scanner (socat) to the `scan` message on a
 *                           tablet's WebSocket: serial driver, scanning service, bus, socket.
 *                           500 scans one after another; p99 (target 20 ms)
 *
 * The real hub (in process, temporary data directory) with the scanner in its `devices.json`, wired
 * by the hub itself; a tablet paired and logged in (as a manager) over HTTP assigns the scanner to
 * itself through the API, its WebSocket from the `ws` client. Progress and the p50 go to stderr.
 *
 * Environment: AYI_BENCH_SCANS (500).
 */
import { Writable } from 'node:stream';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { percentile } from '../../scripts/lib/stats.ts';
import { PtyScanner, socatAvailable } from '../support/pty-scanner.ts';
import { pairedTablet, startTestHub, writeDevicesFile } from '../support/test-hub.ts';
import { openTabletSocket } from '../support/ws-client.ts';

const SCANS = Number(process.env.AYI_BENCH_SCANS ?? 500);
const WARMUP = 20;

function emit(metric: string, value: number, unit: string, baseline: number): void {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  console.log(JSON.stringify({ metric, value: round(value), unit, baseline, ratio: round(value / baseline) }));
}

async function main(): Promise<void> {
  if (!socatAvailable()) throw new Error('socat is needed for the scanner bench (apt-get install socat)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ayi-bench-scanners-'));
  const quiet = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
  const scanner = new PtyScanner(dir);
  let hub: Awaited<ReturnType<typeof startTestHub>> | null = null;
  try {
    await scanner.plug();
    const dataDir = path.join(dir, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    writeDevicesFile(dataDir, [
      {
        id: 'bench',
        name: 'Bench scanner',
        transport: 'serial',
        path: scanner.path,
        baudRate: 115_200,
        assignedTo: null,
      },
    ]);
    hub = await startTestHub({ dataDir, logger: quiet });
    // A manager's tablet, which assigns the scanner to itself.
    const tablet = await pairedTablet(hub, '222222', 'Bench tablet');
    const assigned = await tablet.request('PUT', '/api/hardware/scanners/bench/assignment', {
      deviceId: tablet.deviceId,
    });
    if (assigned.status !== 200) throw new Error(`assigning the scanner failed: ${JSON.stringify(assigned.body)}`);
    const registry = hub.hardware.registry;
    const deadline = Date.now() + 10_000;
    while (!registry.get('bench')?.connected) {
      if (Date.now() > deadline) throw new Error('the pty scanner did not connect');
      await new Promise((r) => setTimeout(r, 10));
    }

    const socket = await openTabletSocket(tablet);
    await socket.next('hello');
    const samples: number[] = [];
    for (let i = 0; i < WARMUP + SCANS; i++) {
      // An EAN-13 with an AIM prefix, different every time.
      const code = `471${String(i).padStart(10, '0')}`;
      const t0 = performance.now();
      const arrived = socket.next('scan', (m) => m.code === code);
      await scanner.scan(code, ']E0');
      await arrived;
      if (i >= WARMUP) samples.push(performance.now() - t0);
      if ((i + 1) % 100 === 0) process.stderr.write(`scanner bench: ${i + 1}/${WARMUP + SCANS}\n`);
    }
    await socket.close();
    const sorted = samples.sort((a, b) => a - b);
    process.stderr.write(`scan_to_tablet p50 ${percentile(sorted, 50).toFixed(3)} ms\n`);
    emit('scan_to_tablet_p99_ms', percentile(sorted, 99), 'ms', 20);
  } finally {
    await hub?.stop();
    await scanner.unplug();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
