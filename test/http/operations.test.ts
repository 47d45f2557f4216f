import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import type { StatsSnapshot } from "../../src/platform/stats-object";
import { countStorage } from "../support/counting-env";
import { pushImage, sha256, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, storedBlob } from "../support/mirror";

const ADMIN = "admin-token-for-tests";
let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;
let test = 0;
let repo = "";
beforeEach(async () => {
  upstreams = fakeUpstreams();
  repo = `ops/app${++test}`;
  image = await pushImage(upstreams.quay, repo, "1.0", 300 + test);
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

async function request(path: string, init: RequestInit = {}, extra: Record<string, unknown> = {}) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`http://mirror.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ADMIN_TOKEN: ADMIN, ...extra },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

const admin = (path: string, init: RequestInit = {}) =>
  request(path, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${ADMIN}` },
  });

async function pull(name: string, tag: string, source: TestImage) {
  for (const path of [
    `/v2/quay/${name}/manifests/${tag}`,
    `/v2/quay/${name}/manifests/${source.manifestDigests[0]}`,
  ]) {
    await (await request(path, { headers: { Accept: ACCEPT_ALL } })).arrayBuffer();
  }
  const layer = source.layerDigests[0] ?? "";
  await (await request(`/v2/quay/${name}/blobs/${layer}`)).arrayBuffer();
  await storedBlob(layer);
}

describe("admin endpoints", () => {
  it("need the admin token", async () => {
    for (const path of ["/_/stats", "/_/images"]) {
      const response = await request(path, { headers: { Authorization: "Bearer wrong" } });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ errors: [{ code: "UNAUTHORIZED" }] });
    }
  });

  it("are off without ADMIN_TOKEN", async () => {
    const response = await request(
      "/_/stats",
      { headers: { Authorization: "Bearer " } },
      { ADMIN_TOKEN: "" },
    );
    expect(response.status).toBe(404);
  });
});

describe("stats", () => {
  it("count requests, cache hits and misses, bytes, upstream requests by kind, storage and top repositories", async () => {
    const before = (await (await admin("/_/stats")).json()) as StatsSnapshot;
    await pull(repo, "1.0", image);
    await pull(repo, "1.0", image); // all hits now
    const after = (await (await admin("/_/stats")).json()) as StatsSnapshot;
    expect(after.requests.total - before.requests.total).toBe(6);
    expect(after.requests.byCache.HIT - before.requests.byCache.HIT).toBe(3);
    expect(after.requests.byCache.MISS - before.requests.byCache.MISS).toBe(3);
    expect(after.bytes.fromCache - before.bytes.fromCache).toBeGreaterThanOrEqual(
      image.layers[0]?.length ?? 0,
    );
    expect(after.bytes.fromUpstream - before.bytes.fromUpstream).toBeGreaterThanOrEqual(
      image.layers[0]?.length ?? 0,
    );
    const quay = after.upstreams.quay;
    expect((quay?.requests.manifest ?? 0) - (before.upstreams.quay?.requests.manifest ?? 0)).toBe(2);
    expect(quay?.requests.blob).toBeGreaterThan(0);
    expect(after.storage.blobs - before.storage.blobs).toBe(1);
    expect(after.storage.bytes - before.storage.bytes).toBe(image.layers[0]?.length);
    expect(after.topRepositories).toContainEqual({ repository: `quay/${repo}`, pulls: 2 });
  });

  it("keep each account's last rate-limit reading and the 429s each upstream sent", async () => {
    await (
      await request(`/v2/quay/${repo}/manifests/1.0`, { headers: { Accept: ACCEPT_ALL } })
    ).arrayBuffer();
    upstreams.quay.failWith = 429;
    // Through another prefix of the same upstream: after a bare 429 the mirror leaves an upstream alone
    // until its Retry-After, which would hold back the tests that follow.
    await (
      await request(`/v2/fresh/${repo}/manifests/other`, { headers: { Accept: ACCEPT_ALL } })
    ).arrayBuffer();
    const stats = (await (await admin("/_/stats")).json()) as StatsSnapshot;
    expect(stats.upstreams.quay?.quota).toContainEqual(
      expect.objectContaining({ account: "anonymous", limit: 100, remaining: 99, window: 21600 }),
    );
    expect(stats.upstreams.fresh?.tooManyRequests).toBeGreaterThan(0);
  });

  it("write one Analytics Engine data point per request when the binding is there", async () => {
    const analytics = { writeDataPoint: vi.fn() };
    await request(
      `/v2/quay/${repo}/manifests/1.0`,
      { headers: { Accept: ACCEPT_ALL } },
      { ANALYTICS: analytics },
    );
    expect(analytics.writeDataPoint).toHaveBeenCalledTimes(1);
    expect(analytics.writeDataPoint.mock.calls[0]?.[0]).toMatchObject({
      indexes: ["quay"],
      blobs: ["quay", repo, "1.0", "MISS", ""],
    });
  });
});

