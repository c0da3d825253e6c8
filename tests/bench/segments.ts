/**
 * The member filter (S3) and RFM (A1) over a store with 100,000 members and 1,000,000 sales, against
 * PostgreSQL on the same machine in the same run: `npm run bench` runs this after the other benches.
 * Prints one JSON object per line on stdout, {"metric","value","unit","baseline","ratio"}; progress
 * goes to stderr.
 *
 *   segment_query_seed_example_ms        the seeds' example, "birthday next month AND cumulative spend
 *                                        >= 5000 AND ever bought 寵物保健": median of runSegment (count
 *                                        and the first 20 matches) on the hub's member projection.
 *                                        Baseline: the median of the same question asked of PostgreSQL
 *                                        (count and the same first 20), indexed, over the same data.
 *   segment_query_seed_example_p99_ms    the same at p99 (nearest rank: of 30 runs, the slowest), against
 *                                        PostgreSQL's p99
 *   segment_query_six_conditions_ms      six conditions in AND / OR / NOT: (tier silver or gold OR points
 *                                        >= 50) AND female AND spend in the last 365 days >= 3000 AND
 *                                        bought 乳製品 at least 3 times in the last 180 days AND NOT
 *                                        region 台北市 / 新北市; same baseline
 *   segment_query_six_conditions_p99_ms
 *   segment_query_ms                     the slower of the two medians, against that query's baseline
 *                                        (targets: under 50 ms and a ratio under 1)
 *   rfm_recompute_ms                     median of scoring every member (R, F, M quintiles and the named
 *                                        segments with their counts and revenue); baseline the 2,000 ms
 *                                        target
 *   rfm_recompute_vs_postgres_ms         the same median against the same scoring done by PostgreSQL
 *                                        (rank() windows over the members table, then the segments),
 *                                        checked to give the same members and revenue per segment
 *
 * The data is generated from a seeded generator: members who joined over three years (about 80% gave
 * a birthday), some of them pet owners, each buying at a rate of their own (a few regulars, many
 * occasional buyers, some who stopped coming), 70% of sales by members, 1-5 lines from a catalog of
 * 300 products in 15 categories. The hub's projection is built by applying the events the hub
 * journals (member.registered, then sale.completed in seq order, priced and with loyalty worked out
 * by the hub's own rules) to a MemberBook; personal data is "sealed" as plain JSON (no vault: what is
 * measured is the filter, not the cipher). PostgreSQL gets the same members and sales, loaded with
 * COPY, the per-member totals every CRM table keeps (purchase count, cumulative spend, last purchase)
 * computed from the sales, the indexes these queries want, then VACUUM ANALYZE. Each SQL question is
 * asked in more than one form (correlated subqueries, and aggregates joined); the faster form's
 * median is the baseline. Every form must give the hub's count and the same first 20 members, or the
 * run fails: a comparison is only fair between equal answers. PostgreSQL is timed from the client
 * (node-postgres over the Unix socket), as an application would see it; the hub in process, as its
 * API does.
 *
 * Environment: AYI_BENCH_MEMBERS (100000), AYI_BENCH_SEGMENT_SALES (1000000), AYI_BENCH_SEGMENT_RUNS
 * (30 timed runs of each query after 5 warm-ups; RFM a third as many, at least 5), AYI_BENCH_SEED, AYI_BENCH_PG (a connection string;
 * default the local server as user postgres, database test, over the Unix socket then TCP),
 * AYI_BENCH_EXPLAIN=1 prints PostgreSQL's plans, AYI_BENCH_KEEP=1 keeps the schema and the CSV files.
 * Without a reachable PostgreSQL the hub's figures still print, with baseline and ratio null.
 */
import { PET_HEALTH, SEEDS_EXAMPLE } from '../support/segment-examples.ts';
import { chmodSync, closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import v8 from 'node:v8';
import vm from 'node:vm';
import pg from 'pg';
import {
  DEFAULT_PROGRAM,
  maxRedeemable,
  pointsEarned,
  redeemValue,
  tierAfterSale,
  tierRule,
} from '../../hub/src/domain/loyalty.ts';
import { MemberBook, windowSpend, type MemberProfile, type Unseal } from '../../hub/src/domain/members.ts';
import { roundHalfUp } from '../../hub/src/domain/money.ts';
import { scoreRfm } from '../../hub/src/domain/rfm.ts';
import { priceCart } from '../../hub/src/domain/sale.ts';
import { runSegment, type SegmentEnv } from '../../hub/src/domain/segments.ts';
import { daysAfter, daysBefore, monthsBefore } from '../../hub/src/domain/time.ts';
import type { CartLine } from '../../hub/src/protocol/api.ts';
import type { RfmReport, SegmentDefinition } from '../../hub/src/protocol/crm.ts';
import {
  type EventPayloads,
  type EventType,
  type HubEvent,
  type ProductData,
  type SealedData,
} from '../../hub/src/protocol/events.ts';
import type { Gender } from '../../hub/src/protocol/members.ts';
import { seededRng, type Rng } from '../../scripts/lib/baskets.ts';
import { journalEvent, type EventOrigin } from '../support/journal-events.ts';
import { percentile, round } from '../../scripts/lib/stats.ts';

const env = process.env;
const MEMBERS = Number(env.AYI_BENCH_MEMBERS ?? 100_000);
const SALES = Number(env.AYI_BENCH_SEGMENT_SALES ?? 1_000_000);
const MEMBER_SALE_SHARE = 0.7;
const RUNS = Number(env.AYI_BENCH_SEGMENT_RUNS ?? 30);
const WARMUP = 5;
const RFM_RUNS = Math.max(5, Math.round(RUNS / 3));
const SEED = Number(env.AYI_BENCH_SEED ?? 20_240_601);
const TZ = 'Asia/Taipei';
/** The last business day of the generated past: "today" for every relative condition, hub and SQL alike. */
const TODAY = '2026-03-31';
const DAYS = 1096;
const FIRST_DAY = daysBefore(TODAY, DAYS - 1);
/** Mid-evening of TODAY in the store (Taipei keeps +08:00 all year). */
const NOW = new Date(`${TODAY}T20:00:00+08:00`);
const QUERY_TARGET_MS = 50;
const RFM_TARGET_MS = 2000;
const FIRST = 20;
const SCHEMA = 'ayi_bench';
const PROGRAM = DEFAULT_PROGRAM;

const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function emit(metric: string, value: number, unit: string, baseline: number | null): void {
  const ratio = baseline === null || baseline === 0 ? null : round(value / baseline, 3);
  process.stdout.write(
    `${JSON.stringify({ metric, value: round(value, 3), unit, baseline: baseline === null ? null : round(baseline, 3), ratio })}\n`,
  );
}

/** A full collection, so the heap figure is what the projection holds rather than what building it left. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

const sortedCopy = (values: number[]) => [...values].sort((a, b) => a - b);
const median = (values: number[]) => percentile(sortedCopy(values), 50);
const p99 = (values: number[]) => percentile(sortedCopy(values), 99);

// ---------------------------------------------------------------------------------------------
// The store: catalog, members, sales

interface CategorySpec {
  category: string;
  prefix: string;
  products: number;
  price: [number, number];
  /** Share of the lines of an ordinary customer and of a pet owner. */
  weight: number;
  petOwnerWeight: number;
  repurchaseDays: number | null;
}

