import { i18nReady } from '$lib/i18n';

// The UI is a pure single-page app served by the hub: no server rendering, no prerendering.
export const ssr = false;
export const prerender = false;
export const trailingSlash = 'never';

/** Nothing renders before the active language's words are there (no flash of message keys). */
export const load = (): Promise<void> => i18nReady();
