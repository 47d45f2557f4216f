import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { beginForeground } from "../../src/util/foreground";
import { countStorage } from "../support/counting-env";
import { pushImage, sha256, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, storedBlob } from "../support/mirror";
import { send } from "../support/pull";

/** The mirror's host in these tests (`send` asks http://mirror.test), as the colo cache keys name it. */
const ORIGIN = "http://mirror.test";
const ADMIN = "colo-admin-token";

let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;
let seed = 0;
beforeEach(async () => {
  upstreams = fakeUpstreams();
  // Fresh blobs per test (R2 and the cache live as long as this file).
  image = await pushImage(upstreams.quay, "org/app", "1.0", 7000 + ++seed);
});
afterEach(() => vi.restoreAllMocks());

const blobKey = (digest: string) => `${ORIGIN}/_colo/v1/blob/${digest}`;
const restrictedKey = (digest: string) => `${ORIGIN}/_colo/v1/restricted-blob/${digest}`;
const manifestKey = (repository: string, digest: string) =>
  `${ORIGIN}/_colo/v1/manifest/${repository}@${digest}`;

async function cached(key: string): Promise<Response | undefined> {
  const response = await caches.default.match(key);
  await response?.body?.cancel();
  return response;
}

/** A blob fetched (MISS), stored in R2, then served from R2 once (which puts it into the colo cache). */
async function warm(path: string, digest: string, vars: Record<string, string> = {}): Promise<void> {
  await send(path, vars);
  expect(await storedBlob(digest)).not.toBeNull();
  const fromR2 = await send(path, vars);
  expect(fromR2.response.headers.get("X-Mirror-Cache")).toBe("HIT");
  expect(fromR2.response.headers.get("X-Mirror-Colo")).toBeNull();
}

