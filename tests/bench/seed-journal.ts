/**
 * Gives a fresh data directory a long past, fast: writes journal files directly in the hub's own
 * format, as if the store had been selling for `days` days.
 *
 * Start the hub once on the empty directory first (it creates store.json, security.json with the
 * demo staff, and journals the demo catalog), stop it, then call seedPastSales(). The events the
 * hub wrote (seq 1..k, the catalog import) are moved to the first past day, so that seq order and
 * file (day) order agree as they do in a real store's journal; then `sales` sale.completed events
 * follow, seq k+1, k+2, ..., spread over the days up to yesterday, each in the file of its store-local
 * business day, with payloads priced by the hub's own rules (SaleCompletedData). The snapshots of
 * the first start are removed, since they describe the journal before it was given its past.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { priceCart, settleTenders } from '../../hub/src/domain/sale.ts';
import { businessDate, daysBefore } from '../../hub/src/domain/time.ts';
import {
  EVENT_SCHEMA,
  type HubEvent,
  type ProductData,
  type SaleCompletedData,
} from '../../hub/src/protocol/events.ts';
import { cartHash } from '../../hub/src/services/checkout.service.ts';
import { formatLine } from '../../hub/src/storage/jsonl-append.adapter.ts';
import { parseJournalLine } from '../support/journal-files.ts';
import { randomBasket, type Rng } from '../../scripts/lib/baskets.ts';

export interface SeedOptions {
  sales: number;
  days: number;
  timeZone: string;
  rng: Rng;
  /** "Today": the past ends the day before. */
  now?: Date;
}

export interface SeedReport {
  lastSeq: number;
  sales: number;
  files: number;
  bytes: number;
  firstDay: string;
  lastDay: string;
  /** Median length in bytes of a sale.completed line (with its newline). */
  medianSaleLineBytes: number;
}

/** The UTC instant of local midnight starting `day` in `timeZone`. */
function localMidnight(day: string, timeZone: string): number {
  const guess = Date.parse(`${day}T00:00:00Z`);
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(guess));
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  const asLocal = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return guess - (asLocal - guess);
}

function nextDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

