/**
 * The members projection by column, for the member filter (S3): one row per member record, and per
 * field a typed array the filter reads row by row. Scanning 100,000 members this way reads a few
 * contiguous arrays instead of 100,000 scattered records and the objects they hang on to (SKU and
 * category histories keyed differently in every member, sales logs of objects), so a filter over
 * the whole store takes milliseconds.
 *
 * Rows never move: a member keeps their row, and new members are appended in the book's order. The
 * columns are derived, never serialised: MemberBook builds them on first use, marks every member an
 * event changes, and the rows of those members are rewritten just before the next query. The
 * purchases of a SKU or a category get their column the first time a filter asks about them.
 * Pure: no clock, no I/O.
 */
import { CONSENT_CHANNELS, type ConsentChannel } from '../protocol/members.js';
import { isLive, type MemberRecord, type SkuHistory, SKU_DATES_KEPT } from './members.js';
import { dayNumber } from './time.js';

// Day numbers are time.ts's; exported here too for the filter and the tests that read columns.
export { dayNumber };

/** The day number of "no date" (never bought, nothing logged): below every real day. */
export const NO_DAY = -0x80000000;

/** The bit of a consent channel in the consent column. */
export const consentBit = (channel: ConsentChannel): number => 1 << CONSENT_CHANNELS.indexOf(channel);

/** Values as small whole numbers (codes from 1; 0 is left for "none"), so a column holds numbers. */
export class Dictionary {
  private readonly codes = new Map<string, number>();

  /** The value's code, given one if new. */
  code(value: string): number {
    let code = this.codes.get(value);
    if (code === undefined) this.codes.set(value, (code = this.codes.size + 1));
    return code;
  }

  /**
   * A lookup table by code, 1 for the given values. The values are given codes now, so rows that
   * take them later hold those codes; a code given after the table was made is past its end (not wanted).
   */
  table(values: Iterable<string>): Uint8Array {
    const codes = [...values].map((value) => this.code(value));
    const table = new Uint8Array(this.codes.size + 1);
    for (const code of codes) table[code] = 1;
    return table;
  }
}

/** A Map entry (row -> slot) takes about as much room as this many cells of an array by row. */
const DENSE_SHARE = 8;

/**
 * One SKU's or one category's purchases, per row: how many sales had it and the dates the member's
 * history keeps of the latest ones (as day numbers, oldest first). Rows that bought it get a slot;
 * a row finds its slot in a Map while few rows have one, and in an array by row once more than one
 * row in DENSE_SHARE has.
 */
export class PurchaseColumn {
  counts = new Int32Array(4);
  keptLength = new Int32Array(4);
  /** SKU_DATES_KEPT cells per slot: slot s keeps its dates from s * SKU_DATES_KEPT. */
  keptDays = new Int32Array(4 * SKU_DATES_KEPT);
  /** Rows holding a slot. */
  held = 0;
  /** Row -> slot, while few rows have one. */
  private sparse: Map<number, number> | null = new Map();
  /** Row -> slot + 1 (0: none), once many have. */
  private dense: Int32Array | null = null;
  private readonly freeSlots: number[] = [];
  private slotsUsed = 0;
  /** The rewrite of a row that last set it (MemberColumns.writePurchases). */
  stamp = 0;

  constructor(readonly key: string) {}

  /** The row's slot, or -1 if the row never bought it. */
  slotOf(row: number): number {
    const dense = this.dense;
    if (dense !== null) return row < dense.length ? dense[row]! - 1 : -1;
    return this.sparse!.get(row) ?? -1;
  }

  /** Sales that had it (0 for rows that never bought it). */
  countOf(row: number): number {
    const slot = this.slotOf(row);
    return slot < 0 ? 0 : this.counts[slot]!;
  }

