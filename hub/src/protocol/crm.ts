/**
 * Wire schemas for CRM intelligence (S1-S4, A1-A6, R5): the member filter's condition language,
 * saved segments and their export, automatic tag rules, RFM, repurchase prediction, cross-sell and
 * the reports. Shared by the hub (validation) and the UI (types).
 *
 * The condition language is JSON and versioned (`version: 1`). A definition is a tree of AND / OR
 * groups and NOT over conditions; each condition names one `field`. Dates are store-local
 * YYYY-MM-DD; relative dates ("this month", "the last 180 days") are resolved in the store's time
 * zone when the filter runs, so a saved segment is live.
 */
import { Type, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';
import { CONSENT_CHANNELS, GENDERS } from './members.js';
import { DAY_PATTERN } from './dates.js';

export { DAY_PATTERN };

export const SEGMENT_LANGUAGE_VERSION = 1;

const Day = Type.String({ pattern: DAY_PATTERN, description: 'YYYY-MM-DD' });
const Count = Type.Integer({ minimum: 0, maximum: 1_000_000_000 });
const Sku = Type.String({ minLength: 1, maxLength: 64 });
const Category = Type.String({ minLength: 1, maxLength: 40 });
const TagText = Type.String({ minLength: 1, maxLength: 20 });

/** A time window ending today: the last N days (today included), or fixed dates (both inclusive). */
export const Window = Type.Union([
  Type.Object({ lastDays: Type.Integer({ minimum: 1, maximum: 1095 }) }, { additionalProperties: false }),
  Type.Object({ from: Day, to: Day }, { additionalProperties: false }),
]);
export type Window = Static<typeof Window>;

/** Inclusive bounds; at least one of them. */
const Bounds = { min: Type.Optional(Count), max: Type.Optional(Count) };

/** A date relative to today or fixed: before / after / within the last N days / between. */
export const DateTest = Type.Union([
  Type.Object({ before: Day }, { additionalProperties: false }),
  Type.Object({ after: Day }, { additionalProperties: false }),
  Type.Object({ withinDays: Type.Integer({ minimum: 1, maximum: 3650 }) }, { additionalProperties: false }),
  Type.Object({ notWithinDays: Type.Integer({ minimum: 1, maximum: 3650 }) }, { additionalProperties: false }),
  Type.Object({ from: Day, to: Day }, { additionalProperties: false }),
]);
export type DateTest = Static<typeof DateTest>;

export const AGE_BANDS = ['<20', '20-29', '30-39', '40-49', '50-59', '60+'] as const;
export type AgeBand = (typeof AGE_BANDS)[number];

export const RFM_SEGMENTS = [
  'champions',
  'loyal',
  'promising',
  'new_customers',
  'needs_attention',
  'at_risk',
  'hibernating',
  'one_time',
] as const;
export type RfmSegmentName = (typeof RFM_SEGMENTS)[number];

/** A union of string literals that keeps its literal types (a plain map would widen them to string). */
function literals<const T extends readonly string[]>(values: T): TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }> {
  return Type.Union(values.map((v) => Type.Literal(v))) as never;
}
const oneOrMore = <T extends TSchema>(item: T, max = 50) => Type.Array(item, { minItems: 1, maxItems: max });

function condition<F extends string, P extends Record<string, TSchema>>(field: F, props: P) {
  return Type.Object({ field: Type.Literal(field), ...props }, { additionalProperties: false });
}