/** A neighbourhood store's shelves: 300 products, everyday goods cheap and frequent. */
const CATEGORIES: CategorySpec[] = [
  {
    category: '飲料',
    prefix: 'DRK',
    products: 30,
    price: [20, 95],
    weight: 20,
    petOwnerWeight: 18,
    repurchaseDays: null,
  },
  {
    category: '零食',
    prefix: 'SNK',
    products: 30,
    price: [20, 120],
    weight: 16,
    petOwnerWeight: 14,
    repurchaseDays: null,
  },
  {
    category: '米麵食品',
    prefix: 'FOD',
    products: 25,
    price: [35, 450],
    weight: 10,
    petOwnerWeight: 9,
    repurchaseDays: 30,
  },
  {
    category: '冷凍食品',
    prefix: 'FRZ',
    products: 20,
    price: [60, 350],
    weight: 7,
    petOwnerWeight: 6,
    repurchaseDays: null,
  },
  {
    category: '乳製品',
    prefix: 'DAI',
    products: 20,
    price: [35, 220],
    weight: 10,
    petOwnerWeight: 9,
    repurchaseDays: 7,
  },
  {
    category: '麵包烘焙',
    prefix: 'BAK',
    products: 15,
    price: [25, 180],
    weight: 7,
    petOwnerWeight: 6,
    repurchaseDays: null,
  },
  {
    category: '調味料',
    prefix: 'SEA',
    products: 20,
    price: [30, 260],
    weight: 5,
    petOwnerWeight: 4,
    repurchaseDays: 60,
  },
  {
    category: '日用品',
    prefix: 'HOU',
    products: 25,
    price: [40, 400],
    weight: 8,
    petOwnerWeight: 7,
    repurchaseDays: 30,
  },
  {
    category: '清潔用品',
    prefix: 'CLN',
    products: 20,
    price: [50, 450],
    weight: 5,
    petOwnerWeight: 4,
    repurchaseDays: 45,
  },
  {
    category: '個人清潔',
    prefix: 'PER',
    products: 20,
    price: [60, 500],
    weight: 5,
    petOwnerWeight: 4,
    repurchaseDays: 45,
  },
  {
    category: '美妝保養',
    prefix: 'BEA',
    products: 20,
    price: [150, 1500],
    weight: 2,
    petOwnerWeight: 2,
    repurchaseDays: 60,
  },
  {
    category: '保健食品',
    prefix: 'HEA',
    products: 15,
    price: [300, 2000],
    weight: 1.5,
    petOwnerWeight: 1.5,
    repurchaseDays: 30,
  },
  {
    category: '嬰幼兒用品',
    prefix: 'BAB',
    products: 15,
    price: [150, 1200],
    weight: 1.5,
    petOwnerWeight: 1.5,
    repurchaseDays: 21,
  },
  {
    category: '寵物用品',
    prefix: 'PET',
    products: 15,
    price: [60, 1500],
    weight: 0.6,
    petOwnerWeight: 10,
    repurchaseDays: 30,
  },
  {
    category: '寵物保健',
    prefix: 'PTH',
    products: 10,
    price: [300, 2000],
    weight: 0.15,
    petOwnerWeight: 2.5,
    repurchaseDays: 30,
  },
];

/** Where members live: a store in 新北市, neighbours first. */
const REGIONS: [string, number][] = [
  ['新北市', 52],
  ['台北市', 20],
  ['桃園市', 6],
  ['基隆市', 3],
  ['台中市', 3],
  ['高雄市', 2],
  ['台南市', 2],
  ['新竹市', 1.5],
  ['宜蘭縣', 1],
  ['彰化縣', 1],
  ['花蓮縣', 0.5],
];

function weighted<T>(choices: readonly (readonly [T, number])[], rng: Rng): T {
  const total = choices.reduce((sum, [, w]) => sum + w, 0);
  let r = rng() * total;
  for (const [value, w] of choices) {
    r -= w;
    if (r < 0) return value;
  }
  return choices.at(-1)![0];
}

