/** The nightly loyalty review (tier downgrades, points expiry), in the store's time zone. */
import cron from 'node-cron';
import type { MembersService } from '../services/members.service.js';

export function scheduleLoyaltyReview(
  expression: string,
  timeZone: string,
  members: MembersService,
  onDone: (result: { downgraded: number; pointsExpired: number }) => void,
  onError: (err: unknown) => void,
): { stop(): void } {
  const task = cron.schedule(
    expression,
    () => {
      members.reviewLoyalty().then(onDone, onError);
    },
    { timezone: timeZone, name: 'loyalty-review' },
  );
  return { stop: () => void task.stop() };
}
