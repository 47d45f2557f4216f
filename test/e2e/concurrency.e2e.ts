// Concurrent misses: many clients asking for the same cold blob or tag at once must not turn into
// as many upstream downloads, and every client must still get the exact bytes.
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { admin, bed } from "./harness/context.ts";
import { blobsOf, expectSingleCopy } from "./harness/expect-image.ts";
import { describeResponse, fetchBlob, pullThroughMirror } from "./harness/mirror-client.ts";
import { ACCEPT_ALL } from "./harness/push.ts";
import { makeContainersEnv } from "./harness/skopeo-env.ts";

const b = bed();
const { concurrent } = b.images;
const manifest = concurrent.manifests[0];
if (!manifest) throw new Error("concurrent image has no manifest");
const CLIENTS = 20;

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

describe(`${CLIENTS} skopeo pulls at once of one cold multi-layer image`, () => {
  const { crowd } = b.images;

  it("every pull is complete and right; each blob and the tag's manifest are fetched upstream once", async () => {
    const root = mkdtempSync(join(b.workDir, "crowd-"));
    const envs = Array.from({ length: CLIENTS }, (_, i) => makeContainersEnv(join(root, `c${i}`)));
    const t0 = Date.now();
    const pulled = await Promise.all(envs.map((env) => pullThroughMirror(env, `anon/${crowd.repo}:v1`)));
    console.log(`[e2e] ${CLIENTS} concurrent cold skopeo pulls of ${crowd.repo}: ${Date.now() - t0} ms`);
    for (const p of pulled) expectSingleCopy(p, crowd);
    const reqs = await admin().requests("anon");
    const show = reqs.map((r) => `${r.method} ${r.url} → ${r.status}`).join("\n");
    const perDigest: Record<string, number> = {};
    for (const r of reqs.filter((x) => x.kind === "blob-get")) {
      const d = r.url.split("/blobs/")[1] ?? r.url;
      perDigest[d] = (perDigest[d] ?? 0) + 1;
    }
    expect(perDigest, `upstream blob GETs per digest:\n${show}`).toEqual(
      Object.fromEntries(blobsOf(...crowd.manifests).map((d) => [d, 1])),
    );
    const manifestGets = reqs.filter((r) => r.kind === "manifest-get");
    expect(
      manifestGets.map((r) => r.url),
      `upstream manifest GETs:\n${show}`,
    ).toEqual([`/v2/${crowd.repo}/manifests/v1`]);
  });
});
