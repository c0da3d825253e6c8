/**
 * Seeding the demo store's year of history (`node --import tsx tests/bench/demo-history.ts`): a
 * demo hub process on an empty data directory, spawn to ready, against the 20 s a newcomer's
 * first `npm start` may take. One JSON line: demo_history_seed_ms.
 */
import { startHubProcess } from '../support/hub-process.ts';
import { emit, progress, removeUnlessKept, runBench } from './report.ts';

const BASELINE_MS = 20_000;

runBench(async () => {
  const started = performance.now();
  const hub = await startHubProcess({ env: { AYI_DEMO_HISTORY: 'on' }, readyTimeoutMs: 180_000 });
  const ms = performance.now() - started;
  progress(`demo store seeded and ready in ${Math.round(ms)} ms`);
  await hub.stop();
  removeUnlessKept(hub.dataDir);
  emit('demo_history_seed_ms', ms, 'ms', BASELINE_MS, ms / BASELINE_MS);
});
