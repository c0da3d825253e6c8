/**
 * The member filter's builder on the tablet: which drafted conditions are sent, held back as
 * unfinished, or refused with a translated problem; where the hub's problems are shown; the tree
 * edits; the seeds' example through a save and a reopen; and the export's columns and file name.
 * Today is 2026-03-31 unless a test says otherwise.
 */
import { describe, expect, it } from 'vitest';
import type { SegmentDefinition } from '$protocol/crm';
import {
  MAX_GROUP_ITEMS,
  addToGroup,
  columnAllowed,
  columnsForNewPurpose,
  compileCondition,
  compileTree,
  definitionToTree,
  draftSignature,
  exportColumnsFor,
  filenameFromDisposition,
  placeProblems,
  removeNode,
  searchProducts,
  setGroupOp,
  starterSegment,
  toggleNot,
  type ConditionDraft,
  type DraftCondition,
  type DraftGroup,
  type DraftNode,
  type ProductOption,
  type WindowDraft,
} from '$lib/segments';

const TODAY = '2026-03-31';
/**
 * The earliest start of a fixed window on TODAY: 1095 days back. 2026-03-31 -> 2025-03-31 and ->
 * 2024-03-31 are 365 days each (no Feb 29 in between); the year before holds 2024-02-29, so 365
 * more days reach 2023-04-01.
 */
const EARLIEST = '2023-04-01';

const allTime: WindowDraft = { mode: 'all', lastDays: null, from: '', to: '' };
const lastDays = (n: number | null): WindowDraft => ({ ...allTime, mode: 'lastDays', lastDays: n });
const between = (from: string, to: string): WindowDraft => ({ ...allTime, mode: 'range', from, to });
const dateTest = (d: Partial<Extract<ConditionDraft, { field: 'lastPurchase' }>['date']>): ConditionDraft => ({
  field: 'lastPurchase',
  date: { mode: 'withinDays', days: null, date: '', from: '', to: '', ...d },
});
const boughtCategory = (category: string, window = allTime, minTimes: number | null = null): ConditionDraft => ({
  field: 'bought',
  target: 'category',
  sku: '',
  category,
  window,
  minTimes,
});
const compile = (d: ConditionDraft) => compileCondition(d, TODAY);

