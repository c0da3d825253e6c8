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

export const tagRulesApi = {
  list: () => api.get<{ rules: TagRuleView[] }>('/api/tag-rules'),
  create: (body: TagRuleSaveRequest) => api.post<TagRuleView>('/api/tag-rules', body),
  update: (ruleId: string, body: TagRuleSaveRequest) => request<TagRuleView>(rule(ruleId), { method: 'PUT', body }),
  remove: (ruleId: string) => api.del<void>(rule(ruleId)),
  run: () => api.post<{ tagged: number; untagged: number }>('/api/tag-rules/run', {}),
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

/** Sensible columns for each channel: who to reach and how, or figures without contact data. */
export function defaultExportColumns(purpose: ExportPurpose): ExportColumn[] {
  switch (purpose) {
    case 'sms':
      return ['memberCode', 'phone', 'name'];
    case 'email':
      return ['memberCode', 'name', 'email'];
    case 'line':
      return ['memberCode', 'name', 'tier'];
    case 'analysis':
      return ['memberCode', 'tier', 'points', 'purchaseCount', 'cumulativeSpend', 'lastPurchase', 'rfmSegment'];
  }
}

/** The chosen columns in the file's order (the order of the list), contact columns dropped for analysis. */
export function exportColumnsFor(purpose: ExportPurpose, chosen: Iterable<ExportColumn>): ExportColumn[] {
  const set = new Set(chosen);
  return EXPORT_COLUMN_LIST.filter((c) => set.has(c) && !(purpose === 'analysis' && isContactColumn(c)));
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
export type Incomplete =
  'month' | 'choose' | 'bounds' | 'wholeNumber' | 'window' | 'date' | 'days' | 'tags' | 'product' | 'category';

export type CompiledCondition = { condition: Condition } | { incomplete: Incomplete };

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const isCount = (n: Num): n is number => n !== null && Number.isSafeInteger(n) && n >= 0;

function compileBounds(min: Num, max: Num): { min?: number; max?: number } | Incomplete {
  if (min === null && max === null) return 'bounds';
  if ((min !== null && !isCount(min)) || (max !== null && !isCount(max))) return 'wholeNumber';
  return { ...(min !== null ? { min } : {}), ...(max !== null ? { max } : {}) };
}

/** `undefined`: all time; a string: why the window is not complete. */
function compileWindow(w: WindowDraft): Window | undefined | Incomplete {
  if (w.mode === 'all') return undefined;
  if (w.mode === 'lastDays') return isCount(w.lastDays) && w.lastDays > 0 ? { lastDays: w.lastDays } : 'window';
  return DAY.test(w.from) && DAY.test(w.to) ? { from: w.from, to: w.to } : 'window';
}

function compileDateTest(d: DateTestDraft): DateTest | Incomplete {
  switch (d.mode) {
    case 'withinDays':
      return isCount(d.days) && d.days > 0 ? { withinDays: d.days } : 'days';
    case 'notWithinDays':
      return isCount(d.days) && d.days > 0 ? { notWithinDays: d.days } : 'days';
    case 'before':
      return DAY.test(d.date) ? { before: d.date } : 'date';
    case 'after':
      return DAY.test(d.date) ? { after: d.date } : 'date';
    case 'between':
      return DAY.test(d.from) && DAY.test(d.to) ? { from: d.from, to: d.to } : 'date';
  }
}

const failed = (v: unknown): v is Incomplete => typeof v === 'string';

/** The condition the hub reads, or why it cannot be sent yet. Ranges are left to the hub to check. */
export function compileCondition(d: ConditionDraft): CompiledCondition {
  const done = (condition: Condition): CompiledCondition => ({ condition });
  switch (d.field) {
    case 'birthMonth':
      if (d.mode !== 'month') return done({ field: d.field, relative: d.mode });
      return d.month !== null && Number.isInteger(d.month) && d.month >= 1 && d.month <= 12
        ? done({ field: d.field, month: d.month })
        : { incomplete: 'month' };
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
      return failed(bounds) ? { incomplete: bounds } : done({ field: d.field, ...bounds });
    }
    case 'purchaseCount':
    case 'spend': {
      const bounds = compileBounds(d.min, d.max);
      if (failed(bounds)) return { incomplete: bounds };
      const window = compileWindow(d.window);
      if (failed(window)) return { incomplete: window };
      return done({ field: d.field, ...bounds, ...(window ? { window } : {}) });
    }
    case 'memberSince':
    case 'lastPurchase': {
      const date = compileDateTest(d.date);
      return failed(date) ? { incomplete: date } : done({ field: d.field, date });
    }
    case 'bought': {
      const key = d.target === 'sku' ? d.sku.trim() : d.category.trim();
      if (!key) return { incomplete: d.target === 'sku' ? 'product' : 'category' };
      const window = compileWindow(d.window);
      if (failed(window)) return { incomplete: window };
      if (d.minTimes !== null && !(isCount(d.minTimes) && d.minTimes > 0)) return { incomplete: 'wholeNumber' };
      return done({
        field: d.field,
        ...(d.target === 'sku' ? { sku: key } : { category: key }),
        ...(window ? { window } : {}),
        ...(d.minTimes !== null ? { minTimes: d.minTimes } : {}),
      });
    }
    case 'dueForRepurchase': {
      if (d.withinDays !== null && !isCount(d.withinDays)) return { incomplete: 'wholeNumber' };
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
  /** What to send, or null while no condition is complete. */
  definition: SegmentDefinition | null;
  /** JSON pointer of each sent node (e.g. `/root/items/1`) to the id of its draft node. */
  pointers: Map<string, string>;
  /** Conditions left out because they are not complete yet, by node id, with the reason. */
  incomplete: Map<string, Incomplete>;
  /** Conditions sent. */
  conditions: number;
}

/**
 * The definition of a draft. Incomplete conditions are left out, and so are groups and NOTs left
 * with nothing in them, so the hub only ever counts what the manager has finished.
 */
export function compileTree(root: DraftGroup): CompiledTree {
  const pointers = new Map<string, string>();
  const incomplete = new Map<string, Incomplete>();
  let conditions = 0;

  // Pointers are recorded as nodes are kept; a node left out takes its (and its children's) back.
  const compile = (node: DraftNode, pointer: string): SegmentNode | null => {
    if (node.kind === 'condition') {
      const c = compileCondition(node.condition);
      if ('incomplete' in c) {
        incomplete.set(node.id, c.incomplete);
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
    conditions,
  };
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
