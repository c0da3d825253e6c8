/**
 * A demo store's past year, seeded once at the first start of a new demo data directory: about
 * 2,000 members with Taiwanese names, birthdays and consents, and about 40,000 sales (regulars,
 * pet owners and young parents who come back when the rice, the cat food or the diapers run out,
 * markdown hunters, occasional and one-time buyers, members gone quiet or lost, and walk-ins), so
 * that every report, RFM segment, the due-for-repurchase list and the counter's member card have
 * something to show. Deterministic (a seed per store: each store of a demo chain has its own members
 * and sales, and some people, with the same mobile number, shop at several of them, so HQ sees
 * cross-store customers). Nothing is written around the services: members
 * are sealed under their own keys and sales priced by checkout, into the journal like any other
 * event, each recorded now with the time it happened in the store (EventStore.backdated).
 */
import type { Faker } from '@faker-js/faker';
import type { CartLine, CheckoutRequest, Discount, Tender } from '../protocol/api.js';
import type { ConsentChannel, Gender } from '../protocol/members.js';
import type { MemberProfile } from '../domain/members.js';
import { daysAfter, daysBefore, localDayStart } from '../domain/time.js';
import type { Actor, CheckoutService } from '../services/checkout.service.js';
import type { MembersService } from '../services/members.service.js';

/** The seed of the demo chain: the same members and sales on every machine. */
export const DEMO_HISTORY_SEED = 20_240_101;
export const DEMO_HISTORY_DAYS = 365;
export const DEMO_MEMBERS = 2000;
/** People who shop all over the chain: each store's members include some of them. */
const CHAIN_SHOPPERS = 600;
/** Percent of a store's members who are one of the chain's shoppers. */
const CHAIN_SHOPPER_PERCENT = 15;
/** Walk-in sales (no member) on an ordinary weekday. */
const WALK_INS_PER_DAY = 24;
/** The store is open 09:00-22:00; the day's events are spread evenly over it. */
const OPENS_HOUR = 9;
const OPEN_HOURS = 13;
const HOUR_MS = 3_600_000;

/** The services history goes through, bound to the history's own clocks (see seedDemoHistory). */
export interface HistoryServices {
  members: Pick<MembersService, 'registerImported'>;
  checkout: Pick<CheckoutService, 'quote' | 'checkout'>;
  /** The staff at the counter: cashiers ring up most sales, the manager the rest. */
  cashier: Actor;
  manager: Actor;
  /** Member ids whose keys are made before their registrations (one fdatasync for all). */
  createKeys(memberIds: string[]): Promise<void>;
  newMemberId(): string;
  /** SKUs on sale (the demo catalog with its history products). */
  skus: ReadonlySet<string>;
  /** The store whose history this is: it picks the store's own seed. */
  storeId: string;
}

export interface HistoryClock {
  /** The business day the services see as today (their clock). */
  setDay(date: string, eventsThatDay: number): void;
}

type Persona = 'regular' | 'pet' | 'baby' | 'markdown' | 'occasional' | 'one_time' | 'dormant' | 'churned' | 'never';

interface PersonaShape {
  weight: number;
  /** Mean days between visits, apart from what the staples bring them back for. */
  gapDays: number;
  /** Products bought again when they run out: SKU and days they last. */
  staples: [string, number][];
  /** Categories they pick extras from. */
  extras: string[];
}

