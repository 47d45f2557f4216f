import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseDigest, verifiedBody } from "../../src/oci/digest";
import { Spool } from "../../src/storage/spool";
import { pseudoRandomBytes, pushImage, sha256 } from "../support/fake-registry";
import { bytesOf, fakeUpstreams, mirror, storedBlob } from "../support/mirror";

// This project runs the Worker with PLAN = "free" (vitest.config.ts); MULTIPART_THRESHOLD is 5 MiB.
const MIB = 1024 * 1024;

let upstreams: ReturnType<typeof fakeUpstreams>;
let seed = 0;
beforeEach(async () => {
  upstreams = fakeUpstreams();
  await pushImage(upstreams.quay, "org/app", "1.0", ++seed);
});
afterEach(() => vi.restoreAllMocks());

const blobGets = () => upstreams.quay.requests.filter((r) => r.kind === "blob" && r.method === "GET").length;

/** What the digest's fill object keeps in its storage: tables and alarm. */
async function fillStorage(digest: string): Promise<{ tables: string[]; alarm: number | null }> {
  return runInDurableObject(env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest)), async (_, state) => ({
    tables: state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .toArray()
      .map((row) => row.name)
      .filter((name) => !name.startsWith("_cf")),
    alarm: await state.storage.getAlarm(),
  }));
}

describe("blobs on the Workers Free plan (PLAN = free)", () => {
  it("pipes a cold layer into R2 with no spool and no JavaScript per chunk; its client streams it from the upstream", async () => {
    const layer = pseudoRandomBytes(3 * MIB + 11, 100 + seed);
    const digest = await sha256(layer);
    upstreams.quay.addBlob(layer, digest);
    const spooled = vi.spyOn(Spool, "create");
    const inMemory = vi.spyOn(Spool, "inMemory");
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("X-Mirror-Cache")).toBe("MISS");
    expect(response.headers.get("Content-Length")).toBe(String(layer.length));
    expect(await sha256(await bytesOf(response))).toBe(digest);
    expect((await storedBlob(digest))?.size).toBe(layer.length);
    expect(spooled).not.toHaveBeenCalled();
    expect(inMemory).not.toHaveBeenCalled();
    // One GET went into R2, one to the client; no row, no alarm in the fill object.
    expect(blobGets()).toBe(2);
    const storage = await fillStorage(digest);
    expect(storage.tables).not.toContain("chunks");
    expect(storage.alarm).toBeNull();
    // Stored: the next pull is served from R2.
    const warm = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(warm.headers.get("X-Mirror-Cache")).toBe("HIT");
    expect(await sha256(await bytesOf(warm))).toBe(digest);
    expect(blobGets()).toBe(2);
  });

  it("stores nothing that does not match the digest: R2 checks the piped bytes itself", async () => {
    const layer = pseudoRandomBytes(2 * MIB, 200 + seed);
    const digest = await sha256(layer);
    upstreams.quay.addBlob(layer, digest);
    upstreams.quay.corruptBlobs = true;
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    // The trade of this plan: the client's copy is not hashed by the mirror (the client's own digest
    // check refuses it), but it is never stored, so no later pull is served it.
    const received = await bytesOf(response).catch(() => new Uint8Array());
    expect(await sha256(received)).not.toBe(digest);
    expect(await env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest)).settled(10_000)).toBe(true);
    const [algorithm, hex] = digest.split(":");
    expect(await env.BLOBS.head(`blobs/${algorithm}/${hex}`)).toBeNull();
  });

  it("does not store a blob above the multipart threshold (R2 would not check it): every pull streams it from the upstream", async () => {
    const layer = pseudoRandomBytes(6 * MIB, 300 + seed);
    const digest = await sha256(layer);
    upstreams.quay.addBlob(layer, digest);
    for (let pull = 1; pull <= 2; pull++) {
      const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
      expect(response.status).toBe(200);
      expect(await sha256(await bytesOf(response))).toBe(digest);
      expect(await env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest)).settled(10_000)).toBe(true);
    }
    const [algorithm, hex] = digest.split(":");
    expect(await env.BLOBS.head(`blobs/${algorithm}/${hex}`)).toBeNull();
  });

  it("still spools a blob of up to 1 MiB in memory (a config: one upstream GET, hashed, stored)", async () => {
    const config = pseudoRandomBytes(512 * 1024, 400 + seed);
    const digest = await sha256(config);
    upstreams.quay.addBlob(config, digest);
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(await sha256(await bytesOf(response))).toBe(digest);
    expect((await storedBlob(digest))?.size).toBe(config.length);
    expect(blobGets()).toBe(1);
    expect((await fillStorage(digest)).tables).not.toContain("chunks");
  });

  it("keeps the one-download answer for HEAD while a layer is piped: no upstream HEAD", async () => {
    const layer = pseudoRandomBytes(3 * MIB, 500 + seed);
    const digest = await sha256(layer);
    upstreams.quay.addBlob(layer, digest);
    upstreams.quay.blobPauseMs = 2_000;
    const first = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    const head = await mirror(`/v2/quay/org/app/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("Content-Length")).toBe(String(layer.length));
    expect(upstreams.quay.requests.filter((r) => r.kind === "blob" && r.method === "HEAD")).toEqual([]);
    // The client's bytes are the blob, checked here by the test, not by the mirror.
    const checked = verifiedBody(first.body as ReadableStream<Uint8Array>, parseDigest(digest), layer.length);
    expect(await sha256(await bytesOf(new Response(checked)))).toBe(digest);
  });
});
