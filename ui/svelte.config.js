import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    // Pure single-page app: the hub serves `build/` and answers unknown paths with index.html.
    adapter: adapter({
      pages: 'build',
      assets: 'build',
      fallback: 'index.html',
      precompress: false,
      strict: true,
    }),
    // Absolute asset URLs, so the fallback page works at any depth (/sales, /checkout, ...).
    paths: { relative: false },
    alias: {
      // Wire types shared with the hub (type-only imports).
      $protocol: '../hub/src/protocol',
    },
  },
};

export default config;
