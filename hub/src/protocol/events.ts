/**
 * The event envelope and event payloads. Events are what the journal stores, what tablets are told
 * and what HQ receives, so they carry no raw personal data (no phone numbers, names or birthdays).
 */
import type { Role, Tender } from './api.js';

export const EVENT_SCHEMA = 'ayi.event/1';

export interface EventEnvelope<TType extends string = string, TData = unknown> {
  schema: typeof EVENT_SCHEMA;
  /** UUIDv7: unique across stores, sortable by time. */
  eventId: string;
  chainId: string;
  storeId: string;
  /** Changes when a data directory is created or restored from a backup. */
  epoch: string;
  /** Per-store sequence: starts at 1, never repeats, no gaps. */
  seq: number;
  type: TType;
  /** ISO 8601 UTC time the hub recorded the event. */
  at: string;
  data: TData;
}

export interface ProductData {
  sku: string;
  barcodes: string[];
  name: string;
  category: string;
  /** NT$, whole dollars, tax included. */
  price: number;
  repurchaseDays: number | null;
}

export interface SaleLineData {
  lineNo: number;
  sku: string;
  name: string;
  category: string;
  qty: number;
  unitPrice: number;
  lineDiscount: number;
  /** qty * unitPrice - lineDiscount */
  lineTotal: number;
  /** This line's share of the order discount. */
  orderDiscountShare: number;
}

export interface SaleCompletedData {
  saleId: string;
  idempotencyKey: string;
  /** Hash of the submitted cart: the same key with a different cart is refused. */
  requestHash: string;
  businessDate: string;
  deviceId: string;
  staffId: string;
  staffName: string;
  memberId: string | null;
  lines: SaleLineData[];
  subtotal: number;
  orderDiscount: number;
  total: number;
  tenders: Tender[];
  change: number;
}

export interface SaleVoidedData {
  saleId: string;
  reason: string;
  staffId: string;
  deviceId: string;
}

export interface SaleRefundedData {
  saleId: string;
  refundId: string;
  idempotencyKey: string;
  lines: { lineNo: number; qty: number; amount: number }[];
  amount: number;
  reason: string;
  staffId: string;
  deviceId: string;
}

export interface CatalogImportedData {
  source: 'csv' | 'demo';
  products: ProductData[];
}

export interface DevicePairedData {
  deviceId: string;
  name: string;
}

export interface DeviceRevokedData {
  deviceId: string;
}

export interface StaffLoggedInData {
  staffId: string;
  role: Role;
  deviceId: string;
}

export interface EventPayloads {
  'sale.completed': SaleCompletedData;
  'sale.voided': SaleVoidedData;
  'sale.refunded': SaleRefundedData;
  'catalog.imported': CatalogImportedData;
  'device.paired': DevicePairedData;
  'device.revoked': DeviceRevokedData;
}

export type EventType = keyof EventPayloads;
export type HubEvent = { [K in EventType]: EventEnvelope<K, EventPayloads[K]> }[EventType];
export type HubEventOf<K extends EventType> = EventEnvelope<K, EventPayloads[K]>;
