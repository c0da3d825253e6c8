/**
 * PDPA erasure at HQ. `member.erased` makes HQ forget the member and every record merged into
 * them, in the transaction that stores the event: sealed profiles, card codes and the cross-store
 * `link.phoneHash` are removed, and the member's id is replaced everywhere by an anonymous one, so
 * their sales still add up in the totals but lead to nobody. Events that arrive after the erasure
 * (late, or resent) are anonymised the same way before they are stored.
 */
import { createHash, randomUUID } from 'node:crypto';
import { forgetMemberInRollups } from '../analytics/rollups.js';
import type { Queryable } from '../db/database.js';
import { eraseMemberRows } from './analytics-projections.js';
import type { IncomingEvent } from './event-message.js';

const hashOf = (memberId: string) => createHash('sha256').update(memberId).digest('hex');

/** The anonymous id an erasure puts in place of a member's: `erased-` and a UUID. */
const newAnonId = () => `erased-${randomUUID()}`;
const ANON_ID = /erased-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** What a quarantined payload that named an erased member holds instead. */
export const ERASED_PAYLOAD = '(removed: it named a member erased since)';

/** Payload fields that hold a person's data, or lead to it, in member events. */
const PERSONAL_FIELDS = ['sealed', 'memberCode'] as const;

/** Every member id an event names. */
export function memberIdsOf(event: IncomingEvent): string[] {
  const data = event.data as {
    memberId?: unknown;
    fromMemberId?: unknown;
    intoMemberId?: unknown;
    loyalty?: { memberId?: unknown } | null;
  };
  return [data.memberId, data.fromMemberId, data.intoMemberId, data.loyalty?.memberId].filter(
    (id): id is string => typeof id === 'string',
  );
}

function replaceIds(value: unknown, anonOf: Map<string, string>): unknown {
  if (typeof value === 'string') return anonOf.get(value) ?? value;
  if (Array.isArray(value)) return value.map((item) => replaceIds(item, anonOf));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, replaceIds(item, anonOf)]));
  }
  return value;
}

function withoutPersonalFields(data: Record<string, unknown>): Record<string, unknown> {
  const kept = { ...data };
  for (const field of PERSONAL_FIELDS) delete kept[field];
  return kept;
}

/**
 * The event as HQ may keep it: unchanged unless it names an erased member. A `member.merged` into
 * an erased member erases the merged record too.
 */
export async function anonymiseIfErased(tx: Queryable, event: IncomingEvent): Promise<IncomingEvent> {
  const ids = memberIdsOf(event);
  if (ids.length === 0) return event;
  const idOfHash = new Map(ids.map((id) => [hashOf(id), id]));
  const erased = await tx.query<{ member_hash: string; anon_id: string }>(
    'SELECT member_hash, anon_id FROM erasures WHERE member_hash = ANY($1)',
    [[...idOfHash.keys()]],
  );
  if (erased.length === 0) return event;
  const anonOf = new Map(erased.map((e) => [idOfHash.get(e.member_hash)!, e.anon_id]));
  const into = (event.data as { intoMemberId?: string }).intoMemberId;
  const from = (event.data as { fromMemberId?: string }).fromMemberId;
  if (event.type === 'member.merged' && into && from && anonOf.has(into) && !anonOf.has(from)) {
    await eraseMembers(tx, [from], anonOf.get(into)!);
    anonOf.set(from, anonOf.get(into)!);
  }
  const data = replaceIds(event.data, anonOf) as Record<string, unknown>;
  return {
    ...event,
    data: event.type.startsWith('member.') ? withoutPersonalFields(data) : data,
    link: null,
  };
}

/** Applies `member.erased`: the member and every record merged into them, everywhere HQ holds them. */
export async function applyErasure(tx: Queryable, memberId: string): Promise<void> {
  const known = await tx.query<{ anon_id: string }>('SELECT anon_id FROM erasures WHERE member_hash = $1', [
    hashOf(memberId),
  ]);
  const anonId = known[0]?.anon_id ?? newAnonId();
  // Records merged into this one, and those merged into them, from the events HQ holds.
  const ids = new Set([memberId]);
  for (let frontier = [memberId]; frontier.length > 0;) {
    const merged = await tx.query<{ from_id: string }>(
      `SELECT data->>'fromMemberId' AS from_id FROM events
       WHERE type = 'member.merged' AND data->>'intoMemberId' = ANY($1)`,
      [frontier],
    );
    frontier = merged.map((m) => m.from_id).filter((id) => !ids.has(id));
    for (const id of frontier) ids.add(id);
  }
  await eraseMembers(tx, [...ids], anonId);
}

