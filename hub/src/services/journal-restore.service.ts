/**
 * A store heals from HQ: `cmd/restore` brings events back for seqs the journal lacks (damaged
 * lines), from HQ's copy. Each event is checked before anything is written, and refused unless it
 * is one this journal lost:
 *
 * - it is an event of the contract (its type's schema), of this chain, store and current epoch;
 * - its seq is one the journal names missing: a good line is never replaced;
 * - its id is its own (a UUIDv7 carries the time the hub recorded the event: `at`), and, where the
 *   damaged line still shows an `"eventId"`, that one;
 * - where the damaged line's checksum is still legible, the event serialises to exactly the bytes
 *   that checksum covers. HQ keeps payloads as PostgreSQL jsonb, which does not keep the order of
 *   keys, so the event is serialised with its envelope in the hub's own order and its payload in
 *   its schema's order (the order the hub writes them), or as received; one of them must match.
 *
 * What passes is written as the original line was, durably, before the answer (Journal.restore).
 */
import { crc32c } from '@node-rs/crc32';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { EVENT_TYPES, eventSchema, type RestoreRefusal } from '../protocol/event-schemas.js';
import { EVENT_SCHEMA, type EventType, type HubEvent } from '../protocol/events.js';
import type { StoreIdentity } from '../storage/event-store.js';
import type { DamagedLine } from '../storage/journal.js';

/** The part of the journal a restore uses. */
export interface RestorableJournal {
  missingSeqs(fromSeq: number, toSeq: number): Promise<number[]>;
  restoredEvent(seq: number): HubEvent | null;
  damagedLineOf(seq: number): DamagedLine | null;
  restore(events: readonly HubEvent[]): Promise<void>;
}

export interface RestoreDeps {
  identity: StoreIdentity;
  journal: RestorableJournal;
  lastSeq: () => number;
  /**
   * Runs the durable write (`write`) and brings the projections up to date with the restored
   * events; resolves once both are done.
   */
  apply: (events: HubEvent[], write: () => Promise<void>) => Promise<void>;
}

export interface RestoreAnswer extends Record<string, unknown> {
  ok: boolean;
  restored: number[];
  refused: { seq: number | null; reason: RestoreRefusal }[];
}

const knownTypes = new Set<string>(EVENT_TYPES);
const checks = new Map<string, TypeCheck<TSchema>>();

function checkOf(type: EventType): TypeCheck<TSchema> {
  let check = checks.get(type);
  if (!check) {
    check = TypeCompiler.Compile(eventSchema(type));
    checks.set(type, check);
  }
  return check;
}

/** The envelope's keys in the order EventStore writes them. */
const ENVELOPE_ORDER = ['schema', 'eventId', 'chainId', 'storeId', 'epoch', 'seq', 'type', 'at', 'occurredAt', 'data'];