describe('compileCondition', () => {
  describe('complete conditions become what the hub reads', () => {
    it('birthday month, bands, tags, consent', () => {
      expect(compile({ field: 'birthMonth', mode: 'next_month', month: null })).toEqual({
        condition: { field: 'birthMonth', relative: 'next_month' },
      });
      // A month typed before switching to "next month" is not sent.
      expect(compile({ field: 'birthMonth', mode: 'this_month', month: 7 })).toEqual({
        condition: { field: 'birthMonth', relative: 'this_month' },
      });
      expect(compile({ field: 'birthMonth', mode: 'month', month: 12 })).toEqual({
        condition: { field: 'birthMonth', month: 12 },
      });
      expect(compile({ field: 'ageBand', values: ['20-29', '30-39'] })).toEqual({
        condition: { field: 'ageBand', bands: ['20-29', '30-39'] },
      });
      expect(compile({ field: 'tags', match: 'none', values: ['VIP'] })).toEqual({
        condition: { field: 'tags', match: 'none', values: ['VIP'] },
      });
      expect(compile({ field: 'consent', channel: 'line', granted: false })).toEqual({
        condition: { field: 'consent', channel: 'line', granted: false },
      });
    });

    it('bounds with one end open, and windows', () => {
      expect(compile({ field: 'points', min: 100, max: null })).toEqual({ condition: { field: 'points', min: 100 } });
      expect(compile({ field: 'spend', min: 5000, max: 5000, window: lastDays(90) })).toEqual({
        condition: { field: 'spend', min: 5000, max: 5000, window: { lastDays: 90 } },
      });
      // The earliest day allowed is fine.
      expect(compile({ field: 'purchaseCount', min: null, max: 3, window: between(EARLIEST, TODAY) })).toEqual({
        condition: { field: 'purchaseCount', max: 3, window: { from: EARLIEST, to: TODAY } },
      });
    });

    it('bought: the SKU trimmed, and up to 12 times within a window', () => {
      expect(
        compile({
          field: 'bought',
          target: 'sku',
          sku: ' 4710001 ',
          category: '寵物用品',
          window: allTime,
          minTimes: 2,
        }),
      ).toEqual({ condition: { field: 'bought', sku: '4710001', minTimes: 2 } });
      expect(compile(boughtCategory('寵物用品', lastDays(180), 12))).toEqual({
        condition: { field: 'bought', category: '寵物用品', window: { lastDays: 180 }, minTimes: 12 },
      });
      // Without a window the hub counts every purchase, so more than 12 is fine.
      expect(compile(boughtCategory('寵物用品', allTime, 13))).toEqual({
        condition: { field: 'bought', category: '寵物用品', minTimes: 13 },
      });
    });

    it('dates and due for repurchase', () => {
      expect(compile(dateTest({ mode: 'notWithinDays', days: 3650 }))).toEqual({
        condition: { field: 'lastPurchase', date: { notWithinDays: 3650 } },
      });
      expect(compile(dateTest({ mode: 'between', from: '2028-02-01', to: '2028-02-29' }))).toEqual({
        condition: { field: 'lastPurchase', date: { from: '2028-02-01', to: '2028-02-29' } },
      });
      expect(compile({ field: 'dueForRepurchase', withinDays: 0, target: 'any', sku: 'X', category: 'Y' })).toEqual({
        condition: { field: 'dueForRepurchase', withinDays: 0 },
      });
      expect(
        compile({ field: 'dueForRepurchase', withinDays: null, target: 'category', sku: '', category: '貓砂' }),
      ).toEqual({ condition: { field: 'dueForRepurchase', category: '貓砂' } });
    });
  });

  it('holds back unfinished conditions with the reason', () => {
    expect(compile({ field: 'birthMonth', mode: 'month', month: null })).toEqual({ incomplete: 'month' });
    expect(compile({ field: 'region', values: [] })).toEqual({ incomplete: 'choose' });
    expect(compile({ field: 'tags', match: 'any', values: [] })).toEqual({ incomplete: 'tags' });
    expect(compile({ field: 'points', min: null, max: null })).toEqual({ incomplete: 'bounds' });
    expect(compile({ field: 'spend', min: 100, max: null, window: lastDays(null) })).toEqual({ incomplete: 'window' });
    expect(compile({ field: 'spend', min: 100, max: null, window: between(EARLIEST, '') })).toEqual({
      incomplete: 'window',
    });
    expect(compile(dateTest({ mode: 'withinDays', days: null }))).toEqual({ incomplete: 'days' });
    expect(compile(dateTest({ mode: 'before', date: '2026-3-1' }))).toEqual({ incomplete: 'date' });
    expect(compile(dateTest({ mode: 'between', from: '2026-03-01', to: '' }))).toEqual({ incomplete: 'date' });
    expect(compile(boughtCategory('  '))).toEqual({ incomplete: 'category' });
    expect(
      compile({ field: 'bought', target: 'sku', sku: '', category: '寵物用品', window: allTime, minTimes: null }),
    ).toEqual({ incomplete: 'product' });
    expect(compile({ field: 'dueForRepurchase', withinDays: 7, target: 'sku', sku: ' ', category: '' })).toEqual({
      incomplete: 'product',
    });
  });

  describe('refuses what the hub would refuse, with the figures for the message', () => {
    it('bounds: order, sign, whole numbers, size', () => {
      expect(compile({ field: 'points', min: 500, max: 100 })).toEqual({
        problem: { key: 'minOverMax', values: { min: 500, max: 100 } },
      });
      expect(compile({ field: 'markdownPurchases', min: -1, max: null })).toEqual({
        problem: { key: 'notNegative' },
      });
      expect(compile({ field: 'points', min: null, max: 2.5 })).toEqual({ problem: { key: 'wholeNumber' } });
      expect(compile({ field: 'points', min: null, max: 1_000_000_001 })).toEqual({
        problem: { key: 'tooLarge', values: { max: 1_000_000_000 } },
      });
      // The bounds are looked at before the window.
      expect(compile({ field: 'spend', min: 5000, max: 100, window: lastDays(0) })).toEqual({
        problem: { key: 'minOverMax', values: { min: 5000, max: 100 } },
      });
    });

    it('windows: days kept, dates in order, no older than the history', () => {
      expect(compile({ field: 'spend', min: 1, max: null, window: lastDays(0) })).toEqual({
        problem: { key: 'lastDaysRange', values: { min: 1, max: 1095 } },
      });
      expect(compile({ field: 'spend', min: 1, max: null, window: lastDays(1096) })).toEqual({
        problem: { key: 'lastDaysRange', values: { min: 1, max: 1095 } },
      });
      expect(compile({ field: 'spend', min: 1, max: null, window: between('2026-03-10', '2026-03-01') })).toEqual({
        problem: { key: 'fromAfterTo', values: { from: '2026-03-10', to: '2026-03-01' } },
      });
      expect(compile({ field: 'spend', min: 1, max: null, window: between('2023-03-31', '2023-12-31') })).toEqual({
        problem: { key: 'windowTooOld', values: { days: 1095, earliest: EARLIEST } },
      });
      expect(compile(boughtCategory('寵物用品', between('2026-02-01', '2026-02-30')))).toEqual({
        problem: { key: 'notADate', values: { date: '2026-02-30' } },
      });
    });

    it('dates: on the calendar and within 1900..2099', () => {
      expect(compile(dateTest({ mode: 'before', date: '2025-02-29' }))).toEqual({
        problem: { key: 'notADate', values: { date: '2025-02-29' } },
      });
      expect(compile(dateTest({ mode: 'after', date: '1899-12-31' }))).toEqual({
        problem: { key: 'yearRange', values: { date: '1899-12-31', first: 1900, last: 2099 } },
      });
      expect(compile(dateTest({ mode: 'between', from: '2026-03-02', to: '2026-03-01' }))).toEqual({
        problem: { key: 'fromAfterTo', values: { from: '2026-03-02', to: '2026-03-01' } },
      });
      expect(compile(dateTest({ mode: 'withinDays', days: 3651 }))).toEqual({
        problem: { key: 'daysRange', values: { min: 1, max: 3650 } },
      });
      expect(compile({ field: 'birthMonth', mode: 'month', month: 13 })).toEqual({
        problem: { key: 'monthRange', values: { min: 1, max: 12 } },
      });
    });

    it('times bought and days until due', () => {
      expect(compile(boughtCategory('寵物用品', lastDays(180), 13))).toEqual({
        problem: { key: 'minTimesInWindow', values: { max: 12 } },
      });
      expect(compile(boughtCategory('寵物用品', between('2026-01-01', TODAY), 13))).toEqual({
        problem: { key: 'minTimesInWindow', values: { max: 12 } },
      });
      expect(compile(boughtCategory('寵物用品', allTime, 0))).toEqual({
        problem: { key: 'minTimesRange', values: { min: 1, max: 1000 } },
      });
      expect(compile({ field: 'dueForRepurchase', withinDays: 91, target: 'any', sku: '', category: '' })).toEqual({
        problem: { key: 'dueDaysRange', values: { min: 0, max: 90 } },
      });
    });
  });

  it('takes the history limit from the day given', () => {
    // 1095 days before 2027-01-01: 2026-01-01 and 2025-01-01 are 365 back each, 2024 has 366 days,
    // so 2024-01-01 is 1096 back and 2024-01-02 is the earliest.
    const w = between('2024-01-01', '2024-01-31');
    expect(compileCondition({ field: 'spend', min: 1, max: null, window: w }, '2027-01-01')).toEqual({
      problem: { key: 'windowTooOld', values: { days: 1095, earliest: '2024-01-02' } },
    });
    expect(
      compileCondition(
        { field: 'spend', min: 1, max: null, window: between('2024-01-02', '2024-01-31') },
        '2027-01-01',
      ),
    ).toEqual({ condition: { field: 'spend', min: 1, window: { from: '2024-01-02', to: '2024-01-31' } } });
  });
});

