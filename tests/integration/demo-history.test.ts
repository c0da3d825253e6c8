/**
 * The demo store a newcomer sees after `npm start`: a year of members and sales seeded once, so
 * every RFM segment, the due-for-repurchase list, the reports and the counter's member card have
 * something to show; sealed like real members, recorded now with the time it happened, never
 * seeded again, never outside demo mode, and the same on every machine.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberCard } from '../../hub/src/protocol/members.ts';
import type { MemberMetrics, ProductReport, RepurchaseDueReport, RfmReport } from '../../hub/src/protocol/crm.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { HUB_ENTRY, REPO_ROOT, startHubProcess, tempDataDir, type HubProcess } from '../support/hub-process.ts';
import { TabletClient, demoPin, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { daysBefore } from '../../hub/src/domain/time.ts';

const SEEDING = { AYI_DEMO_HISTORY: 'on' };
const SEED_TIMEOUT_MS = 150_000;

async function ownerTablet(hub: HubProcess): Promise<TabletClient> {
  const tablet = new TabletClient(hub.url);
  await tablet.pair(await hub.newPairingCode(), 'Back office');
  await tablet.login(demoPin('owner'));
  return tablet;
}

async function get<T>(tablet: TabletClient, url: string): Promise<T> {
  const res = await tablet.request('GET', url);
  expect(res.status, url).toBe(200);
  return res.body as T;
}

/** What a demo store shows, without ids or times of recording: the same for the same seed. */
async function storeFacts(tablet: TabletClient, today: string) {
  const rfm = await get<RfmReport>(tablet, '/api/analytics/rfm');
  const from = daysBefore(today, 364);
  const members = await get<MemberMetrics>(tablet, `/api/reports/members?from=${from}&to=${today}`);
  const products = await get<ProductReport>(tablet, `/api/reports/products?from=${from}&to=${today}`);
  const due = await get<RepurchaseDueReport>(tablet, '/api/analytics/repurchase-due');
  return { rfm, members, products, due };
}

function journalEvents(dataDir: string): HubEvent[] {
  const dir = path.join(dataDir, 'journal');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.jsonl'))
    .flatMap((name) =>
      readFileSync(path.join(dir, name), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as HubEvent),
    );
}

function journalText(dataDir: string): string {
  const dir = path.join(dataDir, 'journal');
  return readdirSync(dir)
    .map((name) => readFileSync(path.join(dir, name), 'utf8'))
    .join('');
}

