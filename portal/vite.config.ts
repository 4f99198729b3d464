import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// The built files (dist/) are what the local runner serves and what the S3 bucket behind
// CloudFront holds. No inline scripts or styles: the Content-Security-Policy forbids them.
export default defineConfig({
  plugins: [preact({ prefreshEnabled: false, devToolsEnabled: false })],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
  },
  server: {
    host: '127.0.0.1',
    // `npm run dev` talks to a running system (scripts/run) through the dev server.
    proxy: {
      '/v1': 'http://127.0.0.1:3000',
      '/openapi.json': 'http://127.0.0.1:3000',
    },
  },
  test: {
    include: ['src/**/*.test.ts', 'e2e/**/*.test.ts'],
    environment: 'node',
  },
});
