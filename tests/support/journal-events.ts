/** Events for tests of the journal and what watches it: small, valid, one per seq. */
import { EVENT_SCHEMA, type HubEvent } from '../../hub/src/protocol/events.ts';

/** A tablet paired, as event `seq` of store demo/store-001 (epoch-1), at `at` (now by default). */
export function pairedEvent(seq: number, at = new Date().toISOString()): HubEvent {
  return {
    schema: EVENT_SCHEMA,
    eventId: `evt-${seq}`,
    chainId: 'demo',
    storeId: 'store-001',
    epoch: 'epoch-1',
    seq,
    type: 'device.paired',
    at,
    data: { deviceId: `tab-${seq}`, name: `Tablet ${seq}` },
  };
}