describe("the colo cache in front of R2", () => {
  it("serves a stored blob afterwards (whole, ranges and HEAD) without one R2 read", async () => {
    const digest = image.layerDigests[0] ?? "";
    const layer = image.layers[0] ?? new Uint8Array();
    const path = `/v2/quay/org/app/blobs/${digest}`;
    await warm(path, digest);
    expect((await cached(blobKey(digest)))?.headers.get("Content-Length")).toBe(String(layer.length));

    const counts = countStorage();
    upstreams.quay.reset();
    const whole = await send(path);
    expect(whole.response.status).toBe(200);
    expect(whole.response.headers.get("X-Mirror-Cache")).toBe("HIT");
    expect(whole.response.headers.get("X-Mirror-Colo")).toBe("HIT");
    expect(whole.response.headers.get("Content-Length")).toBe(String(layer.length));
    expect(whole.response.headers.get("Cache-Control")).toBe("public, max-age=31536000, immutable");
    expect(await sha256(whole.body)).toBe(digest);

    const cases: Array<[string, number, number]> = [
      ["bytes=0-99", 0, 99],
      ["bytes=1000-", 1000, layer.length - 1],
      ["bytes=-10", layer.length - 10, layer.length - 1],
    ];
    for (const [range, start, end] of cases) {
      const part = await send(path, {}, { headers: { Range: range } });
      expect(part.response.status).toBe(206);
      expect(part.response.headers.get("X-Mirror-Colo")).toBe("HIT");
      expect(part.response.headers.get("Content-Range")).toBe(`bytes ${start}-${end}/${layer.length}`);
      expect(part.body).toEqual(layer.slice(start, end + 1));
    }

    const head = await send(path, {}, { method: "HEAD" });
    expect(head.response.status).toBe(200);
    expect(head.response.headers.get("Content-Length")).toBe(String(layer.length));
    expect(head.response.headers.get("X-Mirror-Colo")).toBe("HIT");

    // Through another repository too: a public blob is served to any repository, as from R2.
    const elsewhere = await send(`/quay/v2/other/repo/blobs/${digest}`);
    expect(elsewhere.response.headers.get("X-Mirror-Colo")).toBe("HIT");

    expect(counts.log.filter((op) => op.startsWith("r2."))).toEqual([]);
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("copies an R2 hit into it at once, while other clients of this isolate stream", async () => {
    const digest = image.layerDigests[0] ?? "";
    const path = `/v2/quay/org/app/blobs/${digest}`;
    await send(path);
    expect(await storedBlob(digest)).not.toBeNull();
    // Another client's body is streaming from this isolate throughout (a pull's next blob, say).
    const otherClient = beginForeground();
    try {
      const ctx = createExecutionContext();
      const served = await worker.fetch(
        new Request(`${ORIGIN}${path}`) as Request<unknown, IncomingRequestCfProperties>,
        env,
        ctx,
      );
      expect(served.headers.get("X-Mirror-Cache")).toBe("HIT");
      expect(served.headers.get("X-Mirror-Colo")).toBeNull();
      expect(await sha256(new Uint8Array(await served.arrayBuffer()))).toBe(digest);
      // The copy does not wait for the other client: its background work ends while that one streams
      // (a copy that waited would hold it for seconds).
      const settled = await Promise.race([
        waitOnExecutionContext(ctx).then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 2_000)),
      ]);
      expect(settled).toBe(true);
      expect(await cached(blobKey(digest))).toBeDefined();
    } finally {
      otherClient();
    }
  });

  it("puts the whole blob (never a part) when a range is served from R2, and answers later ranges from it", async () => {
    const digest = image.layerDigests[1] ?? "";
    const layer = image.layers[1] ?? new Uint8Array();
    const path = `/v2/quay/org/app/blobs/${digest}`;
    await send(path);
    await storedBlob(digest);
    const fromR2 = await send(path, {}, { headers: { Range: "bytes=5-9" } });
    expect(fromR2.response.status).toBe(206);
    expect(fromR2.response.headers.get("X-Mirror-Colo")).toBeNull();
    const entry = await cached(blobKey(digest));
    expect(entry?.status).toBe(200);
    expect(entry?.headers.get("Content-Length")).toBe(String(layer.length));

    const counts = countStorage();
    const part = await send(path, {}, { headers: { Range: "bytes=5-9" } });
    expect(part.response.headers.get("X-Mirror-Colo")).toBe("HIT");
    expect(part.body).toEqual(layer.slice(5, 10));
    expect(counts.count("r2.")).toBe(0);
  });

  it("leaves an unsatisfiable range to the usual 416, with the blob's size", async () => {
    const digest = image.layerDigests[0] ?? "";
    const path = `/v2/quay/org/app/blobs/${digest}`;
    await warm(path, digest);
    const response = await send(path, {}, { headers: { Range: `bytes=${10 ** 9}-` } });
    expect(response.response.status).toBe(416);
    expect(response.response.headers.get("Content-Range")).toBe(`bytes */${image.layers[0]?.length}`);
  });

  it("does not try again at once a put the cache refused: later R2 hits read the blob once each", async () => {
    const digest = image.layerDigests[0] ?? "";
    const path = `/v2/quay/org/app/blobs/${digest}`;
    await send(path);
    await storedBlob(digest);
    const put = vi.spyOn(caches.default, "put").mockRejectedValue(new Error("413 too large"));
    const counts = countStorage();
    await send(path); // The client's read, and a second read for the copy the cache refuses.
    expect(counts.count("r2.get")).toBe(2);
    const refusals = put.mock.calls.length;
    for (let hit = 0; hit < 3; hit++) {
      const { response, body } = await send(path);
      expect(response.headers.get("X-Mirror-Cache")).toBe("HIT");
      expect(await sha256(body)).toBe(digest);
    }
    expect(counts.count("r2.get")).toBe(2 + 3);
    expect(put.mock.calls.length).toBe(refusals);
  });

  it("never puts a blob larger than COLO_CACHE_MAX_BYTES: it stays with R2", async () => {
    const digest = image.layerDigests[0] ?? "";
    const path = `/v2/quay/org/app/blobs/${digest}`;
    const small = { COLO_CACHE_MAX_BYTES: String(64 * 1024 - 1) };
    await warm(path, digest, small);
    expect(await cached(blobKey(digest))).toBeUndefined();
    const counts = countStorage();
    const again = await send(path, small);
    expect(again.response.headers.get("X-Mirror-Colo")).toBeNull();
    expect(counts.count("r2.get")).toBe(1); // the client's read only: no second read for a copy
  });

  it("is not used at all with COLO_CACHE_MAX_BYTES = 0", async () => {
    const digest = image.layerDigests[0] ?? "";
    const path = `/v2/quay/org/app/blobs/${digest}`;
    const off = { COLO_CACHE_MAX_BYTES: "0" };
    const match = vi.spyOn(caches.default, "match");
    const put = vi.spyOn(caches.default, "put");
    await warm(path, digest, off);
    await send(path, off);
    expect(match).not.toHaveBeenCalled();
    expect(put).not.toHaveBeenCalled();
  });

  it("takes a failing cache for a miss: reads and puts that throw never fail a pull", async () => {
    const digest = image.layerDigests[0] ?? "";
    const path = `/v2/quay/org/app/blobs/${digest}`;
    await send(path);
    await storedBlob(digest);
    vi.spyOn(caches.default, "match").mockRejectedValue(new Error("cache unavailable"));
    vi.spyOn(caches.default, "put").mockRejectedValue(new Error("413 too large"));
    for (const init of [{}, { headers: { Range: "bytes=0-9" } }, { method: "HEAD" }]) {
      const { response, body } = await send(path, {}, init);
      expect(response.status).toBeLessThan(300);
      expect(response.headers.get("X-Mirror-Cache")).toBe("HIT");
      if (!("method" in init) && !("headers" in init)) expect(await sha256(body)).toBe(digest);
    }
  });
});