/** A standard normal draw (Box-Muller). */
function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/** A uuid-shaped id (version 7 layout) from the generator, so runs repeat. */
function idFrom(rng: Rng): string {
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rng() * 16).toString(16)).join('');
  return `${hex(8)}-${hex(4)}-7${hex(3)}-${(8 + Math.floor(rng() * 4)).toString(16)}${hex(3)}-${hex(12)}`;
}

function buildCatalog(rng: Rng): { products: ProductData[]; byCategory: Map<string, [ProductData, number][]> } {
  const products: ProductData[] = [];
  const byCategory = new Map<string, [ProductData, number][]>();
  let barcode = 4_710_000_100_000;
  for (const spec of CATEGORIES) {
    const shelf: [ProductData, number][] = [];
    for (let i = 1; i <= spec.products; i++) {
      const [low, high] = spec.price;
      // Most of a shelf is at the cheap end of its range.
      const price = Math.round(low + (high - low) * rng() ** 2);
      const product: ProductData = {
        sku: `${spec.prefix}-${String(i).padStart(3, '0')}`,
        barcodes: [String(barcode++)],
        name: `${spec.category} ${String(i).padStart(2, '0')}`,
        category: spec.category,
        price,
        repurchaseDays: spec.repurchaseDays,
      };
      products.push(product);
      // Cheap everyday goods are bought more often than expensive ones.
      shelf.push([product, price <= 50 ? 5 : price <= 150 ? 3 : price <= 400 ? 1.5 : 0.6]);
    }
    byCategory.set(spec.category, shelf);
  }
  return { products, byCategory };
}

interface GeneratedMember {
  memberId: string;
  memberCode: string;
  profile: MemberProfile;
  sinceDay: number;
  since: string;
  consent: { sms: boolean; line: boolean; email: boolean };
  petOwner: boolean;
}

function buildMembers(rng: Rng): GeneratedMember[] {
  const drafts = Array.from({ length: MEMBERS }, () => {
    const sinceDay = Math.floor(rng() * DAYS);
    const seconds = 7 * 3600 + Math.floor(rng() * 14 * 3600);
    return { sinceDay, seconds };
  });
  // Member codes are handed out in sign-up order.
  drafts.sort((a, b) => a.sinceDay - b.sinceDay || a.seconds - b.seconds);
  return drafts.map(({ sinceDay, seconds }, i) => {
    const day = daysAfter(FIRST_DAY, sinceDay);
    const time = new Date(seconds * 1000).toISOString().slice(11, 19);
    const since = new Date(`${day}T${time}.${String(i % 1000).padStart(3, '0')}+08:00`).toISOString();
    let birthday: string | null = null;
    if (rng() < 0.8) {
      const year = 1945 + Math.floor(rng() * 63);
      const dayOfYear = Math.floor(rng() * 365);
      birthday = `${year}${daysAfter('2001-01-01', dayOfYear).slice(4)}`;
    }
    const gender = weighted<Gender | null>(
      [
        ['female', 52],
        ['male', 38],
        ['other', 1],
        [null, 9],
      ],
      rng,
    );
    const region = rng() < 0.9 ? weighted(REGIONS, rng) : null;
    const phone = `+8869${String(10_000_000 + i * 37).padStart(8, '0')}`;
    return {
      memberId: idFrom(rng),
      memberCode: `AYI${String(i + 1).padStart(10, '0')}`,
      profile: { phone, phoneHash: `hash-${phone}`, name: null, birthday, gender, region, email: null },
      sinceDay,
      since,
      consent: { sms: rng() < 0.6, line: rng() < 0.45, email: rng() < 0.25 },
      petOwner: rng() < 0.2,
    };
  });
}

/**
 * Who buys on which day: each member buys at a rate of their own (log-normal: a few regulars, many
 * occasional), between joining and the day they stop coming (a third stop at some point; some never
 * buy at all); walk-in sales fill up to SALES. Returns, per day, the buyers (member index or -1).
 */
function planSales(members: GeneratedMember[], rng: Rng): Int32Array[] {
  const rate = new Float64Array(members.length);
  const lastDay = new Int32Array(members.length);
  let exposure = 0;
  members.forEach((member, i) => {
    rate[i] = rng() < 0.08 ? 0 : Math.exp(1.1 * normal(rng));
    lastDay[i] = rng() < 0.35 ? member.sinceDay + Math.floor(rng() * (DAYS - member.sinceDay)) : DAYS - 1;
    exposure += rate[i]! * (lastDay[i]! - member.sinceDay + 1);
  });
  const perUnit = (SALES * MEMBER_SALE_SHARE) / exposure;
  const buyersByDay: number[][] = Array.from({ length: DAYS }, () => []);
  let memberSales = 0;
  members.forEach((member, i) => {
    const active = lastDay[i]! - member.sinceDay + 1;
    const expected = perUnit * rate[i]! * active;
    const count = Math.floor(expected) + (rng() < expected % 1 ? 1 : 0);
    for (let n = 0; n < count && memberSales < SALES; n++, memberSales++) {
      buyersByDay[member.sinceDay + Math.floor(rng() * active)]!.push(i);
    }
  });
  for (let n = memberSales; n < SALES; n++) buyersByDay[Math.floor(rng() * DAYS)]!.push(-1);
  return buyersByDay.map((buyers) => {
    const day = Int32Array.from(buyers);
    for (let i = day.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [day[i], day[j]] = [day[j]!, day[i]!];
    }
    return day;
  });
}