export class JournalRestorer {
  /** One restore at a time: two commands for one seq must not both pass the "missing" check. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: RestoreDeps) {}

  restore(events: unknown[]): Promise<RestoreAnswer> {
    const run = this.queue.then(() => this.run(events));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(offered: unknown[]): Promise<RestoreAnswer> {
    const restored: number[] = [];
    const refused: RestoreAnswer['refused'] = [];
    const accepted: HubEvent[] = [];
    const seen = new Set<number>();
    for (const item of offered) {
      const verdict = await this.check(item);
      const seq = seqOf(item);
      if (seq !== null && seen.has(seq)) {
        refused.push({ seq, reason: 'duplicate_seq' });
        continue;
      }
      if (seq !== null) seen.add(seq);
      if (verdict === 'already') restored.push(seq!);
      else if ('reason' in verdict) refused.push({ seq, reason: verdict.reason });
      else accepted.push(verdict.event);
    }
    if (accepted.length > 0) {
      accepted.sort((a, b) => a.seq - b.seq);
      await this.deps.apply(accepted, () => this.deps.journal.restore(accepted));
      restored.push(...accepted.map((event) => event.seq));
    }
    restored.sort((a, b) => a - b);
    return { ok: refused.length === 0, restored, refused };
  }

  private async check(item: unknown): Promise<{ event: HubEvent } | { reason: RestoreRefusal } | 'already'> {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return { reason: 'invalid' };
    // `link` is what HQ was given beside the event (a member's cross-store link): not in the journal.
    const { link: _link, ...rest } = item as Record<string, unknown>;
    void _link;
    const event = rest as unknown as HubEvent;
    if (event.schema !== EVENT_SCHEMA || !knownTypes.has(event.type) || !checkOf(event.type).Check(event)) {
      return { reason: 'invalid' };
    }
    const { identity } = this.deps;
    if (event.chainId !== identity.chainId || event.storeId !== identity.storeId) return { reason: 'other_store' };
    if (event.epoch !== identity.epoch) return { reason: 'other_epoch' };
    if (uuidV7Millis(event.eventId) !== Date.parse(event.at)) return { reason: 'id_mismatch' };
    const { journal } = this.deps;
    if (event.seq > this.deps.lastSeq()) return { reason: 'not_missing' };
    const candidates = serialisations(event);
    const already = journal.restoredEvent(event.seq);
    if (already) {
      // The same restore again changes nothing; another event for that seq is refused.
      return serialisations(already)[0] === candidates[0] ? 'already' : { reason: 'not_missing' };
    }
    if (!(await journal.missingSeqs(event.seq, event.seq)).includes(event.seq)) return { reason: 'not_missing' };
    const line = journal.damagedLineOf(event.seq);
    const verdict = line === null ? { index: 0 } : matchLine(line, event, candidates);
    if ('reason' in verdict) return verdict;
    // The bytes the damaged line held, where its checksum tells them; else the hub's own order.
    return { event: JSON.parse(candidates[verdict.index]!) as HubEvent };
  }
}

/**
 * Compares an event with what its damaged line still shows: the candidate serialisation whose
 * checksum is the line's (index 0 when the checksum is not legible), or why it is not that event.
 */
function matchLine(
  line: DamagedLine,
  event: HubEvent,
  candidates: string[],
): { index: number } | { reason: 'id_mismatch' | 'content_mismatch' } {
  const text = line.bytes.toString('latin1');
  const id = /"eventId":"([0-9a-f-]{36})"/.exec(text)?.[1];
  if (id !== undefined && id !== event.eventId) return { reason: 'id_mismatch' };
  const checksum = /^\{"crc32c":"([0-9a-f]{8})",/.exec(text)?.[1];
  if (checksum === undefined) return { index: 0 };
  const wanted = Number.parseInt(checksum, 16);
  const index = candidates.findIndex((json) => crc32c(json.slice(1)) === wanted);
  return index < 0 ? { reason: 'content_mismatch' } : { index };
}

/** The event's JSON in the orders the hub may have written it: its own first. */
function serialisations(event: HubEvent): string[] {
  const envelope: Record<string, unknown> = {};
  for (const key of ENVELOPE_ORDER)
    if (key in event) envelope[key] = (event as unknown as Record<string, unknown>)[key];
  const schema = eventSchema(event.type).properties.data as TSchema;
  const own = JSON.stringify({ ...envelope, data: inSchemaOrder(event.data, schema) });
  const received = JSON.stringify(envelope);
  return own === received ? [own] : [own, received];
}

/** `value` with each object's keys in the order its schema lists them (unknown keys after). */
function inSchemaOrder(value: unknown, schema: TSchema | undefined): unknown {
  if (schema === undefined || value === null || typeof value !== 'object') return value;
  const variants = (schema.anyOf ?? schema.oneOf) as TSchema[] | undefined;
  if (variants) {
    const wanted = Array.isArray(value) ? 'array' : 'object';
    return inSchemaOrder(
      value,
      variants.find((variant) => variant.type === wanted),
    );
  }
  if (Array.isArray(value)) return value.map((item) => inSchemaOrder(item, schema.items as TSchema | undefined));
  const properties = (schema.properties ?? {}) as Record<string, TSchema>;
  const source = value as Record<string, unknown>;
  const ordered: Record<string, unknown> = {};
  for (const key of Object.keys(properties))
    if (key in source) ordered[key] = inSchemaOrder(source[key], properties[key]);
  for (const key of Object.keys(source)) if (!(key in ordered)) ordered[key] = source[key];
  return ordered;
}

/** The milliseconds a UUIDv7 carries (its first 48 bits), or NaN for another kind of id. */
function uuidV7Millis(id: string): number {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)) return Number.NaN;
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

function seqOf(item: unknown): number | null {
  const seq = typeof item === 'object' && item !== null ? (item as { seq?: unknown }).seq : undefined;
  return typeof seq === 'number' && Number.isInteger(seq) ? seq : null;
}