export function seedPastSales(dataDir: string, options: SeedOptions): SeedReport {
  const { rng, timeZone } = options;
  const identity = JSON.parse(readFileSync(path.join(dataDir, 'store.json'), 'utf8')) as {
    chainId: string;
    storeId: string;
    epoch: string;
  };
  const security = JSON.parse(readFileSync(path.join(dataDir, 'security.json'), 'utf8')) as {
    staff: { staffId: string; name: string; role: string }[];
  };
  const journalDir = path.join(dataDir, 'journal');
  const existingFiles = readdirSync(journalDir).filter((name) => name.endsWith('.jsonl'));
  const initial: HubEvent[] = [];
  for (const name of existingFiles.sort()) {
    for (const line of readFileSync(path.join(journalDir, name), 'utf8').split('\n')) {
      if (line) initial.push(parseJournalLine(line));
    }
  }
  if (initial.some((e) => e.type === 'sale.completed'))
    throw new Error('seedPastSales wants a data directory without sales');
  const products = new Map<string, ProductData>();
  for (const event of initial) {
    if (event.type === 'catalog.imported') for (const p of event.data.products) products.set(p.sku, p);
  }
  if (products.size === 0) throw new Error('the hub journalled no catalog: start it once with AYI_DEMO=true first');
  const catalog = [...products.values()];
  const staff =
    security.staff.length > 0 ? security.staff : [{ staffId: 'stf-00000000', name: 'staff', role: 'cashier' }];
  const devices = Array.from({ length: 3 }, () => `tab-${randomBytes(6).toString('hex')}`);

  const today = businessDate(options.now ?? new Date(), timeZone);
  const firstDay = daysBefore(today, options.days);
  const days: string[] = [];
  for (let day = firstDay; day < today; day = nextDay(day)) days.push(day);

  // Busier weekends, some noise; exact total by cumulative rounding.
  const weights = days.map((day) => {
    const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
    return (weekday === 0 || weekday === 6 ? 1.3 : 1) * (0.8 + 0.4 * rng());
  });
  const totalWeight = weights.reduce((s, w) => s + w, 0);
  let cumulative = 0;
  let assigned = 0;
  const perDay = weights.map((w) => {
    cumulative += w;
    const upTo = Math.round((cumulative / totalWeight) * options.sales);
    const n = upTo - assigned;
    assigned = upTo;
    return n;
  });

  for (const name of existingFiles) rmSync(path.join(journalDir, name));
  rmSync(path.join(dataDir, 'snapshots'), { recursive: true, force: true });
  mkdirSync(path.join(dataDir, 'snapshots'), { mode: 0o700 });

  // Same fields, same order, same line format (with its checksum) as the hub's EventStore writes them.
  const eventLine = (seq: number, at: number, type: string, data: unknown) =>
    formatLine({
      schema: EVENT_SCHEMA,
      eventId: uuidv7({ msecs: at }),
      chainId: identity.chainId,
      storeId: identity.storeId,
      epoch: identity.epoch,
      seq,
      type,
      at: new Date(at).toISOString(),
      data,
    });

  let seq = 0;
  let bytes = 0;
  let sales = 0;
  const lineSizes: number[] = [];
  days.forEach((day, dayIndex) => {
    const midnight = localMidnight(day, timeZone);
    const chunks: string[] = [];
    if (dayIndex === 0) {
      // The hub's first events (the demo catalog), as if written when the store opened.
      initial.forEach((event, i) => {
        const at = midnight + 8 * 3_600_000 + i * 1000;
        chunks.push(eventLine(++seq, at, event.type, event.data));
      });
    }
    // Opening hours 09:00 to 22:00, sales in time order.
    const times = Array.from(
      { length: perDay[dayIndex]! },
      () => midnight + 9 * 3_600_000 + Math.floor(rng() * 13 * 3_600_000),
    ).sort((a, b) => a - b);
    for (const at of times) {
      seq += 1;
      const { basket } = randomBasket(catalog, rng);
      const request = { idempotencyKey: randomBytes(16).toString('hex'), ...basket };
      const priced = priceCart(request, (sku) => products.get(sku));
      const { change } = settleTenders(priced.total, request.tenders);
      const date = businessDate(new Date(at), timeZone);
      if (date !== day) throw new Error(`seed bug: ${new Date(at).toISOString()} is on ${date}, not ${day}`);
      const cashier = staff[Math.floor(rng() * staff.length)]!;
      const data: SaleCompletedData = {
        saleId: `${date.replaceAll('-', '')}-${String(seq).padStart(6, '0')}`,
        idempotencyKey: request.idempotencyKey,
        requestHash: cartHash(request),
        businessDate: date,
        deviceId: devices[Math.floor(rng() * devices.length)]!,
        staffId: cashier.staffId,
        memberId: null,
        ...priced,
        couponCode: null,
        pointsRedeemed: 0,
        tenders: request.tenders,
        change,
        loyalty: null,
      };
      const line = eventLine(seq, at, 'sale.completed', data);
      if (lineSizes.length < 5000) lineSizes.push(Buffer.byteLength(line));
      chunks.push(line);
      sales += 1;
    }
    const text = chunks.join('');
    if (text.length === 0) return;
    writeFileSync(path.join(journalDir, `${day}.jsonl`), text, { mode: 0o600 });
    bytes += Buffer.byteLength(text);
  });
  lineSizes.sort((a, b) => a - b);
  return {
    lastSeq: seq,
    sales,
    files: days.length,
    bytes,
    firstDay,
    lastDay: days.at(-1)!,
    medianSaleLineBytes: lineSizes[Math.floor(lineSizes.length / 2)] ?? 0,
  };
}