/** Appends CSV rows to a file in large writes. */
class CsvFile {
  private readonly fd: number;
  private chunk: string[] = [];
  private size = 0;
  constructor(readonly file: string) {
    this.fd = openSync(file, 'w', 0o644);
  }
  row(line: string): void {
    this.chunk.push(line);
    this.size += line.length;
    if (this.size > 1 << 20) this.flush();
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
    // Readable by the database server, which reads it itself (COPY FROM a file).
    chmodSync(this.file, 0o644);
  }
  private flush(): void {
    writeSync(this.fd, this.chunk.join(''));
    this.chunk = [];
    this.size = 0;
  }
}

const BENCH_STORE: EventOrigin = { chainId: 'bench', storeId: 'store-bench', epoch: 'bench', eventIdPrefix: 'bench' };
function envelope<K extends EventType>(seq: number, at: string, type: K, data: EventPayloads[K]): HubEvent {
  return journalEvent(seq, at, type, data, BENCH_STORE);
}

/** "Sealed" as plain JSON: the projection opens it exactly as it opens the vault's. */
const seal = (value: unknown): SealedData => ({ iv: '', tag: '', data: JSON.stringify(value) });
const unseal: Unseal = (_memberId, sealed) => JSON.parse(sealed.data) as unknown;

interface Store {
  book: MemberBook;
  members: GeneratedMember[];
  csv: { members: string; sales: string; lines: string };
  memberSales: number;
  lines: number;
}

/**
 * Applies the store's past to a MemberBook, day by day in seq order: the day's sign-ups, then its
 * sales, each priced and given its loyalty outcome the way checkout does (tier discount, points
 * redeemed now and then, points earned, the tier reached in the 12-month window). Writes the same
 * members, sales and sale lines as CSV for PostgreSQL.
 */
