import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/** Upstreams for the tests: fake registries answered inside the test (test/support/fake-registry.ts). */
const TEST_UPSTREAMS = {
  hub: { url: "https://hub.test", library: true, hosts: ["docker.io", "registry-1.docker.io"], tagTtl: 300 },
  quay: { url: "https://quay.test", hosts: ["quay.io"], tagTtl: 300 },
  fresh: { url: "https://quay.test", hosts: ["fresh.example"], tagTtl: 0 },
  // An OCI 1.1 registry (referrers API, tag paging) and one like distribution 2.8 (neither).
  oci: { url: "https://oci.test", hosts: ["oci.example"], tagTtl: 300 },
  legacy: { url: "https://legacy.test", hosts: ["legacy.example"], tagTtl: 300 },
  // These hold credentials; tests of client authentication (test/http/access.test.ts) protect them.
  basic: { url: "https://basic.test", hosts: ["basic.example"], shareCredentials: true },
  private: { url: "https://tokens.test", hosts: ["tokens.example"], shareCredentials: true },
  public: { url: "https://tokens.test", hosts: ["public.example"] },
  // A Docker Hub look-alike with a pull quota and a pool of two accounts (test/http/quota.test.ts).
  pool: { url: "https://pool.test", hosts: ["pool.example"], tagTtl: 0, shareCredentials: true },
};

/** The variables every spec runs with; the fake upstreams answer inside the test. */
const TEST_BINDINGS = {
  UPSTREAMS: JSON.stringify(TEST_UPSTREAMS),
  DEFAULT_UPSTREAM: "hub",
  // Stats reach the stats object at once, so tests can read them back.
  STATS_FLUSH_SECONDS: "0",
  // Each test file is one client pulling far more than one client's hourly budget; the budgets have
  // their own specs, which set them low (test/http/spending-budget.test.ts).
  CLIENT_BUDGET_REQUESTS: "1000000",
  // The smallest R2 allows, so tests exercise multipart uploads with small blobs.
  MULTIPART_THRESHOLD: String(5 * 1024 * 1024),
  // Blobs above 16 MiB are stored as they stream instead of spooled (8 GiB by default).
  SPOOL_MAX_BYTES: String(16 * 1024 * 1024),
  UPSTREAM_BASIC_USERNAME: "mirror-robot",
  UPSTREAM_BASIC_PASSWORD: "s3cret-upstream-password",
  UPSTREAM_PRIVATE_USERNAME: "mirror-robot",
  UPSTREAM_PRIVATE_PASSWORD: "s3cret-upstream-password",
  UPSTREAM_POOL_CREDENTIALS: JSON.stringify([
    { username: "first", password: "first-s3cret-password" },
    { username: "second", password: "second-s3cret-password" },
  ]),
};

/** The Worker inside workerd with the bindings from wrangler.toml (local R2 and KV, isolated per file). */
function workerd(bindings: Record<string, string>) {
  return cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings } });
}

// workerd starts objects and compiles the Worker on a file's first request: on a loaded 2-core machine
// that alone can take seconds.
const testTimeout = 20_000;

// Unit and integration tests run inside workerd; test/free-plan/ runs the Worker as deployed on the
// Workers Free plan (PLAN = "free").
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [workerd(TEST_BINDINGS)],
        test: {
          name: "mirror",
          testTimeout,
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**", "test/free-plan/**", "test/fill-memory/**"],
        },
      },
      {
        plugins: [workerd({ ...TEST_BINDINGS, PLAN: "free" })],
        test: { name: "free-plan", testTimeout, include: ["test/free-plan/**/*.test.ts"] },
      },
      // Many large cold blobs spooled at once through one isolate, its fills' memory read at /_/ops.
      {
        plugins: [
          workerd({
            ...TEST_BINDINGS,
            SPOOL_MAX_BYTES: String(128 * 1024 * 1024),
            OP_COUNTERS: "on",
            ADMIN_TOKEN: "fill-memory-admin-token",
          }),
        ],
        test: { name: "fill-memory", testTimeout, include: ["test/fill-memory/**/*.test.ts"] },
      },
    ],
  },
});
