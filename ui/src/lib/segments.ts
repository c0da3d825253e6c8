/**
 * The member filter (S3, S4) and automatic tags (S2) on the tablet: calls for the hub's segment and
 * tag-rule routes, and the pure helpers of the builder.
 *
 * The builder edits a draft tree: the same AND / OR / NOT shape as the condition language, with an
 * id on every node (for keyed lists and for pointing problems at a node) and conditions that may be
 * half filled in while the manager types. `compileTree` turns the draft into the definition the hub
 * reads, leaving out conditions that are not complete yet, and remembers which JSON pointer of the
 * sent definition is which node, so the hub's problems can be shown next to the condition they
 * concern.
 */
import type {
  AgeBand,
  Condition,
  ConditionField,
  DateTest,
  ExportColumn,
  RfmSegmentName,
  SavedSegmentView,
  SegmentDefinition,
  SegmentExportRequest,
  SegmentNode,
  SegmentPreviewResult,
  SegmentProblem,
  TagRuleSaveRequest,
  TagRuleView,
  Window,
} from '$protocol/crm';
import type { ConsentChannel, Gender } from '$protocol/members';
import { ApiError, BAD_RESPONSE, NETWORK_ERROR, api, isApiError, reportAuthFailure, request } from './api';
import { adminError } from './components/AdminApi';

// ---- The lists of the condition language ----
// The UI takes only types from the hub's protocol files, so the lists are repeated here; the
// `Exhaustive` checks make the type check fail when the hub's lists grow and these do not.

type Exhaustive<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : false;

/** Every field, in the order the field picker offers them, under a heading each. */
export const FIELD_GROUPS = [
  { group: 'profile', fields: ['birthMonth', 'ageBand', 'gender', 'region', 'store'] },
  { group: 'membership', fields: ['tier', 'points', 'tags', 'consent', 'memberSince'] },
  { group: 'purchases', fields: ['spend', 'purchaseCount', 'lastPurchase', 'bought', 'markdownPurchases'] },
  { group: 'analysis', fields: ['rfmSegment', 'dueForRepurchase'] },
] as const satisfies readonly { group: string; fields: readonly ConditionField[] }[];
const _allFieldsOffered: Exhaustive<ConditionField, (typeof FIELD_GROUPS)[number]['fields'][number]> = true;

export const AGE_BAND_LIST = ['<20', '20-29', '30-39', '40-49', '50-59', '60+'] as const satisfies readonly AgeBand[];
const _allAgeBands: Exhaustive<AgeBand, (typeof AGE_BAND_LIST)[number]> = true;

export type GenderValue = Gender | 'unknown';
export const GENDER_LIST = ['female', 'male', 'other', 'unknown'] as const satisfies readonly GenderValue[];
const _allGenders: Exhaustive<GenderValue, (typeof GENDER_LIST)[number]> = true;

export const CHANNEL_LIST = ['sms', 'line', 'email'] as const satisfies readonly ConsentChannel[];
const _allChannels: Exhaustive<ConsentChannel, (typeof CHANNEL_LIST)[number]> = true;

/** RFM segments, best customers first (the hub's options list them too; this is the fallback). */
export const RFM_LIST = [
  'champions',
  'loyal',
  'promising',
  'new_customers',
  'needs_attention',
  'at_risk',
  'hibernating',
  'one_time',
] as const satisfies readonly RfmSegmentName[];
const _allRfm: Exhaustive<RfmSegmentName, (typeof RFM_LIST)[number]> = true;

export const EXPORT_COLUMN_LIST = [
  'memberCode',
  'phone',
  'name',
  'email',
  'tier',
  'points',
  'tags',
  'since',
  'purchaseCount',
  'cumulativeSpend',
  'lastPurchase',
  'rfmSegment',
  'birthMonth',
  'ageBand',
  'gender',
  'region',
] as const satisfies readonly ExportColumn[];
const _allColumns: Exhaustive<ExportColumn, (typeof EXPORT_COLUMN_LIST)[number]> = true;

/** Contact columns: exported only for a channel the member consented to, never for analysis. */
export const CONTACT_COLUMN_LIST: readonly ExportColumn[] = ['phone', 'name', 'email'];

export type ExportPurpose = SegmentExportRequest['purpose'];
export const EXPORT_PURPOSES = ['sms', 'line', 'email', 'analysis'] as const satisfies readonly ExportPurpose[];
const _allPurposes: Exhaustive<ExportPurpose, (typeof EXPORT_PURPOSES)[number]> = true;

/** Groups hold at most this many nodes (the language's limit). */
export const MAX_GROUP_ITEMS = 20;
/** Levels of groups, NOTs and conditions the language allows (the root group is level 1). */
export const MAX_DEPTH = 8;

// ---- Options and calls ----

/** What the pickers offer: GET /api/segments/options. */
export interface SegmentOptions {
  products: { sku: string; name: string; category: string }[];
  categories: string[];
  tiers: { tier: string; name: string }[];
  tags: string[];
  regions: string[];
  rfmSegments: RfmSegmentName[];
  storeId: string;
  channels: ConsentChannel[];
}

export interface ExportedFile {
  blob: Blob;
  filename: string;
  /** Members in the file. */
  exported: number;
  /** Members of the segment left out because they did not consent to the channel. */
  leftOut: number;
}