const PERSONAS: Record<Persona, PersonaShape> = {
  regular: {
    weight: 14,
    gapDays: 7,
    staples: [
      ['DRK-002', 7],
      ['FOD-003', 10],
      ['FOD-001', 30],
      ['HOU-001', 30],
    ],
    extras: ['飲料', '零食', '食品', '日用品', '鮮食'],
  },
  pet: {
    weight: 10,
    gapDays: 14,
    staples: [
      ['PET-001', 45],
      ['PET-004', 21],
      ['PET-101', 30],
    ],
    extras: ['寵物用品', '飲料', '日用品'],
  },
  baby: {
    weight: 7,
    gapDays: 10,
    staples: [
      ['BAB-001', 28],
      ['BAB-002', 30],
      ['BAB-003', 21],
    ],
    extras: ['日用品', '飲料', '食品'],
  },
  markdown: { weight: 7, gapDays: 6, staples: [['DRK-002', 7]], extras: ['鮮食', '零食', '飲料'] },
  occasional: { weight: 30, gapDays: 35, staples: [['HOU-002', 45]], extras: ['飲料', '零食', '食品', '日用品'] },
  one_time: { weight: 13, gapDays: 0, staples: [], extras: ['飲料', '零食', '食品'] },
  dormant: { weight: 8, gapDays: 10, staples: [['FOD-001', 30]], extras: ['飲料', '零食', '食品'] },
  churned: { weight: 8, gapDays: 18, staples: [['PET-005', 30]], extras: ['飲料', '零食', '寵物用品'] },
  never: { weight: 3, gapDays: 0, staples: [], extras: [] },
};

/** Food near its date, sold at 20 % off: within a cashier's limit. */
const MARKDOWN: Discount = { kind: 'percent', value: 20 };
const MARKDOWN_CATEGORIES = new Set(['鮮食', '零食']);

/** The most common family names in Taiwan, roughly as often as they are found. */
const SURNAMES: [string, number][] = [
  ['陳', 11],
  ['林', 8],
  ['黃', 6],
  ['張', 5],
  ['李', 5],
  ['王', 4],
  ['吳', 4],
  ['劉', 3],
  ['蔡', 3],
  ['楊', 3],
  ['許', 2],
  ['鄭', 2],
  ['謝', 2],
  ['郭', 2],
  ['洪', 2],
  ['曾', 2],
  ['邱', 1],
  ['廖', 1],
  ['賴', 1],
  ['周', 1],
  ['徐', 1],
  ['蘇', 1],
  ['葉', 1],
  ['莊', 1],
  ['呂', 1],
];

/** Where members live (a store in New Taipei draws most from around it). */
const REGIONS: [string, number][] = [
  ['新北市', 30],
  ['臺北市', 22],
  ['桃園市', 10],
  ['基隆市', 5],
  ['臺中市', 6],
  ['高雄市', 5],
  ['臺南市', 4],
  ['新竹市', 3],
  ['新竹縣', 2],
  ['宜蘭縣', 2],
  ['彰化縣', 2],
  ['花蓮縣', 1],
];

/** Prefixes of Taiwan's mobile networks (not every 09xx is a mobile number). */
const MOBILE_PREFIXES = [
  '0910',
  '0911',
  '0912',
  '0915',
  '0916',
  '0918',
  '0919',
  '0920',
  '0921',
  '0922',
  '0928',
  '0930',
  '0932',
  '0933',
  '0935',
  '0936',
  '0937',
  '0938',
  '0952',
  '0953',
  '0955',
  '0958',
  '0960',
  '0963',
  '0965',
  '0966',
  '0968',
  '0970',
  '0972',
  '0975',
  '0978',
  '0980',
  '0982',
  '0985',
  '0988',
];

interface PlannedMember {
  memberId: string;
  persona: Persona;
  /** Index of the day they join (and first buy). */
  joinDay: number;
  /** Index of the last day they may come (dormant and churned members stop early). */
  lastDay: number;
  nextVisit: number;
  nextDue: Map<string, number>;
  details: Omit<MemberProfile, 'phone' | 'phoneHash'> & { phone: string };
  consent: Record<ConsentChannel, boolean>;
}

interface Visit {
  member: PlannedMember | null;
  lines: CartLine[];
  redeem: boolean;
}

export interface HistoryResult {
  members: number;
  sales: number;
  firstDay: string;
  lastDay: string;
}

/**
 * Seeds the year ending the day before yesterday (`today` is the store's business day now): old
 * enough that no seeded sale is taken for one whose receipt a crash left unprinted.
 */
