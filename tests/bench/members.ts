/**
 * Member benchmarks, in process (npm run bench runs this after run.ts):
 *
 *   member_lookup_phone_p99_ms   lookup by a whole mobile number among 100,000 members (target 1 ms)
 *   member_lookup_last4_p99_ms   lookup by the last 4 digits (about 10 members share them; target 1 ms)
 *   member_lookup_p99_ms         the slower of the two
 *   member_card_ms               median time to build the C1 panel of a member with 300 past sales (target 20 ms)
 *   member_card_p99_ms
 *
 * The projection is built by applying the same events the hub journals (members sealed by the real
 * vault, sales priced by the real rules), then the real MembersService answers.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_PROGRAM, pointsEarned } from '../../hub/src/domain/loyalty.ts';
import { StoreState } from '../../hub/src/domain/store-state.ts';
import { priceCart } from '../../hub/src/domain/sale.ts';
import { daysBefore } from '../../hub/src/domain/time.ts';
import { validateCatalogRows } from '../../hub/src/domain/catalog.ts';
import { parseCatalogCsv } from '../../hub/src/services/catalog.service.ts';
import type { EventPayloads, EventType, HubEvent } from '../../hub/src/protocol/events.ts';
import { journalEvent, type EventOrigin } from '../support/journal-events.ts';
import type { StaffView } from '../../hub/src/protocol/api.ts';
import { MembersService } from '../../hub/src/services/members.service.ts';
import { KeyedLock } from '../../hub/src/services/keyed-lock.ts';
import { MemberVault } from '../../hub/src/storage/member-vault.ts';
import type { EventStore } from '../../hub/src/storage/event-store.ts';

const MEMBERS = 100_000;
const LOOKUPS = 20_000;
const CARD_SALES = 300;
const CARD_RUNS = 300;
const TZ = 'Asia/Taipei';

function emit(metric: string, value: number, unit: string, baseline: number): void {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  console.log(JSON.stringify({ metric, value: round(value), unit, baseline, ratio: round(value / baseline) }));
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const BENCH_STORE: EventOrigin = { chainId: 'bench', storeId: 'store-bench', epoch: 'bench', eventIdPrefix: 'bench' };
function envelope<K extends EventType>(seq: number, at: string, type: K, data: EventPayloads[K]): HubEvent {
  return journalEvent(seq, at, type, data, BENCH_STORE);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ayi-bench-members-'));
  try {
    // Keys as the vault writes them, then the real vault opens them and seals each profile.
    const memberIds = Array.from({ length: MEMBERS }, () => uuidv7());
    mkdirSync(path.join(dir, 'members'));
    writeFileSync(
      path.join(dir, 'members', 'keys.jsonl'),
      memberIds
        .map((memberId) => `${JSON.stringify({ memberId, key: randomBytes(32).toString('base64') })}\n`)
        .join(''),
    );
    const vault = await MemberVault.open(path.join(dir, 'members'), randomBytes(32));
    const state = new StoreState(35, vault.unseal.bind(vault));
    const catalogCsv = readFileSync(path.resolve(import.meta.dirname, '../../hub/src/demo/catalog.csv'), 'utf8');
    const products = validateCatalogRows(parseCatalogCsv(catalogCsv), () => undefined).products;
    let seq = 0;
    state.apply(envelope(++seq, new Date().toISOString(), 'catalog.imported', { source: 'demo', products }));

    const phones = new Set<string>();
    // Numbers the phone library accepts as Taiwan mobiles (not every 09 prefix is allocated).
    const prefixes = ['0912', '0921', '0933', '0958', '0966', '0978', '0988', '0905'];
    while (phones.size < MEMBERS) {
      const prefix = prefixes[phones.size % prefixes.length]!;
      phones.add(`${prefix}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`);
    }
    const phoneList = [...phones];
    const at = new Date().toISOString();
    memberIds.forEach((memberId, i) => {
      const e164 = `+886${phoneList[i]!.slice(1)}`;
      state.apply(
        envelope(++seq, at, 'member.registered', {
          memberId,
          memberCode: `AYI${String(i).padStart(10, '0')}`,
          sealed: vault.seal(memberId, {
            phone: e164,
            phoneHash: vault.hashPhone(e164),
            name: null,
            birthday: null,
            gender: null,
            region: null,
            email: null,
          }),
          channel: 'store',
          consent: { sms: false, line: false, email: false },
          staffId: 'stf',
          deviceId: 'tab',
        }),
      );
    });

    // One regular with 300 past sales over two years, from a habit of a dozen products.
    const regular = memberIds[0]!;
    const today = new Date().toISOString().slice(0, 10);
    const habit = products.slice(0, 12);
    for (let n = 0; n < CARD_SALES; n++) {
      const date = daysBefore(today, Math.round(((CARD_SALES - n) * 730) / CARD_SALES));
      const lines = habit
        .filter(() => Math.random() < 0.3)
        .slice(0, 5)
        .map((p) => ({ sku: p.sku, qty: 1 + Math.floor(Math.random() * 2) }));
      if (lines.length === 0) lines.push({ sku: habit[n % habit.length]!.sku, qty: 1 });
      const priced = priceCart({ lines }, (sku) => products.find((p) => p.sku === sku));
      state.apply(
        envelope(++seq, `${date}T03:00:00.000Z`, 'sale.completed', {
          saleId: `${date.replaceAll('-', '')}-${String(seq).padStart(6, '0')}`,
          idempotencyKey: uuidv7(),
          requestHash: 'bench',
          businessDate: date,
          deviceId: 'tab',
          staffId: 'stf',
          memberId: regular,
          ...priced,
          couponCode: null,
          pointsRedeemed: 0,
          tenders: [{ type: 'cash', amount: priced.total }],
          change: 0,
          loyalty: {
            tierBefore: 'regular',
            tierAfter: 'regular',
            pointsEarned: pointsEarned(DEFAULT_PROGRAM, 'regular', priced.total),
            pointsBalance: 0,
            windowSpend: 0,
          },
        }),
      );
    }

    const members = new MembersService(
      state,
      null as unknown as EventStore, // lookups and cards record nothing
      vault,
      DEFAULT_PROGRAM,
      TZ,
      () => new Date(),
      new KeyedLock(),
    );
    const staff: StaffView = { id: 'stf', name: 'bench', role: 'cashier' };
    // A tablet of its own for each lookup: the per-tablet limit on number lookups is not what is measured.
    let tablets = 0;
    const cashier = () => ({ deviceId: `tab-${++tablets}`, staff });

    const timed = (work: () => void): number => {
      const t0 = performance.now();
      work();
      return performance.now() - t0;
    };
    const pick = () => phoneList[Math.floor(Math.random() * phoneList.length)]!;
    // Warm-up (JIT), then measure.
    for (let i = 0; i < 2000; i++) members.lookup(pick(), cashier());
    const byPhone: number[] = [];
    const byLast4: number[] = [];
    for (let i = 0; i < LOOKUPS; i++) {
      const phone = pick();
      byPhone.push(
        timed(() => {
          if (members.lookup(phone, cashier()).matches.length !== 1) throw new Error('lookup by phone missed');
        }),
      );
      byLast4.push(
        timed(() => {
          if (members.lookup(phone.slice(-4), cashier()).matches.length === 0)
            throw new Error('lookup by last 4 missed');
        }),
      );
    }
    const cart = [habit[0]!.sku, habit[1]!.sku];
    for (let i = 0; i < 30; i++) members.card(regular, cart, staff);
    const cards: number[] = [];
    for (let i = 0; i < CARD_RUNS; i++) cards.push(timed(() => members.card(regular, cart, staff)));

    const phoneP99 = percentile(byPhone, 99);
    const last4P99 = percentile(byLast4, 99);
    emit('member_lookup_phone_p99_ms', phoneP99, 'ms', 1);
    emit('member_lookup_last4_p99_ms', last4P99, 'ms', 1);
    emit('member_lookup_p99_ms', Math.max(phoneP99, last4P99), 'ms', 1);
    emit('member_card_ms', percentile(cards, 50), 'ms', 20);
    emit('member_card_p99_ms', percentile(cards, 99), 'ms', 20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
