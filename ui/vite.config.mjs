/**
 * Builds the web console (docs/console.md) into build/ui/, served by the server at /ui (server/ui.ts).
 * `npm run build` runs it; everything is bundled (no CDN), asset names carry a content hash, and
 * nothing is inlined into index.html (the console's Content-Security-Policy allows only 'self').
 */
import { fileURLToPath } from 'node:url';
import { defineConfig, defaultClientConditions } from 'vite';

/** @param {string} p */
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/ui/',
  publicDir: false,
  logLevel: 'warn',
  clearScreen: false,
  // @keyward/client from its TypeScript sources (client/src), so the build needs no client/dist first.
  resolve: { conditions: ['keyward-source', ...defaultClientConditions] },
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: here('../build/ui'),
    emptyOutDir: true,
    target: 'es2022',
    // No data: URLs and no inline preload polyfill: the CSP allows only the server's own files.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1024,
  },
});