export async function seedDemoHistory(
  services: HistoryServices,
  clock: HistoryClock,
  today: string,
  products: { sku: string; category: string; price: number }[],
): Promise<HistoryResult> {
  // Loaded only here: a store that is not a demo never loads the fake-data library.
  const { faker } = await import('@faker-js/faker/locale/zh_TW');
  const thisYear = Number(today.slice(0, 4));
  faker.seed(DEMO_HISTORY_SEED);
  const chainShoppers = Array.from({ length: CHAIN_SHOPPERS }, () => identityOf(faker, 'regular', thisYear));
  faker.seed(storeSeed(services.storeId));
  const random = faker.number;
  const lastDate = daysBefore(today, 2);
  const firstDate = daysBefore(lastDate, DEMO_HISTORY_DAYS - 1);
  const onSale = products.filter((p) => services.skus.has(p.sku));
  const byCategory = new Map<string, string[]>();
  for (const p of onSale) byCategory.set(p.category, [...(byCategory.get(p.category) ?? []), p.sku]);
  const categoryOf = new Map(onSale.map((p) => [p.sku, p.category]));

  const members = planMembers(faker, services, DEMO_HISTORY_DAYS, thisYear, chainShoppers);
  await services.createKeys(members.map((m) => m.memberId));

  let sales = 0;
  let saleNo = 0;
  for (let day = 0; day < DEMO_HISTORY_DAYS; day++) {
    const date = daysAfter(firstDate, day);
    const joining = members.filter((m) => m.joinDay === day);
    const visits: Visit[] = [];
    for (const member of members) {
      if (member.persona === 'never' || member.nextVisit !== day || day > member.lastDay) continue;
      visits.push(visitOf(faker, member, day));
      member.nextVisit = nextVisitOf(faker, member, day);
    }
    const weekday = new Date(`${date}T12:00:00Z`).getUTCDay();
    const walkIns = Math.round(
      WALK_INS_PER_DAY * (weekday === 0 || weekday === 6 ? 1.3 : 1) * (0.8 + random.float() * 0.4),
    );
    for (let i = 0; i < walkIns; i++) visits.push({ member: null, lines: [], redeem: false });
    for (const visit of visits) fillBasket(faker, visit, byCategory, categoryOf);
    faker.helpers.shuffle(visits, { inplace: true });

    clock.setDay(date, joining.length + visits.length);
    // Who joins today is on record before their first sale is rung up.
    await Promise.all(
      joining.map((m) =>
        services.members.registerImported(
          m.memberId,
          m.details,
          m.consent,
          random.int(9) < 7 ? services.cashier : services.manager,
        ),
      ),
    );
    // A day's sales at once: they share the journal's fdatasyncs; nobody comes twice a day.
    await Promise.all(
      visits.map((visit) => {
        saleNo += 1;
        const actor = saleNo % 4 === 0 ? services.manager : services.cashier;
        return services.checkout.checkout(requestOf(faker, services, visit, saleNo), actor);
      }),
    );
    sales += visits.length;
  }
  return { members: members.length, sales, firstDay: firstDate, lastDay: lastDate };
}

