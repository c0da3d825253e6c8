import { loadMessages } from '$lib/i18n';

/** The page's words come with the page, not with every start of the counter. */
export const load = (): Promise<void> => loadMessages('segments');