// ---- Trees with known ids ----

const cond = (id: string, condition: ConditionDraft): DraftCondition => ({ kind: 'condition', id, condition });
const group = (id: string, op: 'and' | 'or', items: DraftNode[]): DraftGroup => ({ kind: 'group', id, op, items });

/**
 * root AND [
 *   c1 birthday next month               -> /root/items/0
 *   c2 points, no bounds yet             (left out: bounds)
 *   g OR [                               -> /root/items/1
 *     c3 spend 500..100                  (left out: minOverMax)
 *     n NOT c4 tagged VIP                -> /root/items/1/items/0, c4 at .../item
 *   ]
 *   c5 age band, none chosen             (left out: choose)
 * ]
 */
function sampleTree(): DraftGroup {
  return group('root', 'and', [
    cond('c1', { field: 'birthMonth', mode: 'next_month', month: null }),
    cond('c2', { field: 'points', min: null, max: null }),
    group('g', 'or', [
      cond('c3', { field: 'spend', min: 500, max: 100, window: allTime }),
      { kind: 'not', id: 'n', item: cond('c4', { field: 'tags', match: 'any', values: ['VIP'] }) },
    ]),
    cond('c5', { field: 'ageBand', values: [] }),
  ]);
}

describe('compileTree', () => {
  it('sends only finished conditions and remembers where each went', () => {
    const compiled = compileTree(sampleTree(), TODAY);
    expect(compiled.definition).toEqual({
      version: 1,
      root: {
        op: 'and',
        items: [
          { field: 'birthMonth', relative: 'next_month' },
          { op: 'or', items: [{ op: 'not', item: { field: 'tags', match: 'any', values: ['VIP'] } }] },
        ],
      },
    });
    expect(Object.fromEntries(compiled.pointers)).toEqual({
      '/root': 'root',
      '/root/items/0': 'c1',
      '/root/items/1': 'g',
      '/root/items/1/items/0': 'n',
      '/root/items/1/items/0/item': 'c4',
    });
    expect(Object.fromEntries(compiled.incomplete)).toEqual({ c2: 'bounds', c5: 'choose' });
    expect(Object.fromEntries(compiled.problems)).toEqual({
      c3: { key: 'minOverMax', values: { min: 500, max: 100 } },
    });
    expect(compiled.conditions).toBe(2);
  });

  it('drops groups and NOTs left empty, and sends nothing while nothing is finished', () => {
    const tree = group('root', 'and', [
      group('g', 'or', [cond('c1', { field: 'region', values: [] })]),
      { kind: 'not', id: 'n', item: cond('c2', { field: 'points', min: 5, max: 1 }) },
    ]);
    const compiled = compileTree(tree, TODAY);
    expect(compiled.definition).toBeNull();
    expect(compiled.pointers.size).toBe(0);
    expect(compiled.conditions).toBe(0);
    expect(compileTree(group('root', 'and', []), TODAY).definition).toBeNull();
  });
});

