/**
 * A small chain's year for HQ's analytics tests: three stores with catalogs, members who shop in
 * more than one store (the same phone hash), sales with voids and refunds, tier and consent
 * changes, a phone number changed, two records of one person merged, and erasures (one of a record
 * that had another merged into it). Seeded: the same seed makes the same chain. Also the figures
 * themselves, counted from the events without HQ: what HQ's queries must answer.
 */
import { v7 as uuidv7 } from 'uuid';
import type { Rng } from '../../scripts/lib/baskets.ts';
import type { HubEvent, SaleCompletedData } from '../../hub/src/protocol/events.ts';
import { completedSale, memberProfile, refundedSale, registration, saleLine } from './member-events.ts';

const SEALED = { iv: 'aXY=', tag: 'dGFn', data: 'c2VhbGVk' };

export const CHAIN_ID = 'test-chain';
export const CHAIN_STORES = ['store-a', 'store-b', 'store-c'] as const;

interface Action {
  storeId: string;
  at: string;
  type: string;
  data: unknown;
  link?: { phoneHash: string };
}

export interface ChainYear {
  /** Every event once, each store's in seq order. */
  events: HubEvent[];
  /** Member ids whose erasure HQ received. */
  erasedIds: string[];
  /** Phone hashes only erased records had. */
  erasedOnlyHashes: string[];
}

const CATALOG = Array.from({ length: 12 }, (_, i) => ({
  sku: `P${String(i + 1).padStart(2, '0')}`,
  name: `Product ${i + 1}`,
  category: ['tea', 'snack', 'gift'][i % 3]!,
  price: 30 + i * 20,
}));

const hexOf = (rng: Rng, n: number) => Array.from({ length: n }, () => Math.floor(rng() * 16).toString(16)).join('');
const uuidOf = (rng: Rng) => `${hexOf(rng, 8)}-${hexOf(rng, 4)}-4${hexOf(rng, 3)}-8${hexOf(rng, 3)}-${hexOf(rng, 12)}`;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const dayOf = (dayIndex: number) => new Date(Date.UTC(2026, 0, 1) + dayIndex * 86_400_000).toISOString().slice(0, 10);
/** A time on a store-local day (Taipei, UTC+8): between 10:00 and 18:00 there. */
const timeOn = (date: string, minute: number) =>
  new Date(Date.parse(`${date}T02:00:00.000Z`) + minute * 60_000).toISOString();