describe("catalog and cached images", () => {
  it("lists the repositories the mirror holds, paginated, and not the ones that failed", async () => {
    await pull(repo, "1.0", image);
    await (
      await request(`/v2/quay/${repo}-missing/manifests/1.0`, { headers: { Accept: ACCEPT_ALL } })
    ).arrayBuffer();
    const all = (await (await request("/v2/_catalog?n=1000")).json()) as { repositories: string[] };
    expect(all.repositories).toContain(`quay/${repo}`);
    expect(all.repositories).not.toContain(`quay/${repo}-missing`);
    const first = await request("/v2/_catalog?n=1");
    expect(first.headers.get("Link")).toMatch(/^<\/v2\/_catalog\?n=1&last=[^>]+>; rel="next"$/);
  });

  it("lists cached tags with digests and ages, and purges a tag so the next pull asks the upstream", async () => {
    await pull(repo, "1.0", image);
    const listing = (await (await admin("/_/images?upstream=quay")).json()) as {
      images: Array<{ repository: string; tag: string; digest: string; ageSeconds: number }>;
    };
    expect(listing.images).toContainEqual(
      expect.objectContaining({ repository: `quay/${repo}`, tag: "1.0", digest: image.indexDigest }),
    );
    const purge = await admin(`/_/images/quay/${repo}:1.0`, { method: "DELETE" });
    expect(((await purge.json()) as { purged: number }).purged).toBeGreaterThan(0);
    upstreams.quay.reset();
    const again = await request(`/v2/quay/${repo}/manifests/1.0`, { headers: { Accept: ACCEPT_ALL } });
    expect(again.headers.get("X-Mirror-Cache")).toBe("MISS");
    expect(upstreams.quay.count("manifest")).toBeGreaterThan(0);
  });

  it("purges a whole repository from the cache and the catalog", async () => {
    await pull(repo, "1.0", image);
    await admin(`/_/images/quay/${repo}`, { method: "DELETE" });
    const catalog = (await (await request("/v2/_catalog?n=1000")).json()) as { repositories: string[] };
    expect(catalog.repositories).not.toContain(`quay/${repo}`);
    upstreams.quay.reset();
    await (
      await request(`/v2/quay/${repo}/manifests/${image.manifestDigests[0]}`, {
        headers: { Accept: ACCEPT_ALL },
      })
    ).arrayBuffer();
    expect(upstreams.quay.count("manifest")).toBe(1);
  });
});

describe("purge at scale", () => {
  it("purges a repository of any size a bounded call at a time, each within the platform's subrequests", async () => {
    const big = `ops/big${test}`;
    const keys = Array.from(
      { length: 1050 },
      (_, i) => `manifest/quay/${big}@sha256:${String(i).padStart(64, "0")}`,
    );
    await Promise.all(keys.map((key) => env.MANIFESTS.put(key, "{}")));
    const counts = countStorage();
    const answers: Array<{ purged: number; complete: boolean }> = [];
    for (let call = 0; call < 3; call++) {
      counts.reset();
      const response = await admin(`/_/images/quay/${big}`, { method: "DELETE" });
      expect(response.status).toBe(200);
      const answer = (await response.json()) as { purged: number; complete: boolean };
      answers.push(answer);
      expect(counts.log.length).toBeLessThanOrEqual(1000);
      if (answer.complete) break;
    }
    expect(answers[0]?.complete).toBe(false);
    expect(answers.at(-1)?.complete).toBe(true);
    expect(answers.reduce((total, answer) => total + answer.purged, 0)).toBe(keys.length);
    expect((await env.MANIFESTS.list({ prefix: `manifest/quay/${big}@` })).keys).toEqual([]);
  }, 120_000); // a thousand KV writes and deletes take a while in workerd
});

describe("warming", () => {
  it("POST /_/warm pulls an image's manifests and every blob into the cache", async () => {
    const response = await admin("/_/warm", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ image: `quay/${repo}:1.0` }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      digest: image.indexDigest,
      manifests: 3,
      blobs: 4,
      fetched: 4,
      pending: 0,
    });
    // Stored by the time it answers: the warm-up waits for the fill objects' uploads.
    const [algorithm, hex] = (image.layerDigests[0] ?? "").split(":");
    expect(await env.BLOBS.head(`blobs/${algorithm}/${hex}`)).not.toBeNull();
    for (const digest of image.layerDigests) expect(await storedBlob(digest)).not.toBeNull();
    const catalog = (await (await request("/v2/_catalog?n=1000")).json()) as { repositories: string[] };
    expect(catalog.repositories).toContain(`quay/${repo}`);
    upstreams.quay.reset();
    await pull(repo, "1.0", image);
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("can warm only some platforms", async () => {
    const response = await admin("/_/warm", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ image: `quay/${repo}:1.0`, platforms: ["linux/arm64"] }),
    });
    expect(await response.json()).toMatchObject({ manifests: 2, blobs: 2 });
  });

  it("refuses an image outside the configured upstreams", async () => {
    const response = await admin("/_/warm", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ image: "elsewhere/x:1" }),
    });
    expect(response.status).toBe(400);
    expect(upstreams.spy).not.toHaveBeenCalled();
  });

  it("the daily cron warms WARM_IMAGES", async () => {
    const ctx = createExecutionContext();
    await worker.scheduled(
      createScheduledController({ cron: "17 4 * * *" }),
      { ...env, WARM_IMAGES: `["quay/${repo}:1.0"]` },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    for (const digest of image.layerDigests) expect(await storedBlob(digest)).not.toBeNull();
    const layer = await request(`/v2/quay/${repo}/blobs/${image.layerDigests[1]}`);
    expect(layer.headers.get("X-Mirror-Cache")).toBe("HIT");
    expect(await sha256(new Uint8Array(await layer.arrayBuffer()))).toBe(image.layerDigests[1]);
  });
});