const segment = (segmentId: string) => `/api/segments/${encodeURIComponent(segmentId)}`;
const rule = (ruleId: string) => `/api/tag-rules/${encodeURIComponent(ruleId)}`;

export const segmentsApi = {
  options: () => api.get<SegmentOptions>('/api/segments/options'),
  /** Counts a definition being edited; `signal` cancels a count the manager has moved past. */
  preview: (definition: SegmentDefinition, limit = 20, signal?: AbortSignal) =>
    api.post<SegmentPreviewResult>('/api/segments/preview', { definition, limit }, { signal }),
  list: () => api.get<{ segments: SavedSegmentView[] }>('/api/segments'),
  create: (name: string, definition: SegmentDefinition) =>
    api.post<SavedSegmentView>('/api/segments', { name, definition }),
  update: (segmentId: string, name: string, definition: SegmentDefinition) =>
    request<SavedSegmentView>(segment(segmentId), { method: 'PUT', body: { name, definition } }),
  remove: (segmentId: string) => api.del<void>(segment(segmentId)),
  /** A saved segment evaluated now; limit 0 for the count alone. */
  count: (segmentId: string, limit = 0) => api.post<SegmentPreviewResult>(`${segment(segmentId)}/preview`, { limit }),
  exportCsv: (segmentId: string, body: SegmentExportRequest) => downloadCsv(`${segment(segmentId)}/export`, body),
};

/** Saving, deleting or running a rule answers once every member is tagged: a big store takes a while. */
const WHOLE_STORE_MS = 180_000;

export const tagRulesApi = {
  list: () => api.get<{ rules: TagRuleView[] }>('/api/tag-rules'),
  create: (body: TagRuleSaveRequest) => api.post<TagRuleView>('/api/tag-rules', body, { timeoutMs: WHOLE_STORE_MS }),
  update: (ruleId: string, body: TagRuleSaveRequest) =>
    request<TagRuleView>(rule(ruleId), { method: 'PUT', body, timeoutMs: WHOLE_STORE_MS }),
  remove: (ruleId: string) => api.del<void>(rule(ruleId), { timeoutMs: WHOLE_STORE_MS }),
  run: () => api.post<{ tagged: number; untagged: number }>('/api/tag-rules/run', {}, { timeoutMs: WHOLE_STORE_MS }),
};

/**
 * POSTs JSON and reads a file back. `request` in api.ts parses JSON answers, so the CSV is fetched
 * here, the same way: same-origin cookies, and an ApiError (401s reported) when it fails.
 */
async function downloadCsv(path: string, body: unknown): Promise<ExportedFile> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/csv, application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(NETWORK_ERROR, e instanceof Error ? e.message : 'Network error', 0);
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    const err =
      parsed && typeof parsed === 'object' && 'error' in parsed
        ? (parsed as { error: { code?: unknown; message?: unknown; details?: unknown } }).error
        : null;
    const apiError = err?.code
      ? new ApiError(
          String(err.code),
          typeof err.message === 'string' ? err.message : String(err.code),
          res.status,
          err.details,
        )
      : new ApiError(BAD_RESPONSE, `HTTP ${res.status}`, res.status);
    if (res.status === 401) reportAuthFailure(apiError.code);
    throw apiError;
  }
  return {
    blob: await res.blob(),
    filename: filenameFromDisposition(res.headers.get('content-disposition'), ''),
    exported: headerCount(res.headers.get('x-ayi-exported')),
    leftOut: headerCount(res.headers.get('x-ayi-left-out')),
  };
}

function headerCount(value: string | null): number {
  const n = Number(value);
  return value !== null && Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/**
 * The file name of a content-disposition header: the RFC 5987 `filename*` (how Chinese names come)
 * first, then the plain `filename`; `fallback` when there is neither. Path separators are dropped.
 */
export function filenameFromDisposition(header: string | null, fallback: string): string {
  if (header) {
    const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
    if (extended) {
      try {
        const name = decodeURIComponent(extended[2]!.trim().replace(/^"|"$/g, ''));
        if (name) return safeFilename(name);
      } catch {
        // a malformed escape: try the plain name
      }
    }
    const plain = /filename\s*=\s*(?:"([^"]*)"|([^;]+))/i.exec(header);
    const name = (plain?.[1] ?? plain?.[2] ?? '').trim();
    if (name) return safeFilename(name);
  }
  return fallback;
}

function safeFilename(name: string): string {
  return name.replace(/[/\\]/g, '_');
}

/** Saves a blob under a file name through a temporary link. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.rel = 'noopener';
  document.body.append(link);
  link.click();
  link.remove();
  // Long enough for the browser to have taken the file.
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

/** The hub's problems with a definition, when it refused it as invalid. */
export function segmentProblemsOf(e: unknown): SegmentProblem[] | null {
  if (!isApiError(e) || e.code !== 'invalid_segment') return null;
  const details = e.details;
  if (details && typeof details === 'object' && 'problems' in details) {
    const problems = (details as { problems: unknown }).problems;
    if (Array.isArray(problems)) {
      return problems
        .filter((p): p is SegmentProblem => !!p && typeof p === 'object' && 'path' in p && 'message' in p)
        .map((p) => ({ path: String(p.path), message: String(p.message) }));
    }
  }
  return [];
}

