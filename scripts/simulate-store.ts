/**
 * Drives a running hub through its public API the way the store's tablets do:
 *
 *   npm run simulate-store -- --hub http://127.0.0.1:8080 --tablets 4 --sales 500 [--members 50]
 *
 * It pairs N tablets (pairing codes from the technician socket of the hub's data directory, or given
 * with --code), logs each in with a cashier PIN, then rings up the sales from all tablets at once:
 * random baskets from the hub's catalog (1 to 6 lines, now and then a discount), paid in cash with
 * change, by card, LINE Pay or JKO Pay. A submit that gets no answer is retried with the same
 * idempotency key, as a tablet does. Prints what happened: sales ok and failed, revenue, latency
 * percentiles and throughput. Exit status 0 when every sale went through, 1 otherwise, 2 for bad
 * arguments.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { ProductView, SaleView } from '../hub/src/protocol/api.ts';
import { adminRequest } from '../hub/src/transport/admin/admin.client.ts';
import { randomBasket, seededRng, type BasketWithTotal } from './lib/baskets.ts';
import { UsageError, exitWith, parseStrictArgs, runCommand } from './lib/cli.ts';
import { HubApiError, HubTablet, HubUnreachableError } from './lib/hub-client.ts';
import { round, summarize } from './lib/stats.ts';

const USAGE = `usage: npm run simulate-store -- [options]

  --hub URL          the hub to drive (default http://127.0.0.1:8080)
  --tablets N        tablets selling at the same time, 1 to 64 (default 4)
  --sales N          sales to ring up in total, 1 to 1000000 (default 100)
  --members N        members to sign up first (mobile numbers 0912000001 and up, reused on later runs);
                     then about 60% of sales are rung up for one of them
  --data-dir DIR     the hub's data directory, for pairing codes from its technician socket
                     (default AYI_DATA_DIR or ./data)
  --code CODE        pairing code(s) to use instead of the socket; repeat it or give a comma list,
                     one per tablet
  --pin PIN          staff PIN the tablets log in with (default 1111, the demo cashier)
  --seed N           seed for the random baskets, to repeat a run
  --json             print the summary as one JSON object instead of text
  --help             this text
`;

interface Options {
  hub: string;
  tablets: number;
  sales: number;
  members: number;
  dataDir: string;
  codes: string[];
  pin: string;
  seed: number;
  json: boolean;
}

function integerOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--${name} must be a whole number, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  if (value < min || value > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function parseOptions(argv: string[]): Options | 'help' {
  const parsed = parseStrictArgs(argv, {
    hub: { type: 'string' },
    tablets: { type: 'string' },
    sales: { type: 'string' },
    members: { type: 'string' },
    'data-dir': { type: 'string' },
    code: { type: 'string', multiple: true },
    pin: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const v = parsed.values;
  if (v.help) return 'help';

  const hubRaw = v.hub ?? 'http://127.0.0.1:8080';
  let hubUrl: URL;
  try {
    hubUrl = new URL(hubRaw);
  } catch {
    throw new UsageError(`--hub must be a URL such as http://127.0.0.1:8080, got ${JSON.stringify(hubRaw)}`);
  }
  if (hubUrl.protocol !== 'http:' && hubUrl.protocol !== 'https:') {
    throw new UsageError(`--hub must be an http:// or https:// URL, got ${JSON.stringify(hubRaw)}`);
  }

  const tablets = integerOption('tablets', v.tablets, 4, 1, 64);
  const codes = (v.code ?? [])
    .flatMap((c) => c.split(','))
    .map((c) => c.trim())
    .filter(Boolean);
  for (const code of codes) {
    if (!/^\d{6,12}$/.test(code))
      throw new UsageError(`--code ${JSON.stringify(code)} is not a pairing code (6 to 12 digits)`);
  }
  if (codes.length > 0 && codes.length < tablets) {
    throw new UsageError(
      `${tablets} tablets need ${tablets} pairing codes, got ${codes.length} (or leave out --code to use the socket)`,
    );
  }
  const pin = v.pin ?? '1111';
  if (!/^\d{4,8}$/.test(pin)) throw new UsageError(`--pin must be 4 to 8 digits`);

  return {
    hub: hubUrl.origin,
    tablets,
    sales: integerOption('sales', v.sales, 100, 1, 1_000_000),
    members: integerOption('members', v.members, 0, 0, 10_000_000),
    dataDir: path.resolve(v['data-dir'] ?? process.env.AYI_DATA_DIR ?? './data'),
    codes,
    pin,
    seed: integerOption('seed', v.seed, Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1),
    json: v.json ?? false,
  };
}

/** Why something failed, in one short phrase for the summary. */
function failureCode(err: unknown): string {
  if (err instanceof HubApiError) return err.code;
  if (err instanceof HubUnreachableError) return 'no_answer';
  return (err as Error).message;
}

