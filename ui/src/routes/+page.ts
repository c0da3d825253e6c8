import { redirect } from '@sveltejs/kit';
import { session } from '$lib/session.svelte';
import type { PageLoad } from './$types';

/** `/` sends the tablet to pairing, the PIN pad or the checkout, whichever applies. */
export const load: PageLoad = async ({ fetch }) => {
  let state;
  try {
    state = await session.refresh(fetch);
  } catch {
    return { offline: true };
  }
  redirect(307, state === 'unpaired' ? '/pair' : state === 'login' ? '/login' : '/checkout');
};