type Translate = (id: string, options?: { default?: string; values?: Record<string, string | number> }) => string;

/** An error for the segment and tag-rule pages: their own codes under segments.errors first. */
export function segmentError(e: unknown, t: Translate): string {
  if (isApiError(e)) {
    const own = t(`segments.errors.${e.code}`, { default: '', values: { message: e.message } });
    if (own) return own;
  }
  return adminError(e, t);
}

// ---- Export ----

export function isContactColumn(column: ExportColumn): boolean {
  return CONTACT_COLUMN_LIST.includes(column);
}

/**
 * The contact columns a list for a channel may carry: consent is per channel, so an SMS or LINE
 * list has phone numbers and no e-mail addresses, an e-mail list the other way round, and an
 * analysis none at all (as the hub checks).
 */
const CONTACT_FOR: Record<ExportPurpose, readonly ExportColumn[]> = {
  sms: ['phone', 'name'],
  line: ['phone', 'name'],
  email: ['email', 'name'],
  analysis: [],
};

/** Whether a list for `purpose` may carry the column. */
export function columnAllowed(purpose: ExportPurpose, column: ExportColumn): boolean {
  return !isContactColumn(column) || CONTACT_FOR[purpose].includes(column);
}

/**
 * Sensible columns for each channel: who to reach and how, or figures without contact data. The
 * hub knows no LINE ids: LINE audiences are matched on the phone number, so LINE takes the phone.
 */
export function defaultExportColumns(purpose: ExportPurpose): ExportColumn[] {
  switch (purpose) {
    case 'sms':
    case 'line':
      return ['memberCode', 'phone', 'name'];
    case 'email':
      return ['memberCode', 'name', 'email'];
    case 'analysis':
      return ['memberCode', 'tier', 'points', 'purchaseCount', 'cumulativeSpend', 'lastPurchase', 'rfmSegment'];
  }
}

/**
 * The columns after switching purpose: the new purpose's defaults when the manager had kept the old
 * one's, otherwise their choice with the new purpose's contact column added.
 */
export function columnsForNewPurpose(
  from: ExportPurpose,
  to: ExportPurpose,
  chosen: readonly ExportColumn[],
): ExportColumn[] {
  if (sameColumns(chosen, defaultExportColumns(from))) return defaultExportColumns(to);
  if (to === 'analysis') return [...chosen];
  return exportColumnsFor(to, [...chosen, ...defaultExportColumns(to)]);
}

function sameColumns(a: readonly ExportColumn[], b: readonly ExportColumn[]): boolean {
  return a.length === b.length && a.every((c) => b.includes(c));
}

/** The CSV header's language: the one on screen. */
export function exportLanguage(locale: string | null | undefined): NonNullable<SegmentExportRequest['language']> {
  return locale === 'en' ? 'en' : 'zh-TW';
}

/** The chosen columns in the file's order (the order of the list), without contact columns the purpose may not carry. */
export function exportColumnsFor(purpose: ExportPurpose, chosen: Iterable<ExportColumn>): ExportColumn[] {
  const set = new Set(chosen);
  return EXPORT_COLUMN_LIST.filter((c) => set.has(c) && columnAllowed(purpose, c));
}

// ---- The draft tree ----

export type Num = number | null;

/** A window being edited: all time, the last N days, or two dates. Values of other modes are kept. */
export interface WindowDraft {
  mode: 'all' | 'lastDays' | 'range';
  lastDays: Num;
  from: string;
  to: string;
}

export const DATE_MODES = ['withinDays', 'notWithinDays', 'before', 'after', 'between'] as const;
export type DateMode = (typeof DATE_MODES)[number];

export interface DateTestDraft {
  mode: DateMode;
  days: Num;
  /** The day of `before` and `after`. */
  date: string;
  from: string;
  to: string;
}

type Bounded<F extends ConditionField> = { field: F; min: Num; max: Num };
type Windowed<F extends ConditionField> = Bounded<F> & { window: WindowDraft };
type Chosen<F extends ConditionField, V extends string> = { field: F; values: V[] };

export type ConditionDraft =
  | { field: 'birthMonth'; mode: 'this_month' | 'next_month' | 'month'; month: Num }
  | Chosen<'ageBand', AgeBand>
  | Chosen<'gender', GenderValue>
  | Chosen<'region', string>
  | Chosen<'tier', string>
  | Bounded<'points'>
  | { field: 'tags'; match: 'any' | 'all' | 'none'; values: string[] }
  | { field: 'consent'; channel: ConsentChannel; granted: boolean }
  | { field: 'memberSince'; date: DateTestDraft }
  | Windowed<'purchaseCount'>
  | Windowed<'spend'>
  | { field: 'lastPurchase'; date: DateTestDraft }
  | { field: 'bought'; target: 'sku' | 'category'; sku: string; category: string; window: WindowDraft; minTimes: Num }
  | Bounded<'markdownPurchases'>
  | Chosen<'rfmSegment', RfmSegmentName>
  | { field: 'dueForRepurchase'; withinDays: Num; target: 'any' | 'sku' | 'category'; sku: string; category: string }
  | Chosen<'store', string>;

export type DraftCondition = { kind: 'condition'; id: string; condition: ConditionDraft };
export type DraftGroup = { kind: 'group'; id: string; op: 'and' | 'or'; items: DraftNode[] };
export type DraftNot = { kind: 'not'; id: string; item: DraftNode };
export type DraftNode = DraftGroup | DraftNot | DraftCondition;

