/**
 * A live demo chain on one machine (`npm run hq -- --demo`): Debian's mosquitto as the chain's
 * broker (HQ and the hubs use MQTT 5: session expiry, shared subscriptions, message expiry; the
 * in-process Node brokers do not speak it), three demo stores (real hub processes, each with its own
 * year of history and some customers who shop at several of them) that keep selling, all in one
 * data directory that a second start reuses.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { demoCatalogCsv } from '../../../hub/src/demo/demo-catalog.js';
import type { ProductView } from '../../../hub/src/protocol/api.js';
import { adminRequest } from '../../../hub/src/transport/admin/admin.client.js';
import { randomBasket, seededRng } from '../../../scripts/lib/baskets.js';
import { HubTablet } from '../../../scripts/lib/hub-client.js';
import { chainCatalogFromCsv } from '../catalog/catalog-csv.js';
import type { CatalogPublisher } from '../catalog/catalog-publisher.js';
import { createCatalogVersion, latestCatalogMessage } from '../catalog/catalogs.js';
import type { Database } from '../db/database.js';

export const DEMO_CHAIN_ID = 'ayi-demo';

/** The demo chain's stores: id, name as the tablets show it. */
export const DEMO_STORES = [
  { storeId: 'taipei-daan', name: '大安店' },
  { storeId: 'newtaipei-banqiao', name: '板橋店' },
  { storeId: 'taichung-xitun', name: '台中西屯店' },
] as const;

const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');
const HUB_ENTRY = path.join(REPO_ROOT, 'hub', 'dist', 'main.js');
/** The tablet UI the demo's hubs serve: the hub's own setting (AYI_UI_DIR) when given, else the build. */
const UI_INDEX = path.join(process.env.AYI_UI_DIR ?? path.join(REPO_ROOT, 'ui', 'build'), 'index.html');
const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p));
/** The demo cashier's PIN (the demo staff of every demo store). */
const DEMO_CASHIER_PIN = '1111';
/** Mobile numbers that several stores' live customers share: the same person at every store. */
const LIVE_SHOPPERS = 12;

export interface DemoStore {
  storeId: string;
  name: string;
  /** The store's tablet UI. */
  url: string;
  dataDir: string;
  /** A code that pairs one tablet (valid 10 minutes from the start). */
  pairingCode: string;
}

export interface DemoChain {
  brokerUrl: string;
  /** The stores started with their year of history (and its products). */
  history: boolean;
  stores: DemoStore[];
  /** Sales rung up since start, all stores. */
  liveSales(): number;
  stop(): Promise<void>;
}

export interface DemoChainOptions {
  /** Everything of the demo: broker, stores, and (beside them) HQ's own database. */
  dataDir: string;
  /** Without a year of history per store (tests): a store starts with its demo catalog only. */
  history: boolean;
  /** Seconds between two sales at one store (on average). */
  saleEverySeconds: number;
  log: (line: string) => void;
}

/** Something the demo started, stopped in reverse order. */
type Stopper = () => Promise<void>;

