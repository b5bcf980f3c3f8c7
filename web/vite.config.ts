/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// Where `npm run dev` forwards /api (HTTP and the chat WebSocket). The gateway listens on :5000.
const target = process.env.API_TARGET ?? 'http://localhost:5000';

export default defineConfig({
  base: '/',
  server: {
    port: 5173,
    proxy: {
      '/api': { target, changeOrigin: false, ws: true },
      '/health': { target },
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: false,
    // hls.js (≈580 kB, alternate-audio groups need the full build) is its own chunk, loaded with the first video
    chunkSizeWarningLimit: 600,
  },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}', 'scripts/**/*.test.{ts,mjs}'],
    setupFiles: ['src/test/setup.ts'],
    // the tests run in Node: take tus-js-client's browser build (File, localStorage), as Vite's build does
    alias: { 'tus-js-client': 'tus-js-client/lib.esm/browser/index.js' },
  },
});
