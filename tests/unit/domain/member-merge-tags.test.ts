/**
 * Tags across a merge: a tag both records carry stays staff's when staff typed it on either of
 * them, so an automatic rule can never take away what a person typed (S1, S2, M5).
 */
import { describe, expect, it } from 'vitest';
import { MemberBook } from '../../../hub/src/domain/members.ts';
import { EventSequence, at10, memberProfile, registration, seal, unseal } from '../../support/member-events.ts';

function twoRecords() {
  const events = new EventSequence();
  const book = new MemberBook(unseal);
  for (const id of ['m1', 'm2']) {
    book.apply(events.ev('member.registered', registration(id, memberProfile(id)), at10('2026-06-01')));
  }
  return { book, ev: events.ev };
}

describe('tags when two records of one person are merged', () => {
  it('a rule tag on the kept record and the same tag typed on the other: staff keeps it', () => {
    const { book, ev } = twoRecords();
    book.apply(
      ev('member.auto_tagged', { memberId: 'm1', sealed: seal({ tag: '有養寵物', ruleId: 'r1' }) }, at10('2026-06-02')),
    );
    book.apply(
      ev('member.tagged', { memberId: 'm2', sealed: seal({ tag: '有養寵物' }), staffId: 's' }, at10('2026-06-02')),
    );
    book.apply(ev('member.merged', { fromMemberId: 'm2', intoMemberId: 'm1', staffId: 's' }, at10('2026-06-03')));
    expect(book.resolve('m1')!.tags).toEqual([{ tag: '有養寵物', source: 'staff' }]);
    // The rule no longer holding takes nothing away: the tag is not the rule's.
    book.apply(
      ev(
        'member.auto_untagged',
        { memberId: 'm1', sealed: seal({ tag: '有養寵物', ruleId: 'r1' }) },
        at10('2026-06-04'),
      ),
    );
    expect(book.resolve('m1')!.tags).toEqual([{ tag: '有養寵物', source: 'staff' }]);
  });

  it('a tag only a rule set stays the rule’s, and other tags move over', () => {
    const { book, ev } = twoRecords();
    book.apply(
      ev(
        'member.auto_tagged',
        { memberId: 'm2', sealed: seal({ tag: '即期品愛好者', ruleId: 'r2' }) },
        at10('2026-06-02'),
      ),
    );
    book.apply(
      ev('member.tagged', { memberId: 'm1', sealed: seal({ tag: '品質主義' }), staffId: 's' }, at10('2026-06-02')),
    );
    book.apply(ev('member.merged', { fromMemberId: 'm2', intoMemberId: 'm1', staffId: 's' }, at10('2026-06-03')));
    expect(book.resolve('m1')!.tags).toEqual([
      { tag: '品質主義', source: 'staff' },
      { tag: '即期品愛好者', source: 'rule:r2' },
    ]);
  });
});
