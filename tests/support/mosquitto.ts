/**
 * A real mosquitto broker for tests: a free port, a temporary config (one listener, anonymous or a
 * password file, no persistence, or a shipped configuration such as
 * firmware-config/mosquitto/hq-broker.conf with this machine's port and paths), started and waited
 * for until it accepts connections. It can be stopped and started again on the same port (broker
 * outages) and is killed when the test ends.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { freePort } from './free-port.ts';

export const MOSQUITTO_BIN = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) =>
  existsSync(p),
);

export interface MosquittoOptions {
  /** user -> password; without it the broker allows anonymous clients. */
  users?: Record<string, string>;
  /**
   * Keep sessions and queued messages across a restart (saved on SIGTERM): a subscriber with a
   * persistent session, as HQ has, then misses nothing published while it was reconnecting.
   */
  persistence?: boolean;
  /**
   * An ACL file to enforce. It is copied into the broker's own directory: mosquitto drops to its
   * own user and may not read the checkout (a clone in a 0700 temporary directory).
   */
  aclFile?: string;
  /** Lines added to the config. */
  extraConfig?: string[];
  /**
   * A configuration file to run as shipped (e.g. firmware-config/mosquitto/hq-broker.conf) or a
   * fragment. Its lines are kept as they are, except those that name this machine's ports and paths
   * (OWNED_DIRECTIVES): the helper sets those itself (a listener on 127.0.0.1 without TLS, files in
   * its own directory). Where it sets persistence or a queue limit, the helper's defaults give way.
   */
  configFile?: string;
}

/** Directives of a shipped configuration that the helper replaces with its own port and paths. */
export const OWNED_DIRECTIVES = new Set([
  'listener',
  'port',
  'bind_address',
  'certfile',
  'keyfile',
  'cafile',
  'capath',
  'require_certificate',
  'tls_version',
  'pid_file',
  'log_dest',
  'persistence_location',
  'password_file',
  'acl_file',
  'include_dir',
  'user',
]);

/** The directive of each setting line of a mosquitto configuration (comments and blanks skipped). */
export function configDirectives(text: string): { directive: string; line: string }[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => ({ directive: line.split(/\s+/)[0]!, line }));
}

