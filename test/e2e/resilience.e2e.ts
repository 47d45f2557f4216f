// Resilience (issue 4): cheap revalidation once a tag's TTL has run out, a tag that moved upstream,
// and a client that hangs up early without cancelling the fill the cache still needs.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CATALOG } from "./harness/catalog.ts";
import { admin, bed } from "./harness/context.ts";
import type { LoggedRequest } from "./harness/counting.ts";
import { blobsOf, expectFullCopy } from "./harness/expect-image.ts";
import { buildImage, type ImageSpec } from "./harness/images.ts";
import { describeResponse, fetchBlob, pullThroughMirror } from "./harness/mirror-client.ts";
import { sleep, waitFor } from "./harness/net.ts";
import { type ExpectedImage, pushImage } from "./harness/push.ts";
import { getAndHangUp } from "./harness/raw-http.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
const { moving, abandon } = b.images;
const TTL_MS = (b.upstreams.ttl.config.tagTtl ?? 0) * 1000;
const imagesDir = join(b.repoRoot, ".e2e-work", "images");
let env: SkopeoEnv;

function show(reqs: LoggedRequest[]): string {
  return reqs.map((r) => `${r.upstream} ${r.method} ${r.url} → ${r.status}`).join("\n") || "(none)";
}

/** Pushes a spec of `team/moving:v1` to the upstream (all faces share one storage). */
async function pushMoving(spec: ImageSpec): Promise<ExpectedImage> {
  const built = await buildImage(spec, imagesDir);
  return pushImage(built, b.faces.anon ?? "", env);
}

const original: ImageSpec = { ...CATALOG.moving, platforms: [...CATALOG.moving.platforms] };
// Layer 0 changes (one byte more), layer 1 stays: the moved image shares a blob with the old one.
const moved: ImageSpec = {
  ...original,
  layerSizes: original.layerSizes.map((size, i) => (i === 0 ? size + 1 : size)),
};

describe(`tag revalidation after the TTL (prefix "ttl", tagTtl ${TTL_MS / 1000} s)`, () => {
  beforeAll(async () => {
    env = makeContainersEnv(mkdtempSync(join(b.workDir, "resilience-")));
    // The upstream storage outlives runs and a previous run may have left the tag moved: put it back.
    const restored = await pushMoving(original);
    expect(restored.top.digest, "team/moving:v1 restored to the catalog's image").toBe(moving.top.digest);
  });
  afterAll(async () => {
    await pushMoving(original);
  });
  beforeEach(async () => {
    await admin().reset();
  });

  it("after the TTL, a pull sends exactly one manifest HEAD for the tag and no manifest GET", async () => {
    expectFullCopy(await pullThroughMirror(env, `ttl/${moving.repo}:v1`, { all: true }), moving);
    await sleep(TTL_MS + 700);
    await admin().reset();
    expectFullCopy(await pullThroughMirror(env, `ttl/${moving.repo}:v1`, { all: true }), moving);
    const reqs = await admin().requests();
    expect(
      reqs.map((r) => `${r.method} ${r.url}`),
      `only a HEAD on the tag may reach the upstream:\n${show(reqs)}`,
    ).toEqual([`HEAD /v2/${moving.repo}/manifests/v1`]);
  });

  it("the tag moved upstream: the new manifest is fetched by digest and the new digests are pulled", async () => {
    const next = await pushMoving(moved);
    expect(next.top.digest).not.toBe(moving.top.digest);
    // Make sure the entry refreshed by the previous test has expired too.
    await sleep(TTL_MS + 700);
    await admin().reset();
    expectFullCopy(await pullThroughMirror(env, `ttl/${next.repo}:v1`, { all: true }), next);
    const reqs = await admin().requests("ttl");
    const heads = reqs.filter((r) => r.kind === "manifest-head");
    const gets = reqs.filter((r) => r.kind === "manifest-get");
    expect(
      heads.map((r) => r.url),
      show(reqs),
    ).toEqual([`/v2/${next.repo}/manifests/v1`]);
    expect(
      gets.filter((r) => !/\/manifests\/sha256:[a-f0-9]{64}$/.test(r.url)).map((r) => r.url),
      `manifest GETs by tag (the new manifest should be fetched by digest):\n${show(reqs)}`,
    ).toEqual([]);
    expect(
      gets.filter((r) => r.url.endsWith(`/manifests/${next.top.digest}`)),
      `the new index, fetched once by digest:\n${show(reqs)}`,
    ).toHaveLength(1);
    // Only the blobs the old image did not have are fetched, each once.
    const old = new Set(blobsOf(...moving.manifests));
    const fresh = blobsOf(...next.manifests).filter((d) => !old.has(d));
    expect(fresh.length).toBeGreaterThan(0);
    const blobGets = reqs.filter((r) => r.kind === "blob-get").map((r) => r.url.split("/blobs/")[1]);
    expect(blobGets.sort(), show(reqs)).toEqual(fresh);
  });
});

