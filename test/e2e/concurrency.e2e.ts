// Concurrent misses: many clients asking for the same cold blob or tag at once must not turn into
// as many upstream downloads, and every client must still get the exact bytes.
import { createHash } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { admin, bed } from "./harness/context.ts";
import { describeResponse, fetchBlob } from "./harness/mirror-client.ts";
import { ACCEPT_ALL } from "./harness/push.ts";

const b = bed();
const { concurrent } = b.images;
const manifest = concurrent.manifests[0];
if (!manifest) throw new Error("concurrent image has no manifest");
const CLIENTS = 6;

beforeEach(async () => {
  await admin().reset();
});

describe(`${CLIENTS} clients at once, nothing cached yet`, () => {
  it("one tag: every client gets the manifest, the upstream is asked once", async () => {
    const path = `/v2/anon/${concurrent.repo}/manifests/v1`;
    const results = await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const res = await fetch(`${b.mirrorUrl}${path}`, { headers: { accept: ACCEPT_ALL } });
        const body = await res.text();
        return {
          status: res.status,
          digest: `sha256:${createHash("sha256").update(body).digest("hex")}`,
          body,
        };
      }),
    );
    for (const r of results) {
      expect(r.status, describeResponse(`GET ${path}`, r)).toBe(200);
      expect(r.digest).toBe(concurrent.top.digest);
    }
    const gets = (await admin().requests("anon")).filter(
      (r) => r.kind === "manifest-get" && r.status === 200,
    );
    expect(gets.length, "upstream manifest GETs").toBe(1);
  });

  it(`one ${Math.round((manifest.layers[0]?.size ?? 0) / 2 ** 20)} MiB blob: every client gets the bytes, one upstream download`, async () => {
    const layer = manifest.layers[0];
    if (!layer) throw new Error("no layer");
    const path = `/v2/anon/${concurrent.repo}/blobs/${layer.digest}`;
    const results = await Promise.all(Array.from({ length: CLIENTS }, () => fetchBlob(path)));
    for (const r of results) {
      expect(r.status, describeResponse(`GET ${path}`, r)).toBe(200);
      expect(r.digest).toBe(layer.digest);
    }
    const gets = (await admin().requests("anon")).filter((r) => r.kind === "blob-get");
    expect(
      gets.map((g) => `${g.method} ${g.url} → ${g.status}${g.range ? ` (${g.range})` : ""}`),
      "upstream blob GETs",
    ).toHaveLength(1);
  });
});