let lastNodeId = 0;
/** Ids only need to be unique on this page. */
function nodeId(): string {
  lastNodeId += 1;
  return `n${lastNodeId}`;
}

const noWindow = (): WindowDraft => ({ mode: 'all', lastDays: null, from: '', to: '' });
const dateTest = (mode: DateMode = 'withinDays', days: Num = null): DateTestDraft => ({
  mode,
  days,
  date: '',
  from: '',
  to: '',
});

/** A new condition on `field`, as the picker first shows it (complete where a default makes sense). */
export function newConditionDraft(field: ConditionField): ConditionDraft {
  switch (field) {
    case 'birthMonth':
      return { field, mode: 'this_month', month: null };
    case 'ageBand':
    case 'gender':
    case 'region':
    case 'tier':
    case 'rfmSegment':
    case 'store':
      return { field, values: [] };
    case 'points':
    case 'markdownPurchases':
      return { field, min: null, max: null };
    case 'tags':
      return { field, match: 'any', values: [] };
    case 'consent':
      return { field, channel: 'sms', granted: true };
    case 'memberSince':
    case 'lastPurchase':
      return { field, date: dateTest() };
    case 'purchaseCount':
    case 'spend':
      return { field, min: null, max: null, window: noWindow() };
    case 'bought':
      return { field, target: 'category', sku: '', category: '', window: noWindow(), minTimes: null };
    case 'dueForRepurchase':
      return { field, withinDays: 7, target: 'any', sku: '', category: '' };
  }
}

export function conditionNode(condition: ConditionDraft): DraftCondition {
  return { kind: 'condition', id: nodeId(), condition };
}

export function groupNode(op: 'and' | 'or' = 'and', items: DraftNode[] = []): DraftGroup {
  return { kind: 'group', id: nodeId(), op, items };
}

/** The same draft with ids unique on this page (a draft kept from an earlier visit brings its own). */
export function withFreshIds<N extends DraftNode>(node: N): N {
  if (node.kind === 'condition') return { ...node, id: nodeId() };
  if (node.kind === 'not') return { ...node, id: nodeId(), item: withFreshIds(node.item) };
  return { ...node, id: nodeId(), items: node.items.map((item) => withFreshIds(item)) };
}

/** A fresh builder: an AND group with nothing in it yet. */
export function emptyTree(): DraftGroup {
  return groupNode('and');
}

function windowDraft(w: Window | undefined): WindowDraft {
  if (!w) return noWindow();
  if ('lastDays' in w) return { ...noWindow(), mode: 'lastDays', lastDays: w.lastDays };
  return { ...noWindow(), mode: 'range', from: w.from, to: w.to };
}

function dateTestDraft(d: DateTest): DateTestDraft {
  if ('withinDays' in d) return dateTest('withinDays', d.withinDays);
  if ('notWithinDays' in d) return dateTest('notWithinDays', d.notWithinDays);
  if ('before' in d) return { ...dateTest('before'), date: d.before };
  if ('after' in d) return { ...dateTest('after'), date: d.after };
  return { ...dateTest('between'), from: d.from, to: d.to };
}

/** A saved condition as the builder edits it. */
export function conditionToDraft(c: Condition): ConditionDraft {
  switch (c.field) {
    case 'birthMonth':
      return c.relative
        ? { field: c.field, mode: c.relative, month: null }
        : { field: c.field, mode: 'month', month: c.month ?? null };
    case 'ageBand':
      return { field: c.field, values: [...c.bands] };
    case 'gender':
    case 'region':
    case 'tier':
    case 'rfmSegment':
    case 'store':
      return { ...c, values: [...c.values] } as ConditionDraft;
    case 'points':
    case 'markdownPurchases':
      return { field: c.field, min: c.min ?? null, max: c.max ?? null };
    case 'tags':
      return { field: c.field, match: c.match, values: [...c.values] };
    case 'consent':
      return { field: c.field, channel: c.channel, granted: c.granted };
    case 'memberSince':
    case 'lastPurchase':
      return { field: c.field, date: dateTestDraft(c.date) };
    case 'purchaseCount':
    case 'spend':
      return { field: c.field, min: c.min ?? null, max: c.max ?? null, window: windowDraft(c.window) };
    case 'bought':
      return {
        field: c.field,
        target: c.sku ? 'sku' : 'category',
        sku: c.sku ?? '',
        category: c.category ?? '',
        window: windowDraft(c.window),
        minTimes: c.minTimes ?? null,
      };
    case 'dueForRepurchase':
      return {
        field: c.field,
        withinDays: c.withinDays ?? null,
        target: c.sku ? 'sku' : c.category ? 'category' : 'any',
        sku: c.sku ?? '',
        category: c.category ?? '',
      };
  }
}

function nodeToDraft(n: SegmentNode): DraftNode {
  if ('op' in n) {
    return n.op === 'not'
      ? { kind: 'not', id: nodeId(), item: nodeToDraft(n.item) }
      : groupNode(n.op, n.items.map(nodeToDraft));
  }
  return conditionNode(conditionToDraft(n));
}

