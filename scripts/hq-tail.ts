/**
 * Watches what the stores of a chain publish to HQ's broker, the way HQ consumes it:
 *
 *   npm run hq-tail -- --broker mqtt://host:1883 [--chain ID] [--store ID] [--username U --password P]
 *                      [--session NAME] [--ping SEC] [--duration SEC] [--json]
 *
 * Subscribes to `ayi/v1/{chain}/{store}/events` (QoS 1), `.../status` and `.../cmd-result` of a whole
 * chain, one store, or (without --chain) every chain on the broker. Each event is validated against
 * the contract (hub/src/protocol/event-schemas.ts, published as hub/docs/contract/*.json), deduped by
 * (storeId, eventId), and its seq checked per store and epoch: a seq that skips ahead opens a gap, a
 * late one (a resend) closes it. A stream first seen at a seq above 1 is taken to start there (the
 * tool joined late) unless --from-start is given.
 *
 * Every store it knows of (from its retained status, its events, or --store) is sent the `ping`
 * command on an interval; the answer's lastSeq, deliveredSeq and backlog are the live figures of the
 * summary (the retained status only says online or offline, with the figures of connect time).
 * With --session NAME the tool keeps a persistent session on the broker (a fixed client id, no clean
 * start, a session expiry): what is published between two runs is queued for it and arrives when it
 * runs again. A live summary is printed every few seconds; --duration, one Ctrl-C or SIGTERM end it
 * with a final summary (a second Ctrl-C ends it at once).
 *
 * Exit status 0 when every message was valid and no gap is open, 1 otherwise, 2 for bad arguments,
 * 130 when forced by a second Ctrl-C.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import mqtt from 'mqtt';
import {
  CommandResultSchema,
  EVENT_TYPES,
  LinkStatusSchema,
  eventSchema,
  type CommandResult,
  type LinkStatus,
} from '../hub/src/protocol/event-schemas.ts';
import type { EventType } from '../hub/src/protocol/events.ts';
import { UsageError, exitWith, parseStrictArgs, runCommand } from './lib/cli.ts';

const USAGE = `usage: npm run hq-tail -- --broker URL [options]

  --broker URL       the broker: mqtt://host:1883, mqtts://host:8883, ws:// or wss://
  --chain ID         only this chain (default: every chain)
  --store ID         only this store (needs --chain)
  --username U       broker user (HQ's read-everything user)
  --password P       its password (or AYI_HQ_TAIL_PASSWORD in the environment)
  --ca FILE          CA certificate for mqtts:// / wss://
  --interval SEC     seconds between live summaries (default 5; 0: only at exit)
  --ping SEC         seconds between pings to each store, for live figures (default 10; 0: no pings)
  --session NAME     a persistent session (client id ayi-hq-tail-NAME): nothing published between
                     two runs with the same NAME is missed
  --session-expiry SEC  how long the broker keeps that session while the tool is not running
                     (default 86400, a day)
  --duration SEC     exit after this many seconds (default: run until Ctrl-C)
  --from-start       a stream first seen above seq 1 has a gap from seq 1 (from its epochStartSeq
                     for a store restored from a backup)
  --json             print JSON lines (invalid messages, gaps, summaries) instead of text
  --help             this text

Ctrl-C (once), SIGTERM or --duration end it with a final summary; a second Ctrl-C stops it at once.
Exit status 0: every message valid and no gap open; 1 otherwise; 2 bad arguments.
`;

interface Options {
  broker: string;
  chain: string | null;
  store: string | null;
  username: string | null;
  password: string | null;
  ca: string | null;
  intervalMs: number;
  pingMs: number;
  session: string | null;
  sessionExpiryS: number;
  durationMs: number | null;
  fromStart: boolean;
  json: boolean;
}

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SESSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function secondsOption(name: string, raw: string | undefined, fallback: number | null): number | null {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || value > 86_400 * 365) {
    throw new UsageError(`--${name} must be a number of seconds, got ${JSON.stringify(raw)}`);
  }
  return Math.round(value * 1000);
}

function parseOptions(argv: string[]): Options | 'help' {
  const parsed = parseStrictArgs(argv, {
    broker: { type: 'string' },
    chain: { type: 'string' },
    store: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    ca: { type: 'string' },
    interval: { type: 'string' },
    ping: { type: 'string' },
    session: { type: 'string' },
    'session-expiry': { type: 'string' },
    duration: { type: 'string' },
    'from-start': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const v = parsed.values;
  if (v.help) return 'help';
  if (!v.broker) throw new UsageError('--broker is required, e.g. --broker mqtt://127.0.0.1:1883');
  let url: URL;
  try {
    url = new URL(v.broker);
  } catch {
    throw new UsageError(`--broker must be a URL such as mqtt://127.0.0.1:1883, got ${JSON.stringify(v.broker)}`);
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new UsageError(`--broker must be mqtt://, mqtts://, ws:// or wss://, got ${JSON.stringify(v.broker)}`);
  }
  for (const name of ['chain', 'store'] as const) {
    const value = v[name];
    if (value !== undefined && !ID.test(value)) throw new UsageError(`--${name} ${JSON.stringify(value)} is not an id`);
  }
  if (v.store && !v.chain) throw new UsageError('--store needs --chain');
  const password = v.password ?? process.env.AYI_HQ_TAIL_PASSWORD ?? null;
  if (password !== null && !v.username) throw new UsageError('--password needs --username');
  if (v.session !== undefined && !SESSION_NAME.test(v.session)) {
    throw new UsageError(`--session ${JSON.stringify(v.session)}: letters, digits, '.', '_' and '-', up to 64`);
  }
  if (v['session-expiry'] !== undefined && v.session === undefined) {
    throw new UsageError('--session-expiry needs --session');
  }
  const sessionExpiryMs = secondsOption('session-expiry', v['session-expiry'], 86_400_000)!;
  if (sessionExpiryMs < 1000) throw new UsageError('--session-expiry must be at least 1 second');
  return {
    broker: v.broker,
    chain: v.chain ?? null,
    store: v.store ?? null,
    username: v.username ?? null,
    password,
    ca: v.ca ?? null,
    intervalMs: secondsOption('interval', v.interval, 5000)!,
    pingMs: secondsOption('ping', v.ping, 10_000)!,
    session: v.session ?? null,
    sessionExpiryS: Math.round(sessionExpiryMs / 1000),
    durationMs: secondsOption('duration', v.duration, null),
    fromStart: v['from-start'] ?? false,
    json: v.json ?? false,
  };
}

// ---- what was received: pure, so tests and other tools can use it ----

/** Seqs of one store in one epoch. */
interface Stream {
  chainId: string;
  storeId: string;
  epoch: string;
  /** Every seq from `first` to `contiguous` has arrived. */
  first: number;
  contiguous: number;
  maxSeq: number;
  /** Seqs above `contiguous` that arrived early. */
  ahead: Set<number>;
  events: number;
  outOfOrder: number;
  lastAt: string | null;
}

