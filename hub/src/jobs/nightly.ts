/**
 * The hub's nightly work (snapshot, backup, loyalty review, CRM pass): each on its own cron expression
 * in the store's time zone, so "03:10" is after closing wherever the box's clock thinks it is.
 */
import cron from 'node-cron';

export interface NightlyJob<T> {
  /** The task's name in node-cron (and so in its errors). */
  name: string;
  cron: string;
  timeZone: string;
  run: () => Promise<T>;
  onDone?: (result: T) => void;
  onError: (err: unknown) => void;
}

export function scheduleNightly<T>(job: NightlyJob<T>): { stop(): void } {
  const task = cron.schedule(
    job.cron,
    () => {
      job.run().then((result) => job.onDone?.(result), job.onError);
    },
    { timezone: job.timeZone, name: job.name },
  );
  return { stop: () => void task.stop() };
}