function planMembers(
  faker: Faker,
  services: HistoryServices,
  days: number,
  thisYear: number,
  chainShoppers: readonly Identity[],
): PlannedMember[] {
  const phones = new Set<string>();
  const personas = Object.entries(PERSONAS).map(([persona, shape]) => ({
    value: persona as Persona,
    weight: shape.weight,
  }));
  const members: PlannedMember[] = [];
  for (let i = 0; i < DEMO_MEMBERS; i++) {
    const persona = faker.helpers.weightedArrayElement(personas);
    const joinDay = joinDayOf(faker, persona, days);
    const lastDay =
      persona === 'dormant'
        ? days - faker.number.int({ min: 95, max: 170 })
        : persona === 'churned'
          ? days - faker.number.int({ min: 190, max: 300 })
          : days - 1;
    let identity: Identity;
    do {
      identity =
        faker.number.int(99) < CHAIN_SHOPPER_PERCENT
          ? faker.helpers.arrayElement(chainShoppers)
          : identityOf(faker, persona, thisYear);
    } while (phones.has(identity.phone));
    phones.add(identity.phone);
    const email = faker.number.int(9) < 4 ? faker.internet.email().toLowerCase() : null;
    const staples = PERSONAS[persona].staples.filter(([sku]) => services.skus.has(sku));
    members.push({
      memberId: services.newMemberId(),
      persona,
      joinDay,
      lastDay: Math.max(joinDay, lastDay),
      nextVisit: joinDay,
      nextDue: new Map(staples.map(([sku]) => [sku, joinDay])),
      details: {
        ...identity,
        region:
          faker.number.int(9) < 7
            ? faker.helpers.weightedArrayElement(REGIONS.map(([value, weight]) => ({ value, weight })))
            : null,
        email,
      },
      consent: {
        sms: faker.number.int(99) < 68,
        line: faker.number.int(99) < 35,
        email: email !== null && faker.number.int(99) < 70,
      },
    });
  }
  return members;
}

/** Who a person is: the same at every store they join (the mobile number links them at HQ). */
interface Identity {
  phone: string;
  name: string;
  birthday: string | null;
  gender: Gender | null;
}

function identityOf(faker: Faker, persona: Persona, thisYear: number): Identity {
  const phone = `${faker.helpers.arrayElement(MOBILE_PREFIXES)}${faker.string.numeric(6)}`;
  const gender = faker.helpers.weightedArrayElement<Gender | null>([
    { value: 'female', weight: persona === 'baby' ? 80 : 56 },
    { value: 'male', weight: 40 },
    { value: 'other', weight: 1 },
    { value: null, weight: 3 },
  ]);
  const given = faker.person.firstName(gender === 'male' ? 'male' : 'female');
  const surname = faker.helpers.weightedArrayElement(SURNAMES.map(([value, weight]) => ({ value, weight })));
  // Young parents are 25-40; others 18-80, more of them in the middle.
  const age =
    persona === 'baby' ? faker.number.int({ min: 25, max: 40 }) : 18 + Math.round(faker.number.float() ** 1.3 * 62);
  const birthday = `${thisYear - age}-${pad(faker.number.int({ min: 1, max: 12 }))}-${pad(faker.number.int({ min: 1, max: 28 }))}`;
  return { phone, name: `${surname}${given}`, birthday: faker.number.int(9) < 8 ? birthday : null, gender };
}

/** The chain's seed turned by the store's id: each store its own members and sales, the same on every run. */
export function storeSeed(storeId: string): number {
  let hash = DEMO_HISTORY_SEED;
  for (const char of storeId) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) >>> 0;
  return hash;
}

/** Members lost for good joined early; the rest join all year, a little more in its first months. */
function joinDayOf(faker: Faker, persona: Persona, days: number): number {
  if (persona === 'churned') return faker.number.int({ min: 0, max: 120 });
  if (persona === 'dormant') return faker.number.int({ min: 0, max: days - 200 });
  return Math.min(days - 1, Math.floor(faker.number.float() ** 1.15 * days));
}

function visitOf(faker: Faker, member: PlannedMember, day: number): Visit {
  const lines: CartLine[] = [];
  for (const [sku, cycle] of PERSONAS[member.persona].staples) {
    const due = member.nextDue.get(sku);
    if (due === undefined || due > day + 3) continue;
    lines.push({ sku, qty: sku === 'FOD-003' ? faker.number.int({ min: 1, max: 2 }) : 1 });
    member.nextDue.set(sku, day + Math.round(cycle * (0.85 + faker.number.float() * 0.3)));
  }
  return { member, lines, redeem: faker.number.int(99) < 12 };
}

function nextVisitOf(faker: Faker, member: PlannedMember, day: number): number {
  const shape = PERSONAS[member.persona];
  if (member.persona === 'one_time') return -1;
  const gap = Math.max(1, Math.round(shape.gapDays * (0.5 + faker.number.float())));
  const due = Math.min(...member.nextDue.values());
  return Math.max(day + 1, Math.min(day + gap, due));
}