/** What a store's hub answered to the latest ping: its figures now, not those of its retained status. */
export interface LiveFigures {
  epoch: string;
  lastSeq: number;
  deliveredSeq: number;
  backlog: number;
  version: string | null;
  /** When the answer arrived (this machine's clock), and how long after the ping. */
  receivedAt: string;
  roundTripMs: number;
}

export interface LiveSummary extends LiveFigures {
  /** Seconds since the answer arrived. */
  ageS: number;
}

interface StoreTally {
  chainId: string;
  storeId: string;
  status: LinkStatus | null;
  live: LiveFigures | null;
  liveAtMs: number;
  pingsSent: number;
  /** Pings sent since the last answer. */
  pingsUnanswered: number;
  events: number;
  duplicates: number;
  invalid: number;
  cmdResults: number;
  types: Record<string, number>;
}

export interface StreamSummary {
  epoch: string;
  events: number;
  firstSeq: number;
  maxSeq: number;
  /** Every seq up to here has arrived (from firstSeq). */
  contiguousSeq: number;
  /** Seqs still missing, as inclusive ranges. */
  gaps: [number, number][];
  missing: number;
  outOfOrder: number;
  lastAt: string | null;
}

export interface StoreSummary {
  chainId: string;
  storeId: string;
  events: number;
  duplicates: number;
  invalid: number;
  cmdResults: number;
  /** The retained status: online or offline, with the figures of the time it was published. */
  status: LinkStatus | null;
  /** The figures of the latest answer to a ping (null: none yet). */
  live: LiveSummary | null;
  pings: { sent: number; unanswered: number };
  types: Record<string, number>;
  epochs: StreamSummary[];
}

