/**
 * The analytics tables (members, products; the persons view over members), kept from member,
 * catalog and sale events in the transaction that stores them. Order does not matter: every value
 * remembers the event it came from (a UUIDv7, ordered by time) and only a newer event replaces it;
 * a second copy of an event changes nothing. Nothing sealed is read: only what events carry in
 * clear and the chain's keyed phone hash of the envelope's `link`.
 */
import { createHash } from 'node:crypto';
import type {
  CatalogImportedData,
  MemberConsentChangedData,
  MemberMergedData,
  MemberRegisteredData,
  MemberTierChangedData,
  SaleCompletedData,
} from '../../../hub/src/protocol/events.js';
import { businessDate } from '../../../hub/src/domain/time.js';
import type { Database, Queryable } from '../db/database.js';
import type { IncomingEvent } from './event-message.js';

/** Member events carry no business date: their day is the store's local day (Taiwan). */
export const STORE_TIME_ZONE = 'Asia/Taipei';

type Projection = (tx: Queryable, event: IncomingEvent) => Promise<void>;

const isAnonymous = (memberId: string) => memberId.startsWith('erased-');

/** The person behind a phone hash: the same in every store that hashes with the chain's key. */
export function personOfPhoneHash(phoneHash: string): string {
  const digest = createHash('sha256').update(`ayi.person/${phoneHash}`).digest('hex');
  return `p-${digest.slice(0, 32)}`;
}

/** A member record without a phone hash is a person of its own. */
export const personOfRecord = (storeId: string, memberId: string) => `${storeId}/${memberId}`;

