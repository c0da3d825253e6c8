/**
 * `npm run hq -- --demo` as a newcomer runs it (README, "A live chain with HQ"): a broker, three
 * demo stores that keep selling and HQ with its dashboard, from one command. The printed sign-in
 * works, the three stores' sales reach HQ's figures, every store runs the catalog version HQ
 * published at start, and Ctrl-C (SIGINT) stops everything it started. The stores start without
 * their year of history here (AYI_DEMO_HISTORY=off).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { freePort } from '../support/free-port.ts';
import { REPO_ROOT, TEST_UI_DIR } from '../support/hub-process.ts';
import { HQ_TEST_DASHBOARD } from '../support/hq-service.ts';
import { MOSQUITTO_BIN } from '../support/mosquitto.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();

/** Processes whose command line or environment names `text` (the demo's directory): what is left running. */
function processesNaming(text: string): string[] {
  const left: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (args.includes(text) || env.includes(`AYI_DATA_DIR=${text}`))
        left.push(`${pid} ${args.replaceAll('\0', ' ')}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return left;
}

it.skipIf(!MOSQUITTO_BIN)(
  'runs a live chain from one command, signs in with what it prints, and stops all of it on Ctrl-C',
  async () => {
    const dir = temp.make('hq-demo-');
    const port = await freePort();
    const demo = spawn(process.execPath, ['--import', 'tsx', 'hq/src/main.ts', '--demo'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        AYI_HQ_DATA_DIR: dir,
        AYI_HQ_PORT: String(port),
        AYI_DEMO_HISTORY: 'off',
        AYI_HQ_DEMO_SALE_EVERY_S: '1',
        // What the tests built (npm run build:test), not a build of their own while other tests run.
        AYI_UI_DIR: TEST_UI_DIR,
        AYI_HQ_DASHBOARD_DIR: HQ_TEST_DASHBOARD,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    demo.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    demo.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    try {
      await expect.poll(() => output, { timeout: 120_000, interval: 250 }).toContain('Stop with Ctrl-C.');
      // The broker and the three hubs are running, each known by the demo's directory.
      expect(processesNaming(dir).length).toBeGreaterThanOrEqual(4);
      const dashboard = /Dashboard:\s+(\S+)/.exec(output)![1]!;
      const password = /Sign in:\s+admin \/ (\S+)/.exec(output)![1]!;
      expect(dashboard).toBe(`http://127.0.0.1:${port}`);
      expect(output.match(/pairing code \d{8}/g)).toHaveLength(3);

      // Signed in as printed; the given password is replaced first, as the dashboard asks.
      const headers = { 'content-type': 'application/json', origin: dashboard };
      const signIn = await fetch(`${dashboard}/api/session`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ username: 'admin', password }),
      });
      expect(signIn.status).toBe(200);
      const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
      const own = await fetch(`${dashboard}/api/session/password`, {
        method: 'POST',
        headers: { ...headers, cookie },
        body: JSON.stringify({ currentPassword: password, newPassword: 'demo-admin-own-password' }),
      });
      expect(own.status).toBe(200);

      // The three stores keep selling, and HQ counts their sales.
      const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Taipei' }).format(new Date());
      const overview = async () =>
        (await (
          await fetch(`${dashboard}/api/overview?from=${today}&to=${today}`, { headers: { cookie } })
        ).json()) as {
          sales: number;
          stores: { storeId: string; sales: number }[];
        };
      await expect
        .poll(async () => (await overview()).stores.filter((s) => s.sales > 0).length, {
          timeout: 60_000,
          interval: 1000,
        })
        .toBe(3);
      const links = (await (await fetch(`${dashboard}/api/stores`, { headers: { cookie } })).json()) as {
        stores: { storeId: string; online: boolean }[];
      };
      expect(links.stores.map((s) => s.storeId).sort()).toEqual(['newtaipei-banqiao', 'taichung-xitun', 'taipei-daan']);

      // HQ published the chain's catalog at start; every store runs it, as the catalog page shows.
      expect(output).toContain('Catalog:    version 1 from HQ');
      const catalog = async () =>
        (
          (await (await fetch(`${dashboard}/api/catalog`, { headers: { cookie } })).json()) as {
            chains: {
              chainId: string;
              latest: { version: number } | null;
              stores: { catalogVersion: number | null }[];
            }[];
          }
        ).chains.find((chain) => chain.chainId === 'ayi-demo');
      await expect
        .poll(async () => (await catalog())?.stores.map((s) => s.catalogVersion), { timeout: 30_000, interval: 1000 })
        .toEqual([1, 1, 1]);
      expect((await catalog())?.latest?.version).toBe(1);
    } finally {
      demo.kill('SIGINT');
      expect(await exited).toBe(0);
    }
    // Nothing it started is left running: the broker and the three hubs named the demo's directory.
    await expect.poll(() => processesNaming(dir), { timeout: 15_000 }).toEqual([]);
    temp.removeAll();
  },
  240_000,
);