export interface TailSummary {
  kind: 'summary';
  final: boolean;
  elapsedS: number;
  messages: number;
  events: number;
  duplicates: number;
  invalid: number;
  missing: number;
  stores: StoreSummary[];
}

export interface InvalidMessage {
  kind: 'invalid';
  topic: string;
  reason: string;
  seq?: number;
  type?: string;
}

export type Outcome =
  | { kind: 'event'; key: string; seq: number; gapOpened: [number, number] | null; late: boolean }
  | { kind: 'duplicate'; key: string; seq: number }
  | InvalidMessage
  | { kind: 'pong'; topic: string; live: LiveFigures }
  | { kind: 'status' | 'cmd-result' | 'ignored'; topic: string };

const TOPIC = /^ayi\/v1\/([^/]+)\/([^/]+)\/(events|status|cmd-result)$/;

export class Tally {
  private readonly checkers = new Map<string, TypeCheck<TSchema>>(
    EVENT_TYPES.map((t) => [t, TypeCompiler.Compile(eventSchema(t as EventType))]),
  );
  private readonly statusCheck = TypeCompiler.Compile(LinkStatusSchema);
  private readonly resultCheck = TypeCompiler.Compile(CommandResultSchema);
  private readonly seen = new Set<string>();
  private readonly stores = new Map<string, StoreTally>();
  private readonly streams = new Map<string, Stream>();
  /** A restored store's epoch: the seq it starts at (`epochStartSeq` of its status), by chain/store/epoch. */
  private readonly epochStarts = new Map<string, number>();
  /** Pings sent and not answered yet, by requestId. */
  private readonly pending = new Map<string, { store: StoreTally; sentAtMs: number }>();
  private messages = 0;
  private readonly started = Date.now();

  constructor(
    private readonly fromStart = false,
    private readonly now: () => number = Date.now,
  ) {}

  private store(chainId: string, storeId: string): StoreTally {
    const key = `${chainId}/${storeId}`;
    let store = this.stores.get(key);
    if (!store) {
      store = {
        chainId,
        storeId,
        status: null,
        live: null,
        liveAtMs: 0,
        pingsSent: 0,
        pingsUnanswered: 0,
        events: 0,
        duplicates: 0,
        invalid: 0,
        cmdResults: 0,
        types: {},
      };
      this.stores.set(key, store);
    }
    return store;
  }

  /** How many stores were heard of so far (or named). */
  get storeCount(): number {
    return this.stores.size;
  }

  /** Every store heard of so far (or named), as chainId/storeId. */
  knownStores(): { chainId: string; storeId: string }[] {
    return [...this.stores.values()].map(({ chainId, storeId }) => ({ chainId, storeId }));
  }

  /** Counts a store before anything arrived from it (--store): it is pinged at once. */
  addStore(chainId: string, storeId: string): void {
    this.store(chainId, storeId);
  }

  /** Records a ping sent to a store; its answer (cmd-result with this requestId) becomes the live figures. */
  pingSent(chainId: string, storeId: string, requestId: string): void {
    const store = this.store(chainId, storeId);
    store.pingsSent += 1;
    store.pingsUnanswered += 1;
    this.pending.set(requestId, { store, sentAtMs: this.now() });
    // A store that never answers must not grow this map for ever: forget the oldest.
    if (this.pending.size > 10_000) this.pending.delete(this.pending.keys().next().value!);
  }

  private problem(check: TypeCheck<TSchema>, value: unknown): string | null {
    const first = check.Errors(value).First();
    return first ? `${first.path || '/'}: ${first.message}` : null;
  }

