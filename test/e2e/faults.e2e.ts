// The mirror when an upstream is in trouble (faults injected by the counting proxies): a cached tag
// is served stale rather than failing, a definite answer is never covered up, and wrong bytes from
// an upstream are neither served as good nor cached.
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { admin, bed } from "./harness/context.ts";
import { expectFullCopy } from "./harness/expect-image.ts";
import { describeResponse, fetchManifest, pullThroughMirror } from "./harness/mirror-client.ts";
import { fetchT } from "./harness/net.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
const { stale, poison } = b.images;
const tagPath = `/v2/fresh/${stale.repo}/manifests/v1`;
let env: SkopeoEnv;

beforeAll(async () => {
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "faults-")));
  // Cache the image under the tagTtl-0 prefix while the upstream is healthy: through skopeo, and with
  // the raw request's Accept too (tag entries are kept per set of accepted media types).
  expectFullCopy(await pullThroughMirror(env, `fresh/${stale.repo}:v1`, { all: true }), stale);
  const warm = await fetchManifest(tagPath);
  expect(warm.status, describeResponse(`GET ${tagPath}`, warm)).toBe(200);
});
afterEach(async () => {
  await admin().clearFaults();
  await admin().reset();
});

/**
 * After a 429 without quota headers (the upstream refusing the mirror's address) the mirror sends that
 * upstream nothing until its Retry-After (1 s from the counting proxy); the faults are cleared, so this
 * waits (10 s at most) until a request of the tag reaches the upstream again, as the next tests expect.
 */
async function untilAskedAgain(): Promise<void> {
  await admin().clearFaults();
  const deadline = Date.now() + 10_000;
  for (;;) {
    await admin().reset();
    await fetchManifest(tagPath);
    const asked = (await admin().requests("fresh")).some(
      (r) => r.kind === "manifest-head" || r.kind === "manifest-get",
    );
    if (asked) return;
    if (Date.now() > deadline) throw new Error("the upstream was not asked again after its Retry-After");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("a cached tag while the upstream is in trouble (tagTtl 0, timeout 3 s)", () => {
  const manifests = ["manifest-get", "manifest-head"] as const;

  it.each([
    ["answers 503", { mode: "status", status: 503 }],
    ["answers 500", { mode: "status", status: 500 }],
    ["answers 429", { mode: "status", status: 429 }],
    ["resets the connection", { mode: "reset" }],
    ["does not answer within the timeout", { mode: "hang" }],
  ] as const)("upstream %s → served stale with Warning 110; skopeo still pulls", async (_what, fault) => {
    await admin().addFault({ upstream: "fresh", kinds: [...manifests], ...fault });
    const t0 = Date.now();
    const m = await fetchManifest(tagPath);
    const ms = Date.now() - t0;
    expect(m.status, describeResponse(`GET ${tagPath}`, m)).toBe(200);
    expect(m.bodyDigest).toBe(stale.top.digest);
    expect(m.headers.get("warning") ?? "").toMatch(/^110 /);
    if (fault.mode === "hang") expect(ms).toBeLessThan(15_000);
    expectFullCopy(await pullThroughMirror(env, `fresh/${stale.repo}:v1`, { all: true }), stale);
    const reached = (await admin().requests("fresh")).filter(
      (r) => r.kind === "manifest-get" || r.kind === "manifest-head",
    );
    expect(reached.length, "the upstream was asked (tagTtl 0)").toBeGreaterThan(0);
    if (fault.mode === "status" && fault.status === 429) await untilAskedAgain();
  });

  it("a definite 404 from the upstream is not covered up with the stale copy", async () => {
    await admin().addFault({ upstream: "fresh", kinds: [...manifests], mode: "status", status: 404 });
    const m = await fetchManifest(tagPath);
    expect(m.status, describeResponse(`GET ${tagPath}`, m)).toBe(404);
  });
});

describe("an uncached tag while the upstream is in trouble", () => {
  it("upstream 429 → the client gets 429 with Retry-After", async () => {
    await admin().addFault({
      upstream: "fresh",
      kinds: ["manifest-get", "manifest-head"],
      mode: "status",
      status: 429,
    });
    const path = `/v2/fresh/${stale.repo}/manifests/never-cached`;
    const m = await fetchManifest(path);
    expect(m.status, describeResponse(`GET ${path}`, m)).toBe(429);
    expect(m.headers.get("retry-after")).toBeTruthy();
    await untilAskedAgain();
  });

  it("upstream unreachable → 502 with an OCI error body", async () => {
    await admin().addFault({ upstream: "fresh", kinds: ["manifest-get", "manifest-head"], mode: "reset" });
    const path = `/v2/fresh/${stale.repo}/manifests/never-cached-either`;
    const m = await fetchManifest(path);
    expect(m.status, describeResponse(`GET ${path}`, m)).toBe(502);
    expect(JSON.parse(m.body)).toMatchObject({ errors: [{ code: expect.any(String) }] });
  });
});

describe("wrong bytes from the upstream", () => {
  const layer = poison.manifests[0]?.layers[0];
  if (!layer) throw new Error("poison image has no layer");
  const path = `/v2/anon/${poison.repo}/blobs/${layer.digest}`;

  it("are never delivered as a clean, complete 200", async () => {
    await admin().addFault({ upstream: "anon", kinds: ["blob-get"], match: layer.digest, mode: "corrupt" });
    const res = await fetchT(`${b.mirrorUrl}${path}`, {}, 60_000);
    let outcome: string;
    try {
      const body = Buffer.from(await res.arrayBuffer());
      const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
      outcome = `${res.status} ${digest === layer.digest ? "right bytes" : "WRONG bytes"}`;
    } catch (err) {
      outcome = `${res.status} then the body failed (${String(err).slice(0, 80)})`;
    }
    console.log(`[e2e] corrupted upstream blob through the mirror: ${outcome}`);
    expect(outcome, "a 200 whose body ends cleanly with wrong bytes poisons clients").not.toMatch(
      /^200 WRONG bytes$/,
    );
  });

  it("are not cached: once the upstream is healthy the right bytes come through", async () => {
    const res = await fetchT(`${b.mirrorUrl}${path}`, {}, 60_000);
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(`sha256:${createHash("sha256").update(body).digest("hex")}`).toBe(layer.digest);
    const gets = (await admin().requests("anon")).filter((r) => r.kind === "blob-get");
    expect(gets.length, "fetched again from the upstream, not served from a poisoned cache").toBe(1);
  });
});