describe('placeProblems', () => {
  const { pointers } = compileTree(sampleTree(), TODAY);

  it('puts each problem on the deepest sent node its path is under', () => {
    const placed = placeProblems(
      [
        { path: '/root/items/1/items/0/item/values/0', message: 'unknown tag "VIP"' },
        { path: '/root/items/0/relative', message: 'bad relative' },
        { path: '/root/items/1/op', message: 'bad op' },
        { path: '/root/items/1/items/0/item/match', message: 'bad match' },
      ],
      pointers,
    );
    expect(Object.fromEntries(placed.byNode)).toEqual({
      c4: ['unknown tag "VIP"', 'bad match'],
      c1: ['bad relative'],
      g: ['bad op'],
    });
    expect(placed.general).toEqual([]);
  });

  it('reads paths of a save request, under /definition', () => {
    const placed = placeProblems(
      [
        { path: '/definition/root/items/0', message: 'on c1' },
        { path: '/definition', message: 'the whole definition' },
      ],
      pointers,
    );
    expect(Object.fromEntries(placed.byNode)).toEqual({ c1: ['on c1'] });
    expect(placed.general).toEqual(['the whole definition']);
  });

  it('does not take /root/items/10 for /root/items/1, and keeps paths outside the tree general', () => {
    const placed = placeProblems(
      [
        { path: '/root/items/10', message: 'too many items' },
        { path: '/version', message: 'unknown version' },
        { path: '', message: 'not an object' },
      ],
      pointers,
    );
    expect(Object.fromEntries(placed.byNode)).toEqual({ root: ['too many items'] });
    expect(placed.general).toEqual(['unknown version', 'not an object']);
  });
});

