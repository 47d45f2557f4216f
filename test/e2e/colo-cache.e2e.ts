// The colo cache (issue 15) under `wrangler dev`, which simulates the Workers Cache API on 127.0.0.1, on
// a SECOND mirror with OP_COUNTERS = "on" (its R2, KV and Cache API calls are counted at GET /_/ops) and
// fresh state, so the bed's images can be reused: a warm pull with a hot colo cache reads nothing from R2.
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PulledDir, readDir, skopeoCopy } from "./harness/clients.ts";
import { admin, bed, startBedMirror } from "./harness/context.ts";
import { blobsOf, expectFullCopy } from "./harness/expect-image.ts";
import type { Mirror } from "./harness/mirror.ts";
import { fetchT, sleep, waitFor } from "./harness/net.ts";
import type { ExpectedImage } from "./harness/push.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
/** Public blobs (an upstream without credentials). */
const open = b.images.anon;
/** Restricted blobs (an upstream with credentials). */
const restricted = b.images.token;
const ADMIN_TOKEN = randomBytes(24).toString("base64url");
const BEARER = { authorization: `Bearer ${ADMIN_TOKEN}` };

let mirror: Mirror;
let env: SkopeoEnv;

interface Ops {
  r2ClassB: number;
  cacheReads: number;
  cacheHits: number;
  cachePuts: number;
  /** Client bodies streaming from the mirror's isolate now. */
  clientBodies: number;
  byOp: Record<string, number>;
}

beforeAll(async () => {
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "colo-")));
  mirror = await startBedMirror({
    vars: { ADMIN_TOKEN, OP_COUNTERS: "on" },
    logFile: "wrangler-colo.log",
  });
});
afterAll(async () => {
  await mirror?.stop();
});

async function ops(reset = false): Promise<Ops> {
  const res = await fetchT(`${mirror.url}/_/ops${reset ? "?reset=1" : ""}`, { headers: BEARER });
  expect(res.status).toBe(200);
  return (await res.json()) as Ops;
}

let pullSeq = 0;
async function pull(prefix: string, img: ExpectedImage): Promise<PulledDir> {
  const dest = join(env.dir, `pull-${pullSeq++}`);
  const ref = `${new URL(mirror.url).host}/${prefix}/${img.repo}:${img.tag}`;
  const r = await skopeoCopy(env, { ref, dest: `dir:${dest}`, all: true });
  if (r.code !== 0) {
    throw new Error(
      `skopeo copy --all docker://${ref} failed (exit ${r.code})\n${r.stderr}\n${mirror.process.output().slice(-3000)}`,
    );
  }
  return readDir(dest);
}

/** Every blob of the image answers HEAD with HIT (stored in R2), within a minute. */
async function stored(prefix: string, img: ExpectedImage): Promise<void> {
  for (const digest of blobsOf(...img.manifests)) {
    await waitFor(
      `${digest} stored`,
      async () => {
        const res = await fetchT(`${mirror.url}/v2/${prefix}/${img.repo}/blobs/${digest}`, {
          method: "HEAD",
        });
        return res.headers.get("x-mirror-cache") === "HIT" || undefined;
      },
      60_000,
      100,
    );
  }
}

/** Until the background puts of the warm pull have landed: every blob's GET answers from the colo cache. */
async function hot(prefix: string, img: ExpectedImage): Promise<void> {
  for (const digest of blobsOf(...img.manifests)) {
    await waitFor(
      `${digest} in the colo cache`,
      async () => {
        // HEAD: no body, so the polling itself reads nothing from R2 and puts nothing.
        const res = await fetchT(`${mirror.url}/v2/${prefix}/${img.repo}/blobs/${digest}`, {
          method: "HEAD",
        });
        return res.headers.get("x-mirror-colo") === "HIT" || undefined;
      },
      30_000,
      100,
    );
  }
}

describe("the colo cache under wrangler dev (Cache API simulated on 127.0.0.1)", () => {
  it("is in use: the landing page says so", async () => {
    const res = await fetchT(`${mirror.url}/`);
    expect(await res.text()).toContain("colo cache in use");
  });

  for (const [prefix, img, kind] of [
    ["anon", open, "public blobs"],
    ["token", restricted, "restricted blobs (upstream credentials)"],
  ] as const) {
    it(`${kind}: a warm pull with a hot colo cache reads nothing from R2 and asks nothing upstream`, async () => {
      expectFullCopy(await pull(prefix, img), img);
      await stored(prefix, img);
      // The first warm pull reads R2 and puts every blob into the colo cache on the way.
      expectFullCopy(await pull(prefix, img), img);
      await hot(prefix, img);
      await sleep(500);
      await ops(true);
      await admin().reset();
      expectFullCopy(await pull(prefix, img), img);
      const counted = await ops();
      const blobs = blobsOf(...img.manifests).length;
      expect(counted.r2ClassB, JSON.stringify(counted.byOp)).toBe(0);
      expect(counted.cacheHits).toBeGreaterThanOrEqual(blobs);
      expect(counted.cachePuts, JSON.stringify(counted.byOp)).toBe(0);
      expect(await admin().requests()).toEqual([]);
      // Every client body of those pulls has ended: none stays counted as streaming (a count that
      // stayed up made every background copy of the isolate wait as if clients were busy, for ever).
      await waitFor(
        "no client body left streaming",
        async () => (await ops()).clientBodies === 0 || undefined,
        10_000,
        100,
      );
    });
  }

  it("answers a range from the colo cache with 206 and the right bytes", async () => {
    const digest = blobsOf(...open.manifests)[0] ?? "";
    const whole = await fetchT(`${mirror.url}/v2/anon/${open.repo}/blobs/${digest}`);
    const bytes = Buffer.from(await whole.arrayBuffer());
    await ops(true);
    const part = await fetchT(`${mirror.url}/v2/anon/${open.repo}/blobs/${digest}`, {
      headers: { range: "bytes=3-12" },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get("x-mirror-colo")).toBe("HIT");
    expect(part.headers.get("content-range")).toBe(`bytes 3-12/${bytes.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(bytes.subarray(3, 13));
    expect((await ops()).r2ClassB).toBe(0);
  });
});
