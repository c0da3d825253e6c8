/**
 * The MQTT contract as TypeBox schemas: the event envelope, the payload of every event type in
 * `events.ts`, and the status and command messages on the link to HQ. `npm run contract` writes them
 * out as JSON Schema (hub/docs/contract/); `scripts/hq-tail.ts` and the tests validate with them.
 *
 * The interfaces in `events.ts` stay the source the hub's code is written against; the type-level
 * checks at the end of this file fail to compile when a schema and its interface drift apart.
 * Objects are closed (`additionalProperties: false`): a field added to an event (a name, a phone
 * number) fails validation until it is added here, where the PII rules are reviewed.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Tender } from './api.js';
import {
  EVENT_SCHEMA,
  type EventEnvelope,
  type EventPayloads,
  type EventType,
  type HubEventOf,
  type MemberErasedData,
  type PointsReversalData,
  type ProductData,
  type SaleLineData,
  type SaleLoyaltyData,
  type SealedData,
  type StaffLoggedInData,
} from './events.js';
import { ConsentChannel, CouponCreateRequest } from './members.js';
import { SegmentDefinition } from './crm.js';

const closed = { additionalProperties: false } as const;

/** Ids made by the hub (sale numbers, UUIDs, staff and device ids, SKUs). */
const Id = (description?: string) =>
  Type.String({ minLength: 1, maxLength: 80, ...(description ? { description } : {}) });
const UuidV7 = (description: string) =>
  Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$', description });
const Uuid = (description: string) =>
  Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', description });
const Slug = (description: string) => Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description });
const LocalDate = (description: string) => Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description });
const UtcTime = (description: string) =>
  Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?Z$', description });
/** NT$, whole dollars. */
const Amount = (description: string) => Type.Integer({ minimum: 0, description });
const Points = (description: string) => Type.Integer({ minimum: 0, description });
const Base64 = (description: string) => Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', description });
const StaffId = () => Id('Who did it; their name is only in the staff.added event.');
const DeviceId = () => Id('The paired tablet it was done on.');
const RoleSchema = Type.Union([Type.Literal('cashier'), Type.Literal('manager'), Type.Literal('owner')]);
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

// ---- payload parts ----

export const ProductDataSchema = Type.Object(
  {
    sku: Id(),
    barcodes: Type.Array(Type.String({ minLength: 1, maxLength: 64 })),
    name: Type.String(),
    category: Type.String(),
    price: Amount('NT$, tax included.'),
    repurchaseDays: Nullable(Type.Integer({ minimum: 0 })),
  },
  closed,
);

export const SaleLineDataSchema = Type.Object(
  {
    lineNo: Type.Integer({ minimum: 1 }),
    sku: Id(),
    name: Type.String({ description: 'The product name at the time of sale.' }),
    category: Type.String(),
    qty: Type.Integer({ minimum: 1 }),
    unitPrice: Amount('NT$ per unit.'),
    lineDiscount: Amount('NT$ off this line.'),
    lineTotal: Amount('qty * unitPrice - lineDiscount'),
    orderDiscountShare: Amount(
      "This line's share of the order-level deductions (order and member discount, coupon, points).",
    ),
  },
  closed,
);

export const SaleLoyaltyDataSchema = Type.Object(
  {
    tierBefore: Type.String(),
    tierAfter: Type.String(),
    pointsEarned: Points('Points this sale earned.'),
    pointsBalance: Type.Integer({
      description:
        "The member's balance after this sale; negative means points owed (欠點) after a void or refund took back points already spent, or after a merge.",
    }),
    windowSpend: Type.Integer({ description: 'Net spend in the tier window, this sale included.' }),
  },
  closed,
);

export const PointsReversalDataSchema = Type.Object(
  {
    memberId: Id(),
    pointsReversed: Points('Earned points taken back.'),
    pointsReturned: Points('Redeemed points given back.'),
    businessDate: LocalDate('The store-local day of the void or refund.'),
  },
  closed,
);

/** A member's personal data, AES-256-GCM under that member's own key, which never leaves the store. */
export const SealedDataSchema = Type.Object(
  {
    iv: Base64('96-bit nonce, base64.'),
    tag: Base64('GCM tag, base64.'),
    data: Base64('Ciphertext, base64. HQ cannot open it; erasing the member destroys the key.'),
  },
  { ...closed, description: 'Sealed personal data: opaque to HQ.' },
);

// ---- payloads, one per event type ----

