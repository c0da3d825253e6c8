import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

// Where the build goes: `build` (what `npm run hq` serves) unless AYI_HQ_UI_OUT names another
// directory (the tests build into `build-test`, so running them never swaps the files of an HQ in use).
const out = process.env.AYI_HQ_UI_OUT || 'build';

/** @type {import('@sveltejs/kit').Config} */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    // A single-page app: HQ's server serves `build/` and answers unknown paths with index.html.
    adapter: adapter({ pages: out, assets: out, fallback: 'index.html', precompress: false, strict: true }),
    paths: { relative: false },
    alias: {
      // HQ's answers (type-only imports) and the tablet UI's helpers the dashboard shares (CSV, charts, money).
      $hq: '../src',
      $ui: '../../ui/src/lib',
    },
  },
};

export default config;
