/** The nightly snapshot, in the store's time zone. */
import cron from 'node-cron';
import type { SnapshotService } from '../services/snapshot.service.js';

export function scheduleNightlySnapshot(
  expression: string,
  timeZone: string,
  snapshots: SnapshotService,
  onError: (err: unknown) => void,
): { stop(): void } {
  const task = cron.schedule(
    expression,
    () => {
      snapshots.take().catch(onError);
    },
    { timezone: timeZone, name: 'nightly-snapshot' },
  );
  return { stop: () => void task.stop() };
}
