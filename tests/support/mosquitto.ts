/**
 * A real mosquitto broker for tests: a free port, a temporary config (one listener, anonymous or a
 * password file, no persistence), started and waited for until it accepts connections. It can be
 * stopped and started again on the same port (broker outages) and is killed when the test ends.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
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
  /** Lines added to the config (e.g. an acl_file). */
  extraConfig?: string[];
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
  // Started as root, mosquitto drops to its own user: it must still read its files.
  chmodSync(dir, options.persistence ? 0o777 : 0o755);
  const port = await freePort();
  const lines = [
    `listener ${port} 127.0.0.1`,
    ...(options.persistence ? ['persistence true', `persistence_location ${dir}/`] : ['persistence false']),
    'log_dest stdout',
    'log_type error',
    'log_type warning',
    'max_inflight_messages 0',
    'max_queued_messages 0',
  ];
  if (options.users) {
    const passwordFile = path.join(dir, 'passwords');
    writeFileSync(passwordFile, '', { mode: 0o600 });
    for (const [user, password] of Object.entries(options.users)) {
      const result = spawnSync('mosquitto_passwd', ['-b', passwordFile, user, password], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`mosquitto_passwd failed: ${result.stderr || result.error?.message}`);
    }
    chmodSync(passwordFile, 0o644);
    lines.push('allow_anonymous false', `password_file ${passwordFile}`);
  } else {
    lines.push('allow_anonymous true');
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
 * broker with persistence queues what is published while the subscriber reconnects.
 */
export async function hqSubscriber(url: string, filter = 'ayi/v1/#', persistent = false): Promise<HqSubscriber> {
  const client = await connectAsync(url, {
    protocolVersion: 5,
    reconnectPeriod: 200,
    ...(persistent
      ? {
          clean: false,
          clientId: `hq-test-${process.pid}-${++subscribers}`,
          properties: { sessionExpiryInterval: 3600 },
        }
      : { clean: true }),
  });
  const events: HubEvent[] = [];
  const messages: { topic: string; payload: string; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) => {
    const text = payload.toString('utf8');
    messages.push({ topic, payload: text, retain: packet.retain });
    if (topic.endsWith('/events')) events.push(JSON.parse(text) as HubEvent);
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
  let requests = 0;
  return {
    client,
    events,
    messages,
    unique: () => {
      const seen = new Set<string>();
      return events.filter((event) => (seen.has(event.eventId) ? false : (seen.add(event.eventId), true)));
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