/**
 * Waits for the end of the fill of `digest`: a `blob.stored` line in the Worker's log (or
 * `blob.failed`). Clients get their bytes first; the upload to R2 from the spool follows.
 */
async function fillOutcome(digest: string): Promise<string> {
  const logFile = join(b.workDir, "wrangler.log");
  return waitFor(
    "the fill to end (blob.stored / blob.failed in wrangler's log)",
    async () => {
      const log = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
      return log.split("\n").find((l) => l.includes(digest) && /"event":"blob\.(stored|failed)"/.test(l));
    },
    60_000,
    250,
  ).catch((err: unknown) => `no outcome: ${String(err)}`);
}

describe("a client that hangs up early does not cancel the fill", () => {
  const layer = abandon.manifests[0]?.layers[0];
  if (!layer) throw new Error("abandon image has no layer");
  const path = `/v2/anon/${abandon.repo}/blobs/${layer.digest}`;

  beforeAll(async () => {
    await admin().reset();
  });

  it(`a ${Math.round(layer.size / 2 ** 20)} MiB uncached blob, the client gone after its first bytes → stored anyway`, async () => {
    const cut = await getAndHangUp(b.mirrorHost, path, 1);
    expect(cut.status, `GET ${path}`).toBe(200);
    expect(cut.received, "bytes before hanging up").toBeLessThan(layer.size);
    const outcome = await fillOutcome(layer.digest);
    const upstream = (await admin().requests("anon")).filter((r) => r.kind === "blob-get");
    expect(outcome, `fill outcome; upstream blob GETs:\n${show(upstream)}`).toMatch(/"event":"blob\.stored"/);
    expect(upstream, "one upstream download, read to the end").toMatchObject([{ status: 200 }]);

    await admin().reset();
    const again = await fetchBlob(path);
    expect(again.status, describeResponse(`GET ${path}`, again)).toBe(200);
    expect(again.digest).toBe(layer.digest);
    expect(again.headers.get("x-mirror-cache")).toBe("HIT");
    const reqs = await admin().requests();
    expect(reqs, `zero upstream requests for the cached blob:\n${show(reqs)}`).toEqual([]);
  });

  it("one client hangs up while another still reads: the other gets every byte, from one upstream download", async () => {
    const second = abandon.manifests[0]?.layers[1];
    if (!second) throw new Error("abandon image has no second layer");
    const p2 = `/v2/anon/${abandon.repo}/blobs/${second.digest}`;
    await admin().reset();
    const [cut, full] = await Promise.all([getAndHangUp(b.mirrorHost, p2, 1), fetchBlob(p2)]);
    expect(cut.status).toBe(200);
    expect(full.status, describeResponse(`GET ${p2}`, full)).toBe(200);
    expect(full.digest, "the reader that stayed got the whole blob").toBe(second.digest);
    const gets = (await admin().requests("anon")).filter((r) => r.kind === "blob-get");
    expect(gets, show(gets)).toHaveLength(1);
    expect(await fillOutcome(second.digest)).toMatch(/"event":"blob\.stored"/);
    await admin().reset();
    const again = await fetchBlob(p2);
    expect(again.digest).toBe(second.digest);
    expect(again.headers.get("x-mirror-cache")).toBe("HIT");
    expect(await admin().requests()).toEqual([]);
  });
});
