/**
 * The store's catalog, loaded once (GET /api/products) and searched on the tablet.
 * Barcodes are indexed locally; an unknown code is asked of the hub once before giving up.
 */
import type { ProductView } from '$protocol/api';
import { api, isApiError } from './api';
import { hubSocket } from './hub-socket.svelte';

function normalise(s: string): string {
  // Full-width digits and letters (typed with a Chinese IME) count as their ASCII forms.
  return s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

class Catalog {
  products = $state<ProductView[]>([]);
  loaded = $state(false);
  loading = $state(false);
  error = $state<unknown>(null);

  #byBarcode = new Map<string, ProductView>();
  #bySku = new Map<string, ProductView>();
  #haystack = new Map<string, string>();
  #loadPromise: Promise<void> | null = null;

  constructor() {
    hubSocket.subscribe((msg) => {
      if (msg.type === 'catalog.changed' && this.loaded) void this.reload();
    });
    // A change announced while the link was down was missed; a load tried then failed.
    hubSocket.onReconnect(() => {
      if (this.loaded || this.error) void this.reload().catch(() => undefined);
    });
  }

  /** Loads the catalog once; later calls wait for the same load. */
  ensureLoaded(): Promise<void> {
    if (this.loaded) return Promise.resolve();
    this.#loadPromise ??= this.reload().finally(() => {
      this.#loadPromise = null;
    });
    return this.#loadPromise;
  }

  async reload(): Promise<void> {
    this.loading = true;
    try {
      // An unchanged catalog comes back as 304 and is read from the browser's cache.
      const res = await api.get<{ products: ProductView[] }>('/api/products', { timeoutMs: 20_000, cache: 'no-cache' });
      this.#index(res.products);
      this.products = res.products;
      this.loaded = true;
      this.error = null;
    } catch (e) {
      this.error = e;
      throw e;
    } finally {
      this.loading = false;
    }
  }

  #index(products: ProductView[]): void {
    this.#byBarcode.clear();
    this.#bySku.clear();
    this.#haystack.clear();
    for (const p of products) {
      this.#bySku.set(p.sku, p);
      for (const b of p.barcodes) this.#byBarcode.set(b.trim(), p);
      this.#haystack.set(p.sku, normalise(`${p.name} ${p.sku} ${p.category} ${p.barcodes.join(' ')}`));
    }
  }

  bySku(sku: string): ProductView | undefined {
    return this.#bySku.get(sku);
  }

  /** Exact barcode or SKU match in the local index. */
  localLookup(raw: string): ProductView | undefined {
    const code = raw.normalize('NFKC').trim();
    return this.#byBarcode.get(code) ?? this.#bySku.get(code);
  }

  /** Product for a scanned code: local index first, then GET /api/products/barcode/:code. */
  async lookupBarcode(raw: string): Promise<ProductView | null> {
    const code = raw.normalize('NFKC').trim();
    if (!code) return null;
    const local = this.localLookup(code);
    if (local) return local;
    try {
      const p = await api.get<ProductView>(`/api/products/barcode/${encodeURIComponent(code)}`, {
        timeoutMs: 5000,
      });
      this.#byBarcode.set(code, p);
      this.#bySku.set(p.sku, p);
      return p;
    } catch (e) {
      if (isApiError(e) && e.status === 404) return null;
      throw e;
    }
  }

  /** Products whose name, SKU, category or barcode contain every word of the query. */
  search(query: string, limit = 30): ProductView[] {
    const words = normalise(query).split(' ').filter(Boolean);
    if (words.length === 0) return [];
    const out: ProductView[] = [];
    for (const p of this.products) {
      const hay = this.#haystack.get(p.sku) ?? '';
      if (words.every((w) => hay.includes(w))) {
        out.push(p);
        if (out.length >= limit) break;
      }
    }
    return out;
  }
}

export const catalog = new Catalog();
