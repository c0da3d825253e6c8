/**
 * The in-process event bus: devices and the event store publish, services and transports listen.
 * A listener that throws is logged and does not stop the others.
 */
import type { HubEvent } from '../protocol/events.js';
import type { DeviceStatusView, ScanEvent } from '../devices/device-types.js';
import type { StorageView } from '../storage/storage-monitor.js';
import type { ClockView } from '../storage/clock-guard.js';

export interface BusTopics {
  /** An event is on disk and projected. */
  'event.committed': HubEvent;
  /** A device's pairing was revoked: close its connections. */
  'device.revoked': { deviceId: string };
  /** A hardware scanner read a code for the tablet `deviceId`. */
  'scanner.scan': ScanEvent & { deviceId: string };
  /** A printer or scanner changed state. */
  'device.status': DeviceStatusView;
  /** Free space on the data disk changed state (ok, low, full). */
  'storage.changed': StorageView;
  /** The clock fell behind the journal's last event, or caught up with it. */
  'clock.changed': ClockView;
}

type Listener<T> = (payload: T) => void;

export class Bus {
  private readonly listeners = new Map<keyof BusTopics, Listener<never>[]>();

  constructor(private readonly onListenerError: (topic: string, err: unknown) => void) {}

  on<K extends keyof BusTopics>(topic: K, listener: Listener<BusTopics[K]>): () => void {
    const list = this.listeners.get(topic) ?? [];
    list.push(listener as Listener<never>);
    this.listeners.set(topic, list);
    return () => {
      const current = this.listeners.get(topic) ?? [];
      this.listeners.set(
        topic,
        current.filter((l) => l !== listener),
      );
    };
  }

  emit<K extends keyof BusTopics>(topic: K, payload: BusTopics[K]): void {
    for (const listener of this.listeners.get(topic) ?? []) {
      try {
        (listener as Listener<BusTopics[K]>)(payload);
      } catch (err) {
        this.onListenerError(topic, err);
      }
    }
  }
}