export interface Mosquitto {
  port: number;
  url: string;
  dir: string;
  /** Stops the broker (SIGTERM; SIGKILL after 2 s) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  kill(): Promise<void>;
  output(): string;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  if (!MOSQUITTO_BIN) throw new Error('mosquitto is not installed (apt-get install mosquitto)');
  const bin = MOSQUITTO_BIN;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ayi-mosquitto-'));
  // options.persistence, when given, wins over the file's.
  const owned = (directive: string) =>
    OWNED_DIRECTIVES.has(directive) || (directive === 'persistence' && options.persistence !== undefined);
  const shipped = options.configFile
    ? configDirectives(readFileSync(options.configFile, 'utf8')).filter((d) => !owned(d.directive))
    : [];
  const sets = (directive: string) => shipped.some((d) => d.directive === directive);
  const persistence =
    options.persistence ?? shipped.findLast((d) => d.directive === 'persistence')?.line.endsWith(' true') ?? false;
  // Started as root, mosquitto drops to its own user: it must still read its files (and write its
  // database when persistence is on).
  chmodSync(dir, persistence ? 0o777 : 0o755);
  const port = await freePort();
  const defaults = (directive: string, ...lines: string[]) => (sets(directive) ? [] : lines);
  const lines = [
    `listener ${port} 127.0.0.1`,
    ...(persistence ? [`persistence_location ${dir}/`] : []),
    ...defaults('persistence', `persistence ${persistence}`),
    'log_dest stdout',
    ...defaults('log_type', 'log_type error', 'log_type warning'),
    ...defaults('max_inflight_messages', 'max_inflight_messages 0'),
    ...defaults('max_queued_messages', 'max_queued_messages 0'),
    ...shipped.map((d) => d.line),
  ];
  if (options.users) {
    const passwordFile = path.join(dir, 'passwords');
    writeFileSync(passwordFile, '', { mode: 0o600 });
    for (const [user, password] of Object.entries(options.users)) {
      const result = spawnSync('mosquitto_passwd', ['-b', passwordFile, user, password], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`mosquitto_passwd failed: ${result.stderr || result.error?.message}`);
    }
    chmodSync(passwordFile, 0o644);
    lines.push(...defaults('allow_anonymous', 'allow_anonymous false'), `password_file ${passwordFile}`);
  } else {
    lines.push(...defaults('allow_anonymous', 'allow_anonymous true'));
  }
  if (options.aclFile) {
    const aclCopy = path.join(dir, 'acl.conf');
    writeFileSync(aclCopy, readFileSync(options.aclFile));
    chmodSync(aclCopy, 0o644);
    lines.push(`acl_file ${aclCopy}`);
  }
  lines.push(...(options.extraConfig ?? []));
  const configFile = path.join(dir, 'mosquitto.conf');
  writeFileSync(configFile, `${lines.join('\n')}\n`);

  let child: ChildProcess | null = null;
  let output = '';
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    if (child) return;
    const started = spawn(bin, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    started.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    started.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    exited = new Promise<void>((resolve) =>
      started.once('exit', () => {
        if (child === started) child = null;
        resolve();
      }),
    );
    const deadline = Date.now() + 10_000;
    // The port may still be held for a moment after a restart: retry until it answers.
    while (!(await accepts(port))) {
      if (child !== started) throw new Error(`mosquitto exited while starting:\n${output}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not accept connections on ${port}:\n${output}`);
      await sleep(25);
    }
  };

  const stop = async () => {
    const running = child;
    if (!running) return;
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    start,
    stop,
    kill: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    output: () => output,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What HQ would see: a QoS 1 subscriber that keeps every message, in arrival order. */
export interface HqSubscriber {
  client: MqttClient;
  /** Every event envelope received on `.../events` (duplicates included), in arrival order. */
  events: HubEvent[];
  /** Every message, in arrival order. */
  messages: { topic: string; payload: string; retain: boolean }[];
  /** Events deduplicated by eventId, in arrival order of their first copy. */
  unique(): HubEvent[];
  /** The seqs of an epoch's events, each once, in ascending order. */
  seqsOf(epoch: string): number[];
  /** Every `epoch seq` under which two different events (eventIds) arrived: a stream that is not one history. */
  seqConflicts(): string[];
  /** Resolves once `check` holds (polled), or rejects after `timeoutMs`. */
  waitFor(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** The latest message on a topic ending with `suffix`, parsed. */
  last(suffix: string): Record<string, unknown> | null;
  /** Publishes an HQ command and waits for its answer on `.../cmd-result`. */
  command(
    storeRoot: string,
    name: string,
    body?: Record<string, unknown>,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

let subscribers = 0;

/**
 * `persistent`: a session that outlives a disconnection (fixed client id, no clean start), so a
 * broker with persistence queues what is published while the subscriber reconnects. `connect`
 * adds to or overrides the connection options (a username, the same client id again to come back
 * to a session, MQTT 3.1.1).
 */
export async function hqSubscriber(
  url: string,
  filter = 'ayi/v1/#',
  persistent = false,
  connect: IClientOptions = {},
): Promise<HqSubscriber> {
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    reconnectPeriod: 200,
    ...(persistent
      ? {
          clean: false,
          clientId: `hq-test-${process.pid}-${++subscribers}`,
          ...(connect.protocolVersion === 4 ? {} : { properties: { sessionExpiryInterval: 3600 } }),
        }
      : { clean: true }),
    ...connect,
  });
  const events: HubEvent[] = [];
  const messages: { topic: string; payload: string; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) => {
    const text = payload.toString('utf8');
    messages.push({ topic, payload: text, retain: packet.retain });
    if (topic.endsWith('/events')) events.push(JSON.parse(text) as HubEvent);
  });
  // Listening before CONNACK: a session that comes back gets its queued messages right after it.
  await new Promise<void>((resolve, reject) => {
    // Only a failure of this first connection ends the client; later ones it retries.
    const failed = (err: Error) => {
      client.end(true);
      reject(err);
    };
    client.once('error', failed);
    client.once('connect', () => {
      client.off('error', failed);
      resolve();
    });
  });
  await client.subscribeAsync(filter, { qos: 1 });
  const waitFor = async (check: () => boolean, timeoutMs = 20_000, what = 'condition') => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(20);
    }
  };
  const last = (suffix: string) => {
    for (let i = messages.length - 1; i >= 0; i--) {
      const message = messages[i]!;
      if (message.topic.endsWith(suffix))
        return message.payload === '' ? {} : (JSON.parse(message.payload) as Record<string, unknown>);
    }
    return null;
  };
  const unique = () => {
    const seen = new Set<string>();
    return events.filter((event) => (seen.has(event.eventId) ? false : (seen.add(event.eventId), true)));
  };
  let requests = 0;
  return {
    client,
    events,
    messages,
    unique,
    seqsOf: (epoch) =>
      unique()
        .filter((event) => event.epoch === epoch)
        .map((event) => event.seq)
        .sort((a, b) => a - b),
    seqConflicts: () => {
      const eventIdAt = new Map<string, string>();
      const conflicts = new Set<string>();
      for (const event of events) {
        const key = `${event.epoch} ${event.seq}`;
        if ((eventIdAt.get(key) ?? event.eventId) !== event.eventId) conflicts.add(key);
        eventIdAt.set(key, event.eventId);
      }
      return [...conflicts];
    },
    waitFor,
    last,
    command: async (storeRoot, name, body = {}, timeoutMs = 10_000) => {
      const requestId = `test-${process.pid}-${++requests}`;
      await client.publishAsync(`${storeRoot}/cmd/${name}`, JSON.stringify({ requestId, ...body }), { qos: 1 });
      let answer: Record<string, unknown> | null = null;
      await waitFor(
        () => {
          answer =
            messages
              .filter((m) => m.topic === `${storeRoot}/cmd-result`)
              .map((m) => JSON.parse(m.payload) as Record<string, unknown>)
              .find((m) => m.requestId === requestId) ?? null;
          return answer !== null;
        },
        timeoutMs,
        `the answer to ${name}`,
      );
      return answer!;
    },
    close: () => client.endAsync(true),
  };
}
