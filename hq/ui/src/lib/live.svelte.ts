/**
 * One answer of HQ's API kept fresh on screen: loaded when its address changes and again every
 * `everyMs` (new sales keep arriving from the stores). An answer to an older address is dropped,
 * so a quick change of range never shows the figures of the one before.
 */
import { get } from './api';
import { nowIso } from './format';

export class Live<T> {
  data = $state<T | null>(null);
  error = $state<unknown>(null);
  /** When the figures on screen were answered (ISO). */
  updatedAt = $state<string | null>(null);
  readonly #address: () => string | null;

  constructor(address: () => string | null) {
    this.#address = address;
  }

  async refresh(): Promise<void> {
    const address = this.#address();
    if (address === null) return;
    try {
      const data = await get<T>(address);
      if (address !== this.#address()) return;
      this.data = data;
      this.error = null;
      this.updatedAt = nowIso();
    } catch (err) {
      if (address === this.#address()) this.error = err;
    }
  }

  /** For a page's $effect: loads now (tracking the address) and every `everyMs`; returns the stop. */
  follow(everyMs = 15_000): () => void {
    void this.refresh();
    const timer = setInterval(() => void this.refresh(), everyMs);
    return () => clearInterval(timer);
  }
}
