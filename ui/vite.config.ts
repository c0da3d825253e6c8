import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

const hub = process.env.AYI_HUB_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [sveltekit()],
  server: {
    // `npm run dev -w ui` talks to a hub running locally (HTTP and the WebSocket).
    proxy: {
      '/api': { target: hub, ws: true },
    },
  },
});