export const SaleCompletedDataSchema = Type.Object(
  {
    saleId: Id(
      'Store-local sale number, YYYYMMDD-seq; in an epoch started by a restore from a backup, followed by - and ' +
        "the epoch's last six hex digits.",
    ),
    idempotencyKey: Type.String({ minLength: 1, maxLength: 64 }),
    requestHash: Type.String({ minLength: 1, maxLength: 128 }),
    businessDate: LocalDate('Store-local day of the sale.'),
    deviceId: DeviceId(),
    staffId: StaffId(),
    memberId: Nullable(Id()),
    lines: Type.Array(SaleLineDataSchema, { minItems: 1 }),
    subtotal: Amount('Sum of the line totals.'),
    orderDiscount: Amount("Staff's discount on the order."),
    memberDiscount: Amount("The member's tier discount."),
    couponCode: Nullable(Type.String({ minLength: 1, maxLength: 20 })),
    couponDiscount: Amount('NT$ the coupon took off.'),
    pointsRedeemed: Points('Points spent on this sale.'),
    pointsDiscount: Amount('NT$ the redeemed points took off.'),
    total: Amount('subtotal - orderDiscount - memberDiscount - couponDiscount - pointsDiscount'),
    tenders: Type.Array(Tender, { minItems: 1 }),
    change: Amount('Cash given back.'),
    loyalty: Nullable(SaleLoyaltyDataSchema),
    approvedBy: Type.Optional(
      Nullable(
        Id(
          "Staff id of the manager or owner who approved staff discounts over the owner's limit (null: none needed); " +
            'their name is only in the staff.added event. Absent in sales recorded before approvals existed.',
        ),
      ),
    ),
  },
  closed,
);

export const SaleVoidedDataSchema = Type.Object(
  {
    saleId: Id(),
    reason: Type.String({ description: 'Typed by staff.' }),
    staffId: StaffId(),
    deviceId: DeviceId(),
    loyalty: Nullable(PointsReversalDataSchema),
  },
  closed,
);

export const SaleRefundedDataSchema = Type.Object(
  {
    saleId: Id(),
    refundId: Id(),
    idempotencyKey: Type.String({ minLength: 1, maxLength: 64 }),
    lines: Type.Array(
      Type.Object(
        { lineNo: Type.Integer({ minimum: 1 }), qty: Type.Integer({ minimum: 1 }), amount: Amount('NT$ refunded.') },
        closed,
      ),
      { minItems: 1 },
    ),
    amount: Amount('NT$ refunded in all.'),
    reason: Type.String({ description: 'Typed by staff.' }),
    staffId: StaffId(),
    deviceId: DeviceId(),
    loyalty: Nullable(PointsReversalDataSchema),
  },
  closed,
);

export const CatalogImportedDataSchema = Type.Object(
  {
    source: Type.Union([Type.Literal('csv'), Type.Literal('demo'), Type.Literal('hq')], {
      description:
        "csv (a manager's import at the store) or demo: products added or updated. hq: a catalog version HQ " +
        "published, with this store's prices: the whole catalog, replacing the store's.",
    }),
    version: Type.Optional(
      Type.Integer({ minimum: 1, description: 'source hq: the catalog version (ayi.catalog/1).' }),
    ),
    products: Type.Array(ProductDataSchema),
  },
  closed,
);

export const DevicePairedDataSchema = Type.Object(
  { deviceId: Id(), name: Type.String({ description: 'The tablet\'s name ("Counter 1").' }) },
  closed,
);

export const DeviceRevokedDataSchema = Type.Object({ deviceId: Id() }, closed);

export const DeviceUnlockedDataSchema = Type.Object(
  {
    deviceId: Id(),
    byStaffId: Nullable(Id('The manager who unlocked it; null: the technician (`ayi unlock`).')),
    byDeviceId: Nullable(Id('The tablet the manager unlocked it from; null: the technician.')),
  },
  closed,
);

export const ScannerAssignedDataSchema = Type.Object(
  { scannerId: Id(), deviceId: Nullable(Id()), staffId: StaffId() },
  closed,
);

const DiscountLimits = (description: string) =>
  Type.Object(
    {
      maxLinePercent: Type.Integer({ minimum: 0, maximum: 100, description: "Most % off a line's own amount." }),
      maxOrderPercent: Type.Integer({
        minimum: 0,
        maximum: 100,
        description: 'Most % off the order, and of all staff discounts together off the gross.',
      }),
    },
    { ...closed, description },
  );

export const DiscountPolicyChangedDataSchema = Type.Object(
  {
    staffId: StaffId(),
    deviceId: DeviceId(),
    previous: DiscountLimits('The limits in force before.'),
    limits: DiscountLimits('The limits in force from this event on.'),
  },
  closed,
);

export const StaffRemovedDataSchema = Type.Object({ staffId: Id() }, closed);

export const StaffPinChangedDataSchema = Type.Object({ staffId: Id() }, closed);

