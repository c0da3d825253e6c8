/** Which business day a sale belongs to: the store's (Asia/Taipei, UTC+8) calendar, not UTC's. */
import { describe, expect, it } from 'vitest';
import { businessDate, daysBefore, localDateTime } from '../../../hub/src/domain/time.ts';

describe('businessDate in Asia/Taipei', () => {
  it('changes day at local midnight (16:00 UTC)', () => {
    // 15:59:59 UTC is 23:59:59 in Taipei, still the 22nd; 16:00:00 UTC is 00:00 on the 23rd
    expect(businessDate(new Date('2026-11-22T15:59:59Z'), 'Asia/Taipei')).toBe('2026-11-22');
    expect(businessDate(new Date('2026-11-22T16:00:00Z'), 'Asia/Taipei')).toBe('2026-11-23');
  });

  it('puts a sale at 00:30 local time on the new day although UTC is still on the previous one', () => {
    // 2026-12-31T16:30Z = 2027-01-01 00:30 in Taipei: a new year there
    expect(businessDate(new Date('2026-12-31T16:30:00Z'), 'Asia/Taipei')).toBe('2027-01-01');
    // the same instant is still 2026-12-31 in UTC
    expect(businessDate(new Date('2026-12-31T16:30:00Z'), 'UTC')).toBe('2026-12-31');
  });

  it('formats as YYYY-MM-DD', () => {
    expect(businessDate(new Date('2026-03-05T01:00:00Z'), 'Asia/Taipei')).toBe('2026-03-05');
  });
});

describe('daysBefore', () => {
  it('goes back across month and year ends', () => {
    expect(daysBefore('2026-11-23', 1)).toBe('2026-11-22');
    expect(daysBefore('2026-03-01', 1)).toBe('2026-02-28');
    expect(daysBefore('2028-03-01', 1)).toBe('2028-02-29');
    expect(daysBefore('2027-01-10', 35)).toBe('2026-12-06');
  });
});

describe('localDateTime', () => {
  it('writes the store-local date and time of an instant, the day turning at local midnight', () => {
    expect(localDateTime(Date.parse('2026-11-22T15:59:59.900Z'), 'Asia/Taipei')).toBe('2026-11-22 23:59:59');
    expect(localDateTime(Date.parse('2026-11-22T16:00:00Z'), 'Asia/Taipei')).toBe('2026-11-23 00:00:00');
    expect(localDateTime(Date.parse('2026-03-08T10:30:00Z'), 'America/New_York')).toBe('2026-03-08 06:30:00');
  });
});

describe('businessDate called again and again (every sale, every replayed event)', () => {
  it.each(['Asia/Taipei', 'America/New_York', 'America/Santiago', 'Australia/Lord_Howe'])(
    'gives the same day as the calendar in %s, at every hour and either side of it, all year',
    (timeZone) => {
      const calendar = new Intl.DateTimeFormat('en-CA', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
      });
      const start = Date.UTC(2026, 0, 1);
      for (let hour = 0; hour < 366 * 24; hour++) {
        for (const t of [start + hour * 3_600_000 - 1, start + hour * 3_600_000, start + hour * 3_600_000 + 1]) {
          const at = new Date(t);
          if (businessDate(at, timeZone) !== calendar.format(at)) {
            expect(businessDate(at, timeZone), at.toISOString()).toBe(calendar.format(at));
          }
        }
      }
    },
  );
});
