import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The approval app. Built to web/dist, which the API serves at `/` under a strict
 * CSP (`script-src 'self'; style-src 'self'`): so nothing may be inlined into
 * index.html — no inline scripts, no inline styles, no data: fonts.
 */
export default defineConfig({
  root,
  base: '/',
  publicDir: 'public',
  // No @vitejs/plugin-react: esbuild's automatic JSX runtime is all we need.
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Never turn assets into data: URLs or inline <script>/<style> (CSP forbids them).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    // `npx vite --config web/vite.config.ts` during development: proxy the API.
    proxy: { '/api': { target: process.env.COUNTERSIGN_API_URL ?? 'http://127.0.0.1:3000', changeOrigin: false } },
  },
});