export const StaffAddedDataSchema = Type.Object(
  {
    staffId: Id(),
    name: Type.String({ description: 'The one place a staff member is named; other events carry the staffId.' }),
    role: RoleSchema,
  },
  closed,
);

export const StaffLoggedInDataSchema = Type.Object({ staffId: Id(), role: RoleSchema, deviceId: DeviceId() }, closed);

export const MemberRegisteredDataSchema = Type.Object(
  {
    memberId: Uuid('The member, in this store.'),
    memberCode: Type.String({ minLength: 1, maxLength: 20, description: 'The number on the member card.' }),
    sealed: SealedDataSchema,
    channel: Type.Literal('store'),
    consent: Type.Object({ sms: Type.Boolean(), line: Type.Boolean(), email: Type.Boolean() }, closed),
    staffId: StaffId(),
    deviceId: DeviceId(),
  },
  closed,
);

export const MemberProfileUpdatedDataSchema = Type.Object(
  { memberId: Id(), sealed: SealedDataSchema, staffId: StaffId() },
  closed,
);

export const MemberCarrierBoundDataSchema = Type.Object(
  { memberId: Id(), sealed: SealedDataSchema, staffId: StaffId() },
  closed,
);

export const MemberConsentChangedDataSchema = Type.Object(
  { memberId: Id(), channel: ConsentChannel, granted: Type.Boolean(), staffId: StaffId() },
  closed,
);

export const MemberTagDataSchema = Type.Object(
  { memberId: Id(), sealed: SealedDataSchema, staffId: StaffId() },
  closed,
);

export const MemberAutoTagDataSchema = Type.Object({ memberId: Id(), sealed: SealedDataSchema }, closed);

const SegmentName = Type.String({ minLength: 1, maxLength: 40 });

export const SegmentSavedDataSchema = Type.Object(
  { segmentId: Id(), name: SegmentName, definition: SegmentDefinition, staffId: StaffId() },
  closed,
);

export const SegmentDeletedDataSchema = Type.Object({ segmentId: Id(), staffId: StaffId() }, closed);

export const TagRuleSavedDataSchema = Type.Object(
  {
    ruleId: Id(),
    name: SegmentName,
    tag: Type.String({
      minLength: 1,
      maxLength: 20,
      description: 'The tag the rule sets (store vocabulary, not about a person).',
    }),
    definition: SegmentDefinition,
    staffId: StaffId(),
  },
  closed,
);

export const TagRuleDeletedDataSchema = Type.Object({ ruleId: Id(), staffId: StaffId() }, closed);

export const MemberMergedDataSchema = Type.Object(
  {
    fromMemberId: Id('The record merged away; its history now belongs to intoMemberId.'),
    intoMemberId: Id('The record kept.'),
    staffId: StaffId(),
  },
  closed,
);

export const MemberErasedDataSchema = Type.Object(
  { memberId: Id('Erase everything held about this member and any record merged into it.'), staffId: StaffId() },
  { ...closed, description: 'PDPA erasure: the tombstone.' },
);

export const MemberTierChangedDataSchema = Type.Object(
  { memberId: Id(), from: Type.String(), to: Type.String(), windowSpend: Type.Integer() },
  closed,
);

export const PointsExpiredDataSchema = Type.Object(
  {
    memberId: Id(),
    points: Points('Points that expired.'),
    earnedOnOrBefore: LocalDate('Points earned on or before this day have expired.'),
  },
  closed,
);

export const CouponCreatedDataSchema = Type.Object(
  { ...CouponCreateRequest.properties, couponId: Id(), staffId: StaffId() },
  closed,
);

export const CouponIssuedDataSchema = Type.Object(
  { couponId: Id(), code: Type.String({ minLength: 1, maxLength: 20 }), memberId: Id() },
  closed,
);

export const MessageQueuedDataSchema = Type.Object(
  {
    messageId: Id(),
    memberId: Id(),
    channel: Type.Literal('sms'),
    template: Type.Literal('welcome'),
    params: Type.Record(Type.String(), Type.String(), {
      description: 'Template parameters (couponCode); never a number, name or text.',
    }),
  },
  closed,
);

export const MessageAttemptedDataSchema = Type.Object(
  {
    messageId: Id(),
    attempt: Type.Integer({ minimum: 0 }),
    ok: Type.Boolean(),
    error: Nullable(Type.String({ description: "The provider's status or a network error; never the number." })),
    retryAt: Nullable(UtcTime('When the next try is due.')),
  },
  closed,
);