  /** Takes one message as it came off the broker. */
  receive(topic: string, payload: Buffer | string): Outcome {
    this.messages += 1;
    const match = TOPIC.exec(topic);
    if (!match) return { kind: 'ignored', topic };
    const [, chainId, storeId, kind] = match as unknown as [string, string, string, string];
    const store = this.store(chainId, storeId);
    const text = payload.toString();
    const invalid = (reason: string, extra: { seq?: number; type?: string } = {}): InvalidMessage => {
      store.invalid += 1;
      return { kind: 'invalid', topic, reason, ...extra };
    };
    if (kind === 'status' && text === '') return { kind: 'status', topic }; // a retained status cleared
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return invalid(`not JSON: ${text.slice(0, 60)}`);
    }
    if (kind === 'status') {
      const problem = this.problem(this.statusCheck, message);
      if (problem) return invalid(`status: ${problem}`);
      store.status = message as LinkStatus;
      this.noteEpochStart(chainId, storeId, store.status);
      return { kind: 'status', topic };
    }
    if (kind === 'cmd-result') {
      const problem = this.problem(this.resultCheck, message);
      if (problem) return invalid(`cmd-result: ${problem}`);
      store.cmdResults += 1;
      const result = message as CommandResult;
      const ping = result.requestId !== null ? this.pending.get(result.requestId) : undefined;
      if (!ping || ping.store !== store || result.command !== 'ping' || !result.ok)
        return { kind: 'cmd-result', topic };
      this.pending.delete(result.requestId!);
      const nowMs = this.now();
      const live: LiveFigures = {
        epoch: result.epoch,
        lastSeq: result.lastSeq ?? 0,
        deliveredSeq: result.deliveredSeq ?? 0,
        backlog: result.backlog ?? 0,
        version:
          typeof (message as { version?: unknown }).version === 'string'
            ? (message as { version: string }).version
            : null,
        receivedAt: new Date(nowMs).toISOString(),
        roundTripMs: nowMs - ping.sentAtMs,
      };
      // An answer to an older ping arriving late does not replace a newer one.
      if (ping.sentAtMs >= store.liveAtMs) {
        store.live = live;
        store.liveAtMs = ping.sentAtMs;
      }
      store.pingsUnanswered = 0;
      return { kind: 'pong', topic, live };
    }

    const event = message as { type?: unknown; seq?: unknown; eventId?: unknown; epoch?: unknown } & Record<
      string,
      unknown
    >;
    const type = typeof event.type === 'string' ? event.type : undefined;
    const seq = typeof event.seq === 'number' ? event.seq : undefined;
    const extra = { ...(seq !== undefined ? { seq } : {}), ...(type !== undefined ? { type } : {}) };
    const check = type !== undefined ? this.checkers.get(type) : undefined;
    if (!check) return invalid(`unknown event type ${JSON.stringify(event.type)}`, extra);
    const problem = this.problem(check, message);
    if (problem) return invalid(problem, extra);
    if (event.chainId !== chainId || event.storeId !== storeId) {
      return invalid(
        `published under ${chainId}/${storeId} but says ${String(event.chainId)}/${String(event.storeId)}`,
        extra,
      );
    }