  /** Writes the row's history; `capacity` (rows the columns have room for) judges when an array by row pays. */
  set(row: number, history: SkuHistory, capacity: number): void {
    let slot = this.slotOf(row);
    if (slot < 0) {
      slot = this.newSlot();
      this.held += 1;
      if (this.dense === null && this.held * DENSE_SHARE > capacity) this.densify(capacity);
      if (this.dense !== null) {
        if (row >= this.dense.length) this.dense = grown(this.dense, Math.max(capacity, row + 1));
        this.dense[row] = slot + 1;
      } else {
        this.sparse!.set(row, slot);
      }
    }
    // A history keeps at most SKU_DATES_KEPT dates, the latest.
    const dates = history.dates;
    const first = Math.max(0, dates.length - SKU_DATES_KEPT);
    this.counts[slot] = history.count;
    this.keptLength[slot] = dates.length - first;
    const base = slot * SKU_DATES_KEPT - first;
    for (let i = first; i < dates.length; i++) this.keptDays[base + i] = dayNumber(dates[i]!);
  }

  remove(row: number): void {
    const slot = this.slotOf(row);
    if (slot < 0) return;
    if (this.dense !== null) this.dense[row] = 0;
    else this.sparse!.delete(row);
    this.freeSlots.push(slot);
    this.held -= 1;
  }

  private newSlot(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    const slot = this.slotsUsed++;
    if (slot >= this.counts.length) {
      this.counts = grown(this.counts, slot * 2);
      this.keptLength = grown(this.keptLength, slot * 2);
      this.keptDays = grown(this.keptDays, slot * 2 * SKU_DATES_KEPT);
    }
    return slot;
  }

  private densify(capacity: number): void {
    let length = capacity;
    for (const row of this.sparse!.keys()) length = Math.max(length, row + 1);
    const dense = new Int32Array(length);
    for (const [row, slot] of this.sparse!) dense[row] = slot + 1;
    this.dense = dense;
    this.sparse = null;
  }
}

function grown<T extends Int32Array | Float64Array | Uint8Array>(array: T, length: number): T {
  const bigger = new (array.constructor as new (length: number) => T)(length);
  bigger.set(array.subarray(0, Math.min(array.length, length)));
  return bigger;
}

const NO_TAG_SETS: readonly Set<number>[] = [];
/** Up to this many SKU (or category) columns, a rewritten row looks each key up in the record. */
const FEW_PURCHASE_COLUMNS = 8;

/**
 * Columns that take more than copying a field to write (dictionary look-ups, parsing, the sales
 * log, sets, the purchase columns), by group: testing records one at a time, a filter has a group
 * written only when a test reaches it (see `holdOnly` and `load`).
 */
export const ColumnGroup = { codes: 1, since: 2, consent: 4, log: 8, tags: 16, purchases: 32 } as const;
const ALL_COLUMN_GROUPS = 63;

