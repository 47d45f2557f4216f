// Blobs above MULTIPART_THRESHOLD go to R2 as a multipart upload. The shared mirror keeps the default
// (just under 5 GiB), so this file starts a second mirror with the threshold at R2's 5 MiB minimum and
// pulls the 100 MiB layer through it.

import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, bed, startBedMirror } from "./harness/context.ts";
import { blobFile } from "./harness/images.ts";
import type { Mirror } from "./harness/mirror.ts";
import { fetchT } from "./harness/net.ts";

const b = bed();
const { big } = b.images;
const layer = big.manifests[0]?.layers[0];
if (!layer) throw new Error("big image has no layer");
const size = statSync(blobFile({ layout: big.layout }, layer.digest)).size;
let mirror: Mirror;

beforeAll(async () => {
  mirror = await startBedMirror({
    credentials: false,
    vars: { MULTIPART_THRESHOLD: String(5 * 1024 * 1024) },
    logFile: "wrangler-multipart.log",
  });
});
afterAll(async () => {
  await mirror?.stop();
});

async function get(range?: string): Promise<{ status: number; body: Buffer; contentRange: string | null }> {
  const res = await fetchT(
    `${mirror.url}/v2/quay/${big.repo}/blobs/${layer?.digest}`,
    { headers: range ? { range } : {} },
    180_000,
  );
  return {
    status: res.status,
    body: Buffer.from(await res.arrayBuffer()),
    contentRange: res.headers.get("content-range"),
  };
}

const sha = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe(`a ${Math.round(size / 2 ** 20)} MiB blob with MULTIPART_THRESHOLD = 5 MiB`, () => {
  it("cold: streamed to the client with the right bytes", async () => {
    await admin().reset();
    const t0 = Date.now();
    const r = await get();
    console.log(`[e2e] cold multipart fill of ${size} bytes: ${Date.now() - t0} ms`);
    expect(r.status).toBe(200);
    expect(sha(r.body)).toBe(layer.digest);
  });

  it("warm: served from R2, complete and unchanged, no upstream request", async () => {
    await admin().reset();
    const r = await get();
    expect(r.status).toBe(200);
    expect(sha(r.body)).toBe(layer.digest);
    expect(await admin().requests()).toEqual([]);
  });

  it("Range across a part boundary returns the source bytes", async () => {
    const start = 5 * 1024 * 1024 - 100;
    const end = start + 199;
    const r = await get(`bytes=${start}-${end}`);
    expect(r.status).toBe(206);
    expect(r.contentRange).toBe(`bytes ${start}-${end}/${size}`);
    const src = Buffer.alloc(200);
    const fd = openSync(blobFile({ layout: big.layout }, layer.digest), "r");
    readSync(fd, src, 0, 200, start);
    closeSync(fd);
    expect(r.body.equals(src)).toBe(true);
  });
});