/** The payload schema of every event type, keyed like `EventPayloads`. */
export const EventDataSchemas = {
  'sale.completed': SaleCompletedDataSchema,
  'sale.voided': SaleVoidedDataSchema,
  'sale.refunded': SaleRefundedDataSchema,
  'catalog.imported': CatalogImportedDataSchema,
  'device.paired': DevicePairedDataSchema,
  'device.revoked': DeviceRevokedDataSchema,
  'device.unlocked': DeviceUnlockedDataSchema,
  'staff.added': StaffAddedDataSchema,
  'staff.removed': StaffRemovedDataSchema,
  'staff.pin_changed': StaffPinChangedDataSchema,
  'scanner.assigned': ScannerAssignedDataSchema,
  'settings.discount_policy_changed': DiscountPolicyChangedDataSchema,
  'member.registered': MemberRegisteredDataSchema,
  'member.profile_updated': MemberProfileUpdatedDataSchema,
  'member.carrier_bound': MemberCarrierBoundDataSchema,
  'member.consent_changed': MemberConsentChangedDataSchema,
  'member.tagged': MemberTagDataSchema,
  'member.untagged': MemberTagDataSchema,
  'member.merged': MemberMergedDataSchema,
  'member.erased': MemberErasedDataSchema,
  'member.tier_changed': MemberTierChangedDataSchema,
  'points.expired': PointsExpiredDataSchema,
  'coupon.created': CouponCreatedDataSchema,
  'coupon.issued': CouponIssuedDataSchema,
  'message.queued': MessageQueuedDataSchema,
  'message.attempted': MessageAttemptedDataSchema,
  'member.auto_tagged': MemberAutoTagDataSchema,
  'member.auto_untagged': MemberAutoTagDataSchema,
  'segment.saved': SegmentSavedDataSchema,
  'segment.deleted': SegmentDeletedDataSchema,
  'tag_rule.saved': TagRuleSavedDataSchema,
  'tag_rule.deleted': TagRuleDeletedDataSchema,
} satisfies Record<EventType, TSchema>;

/** Every event type, in the order of `EventPayloads`. */
export const EVENT_TYPES = Object.keys(EventDataSchemas) as EventType[];

/** One line a description of each event type, for the JSON Schema files and the AsyncAPI document. */
export const EVENT_DESCRIPTIONS: Record<EventType, string> = {
  'sale.completed': 'A sale was rung up and paid. Carries ids only: the cashier by staffId, the member by memberId.',
  'sale.voided': "A sale was voided on its own business day; a member's points are taken back and given back.",
  'sale.refunded': "Some or all lines of a sale were refunded; a member's points are adjusted in proportion.",
  'catalog.imported':
    "The catalog changed: a CSV import or the demo catalog (products added or updated), or HQ's catalog version (the whole catalog, with this store's prices).",
  'device.paired': 'A tablet was paired with the hub.',
  'device.revoked': "A tablet's pairing was revoked.",
  'device.unlocked': 'A tablet locked by wrong PINs was unlocked, by a manager on another tablet or by the technician.',
  'staff.added': 'A staff member was added: the only event that names a staff member.',
  'staff.removed': 'The technician removed a staff member: their PIN no longer logs in; past sales keep the name.',
  'staff.pin_changed':
    'The technician gave a staff member a new PIN (the PIN is never in an event); their sessions ended.',
  'scanner.assigned': "A manager sent a barcode scanner's scans to another tablet (or to none).",
  'settings.discount_policy_changed':
    "The owner changed the discount limits cashiers may give without a manager's approval; old and new limits.",
  'member.registered': 'A member signed up at the counter. Personal data is sealed; consent flags are in clear.',
  'member.profile_updated': "A member's profile changed; the whole profile, sealed.",
  'member.carrier_bound': 'An e-invoice carrier barcode was bound to a member; its keyed hash, sealed.',
  'member.consent_changed': 'Marketing consent on one channel was given or withdrawn.',
  'member.tagged': 'A tag was added to a member; the tag is sealed (it says something about a person).',
  'member.untagged': 'A tag was removed from a member; the tag is sealed.',
  'member.merged': 'Two records of one person were merged: history, points, tags and coupons move into the kept one.',
  'member.erased': 'PDPA erasure: HQ must erase what it holds about this member (and records merged into it).',
  'member.tier_changed': "A member's tier changed outside a sale (tier review).",
  'points.expired': 'Points earned on or before a day expired.',
  'coupon.created': 'A manager created a coupon.',
  'coupon.issued': 'A personal coupon code was issued to a member.',
  'message.queued': 'An SMS was queued for a member (template and parameters only).',
  'message.attempted': 'One try at sending a queued message.',
  'member.auto_tagged':
    'An automatic tag rule now holds for a member: the tag and the rule, sealed together, were set.',
  'member.auto_untagged':
    'An automatic tag rule no longer holds for a member (or was deleted): its tag (sealed with the rule) was taken away.',
  'segment.saved':
    'A manager saved a member filter (segment) under a name; the definition is the condition language v1.',
  'segment.deleted': 'A saved segment was deleted.',
  'tag_rule.saved': 'A manager saved an automatic tag rule: members matching the definition carry the tag.',
  'tag_rule.deleted': 'An automatic tag rule was deleted; the tags it set are taken away.',
};