export class MemberColumns {
  /** Rows in use. */
  rows = 0;
  /** The record each row shows (what the columns do not hold is read from it). */
  readonly records: MemberRecord[] = [];
  /** 1 for a live member: not erased, not merged into another record. */
  live: Uint8Array;
  /** 1-12; 0 for no birthday. */
  birthMonth: Uint8Array;
  /** `genders` codes; a member with no gender given is "unknown". */
  gender: Int32Array;
  /** `regions` codes of the region without surrounding spaces; 0 for none. */
  region: Int32Array;
  /** `tiers` codes of the tier id ('' before the first purchase). */
  tier: Int32Array;
  points: Float64Array;
  purchaseCount: Int32Array;
  cumulativeSpend: Float64Array;
  markdownPurchases: Int32Array;
  /** Day numbers; NO_DAY if never. */
  lastPurchase: Int32Array;
  /** ms since the epoch. */
  since: Float64Array;
  /** A bit per channel (consentBit) for consent granted now. */
  consent: Uint8Array;
  /**
   * The sales log (spendLog) of each row, as day numbers and net amounts in the log's order, at
   * logStart[row] for logLength[row] entries in logDays / logAmounts (shared by all rows: replaced
   * when they grow, so read them through the columns, not kept).
   */
  logStart: Int32Array;
  logLength: Int32Array;
  /** Day number of the newest logged sale (NO_DAY if none): a window after it is empty. */
  lastLogged: Int32Array;
  logDays: Int32Array;
  logAmounts: Float64Array;
  readonly genders = new Dictionary();
  readonly regions = new Dictionary();
  readonly tiers = new Dictionary();
  /** Cells of each row's log segment; segments have room to grow, and a longer log moves to the end. */
  private logRoom: Int32Array;
  private logUsed = 0;
  /** Cells left behind by segments that moved, reclaimed by compacting. */
  private logWasted = 0;
  private readonly tagged = new Map<string, Set<number>>();
  private readonly rowTags: (readonly Set<number>[])[] = [];
  private readonly skus = new Map<string, PurchaseColumn>();
  private readonly categories = new Map<string, PurchaseColumn>();
  private readonly rowById = new Map<string, number>();
  private readonly dirty = new Set<string>();
  /** The ColumnGroups written for the record holdOnly put in row 0. */
  private loaded = 0;
  /** Counts rewrites of purchase columns (see PurchaseColumn.stamp). */
  private purchaseWrites = 0;

  constructor(private capacity = 1024) {
    this.capacity = Math.max(1, capacity);
    const n = this.capacity;
    this.live = new Uint8Array(n);
    this.birthMonth = new Uint8Array(n);
    this.gender = new Int32Array(n);
    this.region = new Int32Array(n);
    this.tier = new Int32Array(n);
    this.points = new Float64Array(n);
    this.purchaseCount = new Int32Array(n);
    this.cumulativeSpend = new Float64Array(n);
    this.markdownPurchases = new Int32Array(n);
    this.lastPurchase = new Int32Array(n);
    this.since = new Float64Array(n);
    this.consent = new Uint8Array(n);
    this.logStart = new Int32Array(n);
    this.logLength = new Int32Array(n);
    this.lastLogged = new Int32Array(n);
    this.logRoom = new Int32Array(n);
    // Room for a few sales a member to begin with; more as the logs grow.
    this.logDays = new Int32Array(8 * n);
    this.logAmounts = new Float64Array(8 * n);
  }

  /** Columns for these records, a row each in their order; `count` (how many there are) sizes the arrays. */
  static of(records: Iterable<MemberRecord>, count = 1024): MemberColumns {
    const columns = new MemberColumns(count);
    for (const record of records) columns.put(record);
    return columns;
  }

  /** The row showing a member's record. */
  rowOf(memberId: string): number | undefined {
    return this.rowById.get(memberId);
  }

  /** Notes that the member's record changed: its row is rewritten at the next refresh. */
  markDirty(memberId: string): void {
    this.dirty.add(memberId);
  }

  /** Rewrites the rows of the members marked since the last refresh; members new to the columns are appended. */
  refresh(members: ReadonlyMap<string, MemberRecord>): void {
    if (this.dirty.size === 0) return;
    for (const memberId of this.dirty) {
      const record = members.get(memberId);
      if (record) this.put(record);
    }
    this.dirty.clear();
  }

  /** Writes the record into its member's row (appending one for a new member); returns the row. */
  put(record: MemberRecord): number {
    let row = this.rowById.get(record.memberId);
    if (row === undefined) {
      row = this.rows;
      if (row >= this.capacity) this.grow(this.capacity * 2);
      this.rows += 1;
      this.rowById.set(record.memberId, row);
    }
    this.write(row, record);
    return row;
  }

  /**
   * Makes this record the only row (row 0), whatever was there: for testing records one at a time
   * with one compiled filter. Only the plain fields are written now; a test reading a ColumnGroup
   * has it written first (`load`), so what no test reaches is never worked out.
   */
  holdOnly(record: MemberRecord): void {
    if (this.rows !== 1 || this.records[0]?.memberId !== record.memberId) {
      this.rowById.clear();
      this.rowById.set(record.memberId, 0);
    }
    this.rows = 1;
    this.writeFields(0, record);
    this.loaded = 0;
  }