function fillBasket(
  faker: Faker,
  visit: Visit,
  byCategory: Map<string, string[]>,
  categoryOf: Map<string, string>,
): void {
  const persona = visit.member?.persona;
  const categories = persona ? PERSONAS[persona].extras : ['飲料', '零食', '鮮食', '食品'];
  const extras = faker.number.int({ min: visit.lines.length > 0 ? 0 : 1, max: persona ? 3 : 2 });
  for (let i = 0; i < extras; i++) {
    const skus = byCategory.get(faker.helpers.arrayElement(categories)) ?? [];
    if (skus.length === 0) continue;
    const sku = faker.helpers.arrayElement(skus);
    if (visit.lines.some((line) => line.sku === sku)) continue;
    visit.lines.push({ sku, qty: faker.number.int(9) < 8 ? 1 : 2 });
  }
  if (visit.lines.length === 0) visit.lines.push({ sku: faker.helpers.arrayElement(byCategory.get('飲料')!), qty: 1 });
  // Markdown hunters take what is near its date most visits; others now and then.
  const markdownChance = persona === 'markdown' ? 75 : 4;
  if (faker.number.int(99) < markdownChance) {
    const near = byCategory.get('鮮食') ?? [];
    const sku = near.length > 0 ? faker.helpers.arrayElement(near) : null;
    if (sku && !visit.lines.some((line) => line.sku === sku)) visit.lines.push({ sku, qty: 1 });
    for (const line of visit.lines) {
      if (MARKDOWN_CATEGORIES.has(categoryOf.get(line.sku) ?? '')) line.discount = { ...MARKDOWN };
    }
  }
}

function requestOf(faker: Faker, services: HistoryServices, visit: Visit, saleNo: number): CheckoutRequest {
  const cart = { lines: visit.lines, ...(visit.member ? { memberId: visit.member.memberId } : {}) };
  let quote = services.checkout.quote(cart);
  let redeemPoints: number | undefined;
  if (visit.member && visit.redeem && quote.maxRedeemablePoints >= 50) {
    redeemPoints = quote.maxRedeemablePoints;
    quote = services.checkout.quote({ ...cart, redeemPoints });
  }
  const total = quote.total;
  const kind = faker.helpers.weightedArrayElement([
    { value: 'cash' as const, weight: 55 },
    { value: 'card' as const, weight: 20 },
    { value: 'linepay' as const, weight: 18 },
    { value: 'jkopay' as const, weight: 7 },
  ]);
  const paid = kind === 'cash' ? cashHandedOver(total) : total;
  const tenders: Tender[] = [{ type: kind, amount: paid }];
  return {
    idempotencyKey: `demo-history-${String(saleNo).padStart(6, '0')}`,
    ...cart,
    ...(redeemPoints ? { redeemPoints } : {}),
    tenders,
  };
}

/** What a customer hands over in cash: the exact sum, or the next NT$100 or NT$1000 note. */
function cashHandedOver(total: number): number {
  if (total % 3 === 0) return total;
  return total < 500 ? Math.ceil(total / 100) * 100 : Math.ceil(total / 1000) * 1000;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * The history's clocks: the services see noon of the day being seeded as now; each event recorded
 * takes the next moment of the opening hours, so the day's events follow its seq.
 */
export function historyClocks(timeZone: string): { clock: HistoryClock; today: () => Date; occurredAt: () => Date } {
  let opens = 0;
  let step = 0;
  let taken = 0;
  return {
    clock: {
      setDay(date, eventsThatDay) {
        opens = localDayStart(date, timeZone) + OPENS_HOUR * HOUR_MS;
        step = Math.floor((OPEN_HOURS * HOUR_MS) / (eventsThatDay + 1));
        taken = 0;
      },
    },
    today: () => new Date(opens + (OPEN_HOURS / 2) * HOUR_MS),
    occurredAt: () => new Date(opens + step * ++taken),
  };
}