// ---- the envelope ----

const envelopeFields = {
  schema: Type.Literal(EVENT_SCHEMA),
  eventId: UuidV7('UUIDv7: unique across stores, sortable by time. Dedupe by (storeId, eventId).'),
  chainId: Slug('The chain.'),
  storeId: Slug('The store within the chain.'),
  epoch: Uuid(
    'Changes when a data directory is created or restored from a backup; seq starts again at 1 in a new epoch.',
  ),
  seq: Type.Integer({ minimum: 1, description: 'Per store and epoch: starts at 1, never repeats, no gaps.' }),
  at: UtcTime('ISO 8601 UTC time the hub recorded the event.'),
  occurredAt: Type.Optional(
    UtcTime(
      'Only on imported history (a demo store seeds a year of it at its first start): when the event happened in the store, earlier than at. Reports go by this time when present.',
    ),
  ),
  link: Type.Optional(
    Type.Object(
      {
        phoneHash: Type.String({
          pattern: '^[0-9a-f]{64}$',
          description:
            "Keyed HMAC-SHA256 of the member's E.164 number under the chain's key: the same person in every store.",
        }),
      },
      {
        ...closed,
        description:
          'Only on member.registered and member.profile_updated, while the member exists: links one person across stores. Never in the journal; absent when re-published after an erasure.',
      },
    ),
  ),
};

/** The envelope of one event type, its payload included. */
export function eventSchema<K extends EventType>(type: K) {
  const { schema, eventId, chainId, storeId, epoch, seq, at, occurredAt, link } = envelopeFields;
  return Type.Object(
    {
      schema,
      eventId,
      chainId,
      storeId,
      epoch,
      seq,
      type: Type.Literal(type),
      at,
      occurredAt,
      data: EventDataSchemas[type],
      link,
    },
    { ...closed, title: type, description: EVENT_DESCRIPTIONS[type] },
  );
}

/** Any event: the envelope with the type named and the payload left to the event's own schema. */
export const EventEnvelopeSchema = Type.Object(
  {
    ...envelopeFields,
    type: Type.Union(
      EVENT_TYPES.map((t) => Type.Literal(t)),
      { description: 'Dotted, past tense. Validate data with the schema of this type.' },
    ),
    data: Type.Object({}, { description: "The event's payload; see the schema of its type." }),
  },
  {
    ...closed,
    title: 'ayi.event/1 envelope',
    description: 'What the hub publishes on ayi/v1/{chainId}/{storeId}/events, one event a message.',
  },
);

export type EventSchemaOf<K extends EventType> = ReturnType<typeof eventSchema<K>>;

// ---- the link's other messages ----

