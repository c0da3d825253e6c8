/**
 * The link to every store as the chain's operations watch it: how fresh its stream is, what is
 * missing, the conflicts, and the messages HQ refused.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Queryable } from '../db/database.js';
import { checked, isoTime, num, StoreId } from './params.js';

export interface StoreLink {
  storeId: string;
  chainId: string;
  /** The epoch HQ heard from last, and where its stream stands (null: no event yet). */
  epoch: string | null;
  contiguousSeq: number;
  maxSeq: number;
  /** Seqs missing below the highest seen, in every epoch. */
  missing: number;
  /** Since when the oldest open hole is open (null: none). */
  gapSince: string | null;
  epochs: number;
  events: number;
  /** When the newest event was recorded at the store, and when HQ last stored one. */
  lastEventAt: string | null;
  lastReceivedAt: string | null;
  conflicts: number;
  /** Messages from the store refused in the last 24 hours. */
  quarantined24h: number;
  /** The store's retained status: online, offline (clean stop or last will); null: no status yet. */
  online: boolean | null;
  /** Why it went offline, as the status says (`stopped`, `connection-lost`). */
  offlineReason: string | null;
  /** When the hub wrote that status, and when HQ received it. */
  statusAt: string | null;
  statusReceivedAt: string | null;
  /** The hub's version. */
  version: string | null;
  /** ok, or degraded with the reasons (problems) of the hub's online status; null when offline or unknown. */
  health: 'ok' | 'degraded' | null;
  problems: string[];
  /**
   * The box's own checks (`ayi doctor` on the box) that fail or warn, by id, from its online status;
   * null when offline, unknown, or from a hub older than the checks. A box with failing checks needs
   * a technician (firmware-config/README.md, "ayi doctor", says what each means).
   */
  checks: { failing: string[]; warning: string[] } | null;
  /**
   * The hub's newest figures, from its ping answer or its status, whichever is newer (an offline
   * status's are those of when it connected: a lower bound): its last seq, what the broker
   * acknowledged, and the backlog (events not yet delivered, lastSeq - deliveredSeq).
   */
  lastSeq: number | null;
  deliveredSeq: number | null;
  backlog: number | null;
  figuresAt: string | null;
  /** HQ's last cmd/ping to this store (sent when it was quiet), and when its newest answer came. */
  lastPingAt: string | null;
  pingAnsweredAt: string | null;
  /** When HQ last heard from the store: an event, a status or a ping answer. */
  lastHeardAt: string | null;
  /** Heard nothing for longer than the limit (silentAfterSeconds): an alert for operations. */
  silent: boolean;
}

export interface StoreLinks {
  stores: StoreLink[];
  unattributedQuarantined24h: number;
  /** The limit `silent` was computed with. */
  silentAfterSeconds: number;
}

/** AYI_HQ_SILENT_AFTER_S's default. */
export const DEFAULT_SILENT_AFTER_S = 900;

type Cell = string | number | boolean | Date | null | string[] | Record<string, unknown>;