describe('tree edits', () => {
  const ids = (node: DraftNode): unknown =>
    node.kind === 'condition'
      ? node.id
      : node.kind === 'not'
        ? { not: node.id, item: ids(node.item) }
        : { [node.id]: node.items.map(ids) };

  it('leave the tree they are given as it was', () => {
    const tree = sampleTree();
    const before = structuredClone(tree);
    addToGroup(tree, 'g', cond('new', { field: 'region', values: ['台北市'] }));
    removeNode(tree, 'c3');
    toggleNot(tree, 'c1');
    setGroupOp(tree, 'g', 'and');
    expect(tree).toEqual(before);
  });

  it('addToGroup adds at the end of the group named, up to the limit', () => {
    const added = addToGroup(sampleTree(), 'g', cond('new', { field: 'region', values: ['台北市'] }));
    expect(ids(added)).toEqual({ root: ['c1', 'c2', { g: ['c3', { not: 'n', item: 'c4' }, 'new'] }, 'c5'] });
    expect(ids(addToGroup(sampleTree(), 'root', cond('new', { field: 'region', values: [] })))).toEqual({
      root: ['c1', 'c2', { g: ['c3', { not: 'n', item: 'c4' }] }, 'c5', 'new'],
    });

    const full = group(
      'root',
      'and',
      Array.from({ length: MAX_GROUP_ITEMS }, (_, i) => cond(`c${i}`, { field: 'region', values: [] })),
    );
    expect(addToGroup(full, 'root', cond('one-more', { field: 'region', values: [] })).items).toHaveLength(20);
    // Only groups take nodes.
    expect(addToGroup(sampleTree(), 'c1', cond('new', { field: 'region', values: [] }))).toEqual(sampleTree());
  });

  it('removeNode takes the NOT around a condition with it, and never the root', () => {
    expect(ids(removeNode(sampleTree(), 'c3'))).toEqual({
      root: ['c1', 'c2', { g: [{ not: 'n', item: 'c4' }] }, 'c5'],
    });
    expect(ids(removeNode(sampleTree(), 'c4'))).toEqual({ root: ['c1', 'c2', { g: ['c3'] }, 'c5'] });
    expect(ids(removeNode(sampleTree(), 'g'))).toEqual({ root: ['c1', 'c2', 'c5'] });
    expect(removeNode(sampleTree(), 'root')).toEqual(sampleTree());
  });

  it('toggleNot wraps a node in a NOT, and unwraps one given the NOT', () => {
    const wrapped = toggleNot(sampleTree(), 'c1');
    const first = wrapped.items[0]!;
    expect(first.kind).toBe('not');
    if (first.kind !== 'not') return;
    expect(first.item).toEqual(cond('c1', { field: 'birthMonth', mode: 'next_month', month: null }));
    expect(['root', 'c1', 'c2', 'g', 'c3', 'n', 'c4', 'c5']).not.toContain(first.id);

    expect(ids(toggleNot(sampleTree(), 'n'))).toEqual({ root: ['c1', 'c2', { g: ['c3', 'c4'] }, 'c5'] });
    expect(toggleNot(sampleTree(), 'root')).toEqual(sampleTree());
    // Twice is once undone: the same conditions are sent.
    const twice = toggleNot(wrapped, first.id);
    expect(compileTree(twice, TODAY).definition).toEqual(compileTree(sampleTree(), TODAY).definition);
  });

  it('setGroupOp changes AND to OR on the group named, the root included', () => {
    const g = setGroupOp(sampleTree(), 'g', 'and').items[2]!;
    expect(g.kind === 'group' && g.op).toBe('and');
    expect(setGroupOp(sampleTree(), 'root', 'or').op).toBe('or');
    // A condition has no AND / OR.
    expect(setGroupOp(sampleTree(), 'c1', 'or')).toEqual(sampleTree());
  });
});

