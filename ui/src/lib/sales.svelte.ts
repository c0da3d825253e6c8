/**
 * Sale history (GET /api/sales, newest first), kept live: every `{type: "sale"}` message from the
 * hub (a sale completed, voided or refunded on any tablet) is inserted or replaces its row.
 * Messages sent while the socket was down are lost, so every reconnection fetches the newest page
 * again and merges it in.
 */
import type { SaleView } from '$protocol/api';
import { api } from './api';
import { hubSocket } from './hub-socket.svelte';

export interface ReceiptJob {
  jobId: string;
  kind: 'original' | 'copy';
  printedAt: string | null;
  text: string;
}

const PAGE = 50;

function bySeqDesc(a: SaleView, b: SaleView): number {
  return b.seq - a.seq;
}

class SalesStore {
  sales = $state<SaleView[]>([]);
  loaded = $state(false);
  loading = $state(false);
  hasMore = $state(false);
  error = $state<unknown>(null);

  constructor() {
    hubSocket.subscribe((msg) => {
      if (msg.type === 'sale') this.upsert(msg.sale);
    });
    hubSocket.onReconnect(() => {
      if (this.loaded) void this.refreshNewest();
    });
  }

  /**
   * Fetches the newest page and merges it into what is loaded (after a reconnect: sales made while
   * this tablet was offline appear). If more sales came in than one page, starts over from the top.
   */
  async refreshNewest(): Promise<void> {
    try {
      const res = await api.get<{ sales: SaleView[] }>(`/api/sales?limit=${PAGE}`);
      const newestKnown = this.sales[0]?.seq ?? 0;
      const oldestFetched = res.sales.reduce((m, s) => Math.min(m, s.seq), Number.POSITIVE_INFINITY);
      if (res.sales.length >= PAGE && oldestFetched > newestKnown) {
        // A gap between the fetched page and what we had: keep only the fresh page.
        this.sales = [...res.sales].sort(bySeqDesc);
        this.hasMore = true;
      } else {
        const fetched = res.sales.map((s) => s.saleId);
        this.sales = [...res.sales, ...this.sales.filter((s) => !fetched.includes(s.saleId))].sort(bySeqDesc);
      }
      this.error = null;
    } catch (e) {
      this.error = e;
    }
  }

  /** Inserts a sale or replaces the one with the same saleId, keeping newest first. */
  upsert(sale: SaleView): void {
    const i = this.sales.findIndex((s) => s.saleId === sale.saleId);
    if (i >= 0) {
      this.sales[i] = sale;
      return;
    }
    if (!this.loaded) return; // the next load brings it
    const at = this.sales.findIndex((s) => s.seq < sale.seq);
    if (at < 0) this.sales.push(sale);
    else this.sales.splice(at, 0, sale);
  }

  get(saleId: string): SaleView | undefined {
    return this.sales.find((s) => s.saleId === saleId);
  }

  async load(): Promise<void> {
    this.loading = true;
    try {
      const res = await api.get<{ sales: SaleView[] }>(`/api/sales?limit=${PAGE}`);
      this.sales = [...res.sales].sort(bySeqDesc);
      this.hasMore = res.sales.length >= PAGE;
      this.loaded = true;
      this.error = null;
    } catch (e) {
      this.error = e;
    } finally {
      this.loading = false;
    }
  }

  async loadMore(): Promise<void> {
    const last = this.sales.at(-1);
    if (!last || this.loading) return;
    this.loading = true;
    try {
      const res = await api.get<{ sales: SaleView[] }>(`/api/sales?limit=${PAGE}&beforeSeq=${last.seq}`);
      const known = new Set(this.sales.map((s) => s.saleId));
      this.sales = [...this.sales, ...res.sales.filter((s) => !known.has(s.saleId))].sort(bySeqDesc);
      this.hasMore = res.sales.length >= PAGE;
      this.error = null;
    } catch (e) {
      this.error = e;
    } finally {
      this.loading = false;
    }
  }

  async fetchOne(saleId: string): Promise<SaleView> {
    const sale = await api.get<SaleView>(`/api/sales/${encodeURIComponent(saleId)}`);
    this.upsert(sale);
    return sale;
  }

  async receipt(saleId: string): Promise<ReceiptJob[]> {
    const res = await api.get<{ jobs: ReceiptJob[] }>(`/api/sales/${encodeURIComponent(saleId)}/receipt`);
    return res.jobs ?? [];
  }

  async reprint(saleId: string): Promise<{ jobId: string; text: string }> {
    return api.post<{ jobId: string; text: string }>(`/api/sales/${encodeURIComponent(saleId)}/reprint`, {});
  }

  async void(saleId: string, reason: string): Promise<SaleView> {
    const sale = await api.post<SaleView>(`/api/sales/${encodeURIComponent(saleId)}/void`, { reason });
    this.upsert(sale);
    return sale;
  }

  async refund(
    saleId: string,
    body: { idempotencyKey: string; lines: { lineNo: number; qty: number }[]; reason: string },
  ): Promise<SaleView> {
    const sale = await api.post<SaleView>(`/api/sales/${encodeURIComponent(saleId)}/refund`, body);
    this.upsert(sale);
    return sale;
  }
}

export const salesStore = new SalesStore();

/** The original receipt if there is one, else the first job. */
export function pickReceipt(jobs: ReceiptJob[]): ReceiptJob | undefined {
  return jobs.find((j) => j.kind === 'original') ?? jobs[0];
}
