/**
 * What one MQTT message on `ayi/v1/{chainId}/{storeId}/events` is: an event HQ can store, or a
 * reason to quarantine it. The schemas are the hub's own (hub/src/protocol), compiled once.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { EVENT_TYPES, EventEnvelopeSchema, eventSchema } from '../../../hub/src/protocol/event-schemas.js';
import type { EventType } from '../../../hub/src/protocol/events.js';

export const EVENTS_TOPIC = /^ayi\/v1\/([a-z0-9-]+)\/([a-z0-9-]+)\/events$/;

/** An event as HQ stores it. */
export interface IncomingEvent {
  eventId: string;
  chainId: string;
  storeId: string;
  epoch: string;
  seq: number;
  type: string;
  at: string;
  /** When it happened in the store, for events recorded later than that (imported history). */
  occurredAt: string | null;
  data: Record<string, unknown>;
  link: Record<string, unknown> | null;
}

export type QuarantineReason =
  | 'bad_topic'
  | 'not_json'
  | 'bad_envelope'
  | 'topic_mismatch'
  | 'bad_payload'
  /** Valid by the contract, yet the database refuses its data (e.g. a NUL character in a text). */
  | 'refused_by_database';

export type MessageVerdict =
  | { ok: true; event: IncomingEvent; knownType: boolean }
  | { ok: false; reason: QuarantineReason; detail: string; storeId: string | null };

// The envelope of any type, known or not: a newer hub's event types are stored (they keep the seq
// contiguous) and projected once HQ learns them.
const anyEnvelope = TypeCompiler.Compile(
  Type.Object(
    { ...EventEnvelopeSchema.properties, type: Type.String({ pattern: '^[a-z_]+(\\.[a-z_]+)+$', maxLength: 64 }) },
    { additionalProperties: false },
  ),
);
const knownTypes = new Set<string>(EVENT_TYPES);
const typeChecks = new Map<string, TypeCheck<TSchema>>();

function checkOf(type: EventType): TypeCheck<TSchema> {
  let check = typeChecks.get(type);
  if (!check) {
    check = TypeCompiler.Compile(eventSchema(type));
    typeChecks.set(type, check);
  }
  return check;
}

function firstError(check: TypeCheck<TSchema>, value: unknown): string {
  const error = check.Errors(value).First();
  return error ? `${error.path || '/'}: ${error.message}` : 'invalid';
}

export function readEventMessage(topic: string, payload: Buffer | string): MessageVerdict {
  const route = EVENTS_TOPIC.exec(topic);
  if (!route) return { ok: false, reason: 'bad_topic', detail: 'not ayi/v1/{chainId}/{storeId}/events', storeId: null };
  const [, chainId, storeId] = route as unknown as [string, string, string];
  let message: unknown;
  try {
    message = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'not_json', detail: (err as Error).message, storeId };
  }
  if (!anyEnvelope.Check(message)) {
    return { ok: false, reason: 'bad_envelope', detail: firstError(anyEnvelope, message), storeId };
  }
  const envelope = message as unknown as IncomingEvent & { link?: Record<string, unknown>; occurredAt?: string };
  // The broker's ACL lets a store publish only under its own topic: the topic is the truth.
  if (envelope.chainId !== chainId || envelope.storeId !== storeId) {
    return {
      ok: false,
      reason: 'topic_mismatch',
      detail: `envelope says ${envelope.chainId}/${envelope.storeId}, topic says ${chainId}/${storeId}`,
      storeId,
    };
  }
  const knownType = knownTypes.has(envelope.type);
  if (knownType) {
    const check = checkOf(envelope.type as EventType);
    if (!check.Check(message)) {
      return { ok: false, reason: 'bad_payload', detail: `${envelope.type} ${firstError(check, message)}`, storeId };
    }
  }
  return {
    ok: true,
    knownType,
    event: {
      eventId: envelope.eventId,
      chainId,
      storeId,
      epoch: envelope.epoch,
      seq: envelope.seq,
      type: envelope.type,
      at: envelope.at,
      occurredAt: envelope.occurredAt ?? null,
      data: envelope.data,
      link: envelope.link ?? null,
    },
  };
}
