import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Built into dashboard/dist and served by the gateway at `/`; `npx vite dashboard` proxies the API for development.
export default defineConfig({
  base: '/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: { proxy: { '/api': { target: process.env.FABRIC_API ?? 'http://127.0.0.1:8080', changeOrigin: true } } },
});
