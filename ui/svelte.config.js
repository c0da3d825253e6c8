import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

// Where the build goes: `build` (what `npm start` serves) unless AYI_UI_OUT names another directory
// (the tests build into `build-test`, so running them never swaps the files of a hub in use).
const out = process.env.AYI_UI_OUT || 'build';

/** @type {import('@sveltejs/kit').Config} */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    // Pure single-page app: the hub serves `build/` and answers unknown paths with index.html.
    adapter: adapter({
      pages: out,
      assets: out,
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
