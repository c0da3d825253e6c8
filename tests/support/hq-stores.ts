/**
 * Simulated stores for HQ's tests and bench: each store's stream of valid `ayi.event/1` envelopes
 * (sales, refunds and voids, seq 1..N in one epoch), as its hub would publish them, and a publisher
 * per store (MQTT 5, QoS 1, one event at a time, as the hub's link sends them).
 */
import { randomUUID } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import { v7 as uuidv7 } from 'uuid';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import type { Rng } from '../../scripts/lib/baskets.ts';
import { completedSale, refundedSale, saleLine, voidedSale } from './member-events.ts';

export interface SimulatedStore {
  chainId: string;
  storeId: string;
  topic: string;
  /** The store's events in seq order, 1..N. */
  events: HubEvent[];
}

/** A store's N events: mostly sales, a refund or a void of an earlier sale now and then. */
export function simulatedStore(chainId: string, storeId: string, count: number, rng: Rng): SimulatedStore {
  const epoch = randomUUID();
  const events: HubEvent[] = [];
  const sales: { saleId: string; total: number; voided: boolean; refunded: boolean }[] = [];
  const at = (seq: number) => new Date(Date.UTC(2026, 11, 1, 2, 0, seq)).toISOString();
  const push = (type: string, data: unknown) =>
    events.push({
      schema: 'ayi.event/1',
      eventId: uuidv7(),
      chainId,
      storeId,
      epoch,
      seq: events.length + 1,
      type,
      at: at(events.length + 1),
      data,
    } as HubEvent);
  while (events.length < count) {
    const roll = rng();
    const open = sales.filter((s) => !s.voided && !s.refunded);
    const earlier = open[Math.floor(rng() * open.length)];
    if (earlier && roll < 0.12) {
      earlier.voided = true;
      push('sale.voided', voidedSale(earlier.saleId));
    } else if (earlier && roll < 0.25) {
      earlier.refunded = true;
      push('sale.refunded', refundedSale(earlier.saleId, 20));
    } else {
      const saleId = `20261201-${String(sales.length + 1).padStart(6, '0')}`;
      const total = 40 + Math.floor(rng() * 400);
      sales.push({ saleId, total, voided: false, refunded: false });
      push(
        'sale.completed',
        completedSale({
          saleId,
          businessDate: '2026-12-01',
          memberId: null,
          lines: [saleLine(1, 'DRK-001', total - 20), saleLine(2, 'FOD-001', 20)],
        }),
      );
    }
  }
  return { chainId, storeId, topic: `ayi/v1/${chainId}/${storeId}/events`, events };
}

/** A store's own connection to the broker; `publish` resolves on the broker's PUBACK. */
export async function storePublisher(brokerUrl: string, store: SimulatedStore): Promise<MqttClient> {
  return connectAsync(brokerUrl, {
    protocolVersion: 5,
    clientId: `sim-${store.storeId}-${process.pid}`,
    clean: true,
    reconnectPeriod: 200,
  });
}
