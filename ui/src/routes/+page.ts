import { redirect } from '@sveltejs/kit';
import { preloadCode } from '$app/navigation';
import { resolve } from '$app/paths';
import { catalog } from '$lib/catalog.svelte';
import { session } from '$lib/session.svelte';
import type { PageLoad } from './$types';

/** `/` sends the tablet to pairing, the PIN pad or the checkout, whichever applies. */
export const load: PageLoad = async ({ fetch }) => {
  // Most starts end at the checkout: its code downloads while the session is being asked about.
  void preloadCode(resolve('/checkout'));
  let state;
  try {
    state = await session.refresh(fetch);
  } catch {
    return { offline: true };
  }
  // The product list too, once there is someone to sell for (the checkout waits for the same load).
  if (state === 'ready') void catalog.ensureLoaded().catch(() => undefined);
  redirect(307, state === 'unpaired' ? '/pair' : state === 'login' ? '/login' : '/checkout');
};