describe("private content in the colo cache", () => {
  it("keeps a restricted blob under its own key, served only through a repository linked to it", async () => {
    const privateImage = await pushImage(upstreams.tokens, "private/app", "1.0", 7500 + seed);
    const digest = privateImage.layerDigests[0] ?? "";
    const path = `/v2/private/private/app/blobs/${digest}`;
    await warm(path, digest);
    expect(await cached(blobKey(digest))).toBeUndefined();
    expect(await cached(restrictedKey(digest))).toBeDefined();

    const linked = await send(path);
    expect(linked.response.headers.get("X-Mirror-Colo")).toBe("HIT");
    expect(linked.response.headers.get("Cache-Control")).toBe("private, max-age=31536000, immutable");
    expect(await sha256(linked.body)).toBe(digest);

    // Another repository of the same upstream, which the upstream does not confirm: not served.
    upstreams.tokens.reset();
    const other = await send(`/v2/private/someone/else/blobs/${digest}`);
    expect(other.response.status).toBe(404);
    expect(other.response.headers.get("X-Mirror-Colo")).toBeNull();
    // The same repository through the upstream without credentials never looks up restricted entries.
    const anonymous = await send(`/v2/public/private/app/blobs/${digest}`);
    expect(anonymous.response.headers.get("X-Mirror-Colo")).toBeNull();
    expect(anonymous.response.status).not.toBe(200);
  });
});

