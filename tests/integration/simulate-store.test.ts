/**
 * scripts/simulate-store.ts against the built hub (child process): it pairs its tablets, rings up
 * the sales it was asked for, and its summary agrees with what the hub lists in /api/sales.
 * Needs `npm run build -w hub`.
 */
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../../hub/src/protocol/api.ts';
import { HUB_ENTRY, REPO_ROOT, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { TabletClient } from '../support/test-hub.ts';

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'simulate-store.ts');

function simulate(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', SCRIPT, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 25_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function listSales(hub: HubProcess): Promise<SaleView[]> {
  const tablet = new TabletClient(hub.url);
  await tablet.pair(await hub.newPairingCode(), 'Auditor');
  await tablet.login(hub.demoPins.manager);
  const all: SaleView[] = [];
  let beforeSeq: number | undefined;
  for (;;) {
    const res = await tablet.request('GET', `/api/sales?limit=200${beforeSeq ? `&beforeSeq=${beforeSeq}` : ''}`);
    expect(res.status).toBe(200);
    const sales = res.body.sales as SaleView[];
    if (sales.length === 0) return all;
    all.push(...sales);
    beforeSeq = sales.at(-1)!.seq;
  }
}

describe('npm run simulate-store', () => {
  let hub: HubProcess;

  beforeAll(async () => {
    expect(existsSync(HUB_ENTRY), `${HUB_ENTRY} is missing: run npm run build -w hub`).toBe(true);
    hub = await startHubProcess();
  });

  afterAll(async () => {
    await hub?.stop();
    if (hub) rmSync(hub.dataDir, { recursive: true, force: true });
  });

  it('rings up sales from 2 tablets and prints a summary the hub agrees with', async () => {
    const run = await simulate([
      '--hub',
      hub.url,
      '--tablets',
      '2',
      '--sales',
      '20',
      '--members',
      '5',
      '--data-dir',
      hub.dataDir,
      '--seed',
      '42',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/sales: +20 ok, 0 failed/);
    expect(run.stdout).toMatch(/latency: +p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms/);
    expect(run.stdout).toMatch(/throughput: +[\d.]+ sales\/s/);
    const memberLine = /members: +5 \(5 new\); (\d+) of 20 sales by a member/.exec(run.stdout);
    expect(memberLine, run.stdout).not.toBeNull();
    const revenue = Number(/revenue: +NT\$([\d,]+)/.exec(run.stdout)![1]!.replaceAll(',', ''));

    const sales = await listSales(hub);
    expect(sales).toHaveLength(20);
    expect(new Set(sales.map((s) => s.deviceId)).size).toBe(2);
    expect(sales.reduce((sum, s) => sum + s.total, 0)).toBe(revenue);
    const memberSales = sales.filter((s) => s.memberId !== null);
    expect(memberSales.length).toBe(Number(memberLine![1]));
    expect(memberSales.length).toBeGreaterThan(0);
    expect(new Set(memberSales.map((s) => s.memberId)).size).toBeLessThanOrEqual(5);
    for (const sale of sales) {
      expect(sale.lines.length).toBeGreaterThanOrEqual(1);
      expect(sale.lines.length).toBeLessThanOrEqual(6);
      const paid = sale.tenders.reduce((sum, t) => sum + t.amount, 0);
      expect(paid - sale.change).toBe(sale.total);
    }
  });

  it('uses pairing codes given with --code and prints JSON with --json', async () => {
    const codes = [await hub.newPairingCode(), await hub.newPairingCode()];
    const run = await simulate([
      '--hub',
      hub.url,
      '--tablets',
      '2',
      '--sales',
      '6',
      '--code',
      codes.join(','),
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as {
      sales: { ok: number; failed: number };
      revenue: number;
      latencyMs: { p50: number; p99: number };
      members: { requested: number; created: number; sales: number };
    };
    expect(summary.sales).toMatchObject({ ok: 6, failed: 0 });
    expect(summary.revenue).toBeGreaterThan(0);
    expect(summary.latencyMs.p99).toBeGreaterThanOrEqual(summary.latencyMs.p50);
    expect(summary.members).toEqual({ requested: 0, created: 0, sales: 0 });
    expect(await listSales(hub)).toHaveLength(26);
  });

  it('refuses bad arguments with a clear message and status 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--tablets', '0'], /--tablets must be between 1 and 64, got 0/],
      [['--sales', 'many'], /--sales must be a whole number, got "many"/],
      [['--frobnicate'], /Unknown option '--frobnicate'/],
      [['--hub', 'not a url'], /--hub must be a URL/],
      [['--tablets', '3', '--code', '12345678'], /3 tablets need 3 pairing codes, got 1/],
      [['--code', 'abc'], /is not a pairing code/],
    ];
    for (const [args, message] of cases) {
      const run = await simulate(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain('usage: npm run simulate-store');
    }
  });

  it('says which hub it cannot reach, and how to get pairing codes', async () => {
    const down = await simulate(['--hub', 'http://127.0.0.1:9', '--sales', '1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/Cannot reach the hub at http:\/\/127\.0\.0\.1:9/);

    const noSocket = await simulate([
      '--hub',
      hub.url,
      '--sales',
      '1',
      '--data-dir',
      path.join(hub.dataDir, 'nowhere'),
    ]);
    expect(noSocket.code).toBe(1);
    expect(noSocket.stderr).toMatch(/No hub is listening on the technician socket .*--data-dir.*--code/s);
  });
});