/** The member's row, made if it is not there yet (an event may come before the registration). */
async function ensureMember(tx: Queryable, storeId: string, memberId: string): Promise<void> {
  await tx.query(`INSERT INTO members (store_id, member_id, person_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
    storeId,
    memberId,
    personOfRecord(storeId, memberId),
  ]);
}

/** An erased member's record as HQ keeps it: its anonymous id, nothing else. */
async function tombstone(tx: Queryable, storeId: string, anonId: string): Promise<void> {
  await tx.query(
    `INSERT INTO members (store_id, member_id, person_id, erased) VALUES ($1, $2, $2, true)
     ON CONFLICT (store_id, member_id) DO UPDATE SET erased = true`,
    [storeId, anonId],
  );
}

/**
 * Gives the record and every record merged into it (at any depth) the person of the record they
 * all ended in: its phone hash's person, or that record's own.
 */
async function settlePerson(tx: Queryable, storeId: string, memberId: string): Promise<void> {
  let root = memberId;
  for (const seen = new Set([root]); ;) {
    const [row] = await tx.query<{ merged_into: string | null }>(
      'SELECT merged_into FROM members WHERE store_id = $1 AND member_id = $2',
      [storeId, root],
    );
    if (!row?.merged_into || seen.has(row.merged_into)) break;
    root = row.merged_into;
    seen.add(root);
  }
  const [kept] = await tx.query<{ phone_hash: string | null }>(
    'SELECT phone_hash FROM members WHERE store_id = $1 AND member_id = $2',
    [storeId, root],
  );
  const person = kept?.phone_hash ? personOfPhoneHash(kept.phone_hash) : personOfRecord(storeId, root);
  await tx.query(
    `WITH RECURSIVE tree (member_id) AS (
       SELECT $2::text
       UNION
       SELECT m.member_id FROM members m JOIN tree t ON m.store_id = $1 AND m.merged_into = t.member_id)
     UPDATE members SET person_id = $3
     WHERE store_id = $1 AND member_id IN (SELECT member_id FROM tree) AND person_id <> $3`,
    [storeId, root, person],
  );
}

/** Takes the envelope's phone hash when this event is newer than the one the row has it from. */
async function takeLink(tx: Queryable, event: IncomingEvent, memberId: string): Promise<void> {
  const phoneHash = (event.link as { phoneHash?: unknown } | null)?.phoneHash;
  if (typeof phoneHash !== 'string') return;
  await tx.query(
    `UPDATE members SET phone_hash = $3, link_event = $4
     WHERE store_id = $1 AND member_id = $2 AND (link_event IS NULL OR link_event < $4)`,
    [event.storeId, memberId, phoneHash, event.eventId],
  );
}

const CONSENT_COLUMNS = {
  sms: ['consent_sms', 'consent_sms_event'],
  line: ['consent_line', 'consent_line_event'],
  email: ['consent_email', 'consent_email_event'],
} as const;

async function setConsent(
  tx: Queryable,
  event: IncomingEvent,
  memberId: string,
  channel: keyof typeof CONSENT_COLUMNS,
  granted: boolean,
): Promise<void> {
  const [value, from] = CONSENT_COLUMNS[channel];
  await tx.query(
    `UPDATE members SET ${value} = $3, ${from} = $4
     WHERE store_id = $1 AND member_id = $2 AND (${from} IS NULL OR ${from} < $4)`,
    [event.storeId, memberId, granted, event.eventId],
  );
}

async function setTier(tx: Queryable, event: IncomingEvent, memberId: string, tier: string): Promise<void> {
  await tx.query(
    `UPDATE members SET tier = $3, tier_event = $4
     WHERE store_id = $1 AND member_id = $2 AND (tier_event IS NULL OR tier_event < $4)`,
    [event.storeId, memberId, tier, event.eventId],
  );
}

const memberRegistered: Projection = async (tx, event) => {
  const { memberId, consent } = event.data as unknown as MemberRegisteredData;
  if (isAnonymous(memberId)) return tombstone(tx, event.storeId, memberId);
  const when = event.occurredAt ?? event.at;
  await ensureMember(tx, event.storeId, memberId);
  await tx.query(
    `UPDATE members SET registered = true, registered_at = $3, registered_date = $4
     WHERE store_id = $1 AND member_id = $2`,
    [event.storeId, memberId, when, businessDate(new Date(when), STORE_TIME_ZONE)],
  );
  for (const channel of Object.keys(CONSENT_COLUMNS) as (keyof typeof CONSENT_COLUMNS)[]) {
    await setConsent(tx, event, memberId, channel, consent[channel]);
  }
  await takeLink(tx, event, memberId);
  await settlePerson(tx, event.storeId, memberId);
};

const memberProfileUpdated: Projection = async (tx, event) => {
  const { memberId } = event.data as { memberId: string };
  if (isAnonymous(memberId)) return tombstone(tx, event.storeId, memberId);
  await ensureMember(tx, event.storeId, memberId);
  await takeLink(tx, event, memberId);
  await settlePerson(tx, event.storeId, memberId);
};

const memberConsentChanged: Projection = async (tx, event) => {
  const { memberId, channel, granted } = event.data as unknown as MemberConsentChangedData;
  if (isAnonymous(memberId)) return tombstone(tx, event.storeId, memberId);
  await ensureMember(tx, event.storeId, memberId);
  await setConsent(tx, event, memberId, channel, granted);
};

const memberTierChanged: Projection = async (tx, event) => {
  const { memberId, to } = event.data as unknown as MemberTierChangedData;
  if (isAnonymous(memberId)) return tombstone(tx, event.storeId, memberId);
  await ensureMember(tx, event.storeId, memberId);
  await setTier(tx, event, memberId, to);
};

const memberMerged: Projection = async (tx, event) => {
  const { fromMemberId, intoMemberId } = event.data as unknown as MemberMergedData;
  if (isAnonymous(fromMemberId) || isAnonymous(intoMemberId)) {
    for (const id of [fromMemberId, intoMemberId].filter(isAnonymous)) await tombstone(tx, event.storeId, id);
    return;
  }
  await ensureMember(tx, event.storeId, fromMemberId);
  await ensureMember(tx, event.storeId, intoMemberId);
  await tx.query('UPDATE members SET merged_into = $3 WHERE store_id = $1 AND member_id = $2', [
    event.storeId,
    fromMemberId,
    intoMemberId,
  ]);
  await settlePerson(tx, event.storeId, fromMemberId);
};

/** A member's sale carries their tier after it: a tier review is not the only way up or down. */
export const saleTier: Projection = async (tx, event) => {
  const { memberId, loyalty } = event.data as unknown as SaleCompletedData;
  if (!memberId) return;
  if (isAnonymous(memberId)) return tombstone(tx, event.storeId, memberId);
  if (!loyalty) return;
  await ensureMember(tx, event.storeId, memberId);
  await setTier(tx, event, memberId, loyalty.tierAfter);
};

/** `saleTier` for many sales, one statement: the newest sale of each member in the batch. */
export async function saleTiers(tx: Queryable, events: IncomingEvent[]): Promise<void> {
  const newest = new Map<string, { storeId: string; memberId: string; tier: string; eventId: string }>();
  for (const event of events) {
    const { memberId, loyalty } = event.data as unknown as SaleCompletedData;
    if (!memberId) continue;
    if (isAnonymous(memberId)) {
      await tombstone(tx, event.storeId, memberId);
      continue;
    }
    if (!loyalty) continue;
    const key = `${event.storeId} ${memberId}`;
    const eventId = event.eventId.toLowerCase();
    const held = newest.get(key);
    if (!held || held.eventId < eventId) {
      newest.set(key, { storeId: event.storeId, memberId, tier: loyalty.tierAfter, eventId });
    }
  }
  const rows = [...newest.values()];
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO members (store_id, member_id, person_id, tier, tier_event)
     SELECT store_id, member_id, store_id || '/' || member_id, tier, tier_event
     FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[]) AS t (store_id, member_id, tier, tier_event)
     ON CONFLICT (store_id, member_id) DO UPDATE SET tier = EXCLUDED.tier, tier_event = EXCLUDED.tier_event
     WHERE members.tier_event IS NULL OR members.tier_event < EXCLUDED.tier_event`,
    [rows.map((r) => r.storeId), rows.map((r) => r.memberId), rows.map((r) => r.tier), rows.map((r) => r.eventId)],
  );
}