export function chainYear(rng: Rng): ChainYear {
  const actions: Action[] = [];
  for (const storeId of CHAIN_STORES) {
    actions.push({
      storeId,
      at: '2026-01-01T00:00:00.000Z',
      type: 'catalog.imported',
      data: { source: 'csv', products: CATALOG.map((p) => ({ ...p, barcodes: [], repurchaseDays: null })) },
    });
  }
  // A newer catalog at one store renames a product and adds one.
  actions.push({
    storeId: 'store-c',
    at: '2026-06-01T00:00:00.000Z',
    type: 'catalog.imported',
    data: {
      source: 'csv',
      products: [
        { ...CATALOG[0]!, name: 'Product 1 (new label)', barcodes: [], repurchaseDays: null },
        { sku: 'P13', name: 'Product 13', category: 'gift', price: 500, barcodes: [], repurchaseDays: null },
      ],
    },
  });

  interface Rec {
    storeId: string;
    memberId: string;
    from: number;
    until: number;
  }
  const records: Rec[] = [];
  const register = (storeId: string, day: number, phoneHash: string | null): Rec => {
    const memberId = uuidOf(rng);
    const at = timeOn(dayOf(day), Math.floor(rng() * 480));
    actions.push({
      storeId,
      at,
      type: 'member.registered',
      data: {
        ...registration(memberId, memberProfile(memberId), { sms: rng() < 0.5, line: rng() < 0.5 }),
        memberCode: `AYI-${hexOf(rng, 8)}`,
        // Opaque to HQ, as a store's sealed profile is.
        sealed: SEALED,
      },
      ...(phoneHash ? { link: { phoneHash } } : {}),
    });
    const rec = { storeId, memberId, from: day, until: 400 };
    records.push(rec);
    return rec;
  };
  const hashes: string[] = [];
  for (let person = 0; person < 40; person++) {
    const phoneHash = hexOf(rng, 64);
    hashes.push(phoneHash);
    const linked = person % 10 !== 9;
    const stores = CHAIN_STORES.filter(() => rng() < 0.45);
    if (stores.length === 0) stores.push(pick(rng, CHAIN_STORES));
    for (const storeId of stores) register(storeId, Math.floor(rng() * 300), linked ? phoneHash : null);
  }
  // Two records of one person at store-a, merged; the merged-away record stops buying.
  const twinHash = hexOf(rng, 64);
  const mergedAway = register('store-a', 20, null); // signed up again without the number
  const kept = register('store-a', 40, twinHash);
  mergedAway.until = 200;
  actions.push({
    storeId: 'store-a',
    at: timeOn(dayOf(200), 1),
    type: 'member.merged',
    data: { fromMemberId: mergedAway.memberId, intoMemberId: kept.memberId, staffId: 'staff-1' },
  });
  // A person at store-a and store-b; the store-b record is erased.
  const sharedHash = hexOf(rng, 64);
  register('store-a', 10, sharedHash);
  const erasedShared = register('store-b', 15, sharedHash);
  erasedShared.until = 280;
  actions.push({
    storeId: 'store-b',
    at: timeOn(dayOf(280), 5),
    type: 'member.erased',
    data: { memberId: erasedShared.memberId, staffId: 'staff-1' },
  });
  // Two records at store-c merged, then the kept one erased: both go.
  const loneHash = hexOf(rng, 64);
  const loneFrom = register('store-c', 30, loneHash);
  const loneInto = register('store-c', 35, loneHash);
  loneFrom.until = 150;
  loneInto.until = 250;
  actions.push({
    storeId: 'store-c',
    at: timeOn(dayOf(150), 2),
    type: 'member.merged',
    data: { fromMemberId: loneFrom.memberId, intoMemberId: loneInto.memberId, staffId: 'staff-1' },
  });
  actions.push({
    storeId: 'store-c',
    at: timeOn(dayOf(250), 3),
    type: 'member.erased',
    data: { memberId: loneInto.memberId, staffId: 'staff-1' },
  });
  // A member changes their number: a new phone hash, so another person from then on.
  const changer = records[0]!;
  actions.push({
    storeId: changer.storeId,
    at: timeOn(dayOf(305), 1),
    type: 'member.profile_updated',
    data: { memberId: changer.memberId, sealed: SEALED, staffId: 'staff-1' },
    link: { phoneHash: hexOf(rng, 64) },
  });
  for (let i = 0; i < 15; i++) {
    const rec = pick(rng, records);
    actions.push({
      storeId: rec.storeId,
      at: timeOn(dayOf(rec.from + 1), 5),
      type: 'member.tier_changed',
      data: { memberId: rec.memberId, from: 'regular', to: pick(rng, ['silver', 'gold']), windowSpend: 1000 },
    });
    actions.push({
      storeId: rec.storeId,
      at: timeOn(dayOf(rec.from + 2), 5),
      type: 'member.consent_changed',
      data: {
        memberId: rec.memberId,
        channel: pick(rng, ['sms', 'line', 'email']),
        granted: rng() < 0.5,
        staffId: 'staff-1',
      },
    });
  }

  let saleNo = 0;
  for (let day = 0; day < 334; day++) {
    const date = dayOf(day);
    for (const storeId of CHAIN_STORES) {
      if (rng() > 0.33) continue;
      const minute = Math.floor(rng() * 470);
      const buyers = records.filter((r) => r.storeId === storeId && r.from < day && day < r.until);
      const member = rng() < 0.65 && buyers.length > 0 ? pick(rng, buyers).memberId : null;
      const lines = Array.from({ length: 1 + Math.floor(rng() * 3) }, (_, i) => {
        const product = pick(
          rng,
          day > 160 && storeId === 'store-c' ? [...CATALOG, { ...CATALOG[0]!, sku: 'P13', price: 500 }] : CATALOG,
        );
        const qty = 1 + Math.floor(rng() * 3);
        return saleLine(i + 1, product.sku, qty * product.price, {
          qty,
          unitPrice: product.price,
          orderDiscountShare: rng() < 0.2 ? 10 : 0,
        });
      });
      const orderDiscount = lines.reduce((sum, line) => sum + line.orderDiscountShare, 0);
      const saleId = `${date.replaceAll('-', '')}-${String(++saleNo).padStart(6, '0')}`;
      const sale = completedSale({
        saleId,
        businessDate: date,
        memberId: member,
        lines,
        orderDiscount,
        loyalty: { tierAfter: pick(rng, ['regular', 'silver', 'gold']) },
      });
      actions.push({ storeId, at: timeOn(date, minute), type: 'sale.completed', data: sale });
      const roll = rng();
      if (roll < 0.05) {
        actions.push({
          storeId,
          at: timeOn(date, minute + 5),
          type: 'sale.voided',
          data: { saleId, reason: 'mistake', staffId: 'staff-1', deviceId: 'dev-1', loyalty: null },
        });
      } else if (roll < 0.13) {
        const amount = 1 + Math.floor(rng() * sale.total);
        actions.push({
          storeId,
          at: timeOn(dayOf(day + 2), minute),
          type: 'sale.refunded',
          data: { ...refundedSale(saleId, amount), lines: [{ lineNo: 1, qty: 1, amount }] },
        });
      }
    }
  }

  // Time order within the chain: seq per store, and event ids (UUIDv7) in the same order.
  actions.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const streams = new Map(CHAIN_STORES.map((s) => [s, { epoch: uuidOf(rng), seq: 0 }]));
  const events = actions.map((action) => {
    const stream = streams.get(action.storeId as (typeof CHAIN_STORES)[number])!;
    stream.seq += 1;
    return {
      schema: 'ayi.event/1',
      eventId: uuidv7(),
      chainId: CHAIN_ID,
      storeId: action.storeId,
      epoch: stream.epoch,
      seq: stream.seq,
      type: action.type,
      at: action.at,
      data: action.data,
      ...(action.link ? { link: action.link } : {}),
    } as HubEvent;
  });
  return {
    events,
    erasedIds: [erasedShared.memberId, loneFrom.memberId, loneInto.memberId],
    erasedOnlyHashes: [loneHash],
  };
}

