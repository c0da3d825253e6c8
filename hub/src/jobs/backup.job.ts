/** The nightly backup, in the store's time zone (only when a backup directory is set). */
import cron from 'node-cron';
import type { BackupResult, BackupService } from '../services/backup.service.js';

export function scheduleNightlyBackup(
  expression: string,
  timeZone: string,
  backups: BackupService,
  onDone: (result: BackupResult) => void,
  onError: (err: unknown) => void,
): { stop(): void } {
  const task = cron.schedule(
    expression,
    () => {
      backups.create().then(onDone, onError);
    },
    { timezone: timeZone, name: 'nightly-backup' },
  );
  return { stop: () => void task.stop() };
}
