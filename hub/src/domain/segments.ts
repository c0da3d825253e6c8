/**
 * The member filter (S3): checks a condition-language definition (protocol/crm.ts), compiles it to
 * one predicate over rows of the members' columns (member-columns.ts) and runs it over the members
 * projection; one record at a time (tag rules), a record is tested as a one-row set of columns, by
 * the same code. Pure: the instant and everything outside the record (profiles, RFM, repurchase
 * prediction) are passed in.
 *
 * Dates in the language are store-local. "Today" is the store's business date when the filter
 * runs, so relative conditions ("birthday next month", "the last 180 days") move with the calendar
 * and a saved segment stays live.
 */
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import {
  type AgeBand,
  Condition,
  DateTest,
  SEGMENT_LANGUAGE_VERSION,
  SegmentDefinition,
  Window,
  type RfmSegmentName,
  type SegmentNode,
  type SegmentProblem,
} from '../protocol/crm.js';
import { ColumnGroup, consentBit, dayNumber, MemberColumns, NO_DAY } from './member-columns.js';
import { type MemberBook, type MemberProfile, type MemberRecord, SKU_DATES_KEPT } from './members.js';
import { businessDate, daysAfter, daysBefore, daysBetween, isCalendarDate, localDayStart } from './time.js';

/** Levels of nesting (the root is level 1): deeper trees are unreadable and likely a mistake. */
export const MAX_DEPTH = 8;
/** Conditions in one definition, all groups together. */
export const MAX_CONDITIONS = 100;
/** Items in one AND / OR group (as the schema says). */
export const MAX_GROUP_ITEMS = 20;
/**
 * How far back purchase windows may reach: members keep their sales (spendLog) for about 3 years
 * (1,100 days before their latest sale), so a window within 1,095 days of today is always complete.
 */
export const HISTORY_DAYS = 1095;
/** What `dueForRepurchase` means without `withinDays`. */
export const DEFAULT_DUE_WITHIN_DAYS = 7;

/** What the store knows, for validation: unknown SKUs / categories / tiers are errors with suggestions. */
export interface SegmentVocabulary {
  skus: ReadonlySet<string>;
  categories: ReadonlySet<string>;
  /** Tier ids in the program's order (the first is the base tier). */
  tiers: readonly string[];
}

/** Everything evaluation needs besides the member record; `now` + `timeZone` give the store-local today. */
export interface SegmentEnv {
  now: Date;
  timeZone: string;
  storeId: string;
  /** Opened profile: the birthday for age bands. */
  profile(memberId: string): MemberProfile | undefined;
  /** From the latest RFM computation; null for members not scored (never bought). */
  rfmSegment(memberId: string): RfmSegmentName | null;
  /** Repurchase prediction: due within `withinDays` of today, overall or for one SKU / category. */
  isDue(record: MemberRecord, today: string, test: { withinDays: number; sku?: string; category?: string }): boolean;
  /**
   * The program's base tier. A member who has not bought yet has no tier id (''); the loyalty
   * program treats them as in its first tier, and so does the `tier` condition when this is given.
   */
  baseTier?: string;
}

export type MemberPredicate = (record: MemberRecord) => boolean;

// ---------------------------------------------------------------------------------------------
// Validation

type ConditionField = Condition['field'];

const CONDITION_SCHEMAS = new Map<string, TSchema>(
  Condition.anyOf.map((schema) => [(schema.properties.field as { const: string }).const, schema as TSchema]),
);
/** Every field the language knows, in the schema's order. */
export const CONDITION_FIELDS = [...CONDITION_SCHEMAS.keys()] as ConditionField[];

type Problems = SegmentProblem[];

