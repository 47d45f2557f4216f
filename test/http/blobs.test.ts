import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { MirrorStats } from "../../src/platform/stats-object";
import { R2BlobStore } from "../../src/storage/blob-store";
import { Spool } from "../../src/storage/spool";
import { beginForeground } from "../../src/util/foreground";
import { concatBytes, pseudoRandomBytes, pushImage, sha256, type TestImage } from "../support/fake-registry";
import { bytesOf, fakeUpstreams, mirror, storedBlob } from "../support/mirror";
import { objectStorage } from "../support/object-storage";
import { send } from "../support/pull";

let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;
let seed = 0;
beforeEach(async () => {
  upstreams = fakeUpstreams();
  // Fresh blobs per test (R2 lives as long as this file): a seed of its own.
  image = await pushImage(upstreams.quay, "org/app", "1.0", ++seed);
  await pushImage(upstreams.hub, "library/alpine", "1.0", seed);
});
afterEach(() => vi.restoreAllMocks());

/** The digests the stats object holds a served day for (every request flushes in tests). */
async function servedDigests(): Promise<string[]> {
  const namespace = env.STATS as DurableObjectNamespace<MirrorStats>;
  const page = await namespace.get(namespace.idFromName("global")).servedPage(null, 10_000);
  return page.entries.map((entry) => entry.digest);
}

/** The upstream sends `bytes` corrupted: the client's read fails, the fill ends, and R2 holds nothing. */
async function expectCorruptedNotStored(bytes: Uint8Array): Promise<void> {
  const digest = await sha256(bytes);
  upstreams.quay.addBlob(bytes, digest);
  upstreams.quay.corruptBlobs = true;
  const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
  await expect(response.arrayBuffer()).rejects.toThrow();
  expect(await env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest)).settled(10_000)).toBe(true);
  const [algorithm, hex] = digest.split(":");
  expect(await env.BLOBS.head(`blobs/${algorithm}/${hex}`)).toBeNull();
}