export async function storeLinks(
  db: Queryable,
  { silentAfterSeconds = DEFAULT_SILENT_AFTER_S }: { silentAfterSeconds?: number | undefined } = {},
): Promise<StoreLinks> {
  const streams = await db.query<Record<string, string | Date | null>>(
    `SELECT store_id, chain_id, epoch, contiguous_seq, max_seq, event_count, last_event_at, last_received_at, gap_since
     FROM store_streams ORDER BY store_id, last_received_at DESC NULLS LAST, epoch`,
  );
  const statuses = await db.query<Record<string, Cell>>(
    `SELECT store_id, chain_id, online, status->>'reason' AS reason, status_at, received_at, version, health,
            problems, status->'checks' AS checks, last_seq, delivered_seq, ping_sent_at, ping_answered_at, ping_answer
     FROM store_status`,
  );
  const conflicts = await db.query<{ store_id: string; n: string }>(
    'SELECT store_id, count(*) AS n FROM seq_conflicts GROUP BY store_id',
  );
  const refused = await db.query<{ store_id: string | null; n: string }>(
    `SELECT store_id, count(*) AS n FROM quarantine WHERE received_at > now() - interval '24 hours' GROUP BY store_id`,
  );
  const [clock] = await db.query<{ now: Date | string }>('SELECT now() AS now');
  const conflictsOf = new Map(conflicts.map((c) => [c.store_id, num(c.n)]));
  const refusedOf = new Map(refused.map((q) => [q.store_id, num(q.n)]));
  const stores = new Map<string, StoreLink>();
  const blank = (storeId: string, chainId: string): StoreLink => ({
    storeId,
    chainId,
    epoch: null,
    contiguousSeq: 0,
    maxSeq: 0,
    missing: 0,
    gapSince: null,
    epochs: 0,
    events: 0,
    lastEventAt: null,
    lastReceivedAt: null,
    conflicts: conflictsOf.get(storeId) ?? 0,
    quarantined24h: refusedOf.get(storeId) ?? 0,
    online: null,
    offlineReason: null,
    statusAt: null,
    statusReceivedAt: null,
    version: null,
    health: null,
    problems: [],
    checks: null,
    lastSeq: null,
    deliveredSeq: null,
    backlog: null,
    figuresAt: null,
    lastPingAt: null,
    pingAnsweredAt: null,
    lastHeardAt: null,
    silent: false,
  });
  for (const row of streams) {
    const storeId = String(row.store_id);
    const gapSince = isoTime(row.gap_since as Date | null);
    const missing = num(row.max_seq) - num(row.contiguous_seq);
    const held = stores.get(storeId);
    if (!held) {
      // The first row of a store is its newest epoch.
      stores.set(storeId, {
        ...blank(storeId, String(row.chain_id)),
        epoch: String(row.epoch),
        contiguousSeq: num(row.contiguous_seq),
        maxSeq: num(row.max_seq),
        missing,
        gapSince,
        epochs: 1,
        events: num(row.event_count),
        lastEventAt: isoTime(row.last_event_at as Date | null),
        lastReceivedAt: isoTime(row.last_received_at as Date | null),
      });
      continue;
    }
    held.missing += missing;
    held.epochs += 1;
    held.events += num(row.event_count);
    if (gapSince !== null && (held.gapSince === null || gapSince < held.gapSince)) held.gapSince = gapSince;
    held.lastEventAt = later(held.lastEventAt, isoTime(row.last_event_at as Date | null));
  }
  for (const row of statuses) {
    const storeId = String(row.store_id);
    let link = stores.get(storeId);
    if (!link) {
      // A store that sent its status but no event yet.
      link = blank(storeId, String(row.chain_id));
      stores.set(storeId, link);
    }
    link.online = row.online === true;
    link.offlineReason = link.online || row.reason === null ? null : String(row.reason);
    link.statusAt = isoTime(row.status_at as Date);
    link.statusReceivedAt = isoTime(row.received_at as Date);
    link.version = row.version === null ? null : String(row.version);
    link.health = row.health === 'ok' || row.health === 'degraded' ? row.health : null;
    link.problems = Array.isArray(row.problems) ? row.problems.map(String) : [];
    link.checks = link.online ? checksOf(row.checks) : null;
    link.lastSeq = row.last_seq === null ? null : num(row.last_seq);
    link.deliveredSeq = row.delivered_seq === null ? null : num(row.delivered_seq);
    link.figuresAt = link.statusAt;
    link.lastPingAt = isoTime(row.ping_sent_at as Date | null);
    link.pingAnsweredAt = isoTime(row.ping_answered_at as Date | null);
    const pong = row.ping_answer as Record<string, unknown> | null;
    // The ping answer's figures are live; the status's are those of when it was written.
    if (pong && typeof pong.at === 'string' && (link.figuresAt === null || pong.at > link.figuresAt)) {
      if (typeof pong.lastSeq === 'number') link.lastSeq = pong.lastSeq;
      if (typeof pong.deliveredSeq === 'number') link.deliveredSeq = pong.deliveredSeq;
      if (typeof pong.version === 'string') link.version = pong.version;
      link.figuresAt = pong.at;
    }
    link.lastHeardAt = later(link.statusReceivedAt, link.pingAnsweredAt);
  }
  const now = new Date(clock!.now).getTime();
  for (const link of stores.values()) {
    if (link.lastSeq !== null && link.deliveredSeq !== null)
      link.backlog = Math.max(0, link.lastSeq - link.deliveredSeq);
    link.lastHeardAt = later(link.lastHeardAt, link.lastReceivedAt);
    link.silent = link.lastHeardAt === null || now - Date.parse(link.lastHeardAt) > silentAfterSeconds * 1000;
  }
  return {
    stores: [...stores.values()].sort((a, b) => (a.storeId < b.storeId ? -1 : a.storeId > b.storeId ? 1 : 0)),
    unattributedQuarantined24h: refusedOf.get(null) ?? 0,
    silentAfterSeconds,
  };
}

