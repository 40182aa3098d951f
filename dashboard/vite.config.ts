import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API to a local server (make run: http://127.0.0.1:3000).
export default defineConfig({
  plugins: [react()],
  build: {
    target: "es2022",
    // No inline scripts or data: URLs for modules (the server's CSP forbids them).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: {
      "/api": process.env.TOLLGATE_URL ?? "http://127.0.0.1:3000",
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