export async function startDemoChain(options: DemoChainOptions): Promise<DemoChain> {
  if (!MOSQUITTO) {
    throw new Error(
      "The demo chain needs a broker that speaks MQTT 5: install Debian's mosquitto (sudo apt-get install -y mosquitto) and run it again.",
    );
  }
  ensureBuilt(options.log);
  mkdirSync(options.dataDir, { recursive: true });
  const stoppers: Stopper[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    const broker = await startBroker(MOSQUITTO, path.join(options.dataDir, 'broker'));
    stoppers.push(broker.stop);
    options.log(`Broker (mosquitto, MQTT 5) at ${broker.url}`);
    const chainKey = demoChainKey(options.dataDir);
    if (options.history) {
      options.log('Starting three demo stores; the first start seeds a year of history for each (a minute or two) …');
    }
    // Every store that started is stopped again if another one fails to.
    const outcomes = await Promise.allSettled(
      DEMO_STORES.map((store) => startStore(store, broker.url, chainKey, options)),
    );
    const started: StartedStore[] = [];
    for (const outcome of outcomes) if (outcome.status === 'fulfilled') started.push(outcome.value);
    for (const store of started) stoppers.push(store.stop);
    const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed) throw failed.reason;

    let sales = 0;
    const sellers = started.map((store, index) =>
      keepSelling(store, index, options.saleEverySeconds, () => (sales += 1), options.log),
    );
    stoppers.push(async () => {
      for (const seller of sellers) seller.stop();
      await Promise.all(sellers.map((seller) => seller.done));
    });
    return {
      brokerUrl: broker.url,
      history: options.history,
      stores: started.map(({ storeId, name, url, dataDir, pairingCode }) => ({
        storeId,
        name,
        url,
        dataDir,
        pairingCode,
      })),
      liveSales: () => sales,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The chain's catalog from HQ, so the catalog page has a version to show the stores running: the
 * stores' own demo catalog, with 台中西屯店's drinks a dollar cheaper. Published once, on the first
 * start (a second start keeps the versions published since); the stores apply it as it comes.
 * Answers the chain's latest version.
 */
export async function publishDemoCatalog(db: Database, publisher: CatalogPublisher, history: boolean): Promise<number> {
  const latest = await latestCatalogMessage(db, DEMO_CHAIN_ID);
  if (latest) return latest.version;
  const { products } = chainCatalogFromCsv(demoCatalogCsv(history, path.join(REPO_ROOT, 'hub', 'src', 'demo')));
  const cheaperDrinks = Object.fromEntries(
    products.filter((p) => p.category === '飲料' && p.price > 0).map((p) => [p.sku, p.price - 1]),
  );
  const version = await createCatalogVersion(
    db,
    DEMO_CHAIN_ID,
    { products, storePrices: { 'taichung-xitun': cheaperDrinks } },
    'admin',
  );
  await publisher.publishLatest(DEMO_CHAIN_ID);
  return version.version;
}

/** The hub and the tablet UI are run built; a fresh checkout builds them once, quietly. */
function ensureBuilt(log: (line: string) => void): void {
  if (existsSync(HUB_ENTRY) && existsSync(UI_INDEX)) return;
  log('Building the hub and the tablet UI (once) …');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const build = spawnSync(npm, ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (build.status !== 0) {
    throw new Error(`The build failed (exit code ${build.status}):\n${build.stdout}${build.stderr}`);
  }
}

/**
 * The chain's member key, the same at every store so HQ sees one person across stores (in a real
 * chain it is given at provisioning); made once per demo directory.
 */
function demoChainKey(dataDir: string): string {
  const file = path.join(dataDir, 'chain-member-key');
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port (or rejects after `timeoutMs`). */
async function portAnswers(port: number, timeoutMs: number, exited: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = exited();
    if (why) throw new Error(why);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing answered on port ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Stops a child process: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function startBroker(bin: string, dir: string): Promise<{ url: string; stop: Stopper }> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = path.join(dir, 'mosquitto.conf');
  // Persistence on, as a chain's broker runs (hub/docs/hq.md): a restart of the demo loses nothing.
  writeFileSync(
    config,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'max_queued_messages 1000000',
      'log_dest none',
      '',
    ].join('\n'),
  );
  const child = spawn(bin, ['-c', config], { stdio: 'ignore' });
  try {
    await portAnswers(port, 10_000, () =>
      child.exitCode !== null ? `mosquitto exited with code ${child.exitCode} (config ${config})` : null,
    );
  } catch (err) {
    await stopChild(child, 1000);
    throw err;
  }
  return { url: `mqtt://127.0.0.1:${port}`, stop: () => stopChild(child) };
}

interface StartedStore extends DemoStore {
  stop: Stopper;
}

async function startStore(
  store: (typeof DEMO_STORES)[number],
  brokerUrl: string,
  chainKey: string,
  options: DemoChainOptions,
): Promise<StartedStore> {
  const dataDir = path.join(options.dataDir, 'stores', store.storeId);
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const logFile = path.join(dataDir, 'hub.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, [HUB_ENTRY], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      AYI_DATA_DIR: dataDir,
      AYI_PORT: String(port),
      AYI_HOST: '127.0.0.1',
      AYI_CHAIN_ID: DEMO_CHAIN_ID,
      AYI_STORE_ID: store.storeId,
      AYI_STORE_NAME: store.name,
      AYI_TZ: 'Asia/Taipei',
      AYI_MQTT_URL: brokerUrl,
      AYI_DEMO: 'true',
      AYI_DEMO_HISTORY: options.history ? 'on' : 'off',
      AYI_MEMBER_HASH_KEY: chainKey,
      AYI_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  // Ready once it prints its first pairing code: its HTTP port and its technician socket are up
  // (a first start seeds a year of history before that).
  const pairingCode = await new Promise<string>((resolve, reject) => {
    // A hub that never gets ready is not left running.
    const fail = (err: Error) => void stopChild(child, 1000).then(() => reject(err));
    let printed = '';
    const timer = setTimeout(() => fail(new Error(`the ${store.name} hub did not start: see ${logFile}`)), 10 * 60_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      printed = (printed + chunk).slice(-4096);
      const code = /Pairing code \(valid 10 minutes, one tablet\): (\d+)/.exec(printed)?.[1];
      if (code) {
        clearTimeout(timer);
        resolve(code);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the ${store.name} hub exited with code ${code}: see ${logFile}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  options.log(`  ${store.name} (${store.storeId}) at ${url}`);
  return { ...store, url, dataDir, pairingCode, stop: () => stopChild(child) };
}

/** A tablet at the store's counter that rings up a sale every few seconds until stopped. */
function keepSelling(
  store: StartedStore,
  index: number,
  everySeconds: number,
  sold: () => void,
  log: (line: string) => void,
): { stop: () => void; done: Promise<void> } {
  let stopped = false;
  let wake: (() => void) | null = null;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const tablet = new HubTablet(store.url, 15_000);
  const rng = seededRng(Date.now() + index);
  const run = async () => {
    const { code } = await adminRequest<{ code: string }>(path.join(store.dataDir, 'ayi.sock'), 'pair');
    await tablet.pair(code, `Demo counter (${store.name})`);
    await tablet.login(DEMO_CASHIER_PIN);
    let products: ProductView[] = await tablet.products();
    // The same few mobile numbers at every store: HQ sees them as one person each.
    const members: string[] = [];
    for (let i = 1; i <= LIVE_SHOPPERS; i++) {
      const phone = `0988${String(100_000 + i * 7).padStart(6, '0')}`;
      const { body } = await tablet.expect<{ member: { memberId: string } }>([200, 201], 'POST', '/api/members', {
        phone,
      });
      members.push(body.member.memberId);
    }
    let n = 0;
    while (!stopped) {
      await sleep(everySeconds * 1000 * (0.5 + rng()));
      if (stopped) break;
      const { basket } = randomBasket(products, rng);
      const memberId = rng() < 0.5 ? members[Math.floor(rng() * members.length)] : undefined;
      const answer = await tablet.request('POST', '/api/sales', {
        idempotencyKey: `demo-${store.storeId}-${Date.now()}-${++n}`,
        ...basket,
        ...(memberId ? { memberId } : {}),
      });
      if (answer.status === 201 || answer.status === 200) sold();
      // A sale priced from an older catalog (HQ published a version since): the counter reloads it.
      else products = await tablet.products();
    }
  };
  const done = run()
    .catch((err: unknown) => {
      if (!stopped) log(`  ${store.name}: the demo counter stopped selling: ${(err as Error).message}`);
    })
    .finally(() => tablet.close());
  return {
    stop: () => {
      stopped = true;
      wake?.();
    },
    done,
  };
}
