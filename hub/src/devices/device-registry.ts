/**
 * The store's devices and how they are: connected, paper, queue, last error, which tablet a scanner
 * serves. Drivers and services report here; every change goes to the listeners (the WebSocket tells
 * the tablets, the admin page lists them).
 */
import type { DeviceStatusView } from './device-types.js';

export type DeviceStatusListener = (device: DeviceStatusView) => void;

export class DeviceRegistry {
  private readonly devices = new Map<string, DeviceStatusView>();
  private readonly listeners: DeviceStatusListener[] = [];

  constructor(private readonly clock: () => Date = () => new Date()) {}

  /** Adds a device (as configured) or replaces it. */
  register(device: Omit<DeviceStatusView, 'updatedAt'>): void {
    this.set({ ...device, updatedAt: this.clock().toISOString() });
  }

  /** Changes what is known of a device; listeners hear of it only if something changed. */
  update(deviceId: string, patch: Partial<Omit<DeviceStatusView, 'deviceId' | 'kind' | 'updatedAt'>>): void {
    const current = this.devices.get(deviceId);
    if (!current) return;
    const changed = (Object.keys(patch) as (keyof typeof patch)[]).some((key) => patch[key] !== current[key]);
    if (!changed) return;
    this.set({ ...current, ...patch, updatedAt: this.clock().toISOString() });
  }

  get(deviceId: string): DeviceStatusView | undefined {
    return this.devices.get(deviceId);
  }

  list(): DeviceStatusView[] {
    return [...this.devices.values()];
  }

  onChange(listener: DeviceStatusListener): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  private set(device: DeviceStatusView): void {
    this.devices.set(device.deviceId, device);
    for (const listener of this.listeners) {
      try {
        listener(device);
      } catch {
        // A listener's failure (a closed socket) must not stop the others or the driver reporting.
      }
    }
  }
}