/** A saved definition in the builder; the builder's root is always a group. */
export function definitionToTree(definition: SegmentDefinition): DraftGroup {
  const root = nodeToDraft(definition.root);
  return root.kind === 'group' ? root : groupNode('and', [root]);
}

// ---- From the draft to the definition ----

/** Why a condition is not sent yet: a key under `segments.incomplete`. */
export type Incomplete = 'month' | 'choose' | 'bounds' | 'window' | 'date' | 'days' | 'tags' | 'product' | 'category';

/**
 * What is wrong with a filled-in condition, found before the hub is asked: a key under
 * `segments.problems` and the figures its message names.
 */
export interface ConditionProblem {
  key:
    | 'wholeNumber'
    | 'notNegative'
    | 'tooLarge'
    | 'minOverMax'
    | 'fromAfterTo'
    | 'notADate'
    | 'yearRange'
    | 'monthRange'
    | 'lastDaysRange'
    | 'daysRange'
    | 'dueDaysRange'
    | 'minTimesRange'
    | 'minTimesInWindow'
    | 'windowTooOld';
  values?: Record<string, string | number>;
}

export type CompiledCondition = { condition: Condition } | { incomplete: Incomplete } | { problem: ConditionProblem };
type Failure = { incomplete: Incomplete } | { problem: ConditionProblem };

// The condition language's limits (hub/src/protocol/crm.ts and the hub's checks of meaning).
const MAX_COUNT = 1_000_000_000;
/** How far back a fixed purchase window may start: purchases are kept about 3 years. */
export const HISTORY_DAYS = 1095;
const LAST_DAYS = { min: 1, max: HISTORY_DAYS };
const DATE_TEST_DAYS = { min: 1, max: 3650 };
const DUE_DAYS = { min: 0, max: 90 };
const MIN_TIMES = { min: 1, max: 1000 };
/** Within a window the hub counts a member's latest purchases of a product or category, up to this many. */
export const MAX_TIMES_IN_WINDOW = 12;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const isWhole = (n: number) => Number.isSafeInteger(n);
const fails = (v: object): v is Failure => 'incomplete' in v || 'problem' in v;
const problem = (key: ConditionProblem['key'], values?: ConditionProblem['values']): Failure => ({
  problem: values ? { key, values } : { key },
});

function dayNumber(date: string): number {
  return Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) / 86_400_000;
}

/** The date `days` days before a YYYY-MM-DD date. */
function daysBefore(date: string, days: number): string {
  return new Date((dayNumber(date) - days) * 86_400_000).toISOString().slice(0, 10);
}

/** The years the language takes dates in (the hub's DAY_PATTERN). */
export const FIRST_DAY = '1900-01-01';
export const LAST_DAY = '2099-12-31';

/** What is wrong with a typed YYYY-MM-DD: not on the calendar (2026-02-30), or out of the years taken. */
function dayProblem(date: string): Failure | null {
  if (new Date(dayNumber(date) * 86_400_000).toISOString().slice(0, 10) !== date) return problem('notADate', { date });
  if (date < FIRST_DAY || date > LAST_DAY) return problem('yearRange', { date, first: 1900, last: 2099 });
  return null;
}

/** A whole number within `range`, or what is wrong with it. */
function inRange(n: number, range: { min: number; max: number }, key: ConditionProblem['key']): Failure | null {
  if (!isWhole(n)) return problem('wholeNumber');
  return n < range.min || n > range.max ? problem(key, range) : null;
}

function compileBounds(min: Num, max: Num): { min?: number; max?: number } | Failure {
  if (min === null && max === null) return { incomplete: 'bounds' };
  for (const n of [min, max]) {
    if (n === null) continue;
    if (!isWhole(n)) return problem('wholeNumber');
    if (n < 0) return problem('notNegative');
    if (n > MAX_COUNT) return problem('tooLarge', { max: MAX_COUNT });
  }
  if (min !== null && max !== null && min > max) return problem('minOverMax', { min, max });
  return { ...(min !== null ? { min } : {}), ...(max !== null ? { max } : {}) };
}

/** Two days in order; `from` no earlier than `earliest` when given. */
function compileDays(from: string, to: string, earliest?: string): Failure | null {
  if (!DAY.test(from) || !DAY.test(to)) return { incomplete: 'date' };
  const wrongDay = dayProblem(from) ?? dayProblem(to);
  if (wrongDay) return wrongDay;
  if (from > to) return problem('fromAfterTo', { from, to });
  if (earliest && from < earliest) return problem('windowTooOld', { days: HISTORY_DAYS, earliest });
  return null;
}

/** `{}`: all time; otherwise the window, or what keeps it from being sent. */
function compileWindow(w: WindowDraft, today: string): { window?: Window } | Failure {
  if (w.mode === 'all') return {};
  if (w.mode === 'lastDays') {
    if (w.lastDays === null) return { incomplete: 'window' };
    return inRange(w.lastDays, LAST_DAYS, 'lastDaysRange') ?? { window: { lastDays: w.lastDays } };
  }
  if (!DAY.test(w.from) || !DAY.test(w.to)) return { incomplete: 'window' };
  return compileDays(w.from, w.to, daysBefore(today, HISTORY_DAYS)) ?? { window: { from: w.from, to: w.to } };
}

