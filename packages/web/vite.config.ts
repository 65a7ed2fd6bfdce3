/**
 * Builds the dashboard into dist/, which `edgefleet server` serves at `/`. `npm run dev -w
 * packages/web` serves it with hot reload and forwards `/v1` to a running server
 * (`EDGEFLEET_SERVER`, default https://127.0.0.1:8443; its certificate comes from the fleet
 * CA, hence `secure: false` for this local proxy only).
 */
import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  // @edgefleet/protocol is bundled from its TypeScript sources (its root is pure: no Node built-ins).
  resolve: { conditions: ['edgefleet:source', ...defaultClientConditions] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: 'assets',
    // zod (the route table's schemas validate every answer) adds about 120 kB, 33 kB gzipped.
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: { '/v1': { target: process.env.EDGEFLEET_SERVER ?? 'https://127.0.0.1:8443', secure: false } },
  },
});