async function eraseMembers(tx: Queryable, memberIds: string[], anonId: string): Promise<void> {
  for (const memberId of memberIds) {
    await eraseFromQuarantine(tx, memberId, anonId);
    await tx.query(`INSERT INTO erasures (member_hash, anon_id) VALUES ($1, $2) ON CONFLICT (member_hash) DO NOTHING`, [
      hashOf(memberId),
      anonId,
    ]);
    // The id is a UUID: replacing its text replaces exactly the places that name this member.
    await tx.query(
      `UPDATE events SET data = replace(data::text, $1, $2)::jsonb, link = NULL
       WHERE strpos(data::text, $1) > 0`,
      [memberId, anonId],
    );
    await tx.query('UPDATE sales SET member_id = $2 WHERE member_id = $1', [memberId, anonId]);
    await forgetMemberInRollups(tx, memberId);
  }
  await eraseMemberRows(tx, memberIds, anonId);
  await tx.query(
    `UPDATE events SET data = data - $2::text[], link = NULL
     WHERE type LIKE 'member.%' AND data->>'memberId' = $1`,
    [anonId, [...PERSONAL_FIELDS]],
  );
}

/**
 * Refused messages keep their payload as received: one that names the member (their id, or the
 * phone hash their records carry) loses its payload, and its detail the id and the hash. The row
 * stays (topic, store, reason, time) for the link's health. Run before the events lose the hash.
 */
async function eraseFromQuarantine(tx: Queryable, memberId: string, anonId: string): Promise<void> {
  const hashes = await tx.query<{ phone_hash: string }>(
    `SELECT link->>'phoneHash' AS phone_hash FROM events
     WHERE link->>'phoneHash' IS NOT NULL AND strpos(data::text, $1) > 0
     UNION
     SELECT phone_hash FROM members WHERE member_id = $1 AND phone_hash IS NOT NULL`,
    [memberId],
  );
  const traces: [string, string][] = [
    [memberId, anonId],
    ...hashes.map((h): [string, string] => [h.phone_hash, '[erased]']),
  ];
  for (const [trace, replacement] of traces) {
    await tx.query(
      `UPDATE quarantine SET payload = $3, detail = replace(detail, $1, $2)
       WHERE strpos(payload, $1) > 0 OR strpos(detail, $1) > 0`,
      [trace, replacement, ERASED_PAYLOAD],
    );
  }
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * A refused message as quarantine may keep it: when it names a member erased earlier (a late or
 * resent message; member ids are UUIDs, found even where the message is not JSON), without its
 * payload, and its detail without the id.
 */
export async function quarantinable(
  db: Queryable,
  payload: string,
  detail: string,
): Promise<{ payload: string; detail: string }> {
  const ids = [...new Set([...payload.matchAll(UUID), ...detail.matchAll(UUID)].map((match) => match[0]))];
  if (ids.length === 0) return { payload, detail };
  const idOfHash = new Map(ids.map((id) => [hashOf(id), id]));
  const erased = await db.query<{ member_hash: string; anon_id: string }>(
    'SELECT member_hash, anon_id FROM erasures WHERE member_hash = ANY($1)',
    [[...idOfHash.keys()]],
  );
  if (erased.length === 0) return { payload, detail };
  let kept = detail;
  for (const { member_hash, anon_id } of erased) kept = kept.split(idOfHash.get(member_hash)!).join(anon_id);
  return { payload: ERASED_PAYLOAD, detail: kept };
}

/**
 * The seqs of these events (HQ's copies) that an erasure changed: they name an anonymous id HQ gave.
 * Such a copy is no longer what the store sent.
 */
export async function seqsAlteredByErasure(
  tx: Queryable,
  events: { seq: string | number; data: unknown }[],
): Promise<Set<number>> {
  const anonIdsOf = new Map<number, string[]>();
  for (const event of events) {
    const ids = JSON.stringify(event.data).match(ANON_ID);
    if (ids) anonIdsOf.set(Number(event.seq), ids);
  }
  if (anonIdsOf.size === 0) return new Set();
  const known = await tx.query<{ anon_id: string }>('SELECT DISTINCT anon_id FROM erasures WHERE anon_id = ANY($1)', [
    [...new Set([...anonIdsOf.values()].flat())],
  ]);
  const given = new Set(known.map((row) => row.anon_id));
  return new Set([...anonIdsOf].filter(([, ids]) => ids.some((id) => given.has(id))).map(([seq]) => seq));
}

/** Whether any of these events names a member erased earlier (one query for all of them). */
export async function namesErasedMember(tx: Queryable, events: IncomingEvent[]): Promise<boolean> {
  const hashes = [...new Set(events.flatMap(memberIdsOf))].map(hashOf);
  if (hashes.length === 0) return false;
  const erased = await tx.query('SELECT 1 FROM erasures WHERE member_hash = ANY($1) LIMIT 1', [hashes]);
  return erased.length > 0;
}
