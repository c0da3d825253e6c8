/**
 * The member filter the seeds describe (birthday next month, NT$5,000 or more spent, ever bought
 * something in 寵物保健), as the condition language writes it: one definition for every test and
 * the bench that run it.
 */
import type { SegmentDefinition } from '../../hub/src/protocol/crm.ts';

export const PET_HEALTH = '寵物保健';

export const SEEDS_EXAMPLE: SegmentDefinition = {
  version: 1,
  root: {
    op: 'and',
    items: [
      { field: 'birthMonth', relative: 'next_month' },
      { field: 'spend', min: 5000 },
      { field: 'bought', category: PET_HEALTH },
    ],
  },
};