const PAYMENT_NAMES: Record<BasketWithTotal['payment'], string> = {
  cash: 'cash',
  card: 'card',
  linepay: 'LINE Pay',
  jkopay: 'JKO Pay',
  'cash+linepay': 'cash + LINE Pay',
};

interface Health {
  storeId: string;
  chainId: string;
  version: string;
  lastSeq: number;
}

async function obtainCodes(options: Options, log: (line: string) => void): Promise<string[]> {
  if (options.codes.length > 0) return options.codes.slice(0, options.tablets);
  const socket = path.join(options.dataDir, 'ayi.sock');
  log(`Pairing codes from the technician socket ${socket}`);
  const codes: string[] = [];
  try {
    for (let i = 0; i < options.tablets; i++) codes.push((await adminRequest<{ code: string }>(socket, 'pair')).code);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      throw new Error(
        `No hub is listening on the technician socket ${socket}. Give the hub's data directory with ` +
          `--data-dir (or AYI_DATA_DIR), or pairing codes with --code (npm run ayi -- pair).`,
      );
    }
    if (code === 'EACCES') throw new Error(`Not allowed to use ${socket}: run as the hub's user, or pass --code.`);
    throw err;
  }
  return codes;
}

async function simulate(opts: Options): Promise<number> {
  // Progress goes to stderr when stdout carries JSON.
  const log = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);

  const probe = new HubTablet(opts.hub, 10_000);
  let health: Health;
  try {
    health = (await probe.expect<Health>([200], 'GET', '/api/health')).body;
  } catch (err) {
    throw new Error(`Cannot reach the hub at ${opts.hub}: ${(err as Error).message}. Is it running (npm start)?`);
  }
  log(
    `Ayi store simulation: ${opts.hub} (store ${health.chainId}/${health.storeId}, hub ${health.version}), seed ${opts.seed}`,
  );

  // Pair and log in every tablet.
  const codes = await obtainCodes(opts, log);
  const tablets: HubTablet[] = [];
  const runId = randomUUID().slice(0, 8);
  for (let i = 0; i < opts.tablets; i++) {
    const tablet = new HubTablet(opts.hub);
    const name = `Simulated tablet ${i + 1} (${runId})`;
    try {
      await tablet.pair(codes[i]!, name);
    } catch (err) {
      const hint =
        err instanceof HubApiError && err.code === 'pairing_code_invalid'
          ? opts.codes.length > 0
            ? ' Codes are single use and valid 10 minutes: get new ones with npm run ayi -- pair.'
            : ` Is ${opts.dataDir} the data directory of the hub at ${opts.hub}?`
          : '';
      throw new Error(`Pairing tablet ${i + 1} failed: ${(err as Error).message}.${hint}`);
    }
    try {
      await tablet.login(opts.pin);
    } catch (err) {
      throw new Error(`Logging tablet ${i + 1} in with PIN ${opts.pin} failed: ${(err as Error).message}`);
    }
    tablets.push(tablet);
  }
  const catalogs: ProductView[][] = [];
  for (const tablet of tablets) catalogs.push(await tablet.products());
  const catalog = catalogs[0]!;
  log(`Paired and logged in ${tablets.length} tablet(s); catalog of ${catalog.length} products`);

  // Sign members up, as many at once as there are tablets.
  const memberIds: string[] = [];
  let membersCreated = 0;
  let nextMember = 0;
  await Promise.all(
    tablets.map(async (tablet) => {
      while (nextMember < opts.members) {
        const n = ++nextMember;
        const phone = `0912${String(n).padStart(6, '0')}`;
        const { status, body } = await tablet.expect<{ member: { memberId: string } }>(
          [200, 201],
          'POST',
          '/api/members',
          {
            phone,
          },
        );
        memberIds.push(body.member.memberId);
        if (status === 201) membersCreated += 1;
      }
    }),
  );
  if (opts.members > 0) log(`Members: ${membersCreated} signed up, ${opts.members - membersCreated} already members`);
  log(`Ringing up ${opts.sales} sales on ${tablets.length} tablet(s) at once ...`);

  // Sell.
  const rng = seededRng(opts.seed);
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  const byPayment = new Map<string, number>();
  let ok = 0;
  let retried = 0;
  let revenue = 0;
  let memberSales = 0;
  let items = 0;
  let next = 0;
  let lastProgress = performance.now();
  const started = performance.now();

  const sellOne = async (tablet: HubTablet, index: number, n: number): Promise<void> => {
    const { basket, payment } = randomBasket(catalogs[index]!, rng);
    const memberId = memberIds.length > 0 && rng() < 0.6 ? memberIds[Math.floor(rng() * memberIds.length)] : undefined;
    const body = {
      idempotencyKey: `sim-${runId}-${String(n).padStart(7, '0')}`,
      ...basket,
      ...(memberId ? { memberId } : {}),
    };
    const t0 = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const { body: sale } = await tablet.expect<SaleView>([200, 201], 'POST', '/api/sales', body);
        latencies.push(performance.now() - t0);
        ok += 1;
        revenue += sale.total;
        if (sale.memberId) memberSales += 1;
        items += sale.lines.reduce((sum, line) => sum + line.qty, 0);
        byPayment.set(PAYMENT_NAMES[payment], (byPayment.get(PAYMENT_NAMES[payment]) ?? 0) + 1);
        return;
      } catch (err) {
        // No answer: the sale may or may not be recorded; the same key makes the retry safe.
        if (err instanceof HubUnreachableError && attempt < 4) {
          retried += 1;
          await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** (attempt - 1)));
          continue;
        }
        const code = failureCode(err);
        failures.set(code, (failures.get(code) ?? 0) + 1);
        return;
      }
    }
  };

  await Promise.all(
    tablets.map(async (tablet, index) => {
      while (next < opts.sales) {
        const n = ++next;
        await sellOne(tablet, index, n);
        const now = performance.now();
        if (now - lastProgress > 2000) {
          lastProgress = now;
          process.stderr.write(`  ${ok + [...failures.values()].reduce((s, c) => s + c, 0)}/${opts.sales} ...\n`);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const failed = [...failures.values()].reduce((s, c) => s + c, 0);
  const latency = summarize(latencies);

  const summary = {
    hub: opts.hub,
    storeId: health.storeId,
    hubVersion: health.version,
    tablets: tablets.length,
    seed: opts.seed,
    sales: { requested: opts.sales, ok, failed, failures: Object.fromEntries(failures), retried },
    revenue,
    items,
    payments: Object.fromEntries(byPayment),
    latencyMs: { p50: round(latency.p50), p95: round(latency.p95), p99: round(latency.p99), max: round(latency.max) },
    throughputPerSecond: round(ok / seconds, 1),
    durationSeconds: round(seconds, 2),
    members: { requested: opts.members, created: membersCreated, sales: memberSales },
  };

  if (opts.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    const money = (n: number) => `NT$${n.toLocaleString('en-US')}`;
    const ms = (n: number) => (Number.isNaN(n) ? '-' : `${round(n, 1)} ms`);
    const lines = [
      '',
      'Summary',
      `  sales:       ${ok} ok, ${failed} failed${failed ? ` (${[...failures].map(([c, n]) => `${c} ${n}`).join(', ')})` : ''}` +
        (retried ? `; ${retried} submit(s) retried after no answer` : ''),
      `  revenue:     ${money(revenue)} (${items} items; ${[...byPayment].map(([p, n]) => `${p} ${n}`).join(', ') || 'no sales'})`,
      `  latency:     p50 ${ms(latency.p50)}, p95 ${ms(latency.p95)}, p99 ${ms(latency.p99)}, max ${ms(latency.max)}`,
      `  throughput:  ${round(ok / seconds, 1)} sales/s (${ok} sales in ${round(seconds, 2)} s on ${tablets.length} tablets)`,
      `  members:     ${opts.members} (${membersCreated} new); ${memberSales} of ${ok} sales by a member`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
  }
  return failed === 0 ? 0 : 1;
}

exitWith(
  runCommand('simulate-store', USAGE, parseOptions, simulate),
  (err) => `simulate-store: ${(err as Error).message}`,
);