describe("blobs", () => {
  it("on a miss streams the upstream's blob to the client and stores it in R2 under its digest", async () => {
    const digest = image.layerDigests[0] ?? "";
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(response.headers.get("Content-Length")).toBe(String(image.layers[0]?.length));
    expect(response.headers.get("X-Mirror-Cache")).toBe("MISS");
    expect(await sha256(await bytesOf(response))).toBe(digest);
    expect((await storedBlob(digest))?.size).toBe(image.layers[0]?.length);
  });

  it("is served from R2 afterwards, for any repository of any upstream, without an upstream request", async () => {
    const digest = image.layerDigests[0] ?? "";
    await (await mirror(`/v2/quay/org/app/blobs/${digest}`)).arrayBuffer();
    await storedBlob(digest);
    upstreams.quay.reset();
    for (const path of [`/v2/quay/org/app/blobs/${digest}`, `/quay/v2/other/repo/blobs/${digest}`]) {
      const response = await mirror(path);
      expect(response.headers.get("X-Mirror-Cache")).toBe("HIT");
      expect(response.headers.get("Content-Length")).toBe(String(image.layers[0]?.length));
      expect(await sha256(await bytesOf(response))).toBe(digest);
    }
    const head = await mirror(`/v2/quay/org/app/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("Content-Length")).toBe(String(image.layers[0]?.length));
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("serves byte ranges of a cached blob with 206 and Content-Range", async () => {
    const digest = image.layerDigests[1] ?? "";
    const layer = image.layers[1] ?? new Uint8Array();
    await (await mirror(`/v2/quay/org/app/blobs/${digest}`)).arrayBuffer();
    await storedBlob(digest);
    const cases: Array<[string, number, number]> = [
      ["bytes=0-99", 0, 99],
      ["bytes=1000-", 1000, layer.length - 1],
      ["bytes=-10", layer.length - 10, layer.length - 1],
      [`bytes=10-${layer.length + 500}`, 10, layer.length - 1],
    ];
    for (const [range, start, end] of cases) {
      const response = await mirror(`/v2/quay/org/app/blobs/${digest}`, { headers: { Range: range } });
      expect(response.status).toBe(206);
      expect(response.headers.get("Content-Range")).toBe(`bytes ${start}-${end}/${layer.length}`);
      expect(await bytesOf(response)).toEqual(layer.slice(start, end + 1));
    }
  });

  it("does not mark a blob served (for retention) for a Range request while it is not stored", async () => {
    const digest = image.layerDigests[0] ?? "";
    const ranged = await send(`/v2/quay/org/app/blobs/${digest}`, {}, { headers: { Range: "bytes=0-9" } });
    expect(ranged.response.status).toBe(206);
    expect(await servedDigests()).not.toContain(digest);
    // A whole GET, which stores it, does.
    await send(`/v2/quay/org/app/blobs/${digest}`);
    expect(await servedDigests()).toContain(digest);
  });

  it("answers 416 for a range outside the blob, and 200 with the whole blob for a malformed or multiple Range", async () => {
    const digest = image.layerDigests[0] ?? "";
    await (await mirror(`/v2/quay/org/app/blobs/${digest}`)).arrayBuffer();
    await storedBlob(digest);
    const outside = await mirror(`/v2/quay/org/app/blobs/${digest}`, {
      headers: { Range: `bytes=${10 ** 9}-` },
    });
    expect(outside.status).toBe(416);
    expect(await outside.json()).toMatchObject({ errors: [{ code: "RANGE_INVALID" }] });
    // RFC 9110 §14.2: a Range the server cannot or will not honour is ignored.
    for (const range of ["bytes=5-1", "bytes=0-1,5-9", "bytes=-", "bytes=x-y", "0-9"]) {
      const response = await mirror(`/v2/quay/org/app/blobs/${digest}`, { headers: { Range: range } });
      expect(response.status).toBe(200);
      expect(response.headers.get("Content-Range")).toBeNull();
      expect(await bytesOf(response)).toEqual(image.layers[0]);
    }
  });

  it("passes a range on an uncached blob through to the upstream", async () => {
    const digest = image.layerDigests[0] ?? "";
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`, { headers: { Range: "bytes=5-9" } });
    expect(response.status).toBe(206);
    expect(await bytesOf(response)).toEqual(image.layers[0]?.slice(5, 10));
    expect(upstreams.quay.requests[0]?.headers.get("Range")).toBe("bytes=5-9");
  });

  it("never stores bytes that do not match the digest", async () => {
    upstreams.quay.corruptBlobs = true;
    const digest = image.layerDigests[0] ?? "";
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    // The client never sees a clean end of wrong bytes: the body breaks off.
    await expect(response.arrayBuffer()).rejects.toThrow();
    // Once the digest's fill object has nothing in flight and nothing to upload, nothing more can land.
    expect(await env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest)).settled(10_000)).toBe(true);
    const [algorithm, hex] = digest.split(":");
    expect(await env.BLOBS.head(`blobs/${algorithm}/${hex}`)).toBeNull();
    upstreams.quay.corruptBlobs = false;
    const retry = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(await sha256(await bytesOf(retry))).toBe(digest);
  });

  it("shares one upstream download among concurrent misses of the same blob, each client getting every byte", async () => {
    const digest = image.layerDigests[0] ?? "";
    upstreams.quay.addBlob(image.layers[0] ?? new Uint8Array(), digest, "org/app-fork");
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, client) =>
        mirror(`/v2/quay/org/app${client % 2 ? "" : "-fork"}/blobs/${digest}`),
      ),
    );
    const bodies = await Promise.all(responses.map((response) => bytesOf(response)));
    for (const body of bodies) expect(await sha256(body)).toBe(digest);
    expect(upstreams.quay.count("blob", "GET")).toBe(1);
  });

  describe("up to 1 MiB (configs, small layers)", () => {
    it("is spooled in memory: no row written in the fill object, no alarm, and stored in R2 all the same", async () => {
      const small = pseudoRandomBytes(1024 * 1024, 600 + seed);
      const digest = await sha256(small);
      upstreams.quay.addBlob(small, digest);
      const spooled = vi.spyOn(Spool, "create");
      const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      expect(await sha256(await bytesOf(response))).toBe(digest);
      expect((await storedBlob(digest))?.size).toBe(small.length);
      expect(spooled).not.toHaveBeenCalled();
      const stub = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest));
      // Not a table made in the object's storage.
      expect(await objectStorage(stub)).toMatchObject({ tables: [], rows: 0 });
      await runInDurableObject(stub, async (_instance, state) => {
        expect(await state.storage.getAlarm()).toBeNull();
      });
      // Stored: the next client gets it from R2, and the upstream heard one GET in all.
      const again = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      expect(again.headers.get("X-Mirror-Cache")).toBe("HIT");
      expect(await sha256(await bytesOf(again))).toBe(digest);
      expect(upstreams.quay.count("blob", "GET")).toBe(1);
    });

    it("serves clients that come while it is in flight, a HEAD and a range from that one download", async () => {
      const small = pseudoRandomBytes(700 * 1024 + 3, 700 + seed);
      const digest = await sha256(small);
      upstreams.quay.addBlob(small, digest);
      // Long enough that the download is still in flight for the requests below (the first client
      // no longer holds it back).
      upstreams.quay.blobPauseMs = 3_000;
      const first = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      const head = await mirror(`/v2/quay/org/app/blobs/${digest}`, { method: "HEAD" });
      expect(head.headers.get("Content-Length")).toBe(String(small.length));
      const [second, range] = await Promise.all([
        mirror(`/v2/quay/org/app/blobs/${digest}`),
        mirror(`/v2/quay/org/app/blobs/${digest}`, { headers: { Range: "bytes=100-199" } }),
      ]);
      expect(range.status).toBe(206);
      expect([...(await bytesOf(range))]).toEqual([...small.slice(100, 200)]);
      expect(await sha256(await bytesOf(second))).toBe(digest);
      expect(await sha256(await bytesOf(first))).toBe(digest);
      expect(upstreams.quay.count("blob")).toBe(1);
    });

    it("goes to the object's storage once the isolate's in-memory spools hold 32 MiB", async () => {
      const blobs = await Promise.all(
        Array.from({ length: 34 }, async (_, index) => {
          const bytes = pseudoRandomBytes(1024 * 1024, 10_000 + 100 * seed + index);
          const digest = await sha256(bytes);
          upstreams.quay.addBlob(bytes, digest);
          return digest;
        }),
      );
      // All in flight at once: each sends its first half, then pauses.
      upstreams.quay.blobPauseMs = 500;
      const spooled = vi.spyOn(Spool, "create");
      const responses = await Promise.all(blobs.map((digest) => mirror(`/v2/quay/org/app/blobs/${digest}`)));
      for (const [index, response] of responses.entries()) {
        expect(await sha256(await bytesOf(response))).toBe(blobs[index]);
      }
      // At least the two beyond 32 MiB (more if an earlier spec's small blob still waits for its upload).
      const overBudget = spooled.mock.calls.length;
      expect(overBudget).toBeGreaterThanOrEqual(2);
      expect(overBudget).toBeLessThanOrEqual(4);
      // Stored, they give their memory back: the next small blob is spooled in memory again.
      for (const digest of blobs) {
        expect(await env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest)).settled(10_000)).toBe(true);
      }
      upstreams.quay.blobPauseMs = 0;
      const next = pseudoRandomBytes(1024 * 1024, 20_000 + seed);
      const nextDigest = await sha256(next);
      upstreams.quay.addBlob(next, nextDigest);
      expect(await sha256(await bytesOf(await mirror(`/v2/quay/org/app/blobs/${nextDigest}`)))).toBe(
        nextDigest,
      );
      expect(spooled).toHaveBeenCalledTimes(overBudget);
    }, 30_000);

    it("is let go when the store throws instead of answering: the next pull fetches it again", async () => {
      const small = pseudoRandomBytes(300 * 1024, 900 + seed);
      const digest = await sha256(small);
      upstreams.quay.addBlob(small, digest);
      // Only this blob's first upload throws (uploads of earlier specs' blobs may still be under way).
      const put = R2BlobStore.prototype.put;
      let thrown = false;
      vi.spyOn(R2BlobStore.prototype, "put").mockImplementation(function (this: R2BlobStore, ...args) {
        if (args[0].value === digest && !thrown) {
          thrown = true;
          return Promise.reject(new Error("R2 is down"));
        }
        return put.apply(this, args);
      });
      const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      expect(await sha256(await bytesOf(response))).toBe(digest);
      expect(await env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest)).settled(10_000)).toBe(true);
      const again = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      expect(await sha256(await bytesOf(again))).toBe(digest);
      expect((await storedBlob(digest))?.size).toBe(small.length);
      expect(upstreams.quay.count("blob", "GET")).toBe(2);
    });

    it("is not stored when its bytes do not match the digest, and its client gets an error", async () => {
      await expectCorruptedNotStored(pseudoRandomBytes(200 * 1024, 800 + seed));
    });
  });

  it("answers HEAD and Range of a blob in flight from the fill, without asking the upstream", async () => {
    const layer = pseudoRandomBytes(3 * 1024 * 1024 + 17, 500 + seed);
    const digest = await sha256(layer);
    upstreams.quay.addBlob(layer, digest);
    upstreams.quay.blobPauseMs = 400;
    const first = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(first.status).toBe(200);

    const head = await mirror(`/v2/quay/org/app/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("Content-Length")).toBe(String(layer.length));
    const cases: Array<[string, number, number]> = [
      ["bytes=0-99", 0, 99],
      // In the half still to come: answered once those bytes arrive (and are verified).
      ["bytes=-10", layer.length - 10, layer.length - 1],
      [`bytes=${1024 * 1024 - 5}-${2 * 1024 * 1024 + 5}`, 1024 * 1024 - 5, 2 * 1024 * 1024 + 5],
    ];
    const ranges = await Promise.all(
      cases.map(([range]) => mirror(`/v2/quay/org/app/blobs/${digest}`, { headers: { Range: range } })),
    );
    for (const [index, [, start, end]] of cases.entries()) {
      const response = ranges[index] as Response;
      expect(response.status).toBe(206);
      expect(response.headers.get("Content-Range")).toBe(`bytes ${start}-${end}/${layer.length}`);
      expect(await sha256(await bytesOf(response))).toBe(await sha256(layer.slice(start, end + 1)));
    }
    expect(await sha256(await bytesOf(first))).toBe(digest);
    expect(upstreams.quay.count("blob")).toBe(1);
    expect(upstreams.quay.count("blob", "GET")).toBe(1);
  }, 20_000);

  it("asks the upstream for HEAD and Range of a blob that is neither stored nor in flight", async () => {
    const digest = image.layerDigests[1] ?? "";
    const layer = image.layers[1] ?? new Uint8Array();
    const head = await mirror(`/v2/quay/org/app/blobs/${digest}`, { method: "HEAD" });
    expect(head.headers.get("Content-Length")).toBe(String(layer.length));
    const range = await mirror(`/v2/quay/org/app/blobs/${digest}`, { headers: { Range: "bytes=5-9" } });
    expect(range.status).toBe(206);
    expect(await bytesOf(range)).toEqual(layer.slice(5, 10));
    expect(upstreams.quay.count("blob", "HEAD")).toBe(1);
    expect(upstreams.quay.count("blob", "GET")).toBe(1);
  });

  it("starts that upload all the same if the clients never pause", async () => {
    const digest = image.layerDigests[0] ?? "";
    const otherClient = beginForeground();
    try {
      const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      expect(await sha256(await bytesOf(response))).toBe(digest);
      expect((await storedBlob(digest))?.size).toBe(image.layers[0]?.length);
    } finally {
      otherClient();
    }
  });

  it("keeps filling the cache when the client that started the download goes away", async () => {
    const digest = image.layerDigests[1] ?? "";
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    const reader = response.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    expect((await storedBlob(digest))?.size).toBe(image.layers[1]?.length);
  });

  it("stores blobs above the multipart threshold with a multipart upload, verified", async () => {
    const big = pseudoRandomBytes(12 * 1024 * 1024 + 123, 99 + seed);
    const digest = await sha256(big);
    upstreams.quay.addBlob(big, digest);
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(response.headers.get("Content-Length")).toBe(String(big.length));
    expect(await sha256(await bytesOf(response))).toBe(digest);
    const stored = await storedBlob(digest);
    expect(stored?.size).toBe(big.length);
    const [algorithm, hex] = digest.split(":");
    const object = await env.BLOBS.get(`blobs/${algorithm}/${hex}`);
    expect(await sha256(new Uint8Array(await (object as R2ObjectBody).arrayBuffer()))).toBe(digest);
  });

  describe("larger than a spool may be (SPOOL_MAX_BYTES, 16 MiB in these tests)", () => {
    const MIB = 1024 * 1024;
    const blobGets = () =>
      upstreams.quay.requests.filter((r) => r.kind === "blob" && r.method === "GET").length;

    it("is stored as it streams to its client: one upstream GET, nothing spooled in the fill object", async () => {
      const big = pseudoRandomBytes(17 * MIB + 5, 300 + seed);
      const digest = await sha256(big);
      upstreams.quay.addBlob(big, digest);
      const spooled = vi.spyOn(Spool, "create");
      const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("Content-Length")).toBe(String(big.length));
      expect(await sha256(await bytesOf(response))).toBe(digest);
      expect((await storedBlob(digest))?.size).toBe(big.length);
      const [algorithm, hex] = digest.split(":");
      const object = await env.BLOBS.get(`blobs/${algorithm}/${hex}`);
      expect(await sha256(new Uint8Array(await (object as R2ObjectBody).arrayBuffer()))).toBe(digest);
      expect(blobGets()).toBe(1);
      expect(spooled).not.toHaveBeenCalled();
      const stub = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest));
      expect(await objectStorage(stub)).toMatchObject({ tables: [], rows: 0 });
    });

    it("does not wait for a client reading 10 KiB/s: the blob reaches R2 meanwhile, and the client still gets every byte, verified", async () => {
      const big = pseudoRandomBytes(24 * MIB + 7, 500 + seed);
      const digest = await sha256(big);
      upstreams.quay.addBlob(big, digest);
      const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      expect(response.status).toBe(200);
      const body = response.body;
      if (!body) throw new Error("no body");
      const reader = body.getReader({ mode: "byob" });
      const chunks: Uint8Array[] = [];
      const readSome = async (bytes: number): Promise<boolean> => {
        const { done, value } = await reader.read(new Uint8Array(bytes));
        if (value) chunks.push(value);
        return done;
      };
      // 10 KiB a second until the blob is in R2: far behind the download, it holds nothing up.
      let reads = 0;
      while (!(await storedBlob(digest))) {
        expect(await readSome(10 * 1024)).toBe(false);
        reads++;
        expect(reads).toBeLessThan(60);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      const readWhileStoring = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
      expect(readWhileStoring).toBeLessThan(MIB);
      // The rest comes at the client's own pace from its offset in R2: the upstream sent the blob once.
      while (!(await readSome(MIB))) {}
      const received = concatBytes(chunks);
      expect(received.byteLength).toBe(big.length);
      expect(await sha256(received)).toBe(digest);
      expect(blobGets()).toBe(1);
    }, 90_000);

    it("answers a HEAD from the download in flight, and sends a second client and a range to the upstream", async () => {
      const big = pseudoRandomBytes(17 * MIB + 9, 400 + seed);
      const digest = await sha256(big);
      upstreams.quay.addBlob(big, digest);
      // Long enough that the download is still in flight for the requests below (the first client
      // no longer holds it back).
      upstreams.quay.blobPauseMs = 3_000;
      const first = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      const reader = first.body?.getReader();
      if (!reader) throw new Error("no body");
      const chunks: Uint8Array[] = [];
      const opening = await reader.read();
      if (opening.value) chunks.push(opening.value);
      const head = await mirror(`/v2/quay/org/app/blobs/${digest}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("Content-Length")).toBe(String(big.length));
      expect(upstreams.quay.requests.filter((r) => r.kind === "blob" && r.method === "HEAD")).toEqual([]);
      const second = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      expect(second.headers.get("Content-Length")).toBe(String(big.length));
      const range = await mirror(`/v2/quay/org/app/blobs/${digest}`, { headers: { Range: "bytes=10-19" } });
      expect(range.status).toBe(206);
      expect([...(await bytesOf(range))]).toEqual([...big.slice(10, 20)]);
      expect(await sha256(await bytesOf(second))).toBe(digest);
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
      }
      expect(await sha256(concatBytes(chunks))).toBe(digest);
      expect((await storedBlob(digest))?.size).toBe(big.length);
      expect(blobGets()).toBe(3);
    });
  });

  it("aborts a multipart upload whose bytes do not match the digest", async () => {
    await expectCorruptedNotStored(pseudoRandomBytes(6 * 1024 * 1024, 7 + seed));
  });

  it("follows the upstream's redirect to a CDN without sending it the upstream's Authorization", async () => {
    const blob = await mirror(`/v2/library/alpine/blobs/${image.layerDigests[0]}`);
    expect(blob.status).toBe(200);
    expect(await sha256(await bytesOf(blob))).toBe(image.layerDigests[0]);
    const cdn = upstreams.hub.requests.filter((request) => request.kind === "cdn");
    expect(cdn).toHaveLength(1);
    expect(cdn[0]?.headers.has("Authorization")).toBe(false);
    // …while the registry itself got the token.
    const authed = upstreams.hub.requests.filter((r) => r.kind === "blob" && r.headers.get("Authorization"));
    expect(authed[0]?.headers.get("Authorization")).toMatch(/^Bearer /);
  });

  it("answers a HEAD for an uncached blob behind a GET-only signed CDN URL with the blob's size", async () => {
    const response = await mirror(`/v2/library/alpine/blobs/${image.layerDigests[1]}`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Length")).toBe(String(image.layers[1]?.length));
    expect(upstreams.hub.requests.filter((r) => r.kind === "cdn").map((r) => r.method)).toEqual([
      "HEAD",
      "GET",
    ]);
  });

  it("answers BLOB_UNKNOWN for a digest the upstream does not have", async () => {
    const response = await mirror(`/v2/quay/org/app/blobs/sha256:${"0".repeat(64)}`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ errors: [{ code: "BLOB_UNKNOWN" }] });
  });
});
