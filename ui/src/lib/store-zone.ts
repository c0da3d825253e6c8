/**
 * The store's time zone, as GET /api/me tells it (the session sets it): every date on screen is the
 * store's, whatever zone the tablet is set to. A plain module, so date helpers need no Svelte state.
 */
export const DEFAULT_STORE_TIME_ZONE = 'Asia/Taipei';

let zone = DEFAULT_STORE_TIME_ZONE;

export function storeTimeZone(): string {
  return zone;
}

export function setStoreTimeZone(timeZone: string | null | undefined): void {
  zone = timeZone || DEFAULT_STORE_TIME_ZONE;
}