function compileDateTest(d: DateTestDraft): DateTest | Failure {
  switch (d.mode) {
    case 'withinDays':
    case 'notWithinDays': {
      if (d.days === null) return { incomplete: 'days' };
      const wrong = inRange(d.days, DATE_TEST_DAYS, 'daysRange');
      if (wrong) return wrong;
      return d.mode === 'withinDays' ? { withinDays: d.days } : { notWithinDays: d.days };
    }
    case 'before':
    case 'after':
      if (!DAY.test(d.date)) return { incomplete: 'date' };
      return dayProblem(d.date) ?? (d.mode === 'before' ? { before: d.date } : { after: d.date });
    case 'between':
      return compileDays(d.from, d.to) ?? { from: d.from, to: d.to };
  }
}

/**
 * The condition the hub reads, or why it cannot be sent yet: unfinished, or wrong in a way the
 * tablet can tell (ranges, order of bounds and dates, the history kept). `today` is the store's
 * date (YYYY-MM-DD), for how far back a fixed window may start. What only the hub knows (SKUs and
 * tiers that exist) is left to it.
 */
export function compileCondition(d: ConditionDraft, today: string): CompiledCondition {
  const done = (condition: Condition): CompiledCondition => ({ condition });
  switch (d.field) {
    case 'birthMonth':
      if (d.mode !== 'month') return done({ field: d.field, relative: d.mode });
      if (d.month === null) return { incomplete: 'month' };
      return inRange(d.month, { min: 1, max: 12 }, 'monthRange') ?? done({ field: d.field, month: d.month });
    case 'ageBand':
      return d.values.length ? done({ field: d.field, bands: [...d.values] }) : { incomplete: 'choose' };
    case 'gender':
    case 'region':
    case 'tier':
    case 'rfmSegment':
    case 'store':
      return d.values.length ? done({ ...d, values: [...d.values] } as Condition) : { incomplete: 'choose' };
    case 'tags':
      return d.values.length ? done({ field: d.field, match: d.match, values: [...d.values] }) : { incomplete: 'tags' };
    case 'consent':
      return done({ field: d.field, channel: d.channel, granted: d.granted });
    case 'points':
    case 'markdownPurchases': {
      const bounds = compileBounds(d.min, d.max);
      return fails(bounds) ? bounds : done({ field: d.field, ...bounds });
    }
    case 'purchaseCount':
    case 'spend': {
      const bounds = compileBounds(d.min, d.max);
      if (fails(bounds)) return bounds;
      const window = compileWindow(d.window, today);
      if (fails(window)) return window;
      return done({ field: d.field, ...bounds, ...window });
    }
    case 'memberSince':
    case 'lastPurchase': {
      const date = compileDateTest(d.date);
      return fails(date) ? date : done({ field: d.field, date });
    }
    case 'bought': {
      const key = d.target === 'sku' ? d.sku.trim() : d.category.trim();
      if (!key) return { incomplete: d.target === 'sku' ? 'product' : 'category' };
      const window = compileWindow(d.window, today);
      if (fails(window)) return window;
      if (d.minTimes !== null) {
        const wrong = inRange(d.minTimes, MIN_TIMES, 'minTimesRange');
        if (wrong) return wrong;
        if (window.window && d.minTimes > MAX_TIMES_IN_WINDOW) {
          return problem('minTimesInWindow', { max: MAX_TIMES_IN_WINDOW });
        }
      }
      return done({
        field: d.field,
        ...(d.target === 'sku' ? { sku: key } : { category: key }),
        ...window,
        ...(d.minTimes !== null ? { minTimes: d.minTimes } : {}),
      });
    }
    case 'dueForRepurchase': {
      if (d.withinDays !== null) {
        const wrong = inRange(d.withinDays, DUE_DAYS, 'dueDaysRange');
        if (wrong) return wrong;
      }
      const key = d.target === 'sku' ? d.sku.trim() : d.target === 'category' ? d.category.trim() : '';
      if (d.target !== 'any' && !key) return { incomplete: d.target === 'sku' ? 'product' : 'category' };
      return done({
        field: d.field,
        ...(d.withinDays !== null ? { withinDays: d.withinDays } : {}),
        ...(d.target === 'sku' ? { sku: key } : d.target === 'category' ? { category: key } : {}),
      });
    }
  }
}

export interface CompiledTree {
  /** What to send, or null while no condition is complete and right. */
  definition: SegmentDefinition | null;
  /** JSON pointer of each sent node (e.g. `/root/items/1`) to the id of its draft node. */
  pointers: Map<string, string>;
  /** Conditions left out because they are not complete yet, by node id, with the reason. */
  incomplete: Map<string, Incomplete>;
  /** Conditions left out because they are wrong, by node id: nothing is counted while there are any. */
  problems: Map<string, ConditionProblem>;
  /** Conditions sent. */
  conditions: number;
}

/**
 * The definition of a draft. Incomplete and wrong conditions are left out, and so are groups and
 * NOTs left with nothing in them, so the hub only ever counts what the manager has finished.
 * `today` is the store's date (see compileCondition).
 */