describe('the demo store a newcomer starts', () => {
  let hub: HubProcess;
  let tablet: TabletClient;
  let today: string;

  beforeAll(async () => {
    hub = await startHubProcess({ env: SEEDING, readyTimeoutMs: SEED_TIMEOUT_MS });
    tablet = await ownerTablet(hub);
    today = (await get<RfmReport>(tablet, '/api/analytics/rfm')).asOf;
  }, SEED_TIMEOUT_MS);

  afterAll(async () => {
    await hub?.stop();
  });

  it('puts members in every RFM segment and has members due for repurchase', async () => {
    const { rfm, due } = await storeFacts(tablet, today);
    expect(rfm.scored).toBeGreaterThan(1500);
    for (const segment of rfm.segments) expect(segment.members, segment.segment).toBeGreaterThan(0);
    expect(rfm.unscored).toBeGreaterThan(0);
    expect(due.total).toBeGreaterThan(20);
  });

  it('reports a year of members and products', async () => {
    const { members, products } = await storeFacts(tablet, today);
    expect(members.membersAtEnd).toBeGreaterThan(1900);
    expect(members.buyingMembers).toBeGreaterThan(1500);
    expect(members.repurchaseRate).toBeGreaterThan(0.5);
    expect(members.activity.active).toBeGreaterThan(0);
    expect(members.activity.dormant).toBeGreaterThan(0);
    expect(members.activity.churned).toBeGreaterThan(0);
    expect(members.activity.neverBought).toBeGreaterThan(0);
    expect(JSON.stringify(products)).toContain('紙尿褲');
  });

  it("shows a regular member's usual items and what they are due for at the counter", async () => {
    const { due } = await storeFacts(tablet, today);
    const memberId = due.entries[0]!.memberId;
    const card = await get<MemberCard>(tablet, `/api/members/${memberId}/card`);
    expect(card.usualItems.length).toBeGreaterThan(0);
    // A member of months' standing, dated by when they joined, not by when the history was written.
    expect(card.memberSince.slice(0, 10) < daysBefore(today, 2)).toBe(true);
    expect(card.stats.purchaseCount).toBeGreaterThan(1);
    expect(card.stats.lastPurchase! <= daysBefore(today, 2)).toBe(true);
    expect(card.repurchaseDue.length).toBeGreaterThan(0);
    expect(card.name).toMatch(/^\p{Script=Han}{2,4}$/u);
    expect(card.phone).toMatch(/^09\d{8}$|^09\d{2}-?\d{3}-?\d{3}$/);
  });

  it('records the history now, dated when it happened, with no number or name in clear', async () => {
    const card = await get<MemberCard>(
      tablet,
      `/api/members/${(await storeFacts(tablet, today)).due.entries[0]!.memberId}/card`,
    );
    const events = journalEvents(hub.dataDir);
    const sales = events.filter((event) => event.type === 'sale.completed');
    expect(sales.length).toBeGreaterThan(35_000);
    expect(sales.length).toBeLessThan(50_000);
    const first = sales[0]!;
    expect(first.occurredAt! < first.at).toBe(true);
    expect(first.at.slice(0, 10) >= daysBefore(today, 1)).toBe(true);
    const text = journalText(hub.dataDir);
    expect(text).not.toContain(card.name!);
    expect(text).not.toContain(card.phone.replaceAll('-', '').slice(1));
  });

  it('does not seed again when the hub restarts', async () => {
    const seeded = journalEvents(hub.dataDir);
    const imported = seeded.filter((event) => event.occurredAt).length;
    await hub.stop();
    hub = await startHubProcess({ env: SEEDING, dataDir: hub.dataDir, readyTimeoutMs: SEED_TIMEOUT_MS });
    tablet = await ownerTablet(hub);
    const events = journalEvents(hub.dataDir);
    expect(events.filter((event) => event.type === 'catalog.imported')).toHaveLength(1);
    expect(events.filter((event) => event.occurredAt)).toHaveLength(imported);
    expect(events.length - seeded.length).toBeLessThan(10);
    expect((await storeFacts(tablet, today)).rfm.scored).toBeGreaterThan(1500);
    expect((await get<{ problems: string[] }>(tablet, '/api/health')).problems).not.toContain(
      'demo_history_incomplete',
    );
  });

  it(
    'seeds the same store again from the same seed',
    async () => {
      const again = await startTestHub({ config: { demoHistory: true } });
      try {
        const otherTablet = await pairedTablet(again, demoPin('owner'));
        const [mine, theirs] = [await storeFacts(tablet, today), await storeFacts(otherTablet, today)];
        const comparable = (facts: typeof mine) => ({
          ...facts,
          rfm: { ...facts.rfm, computedAt: null, tookMs: null },
          // Which of the many members due make the first page depends on their ids, drawn afresh.
          due: { ...facts.due, entries: facts.due.entries.length },
        });
        expect(comparable(theirs)).toEqual(comparable(mine));
      } finally {
        await again.stop();
      }
    },
    SEED_TIMEOUT_MS,
  );
});

describe('a seeding cut short by a crash', () => {
  it(
    'is said at every start after it, in the health and the log, and not seeded again',
    async () => {
      const dataDir = tempDataDir();
      // Started by hand: the hub answers (and startHubProcess returns) only once the seeding is done.
      const seeding = spawn(process.execPath, [HUB_ENTRY], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          AYI_DATA_DIR: dataDir,
          AYI_PORT: '0',
          AYI_HOST: '127.0.0.1',
          AYI_LOG_LEVEL: 'warn',
          ...SEEDING,
        },
        stdio: 'ignore',
      });
      const exited = new Promise((resolve) => seeding.once('exit', resolve));
      try {
        // Killed once some of the year is on disk, well before the rest.
        await expect
          .poll(
            () => {
              try {
                // Counted in the text: the line being written is not whole yet.
                return journalText(dataDir).split('"occurredAt"').length - 1;
              } catch {
                return 0; // no journal yet
              }
            },
            { timeout: 60_000, interval: 50 },
          )
          .toBeGreaterThan(200);
      } finally {
        seeding.kill('SIGKILL');
        await exited;
      }
      const partial = journalEvents(dataDir).filter((event) => event.occurredAt).length;
      expect(partial).toBeLessThan(20_000);

      const hub = await startHubProcess({
        env: { ...SEEDING, AYI_LOG_LEVEL: 'error' },
        dataDir,
        readyTimeoutMs: SEED_TIMEOUT_MS,
      });
      try {
        const health = (await (await fetch(`${hub.url}/api/health`)).json()) as { status: string; problems: string[] };
        expect(health.status).toBe('degraded');
        expect(health.problems).toContain('demo_history_incomplete');
        expect(hub.output()).toMatch(/history was cut short/);
        expect(journalEvents(dataDir).filter((event) => event.occurredAt)).toHaveLength(partial);
      } finally {
        await hub.stop();
      }
    },
    SEED_TIMEOUT_MS,
  );
});

describe('a store that is not a demo', () => {
  it('never seeds members or sales', async () => {
    const hub = await startTestHub({ config: { demo: false, demoHistory: true } });
    try {
      expect(hub.state.members.members.size).toBe(0);
      expect(hub.state.totals.salesCount).toBe(0);
    } finally {
      await hub.stop();
    }
  });
});