describe("the link check before a restricted lookup", () => {
  it("runs on every request: after a purge, the colo cache serves the repository nothing until the upstream confirms again", async () => {
    const privateImage = await pushImage(upstreams.tokens, "private/tool", "1.0", 7700 + seed);
    const digest = privateImage.layerDigests[1] ?? "";
    const path = `/v2/private/private/tool/blobs/${digest}`;
    await warm(path, digest);
    expect(await cached(restrictedKey(digest))).toBeDefined();
    const purge = await send(
      "/_/images/private/private/tool",
      { ADMIN_TOKEN: ADMIN },
      { method: "DELETE", headers: { Authorization: `Bearer ${ADMIN}` } },
    );
    expect(purge.response.status).toBe(200);
    upstreams.tokens.reset();
    const after = await send(path);
    expect(after.response.status).toBe(200);
    expect(after.response.headers.get("X-Mirror-Colo")).toBeNull();
    expect(upstreams.tokens.count("blob", "HEAD")).toBe(1);
    // Confirmed (and linked) again: the colo cache serves it from now on.
    const again = await send(path);
    expect(again.response.headers.get("X-Mirror-Colo")).toBe("HIT");
  });
});

describe("manifests in the colo cache", () => {
  it("serves manifests by digest from it; a tag still takes its entry (and TTL) from KV", async () => {
    const base = "/v2/quay/org/app";
    const accept = { headers: { Accept: ACCEPT_ALL } };
    const digest = image.manifestDigests[0] ?? "";
    await send(`${base}/manifests/1.0`, {}, accept);
    await send(`${base}/manifests/${digest}`, {}, accept); // a miss, stored in KV by the fill object
    await send(`${base}/manifests/${digest}`, {}, accept); // from KV, put into the colo cache
    expect(await cached(manifestKey("quay/org/app", digest))).toBeDefined();

    const counts = countStorage();
    upstreams.quay.reset();
    const byDigest = await send(`${base}/manifests/${digest}`, {}, accept);
    expect(byDigest.response.status).toBe(200);
    expect(byDigest.response.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(byDigest.response.headers.get("Content-Type")).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(await sha256(byDigest.body)).toBe(digest);
    expect(counts.count("kv.")).toBe(0);

    // The index is reached by tag: one KV read for the tag's entry, its body from the colo cache.
    await send(`${base}/manifests/${image.indexDigest}`, {}, accept);
    counts.reset();
    const byTag = await send(`${base}/manifests/1.0`, {}, accept);
    expect(byTag.response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
    expect(counts.count("kv.")).toBe(1);
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("keeps them per repository: a digest cached for one repository is not served through another", async () => {
    const accept = { headers: { Accept: ACCEPT_ALL } };
    const digest = image.manifestDigests[0] ?? "";
    await send(`/v2/quay/org/app/manifests/${digest}`, {}, accept);
    await send(`/v2/quay/org/app/manifests/${digest}`, {}, accept);
    upstreams.quay.reset();
    const elsewhere = await send(`/v2/quay/not/there/manifests/${digest}`, {}, accept);
    expect(elsewhere.response.status).toBe(404);
    expect(upstreams.quay.count("manifest", "GET")).toBe(1);
  });

  it("loses a purged repository's manifests here too", async () => {
    const accept = { headers: { Accept: ACCEPT_ALL } };
    const digest = image.manifestDigests[1] ?? "";
    await send(`/v2/quay/org/app/manifests/${digest}`, {}, accept);
    await send(`/v2/quay/org/app/manifests/${digest}`, {}, accept);
    expect(await cached(manifestKey("quay/org/app", digest))).toBeDefined();
    const purge = await send(
      "/_/images/quay/org/app",
      { ADMIN_TOKEN: ADMIN },
      { method: "DELETE", headers: { Authorization: `Bearer ${ADMIN}` } },
    );
    expect(purge.response.status).toBe(200);
    expect(JSON.parse(new TextDecoder().decode(purge.body))).toMatchObject({ complete: true });
    expect(await cached(manifestKey("quay/org/app", digest))).toBeUndefined();
  });
});

describe("the landing page", () => {
  it("tells the operator whether this mirror uses the colo cache", async () => {
    const page = async (vars: Record<string, string>) =>
      new TextDecoder().decode((await send("/", vars)).body);
    expect(await page({})).toContain("colo cache in use");
    expect(await page({ COLO_CACHE_MAX_BYTES: "0" })).toContain("colo cache not in use");
  });
});