describe("the seeds' example", () => {
  // Birthday next month AND spent NT$5,000 or more AND ever bought something in 寵物保健.
  const seedDefinition: SegmentDefinition = {
    version: 1,
    root: {
      op: 'and',
      items: [
        { field: 'birthMonth', relative: 'next_month' },
        { field: 'spend', min: 5000 },
        { field: 'bought', category: '寵物保健' },
      ],
    },
  };

  it('is what the starter draft sends', () => {
    expect(compileTree(starterSegment(), TODAY).definition).toEqual(seedDefinition);
  });

  it('reopens as the same draft and is sent again unchanged', () => {
    const reopened = definitionToTree(seedDefinition);
    expect(reopened.op).toBe('and');
    expect(reopened.items.map((n) => n.kind === 'condition' && n.condition)).toEqual([
      { field: 'birthMonth', mode: 'next_month', month: null },
      { field: 'spend', min: 5000, max: null, window: allTime },
      { field: 'bought', target: 'category', sku: '', category: '寵物保健', window: allTime, minTimes: null },
    ]);
    expect(compileTree(reopened, TODAY).definition).toEqual(seedDefinition);
    expect(draftSignature(reopened, TODAY)).toBe(draftSignature(starterSegment(), TODAY));
  });

  it('round trips NOT, OR, windows and date tests too', () => {
    const definition: SegmentDefinition = {
      version: 1,
      root: {
        op: 'or',
        items: [
          { op: 'not', item: { field: 'lastPurchase', date: { withinDays: 90 } } },
          { field: 'purchaseCount', min: 2, window: { from: '2026-01-01', to: '2026-03-31' } },
          { field: 'bought', sku: '4710001', window: { lastDays: 30 }, minTimes: 3 },
          { field: 'memberSince', date: { after: '2025-12-31' } },
        ],
      },
    };
    expect(compileTree(definitionToTree(definition), TODAY).definition).toEqual(definition);
  });

  it('puts a lone condition under an AND group', () => {
    const tree = definitionToTree({ version: 1, root: { field: 'points', min: 100 } });
    expect(tree.kind).toBe('group');
    expect(tree.op).toBe('and');
    expect(compileTree(tree, TODAY).definition).toEqual({
      version: 1,
      root: { op: 'and', items: [{ field: 'points', min: 100 }] },
    });
  });
});

describe('draftSignature', () => {
  const signature = (tree: DraftGroup) => draftSignature(tree, TODAY);

  it('is the same for the same conditions under other ids', () => {
    expect(signature(starterSegment())).toBe(signature(starterSegment()));
  });

  it('changes when a value, the AND / OR or the conditions change', () => {
    const base = signature(sampleTree());
    const tree = sampleTree();
    const spend = (min: number) =>
      group('root', 'and', [cond('c', { field: 'spend', min, max: null, window: allTime })]);
    expect(signature(spend(5000))).not.toBe(signature(spend(6000)));
    expect(signature(setGroupOp(tree, 'g', 'and'))).not.toBe(base);
    expect(signature(removeNode(tree, 'c5'))).not.toBe(base);
    expect(signature(toggleNot(tree, 'c1'))).not.toBe(base);
    // An unfinished condition counts as drafted: choosing a value is a change.
    const chosen = addToGroup(removeNode(tree, 'c5'), 'root', cond('c5', { field: 'ageBand', values: ['60+'] }));
    expect(signature(chosen)).not.toBe(base);
  });

  it('ignores a value typed in a mode not chosen', () => {
    const birthday = (month: number | null) =>
      group('root', 'and', [cond('c', { field: 'birthMonth', mode: 'next_month', month })]);
    expect(signature(birthday(3))).toBe(signature(birthday(null)));
    const within = (date: string) =>
      group('root', 'and', [cond('c', dateTest({ mode: 'withinDays', days: 30, date }))]);
    expect(signature(within('2026-01-01'))).toBe(signature(within('')));
  });
});