export const LinkStatusSchema = Type.Object(
  {
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    chainId: Slug('The chain.'),
    storeId: Slug('The store.'),
    epoch: Uuid('The epoch of the events this hub publishes.'),
    lastSeq: Type.Integer({ minimum: 0, description: 'The last seq in the journal (0: none yet).' }),
    deliveredSeq: Type.Integer({
      minimum: 0,
      description: 'Every event up to this seq has been acknowledged by the broker (PUBACK).',
    }),
    version: Type.String({ description: "The hub's version." }),
    at: UtcTime('When the hub wrote this status (for the last will: when it connected).'),
    connectedAt: Type.Optional(
      UtcTime(
        'When the hub opened the connection this status belongs to (the last will carries it as `at` too): a will ' +
          'comes after every online status with the same connectedAt. Absent from hubs older than this field.',
      ),
    ),
    reason: Type.Optional(Type.String({ description: 'Why it went offline (e.g. shutdown), when it says.' })),
    devices: Type.Optional(Type.Array(Type.Unknown(), { description: 'Printers and scanners with their state.' })),
    lockedTablets: Type.Optional(
      Type.Array(
        Type.Object(
          {
            deviceId: Type.String({ description: 'The tablet (as in device.paired).' }),
            name: Type.String({ description: 'The name it was paired with.' }),
            lockedAt: UtcTime('When too many wrong PINs locked it.'),
          },
          { additionalProperties: true },
        ),
        {
          description:
            'Tablets locked by wrong staff PINs until a manager or the technician unlocks them (online status; ' +
            'empty when none is). Published again whenever a tablet is locked or unlocked.',
        },
      ),
    ),
    problems: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'online: what makes the hub degraded (storage_full, storage_low, storage_error, journal_damaged, clock_behind, ' +
          'backup_failed, backup_old, went_back_in_time; empty when all is well). ' +
          'Published again when it changes, also when a problem comes or goes with time alone (backup_old). ' +
          'More codes may be added.',
      }),
    ),
    checks: Type.Optional(
      Type.Object(
        {
          failing: Type.Array(Type.String(), { description: 'Ids of the checks that fail.' }),
          warning: Type.Array(Type.String(), { description: 'Ids of the checks that warn.' }),
        },
        {
          additionalProperties: true,
          description:
            "online: the box's own checks (`ayi doctor` on the box) that fail or warn, by id: clock, disk, journal, " +
            'printers, scanners, certificates, member-key, backups (the link itself is not among them: HQ sees it). ' +
            'Both empty when all is well. The hub checks again every 5 minutes and publishes the status again when ' +
            'this changes. More ids may be added. What each means and its fix: firmware-config/README.md, "ayi doctor".',
        },
      ),
    ),
    epochStartSeq: Type.Optional(
      Type.Integer({
        minimum: 2,
        description:
          "A store restored from a backup: its epoch's first seq (the backup's last seq + 1); a store that went back in " +
          "time: the journal's last seq + 1 when it noticed. Absent: the epoch starts at 1.",
      }),
    ),
    wentBackInTime: Type.Optional(
      Type.Object(
        {
          previousEpoch: Type.String({ description: 'The epoch the hub was in.' }),
          epoch: Type.String({ description: 'The new epoch it started.' }),
          epochStartSeq: Type.Integer({ minimum: 1, description: "The new epoch's first seq." }),
          brokerSeq: Type.Integer({
            minimum: 0,
            description: "The seq the broker's retained status named for the previous epoch.",
          }),
          brokerStatusAt: Nullable(Type.String({ description: 'When that status was published.' })),
          noticedAt: UtcTime('When the hub noticed.'),
        },
        {
          additionalProperties: true,
          description:
            'The last time the hub noticed its data went back in time (an old copy or card image put back: the ' +
            "broker's retained status named a later seq of its epoch) and started a new epoch. The previous epoch's " +
            "seqs epochStartSeq..brokerSeq are the old box's events, which the store no longer has. Absent: never.",
        },
      ),
    ),
    missingSeqs: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1 }), {
        maxItems: 100,
        description:
          'online, with journal_damaged: seqs of the current epoch the journal lacks (damaged lines), the first 100. ' +
          'HQ sends back those it holds with cmd/restore. Published again when it changes; absent when none is.',
      }),
    ),
    catalogVersion: Type.Optional(
      Nullable(
        Type.Integer({
          minimum: 1,
          description: "The version of HQ's catalog (ayi/v1/{chainId}/catalog) the store runs; null: none yet.",
        }),
      ),
    ),
    catalogLocalChanges: Type.Optional(
      Type.Boolean({
        description:
          "A manager imported a CSV at the store after HQ's version: the store's catalog differs from it until the next version.",
      }),
    ),
    catalogRefused: Type.Optional(
      Nullable(
        Type.Object(
          {
            version: Nullable(Type.Integer({ description: 'The version refused (null: not legible).' })),
            reason: Type.String({ description: 'Why: older than the one it runs, or what is invalid.' }),
            at: UtcTime('When.'),
          },
          {
            additionalProperties: true,
            description: 'online: the last catalog version this hub refused since it started (null: none).',
          },
        ),
      ),
    ),
    storePinBlock: Type.Optional(
      Type.Union(
        [
          Type.Null(),
          Type.Object(
            {
              since: UtcTime("When the wrong PIN that reached the store's hourly limit was typed."),
              until: UtcTime('When PINs are tried again (the oldest wrong PIN counted leaves the hour).'),
            },
            { additionalProperties: true },
          ),
        ],
        {
          description:
            "The store's limit of wrong staff PINs in an hour (60, all tablets together) is reached: no PIN is tried " +
            'on any tablet until `until` (staff already logged in carry on). null when it is not (online status). ' +
            'Published when the limit is reached; a block whose `until` has passed is over even if no newer status ' +
            'says so yet.',
        },
      ),
    ),
  },
  {
    additionalProperties: true,
    title: 'status',
    description:
      'Retained on ayi/v1/{chainId}/{storeId}/status. online when the hub connects; offline is the last will ' +
      '(published by the broker when the hub vanishes, with the figures of the time it connected) or a clean ' +
      'shutdown. Fields may be added.',
  },
);
export type LinkStatus = Static<typeof LinkStatusSchema>;

