/**
 * The nightly CRM pass (A1, A6, S2), in the store's time zone: RFM scores and the store's repurchase
 * intervals from the day's state, then every automatic tag rule for every member (time-based
 * conditions such as "in the last 180 days" change with the date alone).
 */
import cron from 'node-cron';
import type { AnalyticsService } from '../services/analytics.service.js';
import type { TagRulesService, TagRunResult } from '../services/tag-rules.service.js';

export function scheduleCrmNightly(
  expression: string,
  timeZone: string,
  analytics: AnalyticsService,
  tagRules: TagRulesService,
  onDone: (result: { rfmMs: number; scored: number } & TagRunResult) => void,
  onError: (err: unknown) => void,
): { stop(): void } {
  const task = cron.schedule(
    expression,
    () => {
      const run = async () => {
        const rfm = analytics.nightly();
        const tags = await tagRules.runAll();
        return { ...rfm, ...tags };
      };
      run().then(onDone, onError);
    },
    { timezone: timeZone, name: 'crm-nightly' },
  );
  return { stop: () => void task.stop() };
}
