/** Events as the hub journals them, for tests and benches of the journal and what reads it. */
import { EVENT_SCHEMA, type EventPayloads, type EventType, type HubEvent } from '../../hub/src/protocol/events.ts';

export interface EventOrigin {
  chainId: string;
  storeId: string;
  epoch: string;
  /** Event ids are `<prefix>-<seq>`. */
  eventIdPrefix: string;
}

/** Store demo/store-001, epoch-1. */
export const TEST_STORE: EventOrigin = {
  chainId: 'demo',
  storeId: 'store-001',
  epoch: 'epoch-1',
  eventIdPrefix: 'evt',
};

/** Event `seq` of `origin`; typed by its payload, so tests and benches keep up with the contract. */
export function journalEvent<K extends EventType>(
  seq: number,
  at: string,
  type: K,
  data: EventPayloads[K],
  origin: EventOrigin = TEST_STORE,
): HubEvent {
  const { eventIdPrefix, ...store } = origin;
  return { schema: EVENT_SCHEMA, eventId: `${eventIdPrefix}-${seq}`, ...store, seq, type, at, data } as HubEvent;
}

/** A tablet paired, as event `seq` of the test store, at `at` (now by default). */
export function pairedEvent(seq: number, at = new Date().toISOString()): HubEvent {
  return journalEvent(seq, at, 'device.paired', { deviceId: `tab-${seq}`, name: `Tablet ${seq}` });
}