  /** Writes the ColumnGroups of row 0 not yet written for the record `holdOnly` put there. */
  load(groups: number): void {
    const missing = groups & ~this.loaded;
    if (missing === 0) return;
    this.writeGroups(0, this.records[0]!, missing);
    this.loaded |= missing;
  }

  /** Rows of members with the tag (an empty set if nobody has it; rows given it later join it). */
  tagRows(tag: string): Set<number> {
    let rows = this.tagged.get(tag);
    if (!rows) this.tagged.set(tag, (rows = new Set()));
    return rows;
  }

  /**
   * The purchases of a SKU or a category, per row. Built from the records the first time it is
   * asked for (one look-up per member), then kept up to date with the rows.
   */
  purchases(kind: 'sku' | 'category', key: string): PurchaseColumn {
    const columns = kind === 'sku' ? this.skus : this.categories;
    let column = columns.get(key);
    if (!column) {
      columns.set(key, (column = new PurchaseColumn(key)));
      for (let row = 0; row < this.rows; row++) {
        const record = this.records[row]!;
        const history = (kind === 'sku' ? record.skus : record.categories)[key];
        if (history) column.set(row, history, this.capacity);
      }
    }
    return column;
  }

  private write(row: number, record: MemberRecord): void {
    this.writeFields(row, record);
    this.writeGroups(row, record, ALL_COLUMN_GROUPS);
  }

  /** What is copied as it is (or nearly). */
  private writeFields(row: number, record: MemberRecord): void {
    this.records[row] = record;
    this.live[row] = isLive(record) ? 1 : 0;
    this.birthMonth[row] = record.demographics.birthMonth ?? 0;
    this.points[row] = record.points;
    this.purchaseCount[row] = record.purchaseCount;
    this.cumulativeSpend[row] = record.cumulativeSpend;
    this.markdownPurchases[row] = record.markdownPurchases;
    this.lastPurchase[row] = record.lastPurchase === null ? NO_DAY : dayNumber(record.lastPurchase);
  }

  private writeGroups(row: number, record: MemberRecord, groups: number): void {
    if (groups & ColumnGroup.codes) {
      const { gender, region } = record.demographics;
      this.gender[row] = this.genders.code(gender ?? 'unknown');
      this.region[row] = region == null ? 0 : this.regions.code(region.trim());
      this.tier[row] = this.tiers.code(record.tier);
    }
    if (groups & ColumnGroup.since) this.since[row] = Date.parse(record.since);
    if (groups & ColumnGroup.consent) {
      let consent = 0;
      CONSENT_CHANNELS.forEach((channel, i) => {
        if (record.consent[channel].granted) consent |= 1 << i;
      });
      this.consent[row] = consent;
    }
    if (groups & ColumnGroup.log) this.writeLog(row, record);
    if (groups & ColumnGroup.tags) this.writeTags(row, record);
    if (groups & ColumnGroup.purchases) {
      this.writePurchases(row, record.skus, this.skus);
      this.writePurchases(row, record.categories, this.categories);
    }
  }

  private writeLog(row: number, record: MemberRecord): void {
    const log = record.spendLog;
    const n = log.length;
    if (n > this.logRoom[row]!) {
      // The old segment is left behind; the new one has room for the next few sales.
      this.logWasted += this.logRoom[row]!;
      this.logRoom[row] = 0;
      this.logLength[row] = 0;
      const room = n + (n >> 2) + 2;
      this.logStart[row] = this.allocateLog(room);
      this.logRoom[row] = room;
    }
    const start = this.logStart[row]!;
    for (let i = 0; i < n; i++) {
      const entry = log[i]!;
      this.logDays[start + i] = dayNumber(entry.date);
      this.logAmounts[start + i] = entry.amount;
    }
    this.logLength[row] = n;
    this.lastLogged[row] = n === 0 ? NO_DAY : this.logDays[start + n - 1]!;
  }

