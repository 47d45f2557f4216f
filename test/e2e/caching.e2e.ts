// What the mirror must NOT do: ask the upstream again. Every test uses its own image, since blobs
// are cached by digest for all repositories; counts are reset before each measured pull.
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { admin, bed } from "./harness/context.ts";
import { type Counts, emptyCounts, type LoggedRequest, total } from "./harness/counting.ts";
import { blobsOf, expectFullCopy, expectSingleCopy } from "./harness/expect-image.ts";
import { pullThroughMirror } from "./harness/mirror-client.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
const { counted, hubCounted, big, fresh } = b.images;
let env: SkopeoEnv;

beforeAll(() => {
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "caching-")));
});
beforeEach(async () => {
  await admin().reset();
});

async function countsOf(...upstreams: string[]): Promise<Record<string, Counts>> {
  const all = await admin().counts();
  return Object.fromEntries(upstreams.map((u) => [u, all[u] ?? emptyCounts()]));
}

/** Blob GETs per digest that reached `upstream` (from the request log). */
async function blobGetsByDigest(upstream: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of await admin().requests(upstream)) {
    if (r.kind !== "blob-get" && r.kind !== "cdn") continue;
    const d = /sha256:[a-f0-9]{64}/.exec(r.url)?.[0] ?? r.url;
    out[d] = (out[d] ?? 0) + 1;
  }
  return out;
}

function show(reqs: LoggedRequest[]): string {
  return reqs.map((r) => `${r.upstream} ${r.method} ${r.url} → ${r.status}`).join("\n");
}

describe("anonymous upstream (tagTtl 3600)", () => {
  it("first pull --all fetches each blob from the upstream exactly once", async () => {
    expectFullCopy(await pullThroughMirror(env, `anon/${counted.repo}:v1`, { all: true }), counted);
    const perDigest = await blobGetsByDigest("anon");
    const expected = Object.fromEntries(blobsOf(...counted.manifests).map((d) => [d, 1]));
    expect(perDigest, show(await admin().requests("anon"))).toEqual(expected);
  });

  it("a second pull of the same tag within the TTL sends ZERO requests upstream", async () => {
    expectFullCopy(await pullThroughMirror(env, `anon/${counted.repo}:v1`, { all: true }), counted);
    expect(await admin().requests(), show(await admin().requests())).toEqual([]);
  });

  it("the routing form does not change the cache: /v2/<prefix>, /<prefix>/v2 and ?ns= share entries", async () => {
    // The Accept header may legitimately be part of the cache key: use one and the same Accept.
    const get = async (path: string): Promise<string | null> => {
      const res = await fetch(`${b.mirrorUrl}${path}`, { headers: { accept: counted.top.mediaType } });
      await res.arrayBuffer();
      expect(res.status, path).toBe(200);
      return res.headers.get("docker-content-digest");
    };
    expect(await get(`/v2/anon/${counted.repo}/manifests/v1`)).toBe(counted.top.digest);
    await admin().reset();
    expect(await get(`/anon/v2/${counted.repo}/manifests/v1`)).toBe(counted.top.digest);
    expect(await get(`/v2/${counted.repo}/manifests/v1?ns=anon.e2e`)).toBe(counted.top.digest);
    expect(await get(`/v2/anon/${counted.repo}/manifests/v1?ns=anon.e2e`)).toBe(counted.top.digest);
    expect(await admin().requests(), show(await admin().requests())).toEqual([]);
  });
});

describe("Docker Hub look-alike (token auth, 307 to the CDN, credentials configured)", () => {
  it("first pull: blobs come from the CDN once each, and the CDN never sees Authorization", async () => {
    expectFullCopy(await pullThroughMirror(env, `hub/counted:v1`, { all: true }), hubCounted);
    const c = await countsOf("hub", "hub-cdn");
    expect(c.hub?.token, "token requests").toBeGreaterThan(0);
    const perDigest = await blobGetsByDigest("hub-cdn");
    expect(perDigest).toEqual(Object.fromEntries(blobsOf(...hubCounted.manifests).map((d) => [d, 1])));
    const cdn = await admin().requests("hub-cdn");
    expect(
      cdn.filter((r) => r.authorization !== null || r.status >= 400),
      "CDN requests with Authorization / refused",
    ).toEqual([]);
  });

  it("second pull within the TTL: no token, manifest, blob or CDN request at all", async () => {
    expectFullCopy(await pullThroughMirror(env, `hub/counted:v1`, { all: true }), hubCounted);
    expect(await admin().requests(), show(await admin().requests())).toEqual([]);
  });
});

describe("Quay look-alike, a ≥ 100 MiB layer (302 to a signed URL)", () => {
  it("first pull streams the big layer through once; the CDN sees no Authorization", async () => {
    const t0 = Date.now();
    expectSingleCopy(await pullThroughMirror(env, `quay/${big.repo}:v1`), big);
    const ms = Date.now() - t0;
    console.log(`[e2e] cold pull of ${big.repo} (100 MiB layer) through the mirror: ${ms} ms`);
    // Generous: straight from the registry this takes ~1 s; a stall or a crawl should still fail.
    expect(ms, "cold pull time").toBeLessThan(60_000);
    const perDigest = await blobGetsByDigest("quay-cdn");
    expect(perDigest).toEqual(Object.fromEntries(blobsOf(...big.manifests).map((d) => [d, 1])));
    const cdn = await admin().requests("quay-cdn");
    expect(cdn.filter((r) => r.authorization !== null || r.status >= 400)).toEqual([]);
  });

  it("second pull: served from R2 and KV, zero upstream requests", async () => {
    const t0 = Date.now();
    expectSingleCopy(await pullThroughMirror(env, `quay/${big.repo}:v1`), big);
    console.log(`[e2e] warm pull of ${big.repo} through the mirror: ${Date.now() - t0} ms`);
    expect(await admin().requests(), show(await admin().requests())).toEqual([]);
  });
});

describe("manifests by digest are immutable", () => {
  it("a digest pull after the tag pull asks nobody", async () => {
    const m = counted.manifests[1];
    if (!m) throw new Error("counted has no second manifest");
    expectSingleCopy(await pullThroughMirror(env, `anon/${counted.repo}@${m.digest}`), counted, m.arch);
    expect(await admin().requests(), show(await admin().requests())).toEqual([]);
  });
});

describe("tagTtl 0: the tag is revalidated on every pull, blobs still come from R2", () => {
  it("second pull asks the upstream about the tag but fetches no blob", async () => {
    expectSingleCopy(await pullThroughMirror(env, `fresh/${fresh.repo}:v1`), fresh);
    await admin().reset();
    expectSingleCopy(await pullThroughMirror(env, `fresh/${fresh.repo}:v1`), fresh);
    const c = (await countsOf("fresh")).fresh ?? emptyCounts();
    expect(c["manifest-get"] + c["manifest-head"], show(await admin().requests())).toBeGreaterThan(0);
    expect(c["blob-get"] + c["blob-head"], show(await admin().requests())).toBe(0);
    expect(total(c)).toBeLessThanOrEqual(c["manifest-get"] + c["manifest-head"] + c.ping + c.token);
  });
});