describe('filenameFromDisposition', () => {
  it('prefers the RFC 5987 filename*, which carries Chinese', () => {
    // 會 = U+6703 = E6 9C 83, 員 = U+54E1 = E5 93 A1 in UTF-8.
    const header = `attachment; filename="members.csv"; filename*=UTF-8''%E6%9C%83%E5%93%A1_2026-03-31.csv`;
    expect(filenameFromDisposition(header, 'x.csv')).toBe('會員_2026-03-31.csv');
    expect(filenameFromDisposition(`attachment; FILENAME*=utf-8'zh-TW'%E6%9C%83%E5%93%A1.csv`, 'x.csv')).toBe(
      '會員.csv',
    );
  });

  it('falls back to the plain filename, quoted or not', () => {
    expect(filenameFromDisposition('attachment; filename="segment-export.csv"', 'x.csv')).toBe('segment-export.csv');
    expect(filenameFromDisposition('attachment; filename=list.csv', 'x.csv')).toBe('list.csv');
    // A broken escape in filename*: the plain name is used.
    expect(filenameFromDisposition(`attachment; filename*=UTF-8''%E6%9C; filename="plain.csv"`, 'x.csv')).toBe(
      'plain.csv',
    );
  });

  it('drops path separators and answers the fallback without a name', () => {
    expect(filenameFromDisposition('attachment; filename="../etc/passwd"', 'x.csv')).toBe('.._etc_passwd');
    expect(filenameFromDisposition(`attachment; filename*=UTF-8''a%2Fb%5Cc.csv`, 'x.csv')).toBe('a_b_c.csv');
    expect(filenameFromDisposition('attachment', 'x.csv')).toBe('x.csv');
    expect(filenameFromDisposition(null, 'x.csv')).toBe('x.csv');
  });
});

describe('export columns', () => {
  it('lets a list carry only the contact columns its channel was consented for', () => {
    const allowed = (purpose: 'sms' | 'line' | 'email' | 'analysis') =>
      (['phone', 'name', 'email', 'memberCode', 'points'] as const).filter((c) => columnAllowed(purpose, c));
    expect(allowed('sms')).toEqual(['phone', 'name', 'memberCode', 'points']);
    expect(allowed('line')).toEqual(['phone', 'name', 'memberCode', 'points']);
    expect(allowed('email')).toEqual(['name', 'email', 'memberCode', 'points']);
    expect(allowed('analysis')).toEqual(['memberCode', 'points']);
  });

  it('puts the chosen columns in the file order, without duplicates or refused columns', () => {
    const chosen = ['points', 'email', 'name', 'memberCode', 'phone', 'points'] as const;
    expect(exportColumnsFor('sms', chosen)).toEqual(['memberCode', 'phone', 'name', 'points']);
    expect(exportColumnsFor('email', chosen)).toEqual(['memberCode', 'name', 'email', 'points']);
    expect(exportColumnsFor('analysis', chosen)).toEqual(['memberCode', 'points']);
  });

  it('switches purpose: defaults follow defaults, a custom choice gains the new contact column', () => {
    expect(columnsForNewPurpose('sms', 'email', ['memberCode', 'phone', 'name'])).toEqual([
      'memberCode',
      'name',
      'email',
    ]);
    expect(columnsForNewPurpose('sms', 'email', ['memberCode', 'phone', 'name', 'tier'])).toEqual([
      'memberCode',
      'name',
      'email',
      'tier',
    ]);
  });
});

describe('searchProducts', () => {
  const gift: ProductOption = { sku: 'X9', name: '贈品 4710001', category: '其他' };
  const refill: ProductOption = { sku: '4710001-B', name: '貓飼料 補充包', category: '寵物食品' };
  const cup: ProductOption = { sku: 'C-77', name: '4710001 紀念杯', category: '其他' };
  const catFood: ProductOption = { sku: '4710001', name: '貓飼料 2kg', category: '寵物食品' };
  const dogFood: ProductOption = { sku: 'D-1', name: '狗飼料', category: '寵物食品' };
  const catalog = [gift, refill, cup, catFood, dogFood];

  it('ranks the exact SKU, then SKUs and names starting with it, then the rest in catalog order', () => {
    expect(searchProducts(catalog, '4710001')).toEqual([catFood, refill, cup, gift]);
    expect(searchProducts(catalog, '4710001', 2)).toEqual([catFood, refill]);
  });

  it('matches full-width digits and letters, and any case', () => {
    expect(searchProducts(catalog, '４７１０００１')).toEqual([catFood, refill, cup, gift]);
    expect(searchProducts(catalog, 'ｃ－７７')).toEqual([cup]);
  });

  it('wants every word somewhere in the name, SKU or category', () => {
    expect(searchProducts(catalog, '飼料 寵物食品')).toEqual([refill, catFood, dogFood]);
    expect(searchProducts(catalog, '貓飼料 d-1')).toEqual([]);
    expect(searchProducts(catalog, '   ')).toEqual([]);
  });
});