function buildStore(dir: string, rng: Rng): Store {
  const { byCategory } = buildCatalog(rng);
  const productsBySku = new Map<string, ProductData>();
  for (const shelf of byCategory.values()) for (const [product] of shelf) productsBySku.set(product.sku, product);
  const members = buildMembers(rng);
  const buyersByDay = planSales(members, rng);
  const book = new MemberBook(unseal);
  const csv = {
    members: path.join(dir, 'members.csv'),
    sales: path.join(dir, 'sales.csv'),
    lines: path.join(dir, 'sale_lines.csv'),
  };
  const salesCsv = new CsvFile(csv.sales);
  const linesCsv = new CsvFile(csv.lines);
  const ordinaryMix = CATEGORIES.map((c) => [c.category, c.weight] as const);
  const petOwnerMix = CATEGORIES.map((c) => [c.category, c.petOwnerWeight] as const);
  const lineCounts = [
    [1, 35],
    [2, 30],
    [3, 18],
    [4, 10],
    [5, 7],
  ] as const;
  const quantities = [
    [1, 75],
    [2, 20],
    [3, 5],
  ] as const;

  let seq = 0;
  let next = 0;
  let memberSales = 0;
  let lineCount = 0;
  for (let day = 0; day < DAYS; day++) {
    const date = daysAfter(FIRST_DAY, day);
    for (; next < members.length && members[next]!.sinceDay === day; next++) {
      const m = members[next]!;
      book.apply(
        envelope(++seq, m.since, 'member.registered', {
          memberId: m.memberId,
          memberCode: m.memberCode,
          sealed: seal(m.profile),
          channel: 'store',
          consent: m.consent,
          staffId: 'stf',
          deviceId: 'tab',
        }),
      );
    }
    const buyers = buyersByDay[day]!;
    const tierSince = monthsBefore(date, PROGRAM.windowMonths);
    for (let b = 0; b < buyers.length; b++) {
      const buyer = buyers[b]! >= 0 ? members[buyers[b]!]! : null;
      const record = buyer ? book.members.get(buyer.memberId)! : null;
      const mix = buyer?.petOwner ? petOwnerMix : ordinaryMix;
      const cart: CartLine[] = [];
      const lineTotal = weighted(lineCounts, rng);
      for (let l = 0; l < lineTotal; l++) {
        const product = weighted(byCategory.get(weighted(mix, rng))!, rng);
        const line: CartLine = { sku: product.sku, qty: weighted(quantities, rng) };
        // Now and then a marked-down item (near its date).
        if (rng() < 0.05) line.discount = { kind: 'percent', value: 20 + 10 * Math.floor(rng() * 2) };
        cart.push(line);
      }
      const rule = record ? tierRule(PROGRAM, record.tier) : null;
      let pointsRedeemed = 0;
      const priced = priceCart({ lines: cart }, (sku) => productsBySku.get(sku), {
        memberDiscount: (after) => (rule ? roundHalfUp((after * rule.discountPercent) / 100) : 0),
        couponDiscount: () => 0,
        pointsDiscount: (payable) => {
          if (!record || record.points < 50 || rng() >= 0.1) return 0;
          pointsRedeemed = maxRedeemable(PROGRAM, payable, record.points);
          return pointsRedeemed === 0 ? 0 : redeemValue(PROGRAM, pointsRedeemed, payable, record.points);
        },
      });
      seq += 1;
      const saleId = `${date.replaceAll('-', '')}-${String(seq).padStart(7, '0')}`;
      let loyalty = null;
      if (record && rule) {
        const earned = pointsEarned(PROGRAM, rule.tier, priced.total);
        const spend = windowSpend(record, tierSince) + priced.total;
        loyalty = {
          tierBefore: rule.tier,
          tierAfter: tierAfterSale(PROGRAM, rule.tier, spend),
          pointsEarned: earned,
          pointsBalance: record.points - pointsRedeemed + earned,
          windowSpend: spend,
        };
        memberSales += 1;
      }
      const at = new Date(`${date}T${String(7 + Math.floor((b * 14) / buyers.length)).padStart(2, '0')}:30:00+08:00`);
      book.apply(
        envelope(seq, at.toISOString(), 'sale.completed', {
          saleId,
          idempotencyKey: `bench-${seq}`,
          requestHash: 'bench',
          businessDate: date,
          deviceId: 'tab',
          staffId: 'stf',
          memberId: buyer?.memberId ?? null,
          ...priced,
          couponCode: null,
          pointsRedeemed,
          tenders: [{ type: 'cash', amount: priced.total }],
          change: 0,
          loyalty,
        }),
      );
      const memberId = buyer?.memberId ?? '';
      salesCsv.row(`${saleId},${memberId},${date},${priced.total}\n`);
      for (const line of priced.lines) {
        linesCsv.row(
          `${saleId},${memberId},${date},${line.sku},${line.category},${line.qty},${line.lineTotal - line.orderDiscountShare}\n`,
        );
      }
      lineCount += priced.lines.length;
    }
  }
  salesCsv.close();
  linesCsv.close();

  // What the members table holds besides the per-member totals (worked out in SQL from the sales).
  // Tier and points are the loyalty program's state, the outcome of the same sales on both sides.
  const membersCsv = new CsvFile(csv.members);
  const flag = (b: boolean) => (b ? 't' : 'f');
  for (const m of members) {
    const record = book.members.get(m.memberId)!;
    const p = m.profile;
    const tier = tierRule(PROGRAM, record.tier).tier;
    membersCsv.row(
      `${m.memberId},${m.memberCode},${p.birthday ?? ''},${p.birthday ? Number(p.birthday.slice(5, 7)) : ''},` +
        `${p.gender ?? ''},${p.region ?? ''},${tier},${record.points},${m.since},` +
        `${flag(m.consent.sms)},${flag(m.consent.line)},${flag(m.consent.email)}\n`,
    );
  }
  membersCsv.close();
  return { book, members, csv, memberSales, lines: lineCount };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

async function connect(): Promise<{ client: pg.Client; where: string } | { error: string }> {
  const candidates: pg.ClientConfig[] = env.AYI_BENCH_PG
    ? [{ connectionString: env.AYI_BENCH_PG }]
    : [
        { host: '/var/run/postgresql', user: 'postgres', database: 'test' },
        { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' },
        { host: '127.0.0.1', port: 5432, user: 'root', database: 'test' },
      ];
  const errors: string[] = [];
  for (const config of candidates) {
    const client = new pg.Client({ ...config, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      const where = config.connectionString ? 'AYI_BENCH_PG' : `${config.user}@${config.host}/${config.database}`;
      return { client, where };
    } catch (err) {
      errors.push((err as Error).message);
      await client.end().catch(() => undefined);
    }
  }
  return { error: errors.join('; ') };
}

const TABLES = {
  members_raw: [
    ['member_id', 'text'],
    ['member_code', 'text'],
    ['birthday', 'date'],
    ['birth_month', 'smallint'],
    ['gender', 'text'],
    ['region', 'text'],
    ['tier', 'text'],
    ['points', 'integer'],
    ['since', 'timestamptz'],
    ['consent_sms', 'boolean'],
    ['consent_line', 'boolean'],
    ['consent_email', 'boolean'],
  ],
  sales: [
    ['sale_id', 'text'],
    ['member_id', 'text'],
    ['business_date', 'date'],
    ['total', 'integer'],
  ],
  sale_lines: [
    ['sale_id', 'text'],
    ['member_id', 'text'],
    ['business_date', 'date'],
    ['sku', 'text'],
    ['category', 'text'],
    ['qty', 'integer'],
    ['amount', 'integer'],
  ],
} as const;

/** COPY FROM the file (the server reads it: same machine); failing that, batches of INSERT ... unnest. */
async function load(client: pg.Client, table: keyof typeof TABLES, file: string): Promise<string> {
  const columns = TABLES[table];
  try {
    await client.query(`COPY ${SCHEMA}.${table} FROM '${file}' WITH (FORMAT csv)`);
    return 'COPY';
  } catch (err) {
    progress(`COPY ${table} from the file failed (${(err as Error).message}); inserting in batches instead`);
  }
  const insert =
    `INSERT INTO ${SCHEMA}.${table} SELECT * FROM unnest(` +
    columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ') +
    ')';
  let batch: (string | null)[][] = columns.map(() => []);
  const flush = async () => {
    if (batch[0]!.length > 0) await client.query(insert, batch);
    batch = columns.map(() => []);
  };
  await client.query('BEGIN');
  for await (const line of createInterface({ input: createReadStream(file, 'utf8') })) {
    if (!line) continue;
    line.split(',').forEach((value, i) => batch[i]!.push(value === '' ? null : value));
    if (batch[0]!.length >= 20_000) await flush();
  }
  await flush();
  await client.query('COMMIT');
  return 'INSERT';
}

async function loadPostgres(client: pg.Client, csv: Store['csv']): Promise<void> {
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.query(`CREATE SCHEMA ${SCHEMA}`);
  // Room for sorts and hashes in memory, as a DBA would give a reporting session.
  await client.query(`SET maintenance_work_mem = '512MB'`);
  await client.query(`SET work_mem = '64MB'`);
  for (const [table, columns] of Object.entries(TABLES)) {
    await client.query(
      `CREATE TABLE ${SCHEMA}.${table} (${columns.map(([name, type]) => `${name} ${type}`).join(', ')})`,
    );
  }
  const how = [
    await load(client, 'members_raw', csv.members),
    await load(client, 'sales', csv.sales),
    await load(client, 'sale_lines', csv.lines),
  ];
  // The per-member totals a CRM keeps up to date (the hub keeps them too), from the sales.
  await client.query(`
    CREATE TABLE ${SCHEMA}.members AS
    SELECT r.member_id, r.member_code COLLATE "C" AS member_code, r.birthday, r.birth_month, r.gender, r.region,
           r.tier, r.points, r.since, r.consent_sms, r.consent_line, r.consent_email,
           coalesce(t.purchase_count, 0)::integer AS purchase_count,
           coalesce(t.cumulative_spend, 0)::integer AS cumulative_spend,
           t.last_purchase
    FROM ${SCHEMA}.members_raw r
    LEFT JOIN (
      SELECT member_id, count(*) AS purchase_count, sum(total) AS cumulative_spend, max(business_date) AS last_purchase
      FROM ${SCHEMA}.sales WHERE member_id IS NOT NULL GROUP BY member_id
    ) t USING (member_id)`);
  await client.query(`DROP TABLE ${SCHEMA}.members_raw`);
  const indexes = [
    `ALTER TABLE ${SCHEMA}.members ADD PRIMARY KEY (member_id)`,
    `ALTER TABLE ${SCHEMA}.sales ADD PRIMARY KEY (sale_id)`,
    `CREATE INDEX ON ${SCHEMA}.members (birth_month)`,
    `CREATE INDEX ON ${SCHEMA}.members (cumulative_spend)`,
    `CREATE INDEX ON ${SCHEMA}.members (last_purchase)`,
    `CREATE INDEX ON ${SCHEMA}.members (tier)`,
    `CREATE INDEX ON ${SCHEMA}.members (points)`,
    `CREATE INDEX ON ${SCHEMA}.members (since, member_code)`,
    `CREATE INDEX ON ${SCHEMA}.sales (member_id, business_date) INCLUDE (total)`,
    `CREATE INDEX ON ${SCHEMA}.sales (business_date) INCLUDE (member_id, total)`,
    `CREATE INDEX ON ${SCHEMA}.sale_lines (category, member_id)`,
    `CREATE INDEX ON ${SCHEMA}.sale_lines (sku, member_id)`,
    `CREATE INDEX ON ${SCHEMA}.sale_lines (category, business_date) INCLUDE (member_id, sale_id)`,
    `CREATE INDEX ON ${SCHEMA}.sale_lines (member_id, category, business_date) INCLUDE (sale_id)`,
  ];
  for (const sql of indexes) await client.query(sql);
  // VACUUM also sets the visibility map, so the covering indexes are read without the heap.
  await client.query(`VACUUM ANALYZE ${SCHEMA}.members, ${SCHEMA}.sales, ${SCHEMA}.sale_lines`);
  progress(`loaded with ${how.join(' / ')}, ${indexes.length} indexes built, vacuumed and analysed`);
}

// ---------------------------------------------------------------------------------------------
// The questions

interface Answer {
  count: number;
  first: string[];
}

interface SqlForm {
  name: string;
  text: string;
  values: unknown[];
}

interface Question {
  name: string;
  metric: string;
  definition: SegmentDefinition;
  /** The same question in SQL, in each form a DBA would try: id and the whole count per row. */
  sql: SqlForm[];
}

const ORDER_AND_COUNT = `ORDER BY m.since, m.member_code LIMIT ${FIRST}`;

function questions(): Question[] {
  const nextMonth = (Number(TODAY.slice(5, 7)) % 12) + 1;
  const year = { from: daysBefore(TODAY, 364), to: TODAY };
  const halfYear = { from: daysBefore(TODAY, 179), to: TODAY };
  const seedWhere = `m.birth_month = $1 AND m.cumulative_spend >= $2`;
  const sixMemberWhere = `(m.tier = ANY($1) OR m.points >= $2) AND m.gender = $3 AND NOT coalesce(m.region = ANY($4), false)`;
  const sixValues = [
    ['silver', 'gold'],
    50,
    'female',
    ['台北市', '新北市'],
    year.from,
    TODAY,
    3000,
    '乳製品',
    halfYear.from,
    3,
  ];
  return [
    {
      name: 'seeds’ example',
      metric: 'segment_query_seed_example',
      definition: SEEDS_EXAMPLE,
      sql: [
        {
          name: 'EXISTS',
          text: `SELECT m.member_id, count(*) OVER () AS matches FROM ${SCHEMA}.members m
                 WHERE ${seedWhere}
                   AND EXISTS (SELECT 1 FROM ${SCHEMA}.sale_lines l WHERE l.member_id = m.member_id AND l.category = $3)
                 ${ORDER_AND_COUNT}`,
          values: [nextMonth, 5000, PET_HEALTH],
        },
        {
          name: 'join',
          text: `SELECT m.member_id, count(*) OVER () AS matches FROM ${SCHEMA}.members m
                 JOIN (SELECT DISTINCT member_id FROM ${SCHEMA}.sale_lines WHERE category = $3) b USING (member_id)
                 WHERE ${seedWhere}
                 ${ORDER_AND_COUNT}`,
          values: [nextMonth, 5000, PET_HEALTH],
        },
      ],
    },
    {
      name: 'six conditions',
      metric: 'segment_query_six_conditions',
      definition: {
        version: 1,
        root: {
          op: 'and',
          items: [
            {
              op: 'or',
              items: [
                { field: 'tier', values: ['silver', 'gold'] },
                { field: 'points', min: 50 },
              ],
            },
            { field: 'gender', values: ['female'] },
            { field: 'spend', min: 3000, window: { lastDays: 365 } },
            { field: 'bought', category: '乳製品', window: { lastDays: 180 }, minTimes: 3 },
            { op: 'not', item: { field: 'region', values: ['台北市', '新北市'] } },
          ],
        },
      },
      sql: [
        {
          name: 'correlated subqueries',
          text: `SELECT m.member_id, count(*) OVER () AS matches FROM ${SCHEMA}.members m
                 WHERE ${sixMemberWhere}
                   AND (SELECT coalesce(sum(s.total), 0) FROM ${SCHEMA}.sales s
                        WHERE s.member_id = m.member_id AND s.business_date BETWEEN $5 AND $6) >= $7
                   AND (SELECT count(DISTINCT l.sale_id) FROM ${SCHEMA}.sale_lines l
                        WHERE l.member_id = m.member_id AND l.category = $8 AND l.business_date BETWEEN $9 AND $6) >= $10
                 ${ORDER_AND_COUNT}`,
          values: sixValues,
        },
        {
          name: 'aggregates joined',
          text: `WITH spenders AS (
                   SELECT member_id FROM ${SCHEMA}.sales
                   WHERE business_date BETWEEN $5 AND $6 AND member_id IS NOT NULL
                   GROUP BY member_id HAVING sum(total) >= $7),
                 buyers AS (
                   SELECT member_id FROM ${SCHEMA}.sale_lines
                   WHERE category = $8 AND business_date BETWEEN $9 AND $6 AND member_id IS NOT NULL
                   GROUP BY member_id HAVING count(DISTINCT sale_id) >= $10)
                 SELECT m.member_id, count(*) OVER () AS matches FROM ${SCHEMA}.members m
                 JOIN spenders USING (member_id) JOIN buyers USING (member_id)
                 WHERE ${sixMemberWhere}
                 ${ORDER_AND_COUNT}`,
          values: sixValues,
        },
      ],
    },
  ];
}

/** R, F and M as the hub scores them (1 + 5 x members strictly worse / members), then the segments. */
const RFM_SQL = `
  WITH scored AS (
    SELECT purchase_count, cumulative_spend, $1::date - last_purchase AS days_since, count(*) OVER () AS n
    FROM ${SCHEMA}.members WHERE purchase_count > 0 AND last_purchase IS NOT NULL),
  scores AS (
    SELECT purchase_count, cumulative_spend,
           -- percentile rank (worse + same / 2) / n, score 1 + floor(5 x rank), at most 5
           LEAST(5, 1 + (10 * (rank() OVER (ORDER BY days_since DESC) - 1)
                         + 5 * count(*) OVER (PARTITION BY days_since)) / (2 * n)) AS r,
           LEAST(5, 1 + (10 * (rank() OVER (ORDER BY purchase_count) - 1)
                         + 5 * count(*) OVER (PARTITION BY purchase_count)) / (2 * n)) AS f,
           LEAST(5, 1 + (10 * (rank() OVER (ORDER BY cumulative_spend) - 1)
                         + 5 * count(*) OVER (PARTITION BY cumulative_spend)) / (2 * n)) AS m
    FROM scored)
  SELECT CASE
           WHEN purchase_count = 1 THEN CASE WHEN r >= 3 THEN 'new_customers' ELSE 'one_time' END
           WHEN r >= 4 AND f >= 4 THEN 'champions'
           WHEN r >= 3 AND f >= 3 THEN 'loyal'
           WHEN r >= 4 THEN 'promising'
           WHEN r = 3 THEN 'needs_attention'
           WHEN f >= 3 THEN 'at_risk'
           ELSE 'hibernating'
         END AS segment,
         count(*)::integer AS members, sum(cumulative_spend)::bigint AS revenue, avg(m) AS mean_m
  FROM scores GROUP BY 1`;

async function askSql(client: pg.Client, form: SqlForm): Promise<Answer> {
  const { rows } = await client.query<{ member_id: string; matches: string }>(form.text, form.values);
  return { count: rows.length > 0 ? Number(rows[0]!.matches) : 0, first: rows.map((r) => r.member_id) };
}

function sameAnswer(a: Answer, b: Answer): boolean {
  return a.count === b.count && a.first.length === b.first.length && a.first.every((id, i) => id === b.first[i]);
}

const timed = async <T>(work: () => T | Promise<T>): Promise<{ ms: number; result: T }> => {
  const t0 = performance.now();
  const result = await work();
  return { ms: performance.now() - t0, result };
};

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = performance.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ayi-bench-segments-'));
  // The database server reads the CSV files itself.
  chmodSync(dir, 0o755);
  let client: pg.Client | null = null;
  try {
    let t0 = performance.now();
    const store = buildStore(dir, seededRng(SEED));
    const { book } = store;
    const buildMs = performance.now() - t0;
    collectGarbage();
    const heap = process.memoryUsage();
    progress(
      `built the member projection from ${MEMBERS} sign-ups and ${SALES} sales (${store.memberSales} by members, ` +
        `${store.lines} lines) in ${Math.round(buildMs)} ms; after a full collection the heap holds ` +
        `${Math.round(heap.heapUsed / 1e6)} MB (rss ${Math.round(heap.rss / 1e6)} MB)`,
    );

    const connected = await connect();
    if ('error' in connected) {
      process.stderr.write(
        `${JSON.stringify({ postgres: 'unreachable', error: connected.error, baseline: null, note: 'hub figures only' })}\n`,
      );
    } else {
      client = connected.client;
      t0 = performance.now();
      await loadPostgres(client, store.csv);
      progress(`PostgreSQL (${connected.where}): same data loaded in ${Math.round(performance.now() - t0)} ms`);
      const { rows } = await client.query<{ version: string }>('SELECT version()');
      progress(rows[0]!.version);
    }

    // RFM first: its segments are part of the hub's environment, as on a live hub.
    const rfm = scoreRfm(book.members.values(), TODAY);
    const segmentEnv: SegmentEnv = {
      now: NOW,
      timeZone: TZ,
      storeId: 'store-bench',
      profile: (id) => book.profile(id),
      rfmSegment: (id) => rfm.segmentOf(id),
      isDue: () => false,
      baseTier: PROGRAM.tiers[0]!.tier,
    };

    const results: { metric: string; hub: number[]; sql: number[] | null }[] = [];
    for (const question of questions()) {
      const hubAnswer = (): Answer => {
        const run = runSegment(book, question.definition, segmentEnv, FIRST);
        return { count: run.count, first: run.first.map((r) => r.memberId) };
      };
      const expected = hubAnswer();
      progress(`${question.name}: ${expected.count} of ${MEMBERS} members match`);
      if (client) {
        for (const form of question.sql) {
          const answer = await askSql(client, form);
          if (!sameAnswer(answer, expected)) {
            throw new Error(
              `${question.name}: PostgreSQL (${form.name}) answers ${answer.count} members [${answer.first.join(' ')}], ` +
                `the hub ${expected.count} [${expected.first.join(' ')}]: the comparison is only fair between equal answers`,
            );
          }
          if (env.AYI_BENCH_EXPLAIN === '1') {
            const plan = await client.query<{ 'QUERY PLAN': string }>(
              `EXPLAIN (ANALYZE, BUFFERS) ${form.text}`,
              form.values,
            );
            progress(`${question.name}, ${form.name}:\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
          }
        }
      }
      const hub: number[] = [];
      const sql = question.sql.map(() => [] as number[]);
      // Interleaved, so whatever else the machine does falls on both alike, and neither finds the CPU
      // caches warm from its own previous run (a hub answers a preview between other work).
      for (let i = 0; i < WARMUP + RUNS; i++) {
        const h = await timed(hubAnswer);
        if (h.result.count !== expected.count) throw new Error(`${question.name}: the hub's count changed`);
        if (i >= WARMUP) hub.push(h.ms);
        if (!client) continue;
        for (const [f, form] of question.sql.entries()) {
          const s = await timed(() => askSql(client!, form));
          if (s.result.count !== expected.count) throw new Error(`${question.name}: PostgreSQL's count changed`);
          if (i >= WARMUP) sql[f]!.push(s.ms);
        }
      }
      let best: number[] | null = null;
      for (const [f, form] of question.sql.entries()) {
        if (!client) break;
        progress(
          `${question.name}: PostgreSQL, ${form.name}: median ${median(sql[f]!).toFixed(2)} ms, p99 ${p99(sql[f]!).toFixed(2)} ms`,
        );
        if (!best || median(sql[f]!) < median(best)) best = sql[f]!;
      }
      progress(`${question.name}: hub median ${median(hub).toFixed(2)} ms, p99 ${p99(hub).toFixed(2)} ms`);
      results.push({ metric: question.metric, hub, sql: best });
    }

    // RFM: the hub's recomputation (scores, segments and their report) against the same in SQL.
    const hubRfm: number[] = [];
    let report: RfmReport | null = null;
    for (let i = 0; i < 2 + RFM_RUNS; i++) {
      const run = await timed(() => scoreRfm(book.members.values(), TODAY).report(NOW.toISOString(), 0));
      if (i >= 2) hubRfm.push(run.ms);
      report = run.result;
    }
    progress(
      `RFM: ${report!.scored} scored, ${report!.unscored} never bought; ` +
        report!.segments.map((s) => `${s.segment} ${s.members}`).join(', '),
    );
    let sqlRfm: number[] | null = null;
    if (client) {
      sqlRfm = [];
      for (let i = 0; i < 2 + RFM_RUNS; i++) {
        const run = await timed(() =>
          client!.query<{ segment: string; members: number; revenue: string }>(RFM_SQL, [TODAY]),
        );
        if (i >= 2) sqlRfm.push(run.ms);
        for (const s of report!.segments) {
          const row = run.result.rows.find((r) => r.segment === s.segment);
          if ((row?.members ?? 0) !== s.members || Number(row?.revenue ?? 0) !== s.revenue) {
            throw new Error(
              `RFM: PostgreSQL's ${s.segment} has ${row?.members ?? 0} members and NT$${row?.revenue ?? 0}, ` +
                `the hub's ${s.members} and NT$${s.revenue}`,
            );
          }
        }
      }
      progress(`RFM: PostgreSQL median ${median(sqlRfm).toFixed(1)} ms`);
    }

    for (const { metric, hub, sql } of results) {
      emit(`${metric}_ms`, median(hub), 'ms', sql && median(sql));
      emit(`${metric}_p99_ms`, p99(hub), 'ms', sql && p99(sql));
    }
    const slowest = results.reduce((a, b) => (median(b.hub) > median(a.hub) ? b : a));
    emit('segment_query_ms', median(slowest.hub), 'ms', slowest.sql && median(slowest.sql));
    emit('rfm_recompute_ms', median(hubRfm), 'ms', RFM_TARGET_MS);
    emit('rfm_recompute_vs_postgres_ms', median(hubRfm), 'ms', sqlRfm && median(sqlRfm));
    const misses = results.filter((r) => median(r.hub) >= QUERY_TARGET_MS);
    if (misses.length > 0) progress(`over the ${QUERY_TARGET_MS} ms target: ${misses.map((r) => r.metric).join(', ')}`);
    const behind = results.filter((r) => r.sql && median(r.hub) >= median(r.sql));
    if (behind.length > 0) progress(`not faster than PostgreSQL: ${behind.map((r) => r.metric).join(', ')}`);
    progress(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    if (client) {
      if (env.AYI_BENCH_KEEP !== '1')
        await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => undefined);
      await client.end().catch(() => undefined);
    }
    if (env.AYI_BENCH_KEEP === '1') progress(`kept ${dir} and schema ${SCHEMA}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