const RequestId = Type.String({ minLength: 1, maxLength: 128, description: 'Chosen by HQ; echoed in cmd-result.' });

export const ResendCommandSchema = Type.Object(
  {
    fromSeq: Type.Integer({ minimum: 1, description: 'Publish the events of the current epoch from this seq on.' }),
    requestId: RequestId,
  },
  { ...closed, title: 'cmd/resend', description: 'HQ asks for events again, e.g. to fill a gap.' },
);
export type ResendCommand = Static<typeof ResendCommandSchema>;

/** At most this many events in one cmd/restore (and at most RESTORE_MAX_BYTES of JSON). */
export const RESTORE_MAX_EVENTS = 200;
export const RESTORE_MAX_BYTES = 256 * 1024;

export const RestoreCommandSchema = Type.Object(
  {
    requestId: RequestId,
    events: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
      minItems: 1,
      maxItems: RESTORE_MAX_EVENTS,
      description:
        'Events of seqs the store named missing, each exactly as HQ holds it: the envelope and payload the store ' +
        'sent (ayi.event/1, with `link` where it had one). The hub checks each one and restores it, or refuses it.',
    }),
  },
  {
    ...closed,
    title: 'cmd/restore',
    description:
      'HQ gives a store back events its journal lost (damaged lines), from its own copy. At most ' +
      `${RESTORE_MAX_EVENTS} events and ${RESTORE_MAX_BYTES / 1024} KB a message.`,
  },
);
export type RestoreCommand = Static<typeof RestoreCommandSchema>;

/** Why the hub refused an event of a cmd/restore. */
export const RESTORE_REFUSALS = [
  'invalid',
  'other_store',
  'other_epoch',
  'not_missing',
  'id_mismatch',
  'content_mismatch',
  'duplicate_seq',
] as const;
export type RestoreRefusal = (typeof RESTORE_REFUSALS)[number];

// ---- the chain's catalog, from HQ ----

export const CATALOG_SCHEMA = 'ayi.catalog/1';
/** At most this many products in one catalog version (5,000 products are about 1 MB of JSON). */
export const CATALOG_MAX_PRODUCTS = 20_000;
const Sku = Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'Letters, digits, ".", "_" or "-".' });
const CatalogPrice = Type.Integer({ minimum: 0, maximum: 10_000_000, description: 'NT$, tax included.' });

/** A product of the chain's catalog: the fields of the store's catalog, with the limits of its CSV import. */
export const CatalogProductSchema = Type.Object(
  {
    sku: Sku,
    barcodes: Type.Array(
      Type.String({ pattern: '^[\\x21-\\x7e]{1,64}$', description: 'Printable ASCII, no spaces.' }),
      { maxItems: 32, description: 'Each barcode belongs to one product.' },
    ),
    name: Type.String({ minLength: 1, maxLength: 80, pattern: '\\S' }),
    category: Type.String({ minLength: 1, maxLength: 40, pattern: '\\S' }),
    price: CatalogPrice,
    repurchaseDays: Nullable(
      Type.Integer({ minimum: 1, maximum: 3650, description: 'The usual days between two purchases, if known.' }),
    ),
  },
  closed,
);

export const CatalogVersionSchema = Type.Object(
  {
    schema: Type.Literal(CATALOG_SCHEMA),
    chainId: Slug('The chain (the topic names it too).'),
    version: Type.Integer({
      minimum: 1,
      description: 'Goes up by one with each version HQ publishes; a store refuses one not above what it runs.',
    }),
    publishedAt: UtcTime('When HQ published it.'),
    products: Type.Array(CatalogProductSchema, {
      minItems: 1,
      maxItems: CATALOG_MAX_PRODUCTS,
      description: "The whole catalog: it replaces the store's (a SKU appears once; a barcode on one SKU only).",
    }),
    storePrices: Type.Record(
      Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), CatalogPrice),
      { description: "Per store: SKU -> that store's price instead of the chain's (SKUs of this catalog only)." },
    ),
  },
  {
    ...closed,
    title: 'catalog',
    description:
      "Retained on ayi/v1/{chainId}/catalog (QoS 1): the chain's catalog and prices, with per-store prices. " +
      'Each hub applies a version above the one it runs as a catalog.imported event (source hq) of its journal, ' +
      'with its own prices, and reports the version it runs in its status (catalogVersion).',
  },
);
export type CatalogVersion = Static<typeof CatalogVersionSchema>;