export function compileTree(root: DraftGroup, today: string): CompiledTree {
  const pointers = new Map<string, string>();
  const incomplete = new Map<string, Incomplete>();
  const problems = new Map<string, ConditionProblem>();
  let conditions = 0;

  // Pointers are recorded as nodes are kept; a node left out takes its (and its children's) back.
  const compile = (node: DraftNode, pointer: string): SegmentNode | null => {
    if (node.kind === 'condition') {
      const c = compileCondition(node.condition, today);
      if ('incomplete' in c) {
        incomplete.set(node.id, c.incomplete);
        return null;
      }
      if ('problem' in c) {
        problems.set(node.id, c.problem);
        return null;
      }
      conditions += 1;
      pointers.set(pointer, node.id);
      return c.condition;
    }
    if (node.kind === 'not') {
      const inner = compile(node.item, `${pointer}/item`);
      if (!inner) return null;
      pointers.set(pointer, node.id);
      return { op: 'not', item: inner };
    }
    const items: SegmentNode[] = [];
    for (const item of node.items) {
      const kept = compile(item, `${pointer}/items/${items.length}`);
      if (kept) items.push(kept);
    }
    if (items.length === 0) return null;
    pointers.set(pointer, node.id);
    return { op: node.op, items };
  };

  const compiled = compile(root, '/root');
  return {
    definition: compiled ? { version: 1, root: compiled } : null,
    pointers,
    incomplete,
    problems,
    conditions,
  };
}

/**
 * What a draft says, for telling whether it changed: finished conditions by what is sent for them
 * (so a value typed in a mode not chosen does not count), the others as they are drafted. Node ids
 * are left out: the same conditions opened again are the same draft.
 */
export function draftSignature(root: DraftGroup, today: string): string {
  const shape = (node: DraftNode): unknown => {
    if (node.kind === 'condition') {
      const c = compileCondition(node.condition, today);
      return 'condition' in c ? c.condition : { draft: node.condition };
    }
    if (node.kind === 'not') return { not: shape(node.item) };
    return { [node.op]: node.items.map(shape) };
  };
  return JSON.stringify(shape(root));
}

/** Why a draft cannot be saved yet (a key under segments.save), or null. */
export function draftSaveProblem(compiled: CompiledTree): string | null {
  if (compiled.problems.size > 0) return 'segments.save.errInvalid';
  if (compiled.incomplete.size > 0) return 'segments.save.errIncomplete';
  if (!compiled.definition) return 'segments.save.errEmpty';
  return null;
}

export interface PlacedProblems {
  /** Problems by the id of the node they concern. */
  byNode: Map<string, string[]>;
  /** Problems that concern no node in particular (the definition as a whole). */
  general: string[];
}

/**
 * Puts each of the hub's problems on the deepest sent node its path is under: `/root/items/1/min`
 * goes to the node sent at `/root/items/1`. A `/definition` prefix (a save request's body) is
 * ignored.
 */
export function placeProblems(
  problems: readonly SegmentProblem[],
  pointers: ReadonlyMap<string, string>,
): PlacedProblems {
  const byNode = new Map<string, string[]>();
  const general: string[] = [];
  for (const problem of problems) {
    let path = problem.path.startsWith('/definition') ? problem.path.slice('/definition'.length) : problem.path;
    let id: string | undefined;
    while (path) {
      id = pointers.get(path);
      if (id) break;
      path = path.slice(0, Math.max(0, path.lastIndexOf('/')));
    }
    if (id) byNode.set(id, [...(byNode.get(id) ?? []), problem.message]);
    else general.push(problem.message);
  }
  return { byNode, general };
}

// ---- Tree edits (each answers a new tree; the one given is not changed) ----

function mapTree(node: DraftNode, fn: (n: DraftNode) => DraftNode | null): DraftNode | null {
  const mapped = fn(node);
  if (mapped === null) return null;
  if (mapped !== node) return mapped;
  if (node.kind === 'group') {
    let changed = false;
    const items: DraftNode[] = [];
    for (const item of node.items) {
      const m = mapTree(item, fn);
      if (m !== item) changed = true;
      if (m) items.push(m);
    }
    return changed ? { ...node, items } : node;
  }
  if (node.kind === 'not') {
    const inner = mapTree(node.item, fn);
    // A NOT whose content is removed goes with it.
    if (inner === null) return null;
    return inner === node.item ? node : { ...node, item: inner };
  }
  return node;
}

function editRoot(root: DraftGroup, fn: (n: DraftNode) => DraftNode | null): DraftGroup {
  const next = mapTree(root, (n) => (n === root ? n : fn(n)));
  return (next as DraftGroup | null) ?? root;
}

/** Replaces one node (found by id) with what `fn` makes of it. */
export function updateNode(root: DraftGroup, id: string, fn: (n: DraftNode) => DraftNode): DraftGroup {
  if (root.id === id) {
    const next = fn(root);
    return next.kind === 'group' ? next : root;
  }
  return editRoot(root, (n) => (n.id === id ? fn(n) : n));
}

export function setCondition(root: DraftGroup, id: string, condition: ConditionDraft): DraftGroup {
  return updateNode(root, id, (n) => (n.kind === 'condition' ? { ...n, condition } : n));
}

export function setGroupOp(root: DraftGroup, id: string, op: 'and' | 'or'): DraftGroup {
  return updateNode(root, id, (n) => (n.kind === 'group' ? { ...n, op } : n));
}