    const key = `${chainId}/${storeId}/${String(event.eventId)}`;
    if (this.seen.has(key)) {
      store.duplicates += 1;
      return { kind: 'duplicate', key, seq: seq! };
    }
    this.seen.add(key);
    store.events += 1;
    store.types[type!] = (store.types[type!] ?? 0) + 1;
    return { kind: 'event', key, seq: seq!, ...this.track(chainId, storeId, String(event.epoch), seq!, event.at) };
  }

  private track(
    chainId: string,
    storeId: string,
    epoch: string,
    seq: number,
    at: unknown,
  ): { gapOpened: [number, number] | null; late: boolean } {
    const key = `${chainId}/${storeId}/${epoch}`;
    let stream = this.streams.get(key);
    if (!stream) {
      const first = this.fromStart ? (this.epochStarts.get(key) ?? 1) : seq;
      stream = {
        chainId,
        storeId,
        epoch,
        first,
        contiguous: first - 1,
        maxSeq: first - 1,
        ahead: new Set(),
        events: 0,
        outOfOrder: 0,
        lastAt: null,
      };
      this.streams.set(key, stream);
    }
    stream.events += 1;
    if (typeof at === 'string') stream.lastAt = at;
    let gapOpened: [number, number] | null = null;
    let late = false;
    if (seq < stream.first) {
      // Older than where this stream was first seen (a resend from before we joined): the stream
      // starts here now, and what lies between is missing until it arrives.
      for (let s = stream.first; s <= stream.contiguous; s += 1) stream.ahead.add(s);
      stream.first = seq;
      stream.contiguous = seq;
      late = true;
      stream.outOfOrder += 1;
    } else if (seq > stream.maxSeq) {
      if (seq > stream.maxSeq + 1) gapOpened = [stream.maxSeq + 1, seq - 1];
      stream.maxSeq = seq;
      if (seq === stream.contiguous + 1) stream.contiguous = seq;
      else stream.ahead.add(seq);
    } else {
      late = true;
      stream.outOfOrder += 1;
      if (seq === stream.contiguous + 1) stream.contiguous = seq;
      else stream.ahead.add(seq);
    }
    while (stream.ahead.has(stream.contiguous + 1)) {
      stream.ahead.delete(stream.contiguous + 1);
      stream.contiguous += 1;
    }
    for (const s of stream.ahead) if (s <= stream.contiguous) stream.ahead.delete(s);
    return { gapOpened, late };
  }

  /**
   * A store restored from a backup starts its epoch after the backup's last seq: with --from-start,
   * the seqs before that are not missing (they are the old epoch's). The status may come after the
   * epoch's first events: a stream already open is moved to its start.
   */
  private noteEpochStart(chainId: string, storeId: string, status: LinkStatus): void {
    if (status.state !== 'online' || !status.epochStartSeq) return;
    const key = `${chainId}/${storeId}/${status.epoch}`;
    const start = status.epochStartSeq;
    this.epochStarts.set(key, start);
    const stream = this.streams.get(key);
    if (!this.fromStart || !stream || stream.first >= start) return;
    stream.first = start;
    stream.contiguous = Math.max(stream.contiguous, start - 1);
    for (const seq of stream.ahead) if (seq <= stream.contiguous) stream.ahead.delete(seq);
    while (stream.ahead.delete(stream.contiguous + 1)) stream.contiguous += 1;
  }

  private gapsOf(stream: Stream): [number, number][] {
    const gaps: [number, number][] = [];
    let from = stream.contiguous + 1;
    const ahead = [...stream.ahead].sort((a, b) => a - b);
    for (const s of ahead) {
      if (s > from) gaps.push([from, s - 1]);
      from = s + 1;
    }
    return gaps;
  }

  summary(final = false): TailSummary {
    const stores: StoreSummary[] = [...this.stores.values()]
      .sort((a, b) => `${a.chainId}/${a.storeId}`.localeCompare(`${b.chainId}/${b.storeId}`))
      .map((store) => ({
        chainId: store.chainId,
        storeId: store.storeId,
        events: store.events,
        duplicates: store.duplicates,
        invalid: store.invalid,
        cmdResults: store.cmdResults,
        status: store.status,
        live: store.live
          ? { ...store.live, ageS: Math.round((this.now() - Date.parse(store.live.receivedAt)) / 100) / 10 }
          : null,
        pings: { sent: store.pingsSent, unanswered: store.pingsUnanswered },
        types: { ...store.types },
        epochs: [...this.streams.values()]
          .filter((s) => s.chainId === store.chainId && s.storeId === store.storeId)
          .map((s) => {
            const gaps = this.gapsOf(s);
            return {
              epoch: s.epoch,
              events: s.events,
              firstSeq: s.first,
              maxSeq: s.maxSeq,
              contiguousSeq: s.contiguous,
              gaps,
              missing: gaps.reduce((n, [a, b]) => n + b - a + 1, 0),
              outOfOrder: s.outOfOrder,
              lastAt: s.lastAt,
            };
          }),
      }));
    const sum = (f: (s: StoreSummary) => number) => stores.reduce((n, s) => n + f(s), 0);
    return {
      kind: 'summary',
      final,
      elapsedS: Math.round((this.now() - this.started) / 100) / 10,
      messages: this.messages,
      events: sum((s) => s.events),
      duplicates: sum((s) => s.duplicates),
      invalid: sum((s) => s.invalid),
      missing: sum((s) => s.epochs.reduce((n, e) => n + e.missing, 0)),
      stores,
    };
  }
}

const shortId = (id: string) => (id.length > 13 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);

/** The store's link: live figures from its latest answer to a ping, else what its retained status said. */
function storeState(store: StoreSummary): string {
  const state = store.status?.state ?? 'no status';
  const { live, pings } = store;
  const unanswered =
    pings.unanswered > 0 ? `, ${pings.unanswered} ping${pings.unanswered === 1 ? '' : 's'} unanswered` : '';
  if (live) {
    return (
      `${state}, live ${live.ageS} s ago: hub lastSeq ${live.lastSeq}, delivered ${live.deliveredSeq}, ` +
      `backlog ${live.backlog}${live.version ? `, v${live.version}` : ''} (ping ${live.roundTripMs} ms${unanswered})`
    );
  }
  const retained = store.status
    ? ` (retained at ${store.status.at}: hub lastSeq ${store.status.lastSeq}, delivered ${store.status.deliveredSeq}, v${store.status.version})`
    : '';
  const pinged = pings.sent === 0 ? '' : `, no answer to ${pings.sent} ping${pings.sent === 1 ? '' : 's'}`;
  return `${state}${retained}${pinged}`;
}

