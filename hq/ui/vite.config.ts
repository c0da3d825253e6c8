import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

const hq = process.env.AYI_HQ_URL ?? 'http://127.0.0.1:8090';

export default defineConfig({
  plugins: [sveltekit()],
  // The tablet UI's shared helpers live outside this workspace.
  server: { fs: { allow: ['..', '../../ui/src/lib'] }, proxy: { '/api': { target: hq } } },
});
