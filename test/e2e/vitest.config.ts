import { defineConfig } from "vitest/config";

// End-to-end suite: plain Node (not the workers pool), one shared test bed started by globalSetup,
// files run one after another in a single worker because they share the mirror's cache.
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ["**/*.e2e.ts"],
    environment: "node",
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
    globalSetup: ["./global-setup.ts"],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
    reporters: ["verbose"],
  },
});