export function formatSummary(summary: TailSummary): string {
  const lines = [
    `${summary.final ? 'final' : 'so far'} (${summary.elapsedS} s): ${summary.messages} messages, ${summary.events} events, ` +
      `${summary.duplicates} duplicates, ${summary.invalid} invalid, ${summary.missing} missing`,
  ];
  if (summary.stores.length === 0) lines.push('  nothing received yet');
  for (const store of summary.stores) {
    lines.push(
      `  ${store.chainId}/${store.storeId}: ${storeState(store)}; ${store.events} events, ${store.duplicates} dup, ${store.invalid} invalid`,
    );
    for (const e of store.epochs) {
      const gaps =
        e.gaps.length === 0
          ? 'no gaps'
          : `GAPS ${e.gaps
              .slice(0, 5)
              .map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`))
              .join(', ')}${e.gaps.length > 5 ? ` (+${e.gaps.length - 5} more)` : ''} (${e.missing} missing)`;
      lines.push(
        `    epoch ${shortId(e.epoch)}: seq ${e.firstSeq}..${e.maxSeq}, ${gaps}, ${e.outOfOrder} late` +
          (e.lastAt ? `, last ${e.lastAt}` : ''),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

// ---- the command ----

async function tail(o: Options): Promise<number> {
  const out = (line: string) => process.stdout.write(line.endsWith('\n') ? line : `${line}\n`);
  const note = (text: string) => {
    if (o.json) out(JSON.stringify({ kind: 'note', text }));
    else process.stderr.write(`${text}\n`);
  };
  const base = `ayi/v1/${o.chain ?? '+'}/${o.store ?? '+'}`;
  const topics = [`${base}/events`, `${base}/status`, `${base}/cmd-result`];
  const tally = new Tally(o.fromStart);
  if (o.chain && o.store) tally.addStore(o.chain, o.store);

  note(`connecting to ${o.broker}${o.session ? ` (session ${o.session})` : ''}; Ctrl-C ends with a summary`);
  const client = mqtt.connect(o.broker, {
    protocolVersion: 5,
    ...(o.session
      ? {
          // A persistent session: the broker keeps the subscriptions and queues what arrives while
          // the tool is not running, for sessionExpiryInterval seconds.
          clean: false,
          clientId: `ayi-hq-tail-${o.session}`,
          properties: { sessionExpiryInterval: o.sessionExpiryS },
        }
      : { clean: true, clientId: `ayi-hq-tail-${process.pid}-${Math.random().toString(16).slice(2, 8)}` }),
    reconnectPeriod: 2000,
    connectTimeout: 10_000,
    ...(o.username ? { username: o.username } : {}),
    ...(o.password !== null ? { password: o.password } : {}),
    ...(o.ca ? { ca: readFileSync(path.resolve(o.ca)) } : {}),
  });

  // ---- ping: the live figures of each store ----
  const runId = `hq-tail-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  let pings = 0;
  const pingRefused = new Set<string>();
  const ping = (chainId: string, storeId: string) => {
    if (o.pingMs === 0 || !client.connected) return;
    const requestId = `${runId}-${++pings}`;
    tally.pingSent(chainId, storeId, requestId);
    const topic = `ayi/v1/${chainId}/${storeId}/cmd/ping`;
    // A ping nobody picks up within the interval is stale: the broker drops it rather than queue it.
    const expiry = Math.max(1, Math.ceil(o.pingMs / 1000));
    client.publish(
      topic,
      JSON.stringify({ requestId }),
      { qos: 1, properties: { messageExpiryInterval: expiry } },
      (err, packet) => {
        const code = (err as { code?: number } | undefined)?.code ?? (packet as { reasonCode?: number })?.reasonCode;
        if ((err || (code !== undefined && code >= 0x80)) && !pingRefused.has(topic)) {
          pingRefused.add(topic);
          note(
            `the broker refused the ping to ${chainId}/${storeId} (${err?.message ?? `reason ${code}`}): may this user write ${topic}?`,
          );
        }
      },
    );
  };
  const pingAll = () => {
    for (const { chainId, storeId } of tally.knownStores()) ping(chainId, storeId);
  };

  client.on('connect', (connack) => {
    if (o.session)
      note(`session ${o.session}: ${connack.sessionPresent ? 'resumed' : 'new'} (client id ayi-hq-tail-${o.session})`);
    client.subscribe(Object.fromEntries(topics.map((topic) => [topic, { qos: 1 as const }])), (err, granted) => {
      if (err) return note(`subscribe failed: ${err.message}`);
      const refused = (granted ?? []).filter((g) => g.qos > 2);
      if (refused.length > 0) note(`the broker refused: ${refused.map((g) => g.topic).join(', ')} (ACL?)`);
      if (o.json) out(JSON.stringify({ kind: 'subscribed', broker: o.broker, topics }));
      else process.stderr.write(`subscribed to ${topics.join(', ')} on ${o.broker}\n`);
      pingAll();
    });
  });
  client.on('reconnect', () => note(`reconnecting to ${o.broker}`));
  client.on('error', (err) => note(`broker: ${err.message}`));
  client.on('offline', () => note('broker connection lost'));

  client.on('message', (topic, payload) => {
    const before = tally.storeCount;
    const outcome = tally.receive(topic, payload);
    // A store heard of for the first time is pinged at once, then on the interval.
    if (tally.storeCount > before) {
      const match = TOPIC.exec(topic);
      if (match) ping(match[1]!, match[2]!);
    }
    if (outcome.kind === 'invalid') {
      if (o.json) out(JSON.stringify(outcome));
      else
        out(
          `INVALID ${outcome.topic}${outcome.type ? ` ${outcome.type}` : ''}${outcome.seq !== undefined ? ` seq ${outcome.seq}` : ''}: ${outcome.reason}`,
        );
    } else if (outcome.kind === 'event' && outcome.gapOpened) {
      const [a, b] = outcome.gapOpened;
      if (o.json)
        out(JSON.stringify({ kind: 'gap', store: outcome.key.split('/').slice(0, 2).join('/'), from: a, to: b }));
      else out(`GAP ${topic}: seq ${a === b ? a : `${a}-${b}`} missing (got ${outcome.seq})`);
    }
  });

  const print = (final: boolean) => {
    const summary = tally.summary(final);
    out(o.json ? JSON.stringify(summary) : formatSummary(summary));
    return summary;
  };
  const timers = [
    o.intervalMs > 0 ? setInterval(() => print(false), o.intervalMs) : null,
    o.pingMs > 0 ? setInterval(pingAll, o.pingMs) : null,
  ];

  const summary = await new Promise<TailSummary>((resolve) => {
    let finishing = false;
    let durationTimer: NodeJS.Timeout | null = null;
    const finish = () => {
      if (finishing) return;
      finishing = true;
      for (const timer of timers) if (timer) clearInterval(timer);
      if (durationTimer) clearTimeout(durationTimer);
      process.off('SIGTERM', finish);
      // Acknowledge what arrived and leave the broker cleanly (a persistent session stays); a broker
      // that does not answer within 2 s is left without that.
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        clearTimeout(giveUp);
        process.off('SIGINT', onSigint);
        resolve(print(true));
      };
      const giveUp = setTimeout(() => {
        client.stream?.destroy();
        close();
      }, 2000);
      client.end(false, {}, close);
    };
    const onSigint = () => {
      if (!finishing) return finish();
      // The second Ctrl-C: stop now.
      note('stopped (second Ctrl-C): no final summary');
      process.exit(130);
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', finish);
    if (o.durationMs !== null) durationTimer = setTimeout(finish, o.durationMs);
  });
  return summary.invalid === 0 && summary.missing === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  exitWith(
    runCommand('hq-tail', USAGE, parseOptions, tail).finally(() => {
      // The final summary is out: a connection still being set up (an unanswered CONNECT keeps a
      // timer) must not hold the exit.
      setTimeout(() => process.exit(), 500).unref();
    }),
    (err) => (err as Error).stack ?? String(err),
  );
}