  /** The start of `room` free cells at the end of the log arrays, compacting or growing them first if needed. */
  private allocateLog(room: number): number {
    if (this.logUsed + room > this.logDays.length) {
      if (this.logWasted * 2 > this.logUsed) this.compactLog();
      if (this.logUsed + room > this.logDays.length) {
        const length = Math.max(this.logDays.length * 2, this.logUsed + room);
        this.logDays = grown(this.logDays, length);
        this.logAmounts = grown(this.logAmounts, length);
      }
    }
    const start = this.logUsed;
    this.logUsed += room;
    return start;
  }

  /** Moves every row's segment down, in row order, over the cells left behind. */
  private compactLog(): void {
    const days = new Int32Array(this.logDays.length);
    const amounts = new Float64Array(this.logAmounts.length);
    let used = 0;
    for (let row = 0; row < this.rows; row++) {
      const start = this.logStart[row]!;
      const length = this.logLength[row]!;
      days.set(this.logDays.subarray(start, start + length), used);
      amounts.set(this.logAmounts.subarray(start, start + length), used);
      this.logStart[row] = used;
      used += this.logRoom[row]!;
    }
    this.logDays = days;
    this.logAmounts = amounts;
    this.logUsed = used;
    this.logWasted = 0;
  }

  private writeTags(row: number, record: MemberRecord): void {
    for (const rows of this.rowTags[row] ?? NO_TAG_SETS) rows.delete(row);
    if (record.tags.length === 0) {
      this.rowTags[row] = NO_TAG_SETS;
      return;
    }
    const sets = record.tags.map((t) => this.tagRows(t.tag));
    for (const rows of sets) rows.add(row);
    this.rowTags[row] = sets;
  }

  /**
   * Brings the row up to date in every purchase column asked for so far. A look-up in the
   * record's histories costs about as much as walking a few of them (every member's are keyed
   * differently), so with few columns each is looked up, and with many the member's histories are
   * walked instead and the columns they no longer name let go of the row.
   */
  private writePurchases(
    row: number,
    histories: Record<string, SkuHistory>,
    columns: ReadonlyMap<string, PurchaseColumn>,
  ): void {
    if (columns.size <= FEW_PURCHASE_COLUMNS) {
      for (const column of columns.values()) {
        const history = histories[column.key];
        if (history) column.set(row, history, this.capacity);
        else column.remove(row);
      }
      return;
    }
    const stamp = ++this.purchaseWrites;
    for (const key in histories) {
      const column = columns.get(key);
      if (!column) continue;
      column.set(row, histories[key]!, this.capacity);
      column.stamp = stamp;
    }
    for (const column of columns.values()) if (column.stamp !== stamp) column.remove(row);
  }

  private grow(capacity: number): void {
    this.capacity = capacity;
    this.live = grown(this.live, capacity);
    this.birthMonth = grown(this.birthMonth, capacity);
    this.gender = grown(this.gender, capacity);
    this.region = grown(this.region, capacity);
    this.tier = grown(this.tier, capacity);
    this.points = grown(this.points, capacity);
    this.purchaseCount = grown(this.purchaseCount, capacity);
    this.cumulativeSpend = grown(this.cumulativeSpend, capacity);
    this.markdownPurchases = grown(this.markdownPurchases, capacity);
    this.lastPurchase = grown(this.lastPurchase, capacity);
    this.since = grown(this.since, capacity);
    this.consent = grown(this.consent, capacity);
    this.logStart = grown(this.logStart, capacity);
    this.logLength = grown(this.logLength, capacity);
    this.lastLogged = grown(this.lastLogged, capacity);
    this.logRoom = grown(this.logRoom, capacity);
  }
}
