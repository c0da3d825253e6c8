/**
 * What a page shows is fetched over HTTP and kept current by the hub's messages; messages sent while
 * the link was down are lost, and a fetch made then failed. Every page that shows the hub's data
 * calls this while it is created, with the function that loads that data.
 */
import { untrack } from 'svelte';
import { hubSocket } from './hub-socket.svelte';

/** Runs `reload` each time the link to the hub comes back after being lost, while the page is open. */
export function reloadOnReconnect(reload: () => unknown): void {
  $effect(() =>
    untrack(() =>
      hubSocket.onReconnect(() => {
        void Promise.resolve()
          .then(reload)
          .catch(() => undefined);
      }),
    ),
  );
}