/** A counted sale as the figures see it. */
export interface CountedSale {
  storeId: string;
  saleId: string;
  date: string;
  memberId: string | null;
  /** null: a walk-in or an erased member. */
  person: string | null;
  net: number;
  refunded: number;
  lines: SaleCompletedData['lines'];
}

/** The chain's state worked out from its events alone, without HQ. */
export interface ChainTruth {
  counted: CountedSale[];
  /** Per live person, the first day any of their records registered. */
  firstRegistered: Map<string, string>;
  /** Per store, the records registered (not merged away, not erased), with their day and person. */
  registeredRecords: { storeId: string; date: string; person: string }[];
  lastEventAt: Map<string, string>;
  /** Per live record ({storeId}/{memberId}): the newest tier and consent flags its events gave. */
  standing: Map<string, { tier: string | null; consent: Record<string, boolean> }>;
  /** sku -> name and category from the newest catalog that had it (per store too). */
  catalogNames: Map<string, { name: string; category: string; eventId: string; storeId: string }[]>;
}

export function chainTruth(events: HubEvent[]): ChainTruth {
  const ordered = [...events].sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
  const key = (storeId: string, memberId: string) => `${storeId}/${memberId}`;
  const records = new Map<string, { hash: string | null; mergedInto: string | null; date: string | null }>();
  const record = (storeId: string, memberId: string) => {
    let rec = records.get(key(storeId, memberId));
    if (!rec) records.set(key(storeId, memberId), (rec = { hash: null, mergedInto: null, date: null }));
    return rec;
  };
  const standing = new Map<string, { tier: string | null; consent: Record<string, boolean> }>();
  const standingOf = (storeId: string, memberId: string) => {
    let held = standing.get(key(storeId, memberId));
    if (!held) standing.set(key(storeId, memberId), (held = { tier: null, consent: {} }));
    return held;
  };
  const completed = new Map<string, { storeId: string; data: SaleCompletedData }>();
  const voided = new Set<string>();
  const refunded = new Map<string, number>();
  const erasedRoots: string[] = [];
  const lastEventAt = new Map<string, string>();
  const catalogNames: ChainTruth['catalogNames'] = new Map();
  for (const event of ordered) {
    const data = event.data as unknown as Record<string, unknown>;
    const link = (event as { link?: { phoneHash: string } }).link;
    const { storeId } = event;
    if (!lastEventAt.has(storeId) || lastEventAt.get(storeId)! < event.at) lastEventAt.set(storeId, event.at);
    switch (event.type) {
      case 'member.registered':
        record(storeId, data.memberId as string).date = event.at.slice(0, 10);
        Object.assign(standingOf(storeId, data.memberId as string).consent, data.consent);
        if (link) record(storeId, data.memberId as string).hash = link.phoneHash;
        break;
      case 'member.profile_updated':
        if (link) record(storeId, data.memberId as string).hash = link.phoneHash;
        break;
      case 'member.tier_changed':
        standingOf(storeId, data.memberId as string).tier = data.to as string;
        break;
      case 'member.consent_changed':
        standingOf(storeId, data.memberId as string).consent[data.channel as string] = data.granted as boolean;
        break;
      case 'member.merged':
        record(storeId, data.fromMemberId as string).mergedInto = data.intoMemberId as string;
        break;
      case 'member.erased':
        erasedRoots.push(key(storeId, data.memberId as string));
        break;
      case 'catalog.imported':
        for (const p of data.products as { sku: string; name: string; category: string }[]) {
          const list = catalogNames.get(p.sku) ?? [];
          list.push({ name: p.name, category: p.category, eventId: event.eventId, storeId });
          catalogNames.set(p.sku, list);
        }
        break;
      case 'sale.completed':
        completed.set(`${storeId} ${data.saleId as string}`, { storeId, data: data as unknown as SaleCompletedData });
        if (data.memberId && data.loyalty) {
          standingOf(storeId, data.memberId as string).tier = (data.loyalty as { tierAfter: string }).tierAfter;
        }
        break;
      case 'sale.voided':
        voided.add(`${storeId} ${data.saleId as string}`);
        break;
      case 'sale.refunded':
        refunded.set(
          `${storeId} ${data.saleId as string}`,
          (refunded.get(`${storeId} ${data.saleId as string}`) ?? 0) + (data.amount as number),
        );
        break;
    }
  }
  const rootOf = (storeId: string, memberId: string) => {
    let id = memberId;
    for (let rec = records.get(key(storeId, id)); rec?.mergedInto; rec = records.get(key(storeId, id)))
      id = rec.mergedInto;
    return id;
  };
  const erased = new Set<string>();
  for (const recordKey of records.keys()) {
    const [storeId, memberId] = recordKey.split('/') as [string, string];
    if (erasedRoots.includes(key(storeId, rootOf(storeId, memberId)))) erased.add(recordKey);
  }
  const personOf = (storeId: string, memberId: string) => {
    const root = rootOf(storeId, memberId);
    const hash = records.get(key(storeId, root))?.hash;
    return hash ? `hash:${hash}` : `record:${key(storeId, root)}`;
  };
  const counted: CountedSale[] = [];
  for (const [saleKey, { storeId, data }] of completed) {
    if (voided.has(saleKey)) continue;
    const refund = refunded.get(saleKey) ?? 0;
    const memberId = data.memberId;
    counted.push({
      storeId,
      saleId: data.saleId,
      date: data.businessDate,
      memberId,
      person: memberId === null || erased.has(key(storeId, memberId)) ? null : personOf(storeId, memberId),
      net: data.total - refund,
      refunded: refund,
      lines: data.lines,
    });
  }
  const firstRegistered = new Map<string, string>();
  const registeredRecords: ChainTruth['registeredRecords'] = [];
  for (const [recordKey, rec] of records) {
    if (!rec.date || erased.has(recordKey)) continue;
    const [storeId, memberId] = recordKey.split('/') as [string, string];
    const person = personOf(storeId, memberId);
    if (!firstRegistered.has(person) || firstRegistered.get(person)! > rec.date) firstRegistered.set(person, rec.date);
    if (!rec.mergedInto) registeredRecords.push({ storeId, date: rec.date, person });
  }
  for (const recordKey of erased) standing.delete(recordKey);
  return { counted, firstRegistered, registeredRecords, lastEventAt, catalogNames, standing };
}