export const PingCommandSchema = Type.Object(
  { requestId: RequestId },
  { ...closed, title: 'cmd/ping', description: 'HQ checks that the hub answers.' },
);
export type PingCommand = Static<typeof PingCommandSchema>;

export const CommandResultSchema = Type.Object(
  {
    command: Type.String({ description: 'The command answered (ping, resend, restore; another name gets ok false).' }),
    requestId: Nullable(Type.String({ description: "The command's requestId (null when it had none)." })),
    chainId: Slug('The chain.'),
    storeId: Slug('The store.'),
    epoch: Uuid('The epoch of the events this hub publishes.'),
    at: UtcTime('When the hub answered.'),
    ok: Type.Boolean(),
    error: Type.Optional(Type.String({ description: 'Why the command was refused (ok false).' })),
    lastSeq: Type.Optional(Type.Integer({ minimum: 0 })),
    deliveredSeq: Type.Optional(Type.Integer({ minimum: 0, description: 'ping' })),
    backlog: Type.Optional(
      Type.Integer({ minimum: 0, description: 'ping: events not yet acknowledged by the broker.' }),
    ),
    fromSeq: Type.Optional(Type.Integer({ minimum: 1, description: 'resend: publishing goes on from here.' })),
    toSeq: Type.Optional(Type.Integer({ minimum: 0, description: 'resend: the last seq at the time of the command.' })),
    missingSeqs: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1 }), {
        description:
          'resend: seqs of the range the journal lacks (damaged lines), which cannot be sent; ok is false, the others are sent again.',
      }),
    ),
    restored: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1 }), {
        description:
          "restore: seqs now in the journal, on disk (fsync'd) and in the projections, this time or an earlier one.",
      }),
    ),
    refused: Type.Optional(
      Type.Array(
        Type.Object(
          {
            seq: Nullable(Type.Integer({ description: 'The seq the event claimed (null: none legible).' })),
            reason: Type.Union(
              RESTORE_REFUSALS.map((r) => Type.Literal(r)),
              {
                description:
                  'invalid (not an event of the contract), other_store, other_epoch, not_missing (the journal holds a ' +
                  "good line for it, or it is after the last seq), id_mismatch (the damaged line, or the id's time, names " +
                  'another event), content_mismatch (the checksum still legible in the damaged line is not this ' +
                  "event's), duplicate_seq (twice in one command).",
              },
            ),
          },
          { additionalProperties: true },
        ),
        { description: 'restore: events not restored, and why (ok is false when any is).' },
      ),
    ),
  },
  {
    additionalProperties: true,
    title: 'cmd-result',
    description:
      'The answer to a command, on ayi/v1/{chainId}/{storeId}/cmd-result (QoS 1). Carries the requestId of the ' +
      "command, and the MQTT 5 correlation data of the command's PUBLISH when it had some. Fields may be added.",
  },
);
export type CommandResult = Static<typeof CommandResultSchema>;

// ---- compile-time checks: each schema's Static type is exactly its interface ----

/** True when A and B are the same type (optional and readonly modifiers included). */
export type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

type PayloadMismatch = {
  [K in EventType]: Equals<Static<(typeof EventDataSchemas)[K]>, EventPayloads[K]> extends true ? never : K;
}[EventType];
type EventMismatch = {
  [K in EventType]: Equals<Static<EventSchemaOf<K>>, HubEventOf<K>> extends true ? never : K;
}[EventType];
type EnvelopeMismatch =
  Equals<Omit<Static<typeof EventEnvelopeSchema>, 'data'>, Omit<EventEnvelope<EventType>, 'data'>> extends true
    ? never
    : 'envelope';

/**
 * Fails to compile, naming the event type, when a schema and its interface in events.ts differ.
 * Fix the schema (or the interface) until both say the same.
 */
export const SCHEMAS_MATCH_EVENTS: [PayloadMismatch | EventMismatch | EnvelopeMismatch] extends [never]
  ? true
  : { mismatch: PayloadMismatch | EventMismatch | EnvelopeMismatch } = true;

// The parts too, so a mismatch is reported where it is.
const _partsMatch: [
  Equals<Static<typeof SealedDataSchema>, SealedData>,
  Equals<Static<typeof SaleLineDataSchema>, SaleLineData>,
  Equals<Static<typeof SaleLoyaltyDataSchema>, SaleLoyaltyData>,
  Equals<Static<typeof PointsReversalDataSchema>, PointsReversalData>,
  Equals<Static<typeof ProductDataSchema>, ProductData>,
  Equals<Static<typeof StaffLoggedInDataSchema>, StaffLoggedInData>,
  Equals<Static<typeof MemberErasedDataSchema>, MemberErasedData>,
] = [true, true, true, true, true, true, true];
void _partsMatch;