/** Every condition the filter knows. */
export const Condition = Type.Union([
  /** Birthday in a calendar month: `month` 1-12, or `relative` to today. Exactly one of them. */
  condition('birthMonth', {
    month: Type.Optional(Type.Integer({ minimum: 1, maximum: 12 })),
    relative: Type.Optional(literals(['this_month', 'next_month'] as const)),
  }),
  /** Age today, in bands. Members without a birthday never match. */
  condition('ageBand', { bands: oneOrMore(literals(AGE_BANDS)) }),
  /** `unknown`: no gender given. */
  condition('gender', { values: oneOrMore(literals([...GENDERS, 'unknown'] as const)) }),
  condition('region', { values: oneOrMore(Type.String({ minLength: 1, maxLength: 20 })) }),
  /** Tier ids of the loyalty program (e.g. normal, silver, gold). */
  condition('tier', { values: oneOrMore(Type.String({ minLength: 1, maxLength: 20 })) }),
  condition('points', Bounds),
  /** `any`: has at least one of the tags; `all`: has every one; `none`: has none of them. */
  condition('tags', { match: literals(['any', 'all', 'none'] as const), values: oneOrMore(TagText) }),
  condition('consent', { channel: literals(CONSENT_CHANNELS), granted: Type.Boolean() }),
  condition('memberSince', { date: DateTest }),
  /** Purchases (sales, voided ones not counted) in a window, or all time without one. */
  condition('purchaseCount', { ...Bounds, window: Type.Optional(Window) }),
  /** Net NT$ spent (after refunds) in a window, or all time without one. */
  condition('spend', { ...Bounds, window: Type.Optional(Window) }),
  /** The latest purchase's date; members who never bought never match. */
  condition('lastPurchase', { date: DateTest }),
  /**
   * Bought a SKU or a category (exactly one of them): ever, in a window, and/or at least `minTimes`
   * times (purchases, i.e. sales that had it). Within a window, counts up to 12 are exact.
   */
  condition('bought', {
    sku: Type.Optional(Sku),
    category: Type.Optional(Category),
    window: Type.Optional(Window),
    minTimes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  }),
  /** Purchases that had a marked-down item (a line discount), e.g. "≥ 3 → 即期品愛好者". */
  condition('markdownPurchases', Bounds),
  condition('rfmSegment', { values: oneOrMore(literals(RFM_SEGMENTS)) }),
  /** Predicted to buy again within `withinDays` (default 7), overall or for one SKU / category. */
  condition('dueForRepurchase', {
    withinDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 90 })),
    sku: Type.Optional(Sku),
    category: Type.Optional(Category),
  }),
  /** The store the member belongs to (a hub holds its own store's members). */
  condition('store', { values: oneOrMore(Type.String({ minLength: 1, maxLength: 64 })) }),
]);
export type Condition = Static<typeof Condition>;
export type ConditionField = Condition['field'];

/** A node of the tree: AND / OR over up to 20 nodes, NOT of one node, or a condition. */
export const SegmentNode = Type.Recursive(
  (Self) =>
    Type.Union([
      Type.Object(
        { op: literals(['and', 'or'] as const), items: Type.Array(Self, { minItems: 1, maxItems: 20 }) },
        { additionalProperties: false },
      ),
      Type.Object({ op: Type.Literal('not'), item: Self }, { additionalProperties: false }),
      Condition,
    ]),
  { $id: 'SegmentNode' },
);
export type SegmentNode = Static<typeof SegmentNode>;

export const SegmentDefinition = Type.Object(
  { version: Type.Literal(SEGMENT_LANGUAGE_VERSION), root: SegmentNode },
  { additionalProperties: false },
);
export type SegmentDefinition = Static<typeof SegmentDefinition>;

/** Where a definition is wrong: a JSON pointer into it and what to do about it. */
export interface SegmentProblem {
  path: string;
  message: string;
}

// ---- Segments (S3, S4) ----

/** Counting while the manager edits: how many match, and the first few (masked as the role requires). */
export const SegmentPreviewRequest = Type.Object(
  { definition: Type.Unknown(), limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })) },
  { additionalProperties: false },
);
export type SegmentPreviewRequest = Static<typeof SegmentPreviewRequest>;

export interface SegmentMatchView {
  memberId: string;
  memberCode: string;
  /** Masked for cashiers (09*****678), whole for managers and owners. */
  phone: string;
  name: string | null;
  tier: string;
  tierName: string;
  points: number;
  purchaseCount: number;
  cumulativeSpend: number;
  lastPurchase: string | null;
  rfmSegment: RfmSegmentName | null;
}

export interface SegmentPreviewResult {
  count: number;
  /** Members in the store (not erased, not merged away): what `count` is out of. */
  total: number;
  first: SegmentMatchView[];
  /** How long the filter took on the hub, ms. */
  tookMs: number;
  /** The business date relative dates were resolved against. */
  asOf: string;
}

export const SegmentSaveRequest = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 40 }), definition: Type.Unknown() },
  { additionalProperties: false },
);
export type SegmentSaveRequest = Static<typeof SegmentSaveRequest>;

export interface SavedSegmentView {
  segmentId: string;
  name: string;
  definition: SegmentDefinition;
  savedAt: string;
  savedBy: string;
}