/** A JSON-pointer segment: `~` and `/` escaped. */
const pointer = (key: string | number) => `/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const quoteList = (values: readonly string[]) => values.map((v) => `"${v}"`).join(', ');

/**
 * Validates untrusted JSON. Returns the definition, or every problem found (JSON-pointer path + a
 * plain message a store manager understands). `today` (store-local) bounds how far back a fixed
 * purchase window may start.
 *
 * The tree is walked here rather than checked against the recursive schema at once, so a mistake
 * in one condition is reported against that condition's own schema ("/root/items/1/min: expected a
 * whole number >= 0"), not as a failed match of every alternative.
 */
export function parseSegment(
  input: unknown,
  vocabulary: SegmentVocabulary,
  today: string,
): { definition: SegmentDefinition; problems: [] } | { definition: null; problems: SegmentProblem[] } {
  const problems: Problems = [];
  if (!isObject(input)) {
    problems.push({ path: '', message: 'expected a filter: an object with "version" and "root"' });
    return { definition: null, problems };
  }
  for (const key of Object.keys(input)) {
    if (key !== 'version' && key !== 'root') {
      problems.push({ path: pointer(key), message: `"${key}" is not part of a filter (it takes version and root)` });
    }
  }
  if (!('version' in input)) {
    problems.push({ path: '/version', message: `missing: expected ${SEGMENT_LANGUAGE_VERSION}` });
  } else if (input.version !== SEGMENT_LANGUAGE_VERSION) {
    problems.push({
      path: '/version',
      message:
        typeof input.version === 'number'
          ? `this filter is written in version ${input.version} of the condition language; this hub reads version ${SEGMENT_LANGUAGE_VERSION}`
          : `expected ${SEGMENT_LANGUAGE_VERSION}`,
    });
  }
  if (!('root' in input)) {
    problems.push({ path: '/root', message: 'missing: expected a group or a condition' });
  } else {
    const walk = new TreeCheck(vocabulary, today, problems);
    walk.node(input.root, '/root', 1);
    if (walk.conditions > MAX_CONDITIONS) {
      problems.push({
        path: '/root',
        message: `too many conditions (${walk.conditions}): at most ${MAX_CONDITIONS} in one filter`,
      });
    }
  }
  if (problems.length === 0 && !Value.Check(SegmentDefinition, input)) {
    // The walk above should have said why; the schema stays the last word on the wire format.
    for (const error of Value.Errors(SegmentDefinition, input)) {
      problems.push({ path: error.path, message: error.message });
    }
  }
  if (problems.length === 0) return { definition: input as SegmentDefinition, problems: [] };
  return { definition: null, problems };
}

class TreeCheck {
  conditions = 0;

  constructor(
    private readonly vocabulary: SegmentVocabulary,
    private readonly today: string,
    private readonly problems: Problems,
  ) {}

  private problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  node(node: unknown, path: string, depth: number): void {
    if (depth > MAX_DEPTH) {
      this.problem(path, `nested too deep: at most ${MAX_DEPTH} levels of groups and conditions`);
      return;
    }
    if (!isObject(node)) {
      this.problem(path, 'expected a group ({ op, items }) or a condition ({ field, ... })');
      return;
    }
    if ('op' in node) this.group(node, path, depth);
    else if ('field' in node) this.condition(node, path);
    else this.problem(path, 'expected a group ({ op, items }) or a condition ({ field, ... })');
  }

  private group(node: Record<string, unknown>, path: string, depth: number): void {
    const op = node.op;
    if (op === 'not') {
      // A list under NOT gets its own hint below rather than "not part of".
      this.onlyKeys(node, path, ['op', 'item', 'items'], 'a NOT group (it takes op and item)');
      if ('items' in node) {
        this.problem(path + '/items', 'NOT takes one "item", not a list: wrap a list in an AND or OR');
      } else if (!('item' in node)) {
        this.problem(path + '/item', 'missing: NOT needs the one item it negates');
      } else {
        this.node(node.item, path + '/item', depth + 1);
      }
      return;
    }
    if (op !== 'and' && op !== 'or') {
      this.problem(path + '/op', 'expected one of: "and", "or", "not"');
    } else {
      this.onlyKeys(node, path, ['op', 'items'], `an ${op.toUpperCase()} group (it takes op and items)`);
    }
    const items = node.items;
    if (items === undefined) {
      if (op === 'and' || op === 'or') {
        this.problem(path + '/items', `missing: expected a list of 1 to ${MAX_GROUP_ITEMS} items`);
      }
      return;
    }
    if (!Array.isArray(items)) {
      this.problem(path + '/items', `expected a list of 1 to ${MAX_GROUP_ITEMS} items`);
      return;
    }
    if (items.length === 0) this.problem(path + '/items', 'an empty group: add at least one condition');
    if (items.length > MAX_GROUP_ITEMS) {
      this.problem(
        path + '/items',
        `${items.length} items: at most ${MAX_GROUP_ITEMS} in one group (nest groups for more)`,
      );
    }
    items.forEach((item, i) => this.node(item, `${path}/items/${i}`, depth + 1));
  }

  private onlyKeys(node: Record<string, unknown>, path: string, allowed: string[], what: string): void {
    for (const key of Object.keys(node)) {
      if (!allowed.includes(key)) this.problem(path + pointer(key), `"${key}" is not part of ${what}`);
    }
  }

  private condition(node: Record<string, unknown>, path: string): void {
    this.conditions += 1;
    const field = node.field;
    const schema = typeof field === 'string' ? CONDITION_SCHEMAS.get(field) : undefined;
    if (!schema) {
      const label = typeof field === 'string' ? `unknown field "${field}"` : 'expected a field name';
      this.problem(path + '/field', `${label}; the fields are: ${CONDITION_FIELDS.join(', ')}`);
      return;
    }
    const before = this.problems.length;
    this.schemaProblems(schema, node, path, field as ConditionField);
    // Meaning is checked once the shape is right, so a problem is never reported twice.
    if (this.problems.length === before) this.meaning(node as Condition, path);
  }

  /** Shape problems from the field's own schema; windows and date tests are checked by their variant. */
  private schemaProblems(schema: TSchema, node: Record<string, unknown>, path: string, field: ConditionField): void {
    const properties = schema.properties as Record<string, TSchema>;
    const takes = Object.keys(properties).filter((k) => k !== 'field');
    const unions = (['window', 'date'] as const).filter((k) => k in properties);
    const seen = new Set<string>();
    for (const error of Value.Errors(schema, node)) {
      if (unions.some((k) => error.path === `/${k}` || error.path.startsWith(`/${k}/`))) continue;
      if (seen.has(error.path)) continue;
      seen.add(error.path);
      let message: string;
      if (error.type === UNEXPECTED_PROPERTY) {
        message = `"${error.path.slice(1)}" is not part of a ${field} condition (it takes ${takes.join(', ')})`;
      } else if (error.type === MISSING_PROPERTY) {
        message = `missing: ${describeSchema(error.schema)}`;
      } else {
        message = describeSchema(error.schema);
      }
      this.problem(path + error.path, message);
    }
    for (const key of unions) {
      const [union, words] = key === 'window' ? [Window, WINDOW_WORDS] : [DateTest, DATE_TEST_WORDS];
      if (key in node) {
        this.unionProblems(union, node[key], `${path}/${key}`, words);
      } else if (((schema.required as string[] | undefined) ?? []).includes(key)) {
        this.problem(`${path}/${key}`, `missing: ${words}`);
      }
    }
  }

  /** A window or a date test: picks the alternative by the keys given, then checks against that one. */
  private unionProblems(union: TSchema & { anyOf: TSchema[] }, value: unknown, path: string, words: string): void {
    if (!isObject(value)) {
      this.problem(path, words);
      return;
    }
    const keys = Object.keys(value);
    const candidates = union.anyOf.filter((alt) => keys.some((k) => k in (alt.properties as object)));
    if (candidates.length !== 1) {
      this.problem(path, candidates.length === 0 ? words : `use only one kind of test: ${words}`);
      return;
    }
    const seen = new Set<string>();
    for (const error of Value.Errors(candidates[0]!, value)) {
      if (seen.has(error.path)) continue;
      seen.add(error.path);
      const message =
        error.type === UNEXPECTED_PROPERTY
          ? `"${error.path.slice(1)}" is not part of this test: ${words}`
          : error.type === MISSING_PROPERTY
            ? `missing: ${describeSchema(error.schema)}`
            : describeSchema(error.schema);
      this.problem(path + error.path, message);
    }
  }

  /** What the schema cannot say: bounds in order, one of two fields, known SKUs, history kept. */
  private meaning(condition: Condition, path: string): void {
    switch (condition.field) {
      case 'birthMonth': {
        const given = Number(condition.month !== undefined) + Number(condition.relative !== undefined);
        if (given !== 1) {
          this.problem(
            path,
            given === 0
              ? 'choose a month (1-12) or a relative month (this_month, next_month)'
              : 'choose a month or a relative month, not both',
          );
        }
        break;
      }
      case 'points':
      case 'markdownPurchases':
        this.bounds(condition, path);
        break;
      case 'purchaseCount':
      case 'spend':
        this.bounds(condition, path);
        if (condition.window) this.window(condition.window, path + '/window');
        break;
      case 'memberSince':
      case 'lastPurchase':
        this.dateTest(condition.date, path + '/date');
        break;
      case 'tier':
        condition.values.forEach((tier, i) => {
          if (!this.vocabulary.tiers.includes(tier)) {
            this.problem(
              `${path}/values/${i}`,
              unknownWord('no tier', tier, this.vocabulary.tiers) + ` (tiers: ${this.vocabulary.tiers.join(', ')})`,
            );
          }
        });
        break;
      case 'bought': {
        const given = Number(condition.sku !== undefined) + Number(condition.category !== undefined);
        if (given !== 1) {
          this.problem(path, given === 0 ? 'choose a SKU or a category' : 'choose a SKU or a category, not both');
        }
        this.product(condition, path);
        if (condition.window) {
          this.window(condition.window, path + '/window');
          if (condition.minTimes !== undefined && condition.minTimes > SKU_DATES_KEPT) {
            this.problem(
              path + '/minTimes',
              `within a window at most ${SKU_DATES_KEPT} can be counted: use ${SKU_DATES_KEPT} or less, or no window`,
            );
          }
        }
        break;
      }
      case 'dueForRepurchase':
        if (condition.sku !== undefined && condition.category !== undefined) {
          this.problem(path, 'choose a SKU, a category or neither, not both');
        }
        this.product(condition, path);
        break;
      default:
        break;
    }
  }

  private bounds(condition: { min?: number; max?: number }, path: string): void {
    if (condition.min === undefined && condition.max === undefined) {
      this.problem(path, 'give a minimum, a maximum or both');
    } else if (condition.min !== undefined && condition.max !== undefined && condition.min > condition.max) {
      this.problem(path + '/min', `the minimum (${condition.min}) is more than the maximum (${condition.max})`);
    }
  }

  private window(window: Window, path: string): void {
    if ('lastDays' in window) return;
    if (!this.realDate(window.from, path + '/from') || !this.realDate(window.to, path + '/to')) return;
    if (window.from > window.to) {
      this.problem(path + '/from', `the window starts (${window.from}) after it ends (${window.to})`);
    } else if (daysBetween(window.from, this.today) > HISTORY_DAYS) {
      this.problem(
        path + '/from',
        `purchases are kept for ${HISTORY_DAYS} days (3 years): start the window on or after ${daysBefore(this.today, HISTORY_DAYS)}`,
      );
    }
  }

  private dateTest(test: DateTest, path: string): void {
    if ('before' in test) {
      this.realDate(test.before, path + '/before');
    } else if ('after' in test) {
      this.realDate(test.after, path + '/after');
    } else if ('from' in test) {
      if (!this.realDate(test.from, path + '/from') || !this.realDate(test.to, path + '/to')) return;
      if (test.from > test.to) this.problem(path + '/from', `"from" (${test.from}) is after "to" (${test.to})`);
    }
  }

  /** The pattern lets 2026-02-30 through; the calendar does not. */
  private realDate(date: string, path: string): boolean {
    if (isCalendarDate(date)) return true;
    this.problem(path, `${date} is not a date on the calendar`);
    return false;
  }

  private product(condition: { sku?: string; category?: string }, path: string): void {
    if (condition.sku !== undefined && !this.vocabulary.skus.has(condition.sku)) {
      this.problem(path + '/sku', unknownWord('no product with SKU', condition.sku, this.vocabulary.skus));
    }
    if (condition.category !== undefined && !this.vocabulary.categories.has(condition.category)) {
      this.problem(path + '/category', unknownWord('no category', condition.category, this.vocabulary.categories));
    }
  }
}

const UNEXPECTED_PROPERTY = ValueErrorType.ObjectAdditionalProperties;
const MISSING_PROPERTY = ValueErrorType.ObjectRequiredProperty;

const WINDOW_WORDS = 'expected a window: the last N days { "lastDays": N } or fixed dates { "from": ..., "to": ... }';
const DATE_TEST_WORDS =
  'expected one date test: "before", "after", "withinDays", "notWithinDays", or "from" and "to" together';

/** What a schema expects, in words. */
function describeSchema(schema: TSchema): string {
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s: TSchema) => s.const !== undefined)) {
    return `expected one of: ${quoteList(schema.anyOf.map((s: TSchema) => String(s.const)))}`;
  }
  if (schema.const !== undefined) return `expected ${JSON.stringify(schema.const)}`;
  switch (schema.type) {
    case 'integer': {
      const min = schema.minimum as number | undefined;
      const max = schema.maximum as number | undefined;
      // Counts are capped at a billion only against nonsense: not worth saying.
      if (min !== undefined && max !== undefined && max < 1_000_000_000) {
        return `expected a whole number from ${min} to ${max}`;
      }
      return min !== undefined ? `expected a whole number >= ${min}` : 'expected a whole number';
    }
    case 'string':
      if (schema.pattern) return 'expected a date as YYYY-MM-DD';
      return `expected text of ${schema.minLength ?? 0} to ${schema.maxLength ?? '…'} characters`;
    case 'boolean':
      return 'expected true or false';
    case 'array':
      return `expected a list of ${schema.minItems ?? 0} to ${schema.maxItems ?? '…'} values`;
    case 'object':
      return 'expected an object';
    default:
      return 'not a valid value here';
  }
}

/** "no category "寵物保鍵"; did you mean "寵物保健"?" */
function unknownWord(what: string, word: string, known: Iterable<string>): string {
  const close = closest(word, known);
  return `${what} "${word}"` + (close.length > 0 ? `; did you mean ${quoteList(close)}?` : '');
}

/** Up to 3 known words near the given one: small edit distance, or one containing the other. */
export function closest(word: string, known: Iterable<string>, limit = 3): string[] {
  const target = word.toLowerCase();
  const near: { word: string; distance: number }[] = [];
  const allowed = Math.max(2, Math.floor(target.length / 3));
  for (const candidate of known) {
    const lower = candidate.toLowerCase();
    const distance = lower.includes(target) || target.includes(lower) ? 0.5 : editDistance(target, lower, allowed);
    if (distance <= allowed) near.push({ word: candidate, distance });
  }
  near.sort((a, b) => a.distance - b.distance || a.word.localeCompare(b.word));
  return near.slice(0, limit).map((n) => n.word);
}

/** Levenshtein distance, given up past `cap` (then anything above it is returned). */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > cap) return cap + 1;
    previous = current;
  }
  return previous[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Compilation

/** Inclusive store-local dates; null = open-ended. */
interface DayRange {
  from: string | null;
  to: string | null;
}

/**
 * The days a date test accepts, relative to `today`:
 * - before D: date < D; after D: date > D; from/to: both inclusive;
 * - withinDays N: 0..N days ago (daysBetween(date, today) <= N), so today counts;
 * - notWithinDays N: more than N days ago.
 */
export function dateTestRange(test: DateTest, today: string): DayRange {
  if ('before' in test) return { from: null, to: daysBefore(test.before, 1) };
  if ('after' in test) return { from: daysAfter(test.after, 1), to: null };
  if ('withinDays' in test) return { from: daysBefore(today, test.withinDays), to: today };
  if ('notWithinDays' in test) return { from: null, to: daysBefore(today, test.notWithinDays + 1) };
  return { from: test.from, to: test.to };
}

/** A window's days: lastDays N = the N days ending today (today included); from/to inclusive. */
export function windowRange(window: Window, today: string): { from: string; to: string } {
  if ('lastDays' in window) return { from: daysBefore(today, window.lastDays - 1), to: today };
  return { from: window.from, to: window.to };
}

/** The month (1-12) a birth-month condition means today: relative months roll over December. */
export function birthMonthOf(
  condition: { month?: number; relative?: 'this_month' | 'next_month' },
  today: string,
): number {
  if (condition.month !== undefined) return condition.month;
  const month = Number(today.slice(5, 7));
  return condition.relative === 'next_month' ? (month % 12) + 1 : month;
}

/** The instant a store-local day begins (00:00 there), as ms since the epoch. */
export const startOfLocalDay = localDayStart;

/**
 * A test on an instant (member since, ms since the epoch) by its store-local date, as instant
 * bounds worked out once: no time-zone arithmetic per member.
 */
function instantTest(range: DayRange, timeZone: string): (at: number) => boolean {
  const low = range.from === null ? -Infinity : startOfLocalDay(range.from, timeZone);
  const high = range.to === null ? Infinity : startOfLocalDay(daysAfter(range.to, 1), timeZone);
  return (at) => at >= low && at < high;
}

/** An instant as toISOString writes it (what events carry): such strings sort as their instants. */
const isCanonicalInstant = (at: string) => at.length === 24 && at.charCodeAt(23) === 90; /* Z */

/** A test on a day number (see dayNumber); NO_DAY (no date) is in no range. */
function dayTest(range: DayRange): (day: number) => boolean {
  const from = range.from === null ? -Infinity : dayNumber(range.from);
  const to = range.to === null ? Infinity : dayNumber(range.to);
  return (day) => day !== NO_DAY && day >= from && day <= to;
}

/**
 * Birthdays (YYYY-MM-DD) whose age today falls in a band, as a string range (after, upTo]. Someone
 * is at least A years old exactly when they were born on or before today's month and day A years
 * ago, so comparing strings gives ageBand()'s answer without working out every member's age.
 */
export function birthdayRange(band: AgeBand, today: string): { after: string; upTo: string } {
  const [youngest, oldest] = AGE_RANGES[band];
  const bornOnOrBefore = (age: number) => String(Number(today.slice(0, 4)) - age).padStart(4, '0') + today.slice(4);
  return {
    after: Number.isFinite(oldest) ? bornOnOrBefore(oldest + 1) : '',
    upTo: Number.isFinite(youngest) ? bornOnOrBefore(youngest) : '\uffff',
  };
}

const AGE_RANGES: Record<AgeBand, [number, number]> = {
  '<20': [-Infinity, 19],
  '20-29': [20, 29],
  '30-39': [30, 39],
  '40-49': [40, 49],
  '50-59': [50, 59],
  '60+': [60, Infinity],
};

function boundsTest(min: number | undefined, max: number | undefined): (value: number) => boolean {
  const low = min ?? -Infinity;
  const high = max ?? Infinity;
  return (value) => value >= low && value <= high;
}

/** A test of one row of the members' columns (see member-columns.ts). */
export type RowPredicate = (row: number) => boolean;

/**
 * Purchases counted, or net NT$ summed, over the sales in a window, read from the newest end of the
 * member's log (held by column as day numbers and amounts). A sale's net amount never goes below 0
 * (refunds are at most what was paid), so the all-time figure bounds the window's: a member already
 * below the minimum all time is settled without reading the log, and so is one whose newest logged
 * sale is older than the window (the window is empty); otherwise reading stops once the answer
 * cannot change.
 */
function windowTest(
  bounds: { min?: number; max?: number },
  window: Window,
  today: string,
  measure: 'count' | 'amount',
  columns: MemberColumns,
): RowPredicate {
  const low = bounds.min ?? -Infinity;
  const high = bounds.max ?? Infinity;
  const range = windowRange(window, today);
  const from = dayNumber(range.from);
  const to = dayNumber(range.to);
  const counting = measure === 'count';
  const allTime = counting ? columns.purchaseCount : columns.cumulativeSpend;
  const { lastLogged, logStart, logLength } = columns;
  const emptyWindowMatches = 0 >= low && 0 <= high;
  return (row) => {
    if (allTime[row]! < low) return false;
    if (lastLogged[row]! < from) return emptyWindowMatches;
    const { logDays, logAmounts } = columns;
    const start = logStart[row]!;
    let total = 0;
    for (let i = start + logLength[row]! - 1; i >= start; i--) {
      const day = logDays[i]!;
      if (day < from) break;
      if (day > to) continue;
      total += counting ? 1 : logAmounts[i]!;
      if (total > high) return false;
      if (total >= low && high === Infinity) return true;
    }
    return total >= low && total <= high;
  };
}

interface Compiled {
  test: RowPredicate;
  /**
   * Rough cost per member, so AND / OR run cheap tests first and settle most members before the
   * dear ones: 1 a column, 2 a lookup (tags, a SKU), 3 the profile, 4 a scan of the purchase
   * history, 5-6 the RFM and repurchase callbacks.
   */
  cost: number;
}

/** A condition's test, and the ColumnGroup bits of the columns it reads besides the plain fields. */
interface CompiledCondition extends Compiled {
  reads?: number;
}

interface Compiling {
  env: SegmentEnv;
  /** Store-local, from env.now. */
  today: string;
  columns: MemberColumns;
  /**
   * Testing records one at a time (compileSegment): each test has the columns it reads written for
   * the record first, so a member settled by a cheap test costs no more than that test.
   */
  oneAtATime: boolean;
}

/**
 * Compiles a checked definition (see parseSegment) into one predicate over member records: for
 * testing members one at a time (tag rules). Each record is put in a one-row set of columns and
 * tested there, so a record and a row of the book's columns get the same answer from the same code.
 */
export function compileSegment(definition: SegmentDefinition, env: SegmentEnv): MemberPredicate {
  const columns = new MemberColumns(1);
  const today = businessDate(env.now, env.timeZone);
  const matches = compileNode(definition.root, { env, today, columns, oneAtATime: true }).test;
  return (record) => {
    columns.holdOnly(record);
    return matches(0);
  };
}

/**
 * Compiles a checked definition (see parseSegment) into one predicate over rows of the members'
 * columns, valid until the columns next change. Everything that does not depend on the member is
 * worked out here, once: today, months, window days, instant bounds, dictionary codes, sets. The
 * predicate does not look at liveness: runSegment and matchingMembers skip erased and merged
 * records.
 *
 * Field by field:
 * - birthMonth: the month of the member's birthday; this_month = today's month, next_month = the
 *   following one (December -> January).
 * - ageBand: age today (as ageBand() in members.ts) from the opened profile's birthday; no
 *   birthday, no match.
 * - gender: no gender given = "unknown". region: exact, ignoring surrounding spaces. tier: the
 *   member's tier id. points, markdownPurchases: inclusive bounds.
 * - tags: any / all / none of the values. consent: the channel's current state equals `granted`.
 *   store: whether this hub's store is among the values (a hub holds only its own members).
 * - memberSince: the store-local date the member joined (`since` is a UTC instant).
 * - lastPurchase: the business date of the latest purchase; members who never bought never match.
 * - purchaseCount, spend: all time from the totals; in a window, counted and summed from the
 *   member's sales log (about 3 years kept, see HISTORY_DAYS). The log and the kept purchase dates
 *   are in date order (a sale's date is given when it is committed; merges sort), so windows are
 *   read from the newest end and stop at the first older entry.
 * - bought: ever = the SKU's / category's purchase count >= minTimes (default 1); in a window = how
 *   many of the latest 12 purchases of it fall in the window. Windows ending today count exactly up
 *   to 12; a fixed window in the past may miss purchases older than the latest 12.
 * - rfmSegment: the member's segment in the latest RFM computation.
 * - dueForRepurchase: the repurchase prediction says due within withinDays (default 7).
 */
export function compileRows(definition: SegmentDefinition, env: SegmentEnv, columns: MemberColumns): RowPredicate {
  const today = businessDate(env.now, env.timeZone);
  return compileNode(definition.root, { env, today, columns, oneAtATime: false }).test;
}

function compileNode(node: SegmentNode, compiling: Compiling): Compiled {
  if ('op' in node) {
    if (node.op === 'not') {
      const inner = compileNode(node.item, compiling);
      return { test: (row) => !inner.test(row), cost: inner.cost };
    }
    const parts = node.items.map((item) => compileNode(item, compiling)).sort((a, b) => a.cost - b.cost);
    const tests = parts.map((p) => p.test);
    const cost = parts.reduce((sum, p) => sum + p.cost, 0);
    return { test: node.op === 'and' ? allOf(tests) : anyOf(tests), cost };
  }
  const { test, cost, reads } = compileCondition(node, compiling.env, compiling.today, compiling.columns);
  if (!compiling.oneAtATime || !reads) return { test, cost };
  const { columns } = compiling;
  return {
    test: (row) => {
      columns.load(reads);
      return test(row);
    },
    cost,
  };
}

// Short groups get straight-line closures: no loop per member, and the commonest shapes.
function allOf(tests: RowPredicate[]): RowPredicate {
  const [a, b, c] = tests as [RowPredicate, RowPredicate, RowPredicate];
  if (tests.length === 1) return a;
  if (tests.length === 2) return (row) => a(row) && b(row);
  if (tests.length === 3) return (row) => a(row) && b(row) && c(row);
  return (row) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i]!(row)) return false;
    return true;
  };
}

function anyOf(tests: RowPredicate[]): RowPredicate {
  const [a, b, c] = tests as [RowPredicate, RowPredicate, RowPredicate];
  if (tests.length === 1) return a;
  if (tests.length === 2) return (row) => a(row) || b(row);
  if (tests.length === 3) return (row) => a(row) || b(row) || c(row);
  return (row) => {
    for (let i = 0; i < tests.length; i++) if (tests[i]!(row)) return true;
    return false;
  };
}

function compileCondition(
  condition: Condition,
  env: SegmentEnv,
  today: string,
  columns: MemberColumns,
): CompiledCondition {
  const { records } = columns;
  switch (condition.field) {
    case 'birthMonth': {
      const month = birthMonthOf(condition, today);
      const birthMonth = columns.birthMonth;
      return { test: (row) => birthMonth[row] === month, cost: 1 };
    }
    case 'ageBand': {
      const ranges = condition.bands.map((band) => birthdayRange(band, today));
      return {
        test: (row) => {
          const birthday = env.profile(records[row]!.memberId)?.birthday;
          if (!birthday) return false;
          for (const range of ranges) if (birthday > range.after && birthday <= range.upTo) return true;
          return false;
        },
        cost: 3,
      };
    }
    case 'gender': {
      const wanted = columns.genders.table(condition.values);
      const gender = columns.gender;
      return { test: (row) => wanted[gender[row]!] === 1, cost: 1, reads: ColumnGroup.codes };
    }
    case 'region': {
      // Code 0 (no region) is never wanted.
      const wanted = columns.regions.table(condition.values.map((v) => v.trim()));
      const region = columns.region;
      return { test: (row) => wanted[region[row]!] === 1, cost: 1, reads: ColumnGroup.codes };
    }
    case 'tier': {
      const tiers = new Set(condition.values);
      // A member who has not bought yet (tier '') is in the base tier.
      if (env.baseTier !== undefined && tiers.has(env.baseTier)) tiers.add('');
      const wanted = columns.tiers.table(tiers);
      const tier = columns.tier;
      return { test: (row) => wanted[tier[row]!] === 1, cost: 1, reads: ColumnGroup.codes };
    }
    case 'points': {
      const within = boundsTest(condition.min, condition.max);
      const points = columns.points;
      return { test: (row) => within(points[row]!), cost: 1 };
    }
    case 'markdownPurchases': {
      const within = boundsTest(condition.min, condition.max);
      const markdownPurchases = columns.markdownPurchases;
      return { test: (row) => within(markdownPurchases[row]!), cost: 1 };
    }
    case 'tags':
      return { test: tagsTest(condition.match, condition.values, columns), cost: 2, reads: ColumnGroup.tags };
    case 'consent': {
      const bit = consentBit(condition.channel);
      const granted = condition.granted ? bit : 0;
      const consent = columns.consent;
      return { test: (row) => (consent[row]! & bit) === granted, cost: 1, reads: ColumnGroup.consent };
    }
    case 'store': {
      const ours = condition.values.includes(env.storeId);
      return { test: () => ours, cost: 0 };
    }
    case 'memberSince': {
      const joined = instantTest(dateTestRange(condition.date, today), env.timeZone);
      const since = columns.since;
      return { test: (row) => joined(since[row]!), cost: 1, reads: ColumnGroup.since };
    }
    case 'lastPurchase': {
      const inRange = dayTest(dateTestRange(condition.date, today));
      const lastPurchase = columns.lastPurchase;
      return { test: (row) => inRange(lastPurchase[row]!), cost: 1 };
    }
    case 'purchaseCount':
      if (!condition.window) {
        const within = boundsTest(condition.min, condition.max);
        const purchaseCount = columns.purchaseCount;
        return { test: (row) => within(purchaseCount[row]!), cost: 1 };
      }
      return {
        test: windowTest(condition, condition.window, today, 'count', columns),
        cost: 4,
        reads: ColumnGroup.log,
      };
    case 'spend':
      if (!condition.window) {
        const within = boundsTest(condition.min, condition.max);
        const cumulativeSpend = columns.cumulativeSpend;
        return { test: (row) => within(cumulativeSpend[row]!), cost: 1 };
      }
      return {
        test: windowTest(condition, condition.window, today, 'amount', columns),
        cost: 4,
        reads: ColumnGroup.log,
      };
    case 'bought': {
      const minTimes = condition.minTimes ?? 1;
      const column =
        condition.sku !== undefined
          ? columns.purchases('sku', condition.sku)
          : columns.purchases('category', condition.category ?? '');
      const reads = ColumnGroup.purchases;
      if (!condition.window) return { test: (row) => column.countOf(row) >= minTimes, cost: 2, reads };
      const range = windowRange(condition.window, today);
      const fromDay = dayNumber(range.from);
      const toDay = dayNumber(range.to);
      return {
        test: (row) => {
          const slot = column.slotOf(row);
          // Every kept date is a purchase counted, so fewer purchases all told than minTimes settles it.
          if (slot < 0 || column.counts[slot]! < minTimes) return false;
          const days = column.keptDays;
          const base = slot * SKU_DATES_KEPT;
          let times = 0;
          for (let i = base + column.keptLength[slot]! - 1; i >= base && days[i]! >= fromDay; i--) {
            if (days[i]! <= toDay && ++times >= minTimes) return true;
          }
          return false;
        },
        cost: 4,
        reads,
      };
    }
    case 'rfmSegment': {
      const segments = new Set<string>(condition.values);
      return {
        test: (row) => {
          const segment = env.rfmSegment(records[row]!.memberId);
          return segment !== null && segments.has(segment);
        },
        cost: 5,
      };
    }
    case 'dueForRepurchase': {
      const test: { withinDays: number; sku?: string; category?: string } = {
        withinDays: condition.withinDays ?? DEFAULT_DUE_WITHIN_DAYS,
      };
      if (condition.sku !== undefined) test.sku = condition.sku;
      if (condition.category !== undefined) test.category = condition.category;
      return { test: (row) => env.isDue(records[row]!, today, test), cost: 6 };
    }
  }
}

/** Tags on a member are distinct: "all" means every wanted tag's members include the row. */
function tagsTest(match: 'any' | 'all' | 'none', values: string[], columns: MemberColumns): RowPredicate {
  const holders = [...new Set(values)].map((tag) => columns.tagRows(tag));
  const hasAny = (row: number) => {
    for (const rows of holders) if (rows.has(row)) return true;
    return false;
  };
  if (match === 'any') return hasAny;
  if (match === 'none') return (row) => !hasAny(row);
  return (row) => {
    for (const rows of holders) if (!rows.has(row)) return false;
    return true;
  };
}

// ---------------------------------------------------------------------------------------------
// Running

/** Earlier joiners first; the same instant by member code. */
function joinedEarlier(a: MemberRecord, b: MemberRecord): boolean {
  if (a.since !== b.since) {
    return isCanonicalInstant(a.since) && isCanonicalInstant(b.since)
      ? a.since < b.since
      : Date.parse(a.since) < Date.parse(b.since);
  }
  return a.memberCode < b.memberCode;
}

/** joinedEarlier for two rows, from the since column; the records settle only a tie (or an unreadable instant). */
function rowJoinedEarlier(columns: MemberColumns, a: number, b: number): boolean {
  const sinceA = columns.since[a]!;
  const sinceB = columns.since[b]!;
  if (sinceA < sinceB) return true;
  if (sinceA > sinceB) return false;
  return joinedEarlier(columns.records[a]!, columns.records[b]!);
}

/**
 * Counts the live members (not erased, not merged into another) that match. `first` holds the
 * first `limit` matches in member-since order, the longest-standing members first; `total` is
 * every live member; `asOf` is the store-local today relative dates were resolved against.
 */
export function runSegment(
  book: MemberBook,
  definition: SegmentDefinition,
  env: SegmentEnv,
  limit: number,
): { count: number; total: number; first: MemberRecord[]; asOf: string } {
  const columns = book.columns();
  const matches = compileRows(definition, env, columns);
  const { live, rows } = columns;
  let count = 0;
  let total = 0;
  // The rows of the earliest `limit` matches, kept sorted: each match is compared once with the latest kept.
  const first: number[] = [];
  for (let row = 0; row < rows; row++) {
    if (live[row] === 0) continue;
    total += 1;
    if (!matches(row)) continue;
    count += 1;
    if (limit <= 0) continue;
    if (first.length === limit && !rowJoinedEarlier(columns, row, first[limit - 1]!)) continue;
    let at = first.length;
    while (at > 0 && rowJoinedEarlier(columns, row, first[at - 1]!)) at -= 1;
    first.splice(at, 0, row);
    if (first.length > limit) first.pop();
  }
  return {
    count,
    total,
    first: first.map((row) => columns.records[row]!),
    asOf: businessDate(env.now, env.timeZone),
  };
}

/** All matching live members (for export and tag rules), in the order the book holds them. */
export function matchingMembers(book: MemberBook, definition: SegmentDefinition, env: SegmentEnv): MemberRecord[] {
  const columns = book.columns();
  const matches = compileRows(definition, env, columns);
  const { live, rows, records } = columns;
  const found: MemberRecord[] = [];
  for (let row = 0; row < rows; row++) if (live[row] === 1 && matches(row)) found.push(records[row]!);
  return found;
}
