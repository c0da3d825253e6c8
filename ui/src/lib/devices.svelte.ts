/**
 * The store's printers and scanners (GET /api/hardware), kept current: the hub sends a
 * `{type: "device.status"}` message whenever one changes (the socket hands it to `apply`), and the
 * list is fetched again on every new connection (`hello`), since changes made while the socket was
 * down are not sent again. Anyone logged in may read it: the top bar warns every cashier when the
 * receipt printer is disconnected or out of paper.
 */
import { devicesApi, type DeviceStatusView, type StorePinBlock, type TabletRef } from './components/AdminApi';

/** What is wrong with the receipt printer, for the top bar; null when it can print. */
export type PrinterProblem = 'disconnected' | 'paper_out';

export function printerProblem(d: DeviceStatusView): PrinterProblem | null {
  if (d.kind !== 'printer') return null;
  if (!d.connected) return 'disconnected';
  if (d.paper === 'out') return 'paper_out';
  return null;
}

/** Printers first, then by name (as the technician named them), then by id. */
function byKindAndName(a: DeviceStatusView, b: DeviceStatusView): number {
  if (a.kind !== b.kind) return a.kind === 'printer' ? -1 : 1;
  return a.name.localeCompare(b.name, 'zh-Hant') || a.deviceId.localeCompare(b.deviceId);
}

class DeviceStore {
  devices = $state<DeviceStatusView[]>([]);
  tablets = $state<TabletRef[]>([]);
  /** The store-wide block of PIN tries, while there is one. */
  storePinBlock = $state<StorePinBlock | null>(null);
  /** The printer receipts go to, when the hub says so. */
  defaultPrinterId = $state<string | null>(null);
  loaded = $state(false);
  loading = $state(false);
  error = $state<unknown>(null);

  readonly sorted: DeviceStatusView[] = $derived([...this.devices].sort(byKindAndName));

  /**
   * The receipt printer's problem, if any. When the hub does not say which printer is the default
   * (or names one it does not list), any printer in trouble counts: with the embedded default there
   * is only one.
   */
  readonly receiptPrinter: { device: DeviceStatusView; problem: PrinterProblem } | null = $derived.by(() => {
    const printers = this.devices.filter((d) => d.kind === 'printer');
    const named = printers.filter((d) => d.deviceId === this.defaultPrinterId);
    const watched = named.length > 0 ? named : printers;
    for (const device of watched) {
      const problem = printerProblem(device);
      if (problem) return { device, problem };
    }
    return null;
  });

  #generation = 0;

  /** Fetches the list; a status message that arrived meanwhile and is newer is kept. */
  async load(): Promise<void> {
    const generation = ++this.#generation;
    this.loading = true;
    try {
      const res = await devicesApi.list();
      if (generation !== this.#generation) return; // cleared or reloaded meanwhile
      const fetched = res.devices.map((d) => {
        const known = this.devices.find((x) => x.deviceId === d.deviceId);
        return known && known.updatedAt > d.updatedAt ? known : d;
      });
      this.devices = fetched;
      this.tablets = [...res.tablets].sort((a, b) => a.name.localeCompare(b.name, 'zh-Hant'));
      this.defaultPrinterId = res.defaultPrinterId ?? null;
      this.storePinBlock = res.storePinBlock ?? null;
      this.error = null;
      this.loaded = true;
    } catch (e) {
      if (generation === this.#generation) this.error = e;
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
  }

  /** A device's new status (from the WebSocket or an answer to the manager's action). */
  apply(device: DeviceStatusView): void {
    const i = this.devices.findIndex((d) => d.deviceId === device.deviceId);
    if (i >= 0) {
      const current = this.devices[i];
      if (current && current.updatedAt > device.updatedAt) return; // an older report came late
      this.devices[i] = device;
    } else if (this.loaded) {
      // A device added by the technician: the list shows it without a reload.
      this.devices.push(device);
    }
  }

  /** Unlocks a tablet locked by wrong PINs (manager, from another tablet), then reads the list again. */
  async unlockTablet(deviceId: string): Promise<void> {
    await devicesApi.unlockTablet(deviceId);
    const tablet = this.tablets.find((t) => t.deviceId === deviceId);
    if (tablet) tablet.lockedAt = null;
    await this.load();
  }

  get(deviceId: string): DeviceStatusView | undefined {
    return this.devices.find((d) => d.deviceId === deviceId);
  }

  /** Nobody is logged in any more: forget everything (and ignore answers still on their way). */
  clear(): void {
    this.#generation += 1;
    this.devices = [];
    this.tablets = [];
    this.storePinBlock = null;
    this.defaultPrinterId = null;
    this.loaded = false;
    this.loading = false;
    this.error = null;
  }
}

export const deviceStore = new DeviceStore();