function later(a: string | null, b: string | null): string | null {
  return a === null ? b : b === null ? a : a > b ? a : b;
}

export const PageParams = Type.Object(
  {
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'From 1 (1).' })),
    pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, description: 'Rows a page (50).' })),
    storeId: Type.Optional(StoreId),
  },
  { additionalProperties: false },
);
export type PageParams = Static<typeof PageParams>;

/** How much of a refused message's payload a listing shows. */
export const PAYLOAD_SHOWN = 300;

export interface QuarantinedMessage {
  id: number;
  receivedAt: string;
  topic: string;
  storeId: string | null;
  reason: string;
  detail: string | null;
  /** The first PAYLOAD_SHOWN characters. */
  payload: string;
  payloadLength: number;
}

export async function quarantined(
  db: Queryable,
  params: PageParams,
): Promise<{ total: number; page: number; pageSize: number; items: QuarantinedMessage[] }> {
  const { page = 1, pageSize = 50, storeId = null } = checked(PageParams, params);
  const [total] = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM quarantine WHERE $1::text IS NULL OR store_id = $1',
    [storeId],
  );
  const rows = await db.query<Record<string, string | number | Date | null>>(
    `SELECT id, received_at, topic, store_id, reason, detail, left(payload, ${PAYLOAD_SHOWN}) AS payload,
            length(payload) AS payload_length
     FROM quarantine WHERE $1::text IS NULL OR store_id = $1
     ORDER BY received_at DESC, id DESC LIMIT $2 OFFSET $3`,
    [storeId, pageSize, (page - 1) * pageSize],
  );
  return {
    total: num(total!.n),
    page,
    pageSize,
    items: rows.map((row) => ({
      id: num(row.id),
      receivedAt: isoTime(row.received_at as Date)!,
      topic: String(row.topic),
      storeId: row.store_id === null ? null : String(row.store_id),
      reason: String(row.reason),
      detail: row.detail === null ? null : String(row.detail),
      payload: String(row.payload),
      payloadLength: num(row.payload_length),
    })),
  };
}

export interface SeqConflict {
  storeId: string;
  epoch: string;
  seq: number;
  /** The event that counts (held first) and the one only shown. */
  counted: { eventId: string; type: string | null; at: string | null };
  shown: { eventId: string; type: string | null; at: string | null };
  detectedAt: string;
}

export async function seqConflicts(
  db: Queryable,
  params: PageParams,
): Promise<{ total: number; page: number; pageSize: number; items: SeqConflict[] }> {
  const { page = 1, pageSize = 50, storeId = null } = checked(PageParams, params);
  const [total] = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM seq_conflicts WHERE $1::text IS NULL OR store_id = $1',
    [storeId],
  );
  const rows = await db.query<Record<string, string | number | Date | null>>(
    `SELECT c.store_id, c.epoch, c.seq, c.detected_at, c.other_event_id, o.type AS other_type, o.at AS other_at,
            c.event_id, e.type, e.at
     FROM seq_conflicts c
     LEFT JOIN events o ON o.store_id = c.store_id AND o.event_id = c.other_event_id
     LEFT JOIN events e ON e.store_id = c.store_id AND e.event_id = c.event_id
     WHERE $1::text IS NULL OR c.store_id = $1
     ORDER BY c.detected_at DESC, c.store_id, c.seq DESC LIMIT $2 OFFSET $3`,
    [storeId, pageSize, (page - 1) * pageSize],
  );
  const side = (id: unknown, type: unknown, at: unknown) => ({
    eventId: String(id),
    type: type === null ? null : String(type),
    at: isoTime(at as Date | null),
  });
  return {
    total: num(total!.n),
    page,
    pageSize,
    items: rows.map((row) => ({
      storeId: String(row.store_id),
      epoch: String(row.epoch),
      seq: num(row.seq),
      counted: side(row.other_event_id, row.other_type, row.other_at),
      shown: side(row.event_id, row.type, row.at),
      detectedAt: isoTime(row.detected_at as Date)!,
    })),
  };
}

/** The status's `checks` as stored (the contract's shape was checked on ingest; older hubs have none). */
function checksOf(value: Cell | undefined): { failing: string[]; warning: string[] } | null {
  if (
    value === null ||
    value === undefined ||
    typeof value !== 'object' ||
    Array.isArray(value) ||
    value instanceof Date
  )
    return null;
  const ids = (list: unknown) => (Array.isArray(list) ? list.map(String) : []);
  return { failing: ids(value.failing), warning: ids(value.warning) };
}