export const SegmentIdParams = Type.Object(
  { segmentId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' }) },
  { additionalProperties: false },
);

export const EXPORT_COLUMNS = [
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
] as const;
export type ExportColumn = (typeof EXPORT_COLUMNS)[number];
/** The header row of an export, as a store manager reads it. */
export const EXPORT_HEADERS: Record<'zh-TW' | 'en', Record<ExportColumn, string>> = {
  'zh-TW': {
    memberCode: '會員編號',
    phone: '手機',
    name: '姓名',
    email: '電子郵件',
    tier: '等級',
    points: '點數',
    tags: '標籤',
    since: '入會日',
    purchaseCount: '消費次數',
    cumulativeSpend: '累積消費',
    lastPurchase: '最近消費日',
    rfmSegment: 'RFM 分群',
    birthMonth: '生日月份',
    ageBand: '年齡層',
    gender: '性別',
    region: '地區',
  },
  en: {
    memberCode: 'Member code',
    phone: 'Mobile',
    name: 'Name',
    email: 'E-mail',
    tier: 'Tier',
    points: 'Points',
    tags: 'Tags',
    since: 'Member since',
    purchaseCount: 'Purchases',
    cumulativeSpend: 'Total spend',
    lastPurchase: 'Last purchase',
    rfmSegment: 'RFM segment',
    birthMonth: 'Birth month',
    ageBand: 'Age band',
    gender: 'Gender',
    region: 'Region',
  },
};

/**
 * The values of an export written in the header row's language: the RFM group and the gender by
 * name (not `new_customers`, `female`), and the default tiers (a store's own tier names stay as
 * the store wrote them). The same words as the reports page.
 */
export const EXPORT_VALUES: Record<
  'zh-TW' | 'en',
  { rfmSegment: Record<string, string>; gender: Record<string, string>; tier: Record<string, string> }
> = {
  'zh-TW': {
    rfmSegment: {
      champions: '冠軍顧客',
      loyal: '忠誠顧客',
      promising: '潛力顧客',
      new_customers: '新顧客',
      needs_attention: '需要關注',
      at_risk: '流失風險',
      hibernating: '沉睡顧客',
      one_time: '一次性顧客',
    },
    gender: { female: '女', male: '男', other: '其他' },
    tier: {},
  },
  en: {
    rfmSegment: {
      champions: 'Champions',
      loyal: 'Loyal',
      promising: 'Promising',
      new_customers: 'New customers',
      needs_attention: 'Needs attention',
      at_risk: 'At risk',
      hibernating: 'Hibernating',
      one_time: 'One-time buyers',
    },
    gender: { female: 'Female', male: 'Male', other: 'Other' },
    tier: { 一般: 'Regular', 銀卡: 'Silver', 金卡: 'Gold' },
  },
};

/** Contact columns: only exported for a channel the member consented to. */
export const CONTACT_COLUMNS: readonly ExportColumn[] = ['phone', 'name', 'email'];

/**
 * `purpose` is the intended channel: members who did not consent to it are left out. `analysis`
 * exports no contact columns at all (and so needs no consent).
 */
export const SegmentExportRequest = Type.Object(
  {
    purpose: literals([...CONSENT_CHANNELS, 'analysis'] as const),
    columns: Type.Array(literals(EXPORT_COLUMNS), { minItems: 1, maxItems: EXPORT_COLUMNS.length, uniqueItems: true }),
    /** The header row's language (default Traditional Chinese). */
    language: Type.Optional(literals(['zh-TW', 'en'] as const)),
  },
  { additionalProperties: false },
);
export type SegmentExportRequest = Static<typeof SegmentExportRequest>;

// ---- Automatic tags (S2) ----

export const TagRuleSaveRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 40 }),
    tag: Type.String({ minLength: 1, maxLength: 20, pattern: '^[^\\s/?#][^/?#]*$' }),
    definition: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type TagRuleSaveRequest = Static<typeof TagRuleSaveRequest>;

export interface TagRuleView {
  ruleId: string;
  name: string;
  tag: string;
  definition: SegmentDefinition;
  savedAt: string;
  savedBy: string;
  /** Members who carry the tag because of this rule. */
  tagged: number;
}