/** Adds a node at the end of a group (not beyond MAX_GROUP_ITEMS). */
export function addToGroup(root: DraftGroup, groupId: string, node: DraftNode): DraftGroup {
  return updateNode(root, groupId, (n) =>
    n.kind === 'group' && n.items.length < MAX_GROUP_ITEMS ? { ...n, items: [...n.items, node] } : n,
  );
}

/** Removes a node (and a NOT around it); the root stays. */
export function removeNode(root: DraftGroup, id: string): DraftGroup {
  if (root.id === id) return root;
  return editRoot(root, (n) => (n.id === id ? null : n));
}

/** Wraps a node in NOT, or takes a NOT away (given the NOT's id). */
export function toggleNot(root: DraftGroup, id: string): DraftGroup {
  if (root.id === id) return root;
  return editRoot(root, (n) => {
    if (n.id !== id) return n;
    return n.kind === 'not' ? n.item : { kind: 'not', id: nodeId(), item: n };
  });
}

export function findNode(node: DraftNode, id: string): DraftNode | null {
  if (node.id === id) return node;
  if (node.kind === 'group') {
    for (const item of node.items) {
      const found = findNode(item, id);
      if (found) return found;
    }
  }
  if (node.kind === 'not') return findNode(node.item, id);
  return null;
}

/** Whether a draft has a tags condition naming `tag`: a rule may not read the tag it sets. */
export function draftReadsTag(node: DraftNode, tag: string): boolean {
  if (node.kind === 'condition') return node.condition.field === 'tags' && node.condition.values.includes(tag);
  if (node.kind === 'not') return draftReadsTag(node.item, tag);
  return node.items.some((item) => draftReadsTag(item, tag));
}

/** Conditions in a draft, complete or not. */
export function countConditions(node: DraftNode): number {
  if (node.kind === 'condition') return 1;
  if (node.kind === 'not') return countConditions(node.item);
  return node.items.reduce((sum, item) => sum + countConditions(item), 0);
}

/** What the tree's components ask the builder to do; the builder applies the edits above. */
export interface TreeEdit {
  setCondition(id: string, condition: ConditionDraft): void;
  setOp(id: string, op: 'and' | 'or'): void;
  addCondition(groupId: string, field: ConditionField): void;
  addGroup(groupId: string): void;
  remove(id: string): void;
  toggleNot(id: string): void;
}

// ---- Examples for managers to start from ----

/** The seeds' example: birthday next month AND cumulative spend ≥ NT$5,000 AND ever bought 寵物保健. */
export function starterSegment(): DraftGroup {
  return groupNode('and', [
    conditionNode({ field: 'birthMonth', mode: 'next_month', month: null }),
    conditionNode({ field: 'spend', min: 5000, max: null, window: noWindow() }),
    conditionNode({
      field: 'bought',
      target: 'category',
      sku: '',
      category: '寵物保健',
      window: noWindow(),
      minTimes: null,
    }),
  ]);
}

export interface TagRuleStarter {
  key: 'pets' | 'markdown';
  name: string;
  tag: string;
  tree: () => DraftGroup;
}

/** The two automatic tags: pet owners, and shoppers of marked-down items. */
export const TAG_RULE_STARTERS: readonly TagRuleStarter[] = [
  {
    key: 'pets',
    name: '半年內買過寵物用品',
    tag: '有養寵物',
    tree: () =>
      groupNode('and', [
        conditionNode({
          field: 'bought',
          target: 'category',
          sku: '',
          category: '寵物用品',
          window: { ...noWindow(), mode: 'lastDays', lastDays: 180 },
          minTimes: null,
        }),
      ]),
  },
  {
    key: 'markdown',
    name: '買即期品 3 次以上',
    tag: '即期品愛好者',
    tree: () => groupNode('and', [conditionNode({ field: 'markdownPurchases', min: 3, max: null })]),
  },
];

// ---- Small things the pages share ----

export type ProductOption = SegmentOptions['products'][number];

const fold = (text: string) => text.normalize('NFKC').toLowerCase();

/**
 * Products whose name, SKU or category has every word of `query` (full-width letters and digits
 * match their ASCII ones), best first: the exact SKU (a scanned or typed code), SKUs starting with
 * it, then names starting with it, then the rest in catalog order.
 */
export function searchProducts(products: readonly ProductOption[], query: string, limit = 8): ProductOption[] {
  const q = fold(query).trim();
  if (!q) return [];
  const words = q.split(/\s+/);
  const rank = (p: ProductOption): number => {
    const sku = fold(p.sku);
    if (sku === q) return 0;
    if (sku.startsWith(q)) return 1;
    return fold(p.name).startsWith(q) ? 2 : 3;
  };
  return products
    .map((p, i) => ({ p, i, text: fold(`${p.name} ${p.sku} ${p.category}`) }))
    .filter(({ text }) => words.every((w) => text.includes(w)))
    .map((hit) => ({ ...hit, rank: rank(hit.p) }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .slice(0, limit)
    .map(({ p }) => p);
}

/** Reads a whole number from an input: null when empty or not a number. */
export function readNumber(text: string): Num {
  const t = text.trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

/** Checks a tag the way the hub does (1-20 characters, no / ? #, not starting with a space). */
export function tagProblem(tag: string): 'empty' | 'long' | 'chars' | null {
  if (!tag.trim()) return 'empty';
  if (tag.trim().length > 20) return 'long';
  if (/[/?#]/.test(tag)) return 'chars';
  return null;
}