const catalogImported: Projection = async (tx, event) => {
  const { products } = event.data as unknown as CatalogImportedData;
  // One row per sku (a catalog could name one twice: the last line wins, as an import would).
  const bySku = new Map(products.map((p) => [p.sku, p]));
  const rows = [...bySku.values()];
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO products (store_id, sku, name, category, price, catalog_event)
     SELECT $1, sku, name, category, price, $2
     FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[]) AS p (sku, name, category, price)
     ON CONFLICT (store_id, sku) DO UPDATE SET
       name = EXCLUDED.name, category = EXCLUDED.category, price = EXCLUDED.price, catalog_event = EXCLUDED.catalog_event
     WHERE products.catalog_event < EXCLUDED.catalog_event`,
    [
      event.storeId,
      event.eventId,
      rows.map((p) => p.sku),
      rows.map((p) => p.name),
      rows.map((p) => p.category),
      rows.map((p) => p.price),
    ],
  );
};

/** The analytics projections by event type (sale.completed: only the member's tier). */
export const ANALYTICS_PROJECTIONS: Partial<Record<string, Projection>> = {
  'member.registered': memberRegistered,
  'member.profile_updated': memberProfileUpdated,
  'member.consent_changed': memberConsentChanged,
  'member.tier_changed': memberTierChanged,
  'member.merged': memberMerged,
  'catalog.imported': catalogImported,
};

/**
 * PDPA erasure of member records from the analytics tables: each record leaves only a tombstone
 * under the anonymous id (in every store that held it), with no phone hash, person or consent.
 */
export async function eraseMemberRows(tx: Queryable, memberIds: string[], anonId: string): Promise<void> {
  await tx.query(
    `INSERT INTO members (store_id, member_id, person_id, erased)
     SELECT DISTINCT store_id, $2, $2, true FROM members WHERE member_id = ANY($1)
     ON CONFLICT (store_id, member_id) DO UPDATE SET erased = true`,
    [memberIds, anonId],
  );
  await tx.query('DELETE FROM members WHERE member_id = ANY($1)', [memberIds]);
  await tx.query('UPDATE members SET merged_into = $2 WHERE merged_into = ANY($1)', [memberIds, anonId]);
}

/** Event types the analytics tables are rebuilt from. */
const REBUILT_FROM = [...Object.keys(ANALYTICS_PROJECTIONS), 'sale.completed'];
const REBUILD_PAGE = 1000;

/**
 * Projects the analytics tables again from the events HQ holds (an HQ upgraded in place: events
 * stored before these tables existed). Run by the migration that creates them, in its transaction;
 * the conflicting second copy of a seq is left out, as ingest leaves it out of the figures.
 */
export async function rebuildAnalyticsIn(tx: Queryable): Promise<number> {
  await tx.query('DELETE FROM members');
  await tx.query('DELETE FROM products');
  let projected = 0;
  let after: { storeId: string; eventId: string } | null = null;
  for (;;) {
    const page: {
      store_id: string;
      event_id: string;
      chain_id: string;
      epoch: string;
      seq: string | number;
      type: string;
      at: Date | string;
      occurred_at: Date | string | null;
      data: Record<string, unknown>;
      link: Record<string, unknown> | null;
    }[] = await tx.query(
      `SELECT e.store_id, e.event_id, e.chain_id, e.epoch, e.seq, e.type, e.at, e.occurred_at, e.data, e.link
       FROM events e
       WHERE e.type = ANY($1)
         AND ($2::text IS NULL OR (e.store_id, e.event_id) > ($2::text, $3::uuid))
         AND NOT EXISTS (SELECT 1 FROM seq_conflicts c WHERE c.store_id = e.store_id AND c.event_id = e.event_id)
       ORDER BY e.store_id, e.event_id LIMIT ${REBUILD_PAGE}`,
      [REBUILT_FROM, after?.storeId ?? null, after?.eventId ?? null],
    );
    for (const row of page) {
      const iso = (value: Date | string) => (value instanceof Date ? value : new Date(value)).toISOString();
      const event: IncomingEvent = {
        eventId: row.event_id,
        chainId: row.chain_id,
        storeId: row.store_id,
        epoch: row.epoch,
        seq: Number(row.seq),
        type: row.type,
        at: iso(row.at),
        occurredAt: row.occurred_at === null ? null : iso(row.occurred_at),
        data: row.data,
        link: row.link,
      };
      await (row.type === 'sale.completed' ? saleTier : ANALYTICS_PROJECTIONS[row.type]!)(tx, event);
    }
    projected += page.length;
    if (page.length < REBUILD_PAGE) return projected;
    after = { storeId: page.at(-1)!.store_id, eventId: page.at(-1)!.event_id };
  }
}

/** `rebuildAnalyticsIn` in a transaction of its own. */
export function rebuildAnalytics(db: Database): Promise<number> {
  return db.transaction((tx) => rebuildAnalyticsIn(tx));
}