export const TagRuleIdParams = Type.Object(
  { ruleId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' }) },
  { additionalProperties: false },
);

// ---- RFM (A1) ----

export interface RfmScores {
  r: number;
  f: number;
  m: number;
}

export interface RfmSegmentSummary {
  segment: RfmSegmentName;
  members: number;
  /** All-time net spend of the segment's members, NT$. */
  revenue: number;
  share: number;
}

export interface RfmReport {
  computedAt: string;
  asOf: string;
  /** Members with at least one purchase (the ones scored). */
  scored: number;
  /** Members who never bought (no score). */
  unscored: number;
  segments: RfmSegmentSummary[];
  /** Upper bounds of each quintile (1..4) for R (days since), F (purchases) and M (NT$). */
  thresholds: { r: number[]; f: number[]; m: number[] };
  tookMs: number;
}

// ---- Repurchase prediction (A6) ----

/**
 * own: the member's median interval over their own purchases; product: the product's cycle from
 * the catalog; store: the median interval of the store's members for it.
 */
export type RepurchaseBasis = 'own' | 'product' | 'store';

export interface RepurchasePredictionView {
  kind: 'sku' | 'category';
  /** The SKU or the category name. */
  key: string;
  /** Product name for a SKU, the category itself for a category. */
  label: string;
  lastBought: string;
  dueOn: string;
  intervalDays: number;
  basis: RepurchaseBasis;
  /** How many intervals the basis came from (the member's own, or the store's members'). */
  samples: number;
  /** The why, in words for staff, e.g. "median of 4 own intervals: 28 days". */
  explanation: string;
}

export interface RepurchaseDueEntry extends RepurchasePredictionView {
  memberId: string;
  memberCode: string;
  phone: string;
  name: string | null;
}

export interface RepurchaseDueReport {
  asOf: string;
  from: string;
  to: string;
  entries: RepurchaseDueEntry[];
  /** All entries due in the range (entries may be cut to a limit). */
  total: number;
}

// ---- Cross-sell (R5) ----

export interface CrossSellPairView {
  sku: string;
  name: string;
  withSku: string;
  withName: string;
  /** Baskets with both. */
  together: number;
  /** Share of all baskets with both, 0..1. */
  support: number;
  /** Share of baskets with sku that also had withSku, 0..1. */
  confidence: number;
  lift: number;
}

export interface CrossSellReport {
  baskets: number;
  pairs: CrossSellPairView[];
}

// ---- Reports (A2-A5) ----

export const ReportRangeQuery = Type.Object(
  {
    from: Day,
    to: Day,
    /** Last purchase within this many days of `to`: active; beyond `churnedDays`: churned; between: dormant. */
    activeDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 730 })),
    churnedDays: Type.Optional(Type.Integer({ minimum: 2, maximum: 1095 })),
    /** Items with no sale for this many days (A4). */
    idleDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 1095 })),
    category: Type.Optional(Category),
  },
  { additionalProperties: false },
);
export type ReportRangeQuery = Static<typeof ReportRangeQuery>;

export interface DailyPoint {
  date: string;
  sales: number;
  revenue: number;
  memberSales: number;
  memberRevenue: number;
  newMembers: number;
}

export interface MemberMetrics {
  from: string;
  to: string;
  /** A2: members who signed up in the range, and all members at its end. */
  newMembers: number;
  membersAtEnd: number;
  /** Members who bought in the range. */
  buyingMembers: number;
  /** Of those, the share who bought at least twice in it. */
  repurchaseRate: number;
  /** Purchases per buying member in the range. */
  purchaseFrequency: number;
  /** Net revenue per sale, all sales and member sales. */
  averageOrderValue: number;
  memberAverageOrderValue: number;
  /** A2 activity as of `to` (by the last purchase on or before it). */
  activity: {
    activeDays: number;
    churnedDays: number;
    active: number;
    dormant: number;
    churned: number;
    neverBought: number;
  };
  /** A3: the top 20% of buying members (by spend in the range) and their share of member revenue. */
  top20: { members: number; revenue: number; share: number };
  /** A5: sales and revenue by members vs walk-in customers. */
  memberShare: { sales: number; revenue: number; memberSales: number; memberRevenue: number; shareOfRevenue: number };
  /** A5: buying members by age band and gender (unknown where not given). */
  ageMix: { band: string; members: number; revenue: number }[];
  genderMix: { gender: string; members: number; revenue: number }[];
  daily: DailyPoint[];
}

export interface ProductRow {
  sku: string;
  name: string;
  category: string;
  qty: number;
  revenue: number;
  /** Sales that had it. */
  sales: number;
  /** The latest business date it sold (ever), null if never. */
  lastSold: string | null;
}

export interface ProductReport {
  from: string;
  to: string;
  bestSellers: ProductRow[];
  slowMovers: ProductRow[];
  /** Catalog items with no sale for `idleDays` days up to `to` (never sold included). */
  idle: ProductRow[];
  idleDays: number;
  byCategory: { category: string; qty: number; revenue: number; sales: number; products: number }[];
}
