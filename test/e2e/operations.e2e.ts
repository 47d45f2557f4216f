// Operating the mirror (issue 6), on a SECOND mirror with ADMIN_TOKEN, STATS_FLUSH_SECONDS = 0 (every
// request's counts reach the stats object at once), WARM_IMAGES and `wrangler dev --test-scheduled`
// (GET /__scheduled fires the cron): warm-up by POST /_/warm and by the cron, stats, /v2/_catalog,
// cached images and purge, the landing page. Its state is fresh, so the images of the bed can be reused:
// every upstream request is counted by the `anon` proxy.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type PulledDir, readDir, skopeoCopy } from "./harness/clients.ts";
import { admin, bed, startBedMirror } from "./harness/context.ts";
import type { LoggedRequest } from "./harness/counting.ts";
import { blobsOf, expectFullCopy, expectSingleCopy, platformManifest } from "./harness/expect-image.ts";
import { logEvents, type Mirror } from "./harness/mirror.ts";
import { fetchT, sleep, waitFor } from "./harness/net.ts";
import type { ExpectedImage } from "./harness/push.ts";
import { ACCEPT_ALL } from "./harness/push.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
/** Warmed by POST /_/warm, then purged. */
const warmed = b.images.counted;
/** In WARM_IMAGES with every platform. */
const cronAll = b.images.anon;
/** In WARM_IMAGES with platforms ["linux/arm64"]. */
const cronArm = b.images.token;
/** Pulled with raw requests for the stats. */
const counted = b.images.basic;
const PREFIX = "anon";
const ADMIN_TOKEN = randomBytes(24).toString("base64url");
const BEARER = { authorization: `Bearer ${ADMIN_TOKEN}` };
const imageRef = (img: ExpectedImage): string => `${PREFIX}/${img.repo}:${img.tag}`;

let mirror: Mirror;
let host: string;
let env: SkopeoEnv;

beforeAll(async () => {
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "operations-")));
  mirror = await startBedMirror({
    vars: {
      ADMIN_TOKEN,
      STATS_FLUSH_SECONDS: "0",
      WARM_IMAGES: JSON.stringify([
        imageRef(cronAll),
        { image: imageRef(cronArm), platforms: ["linux/arm64"] },
      ]),
    },
    extraArgs: ["--test-scheduled"],
    logFile: "wrangler-operations.log",
  });
  host = new URL(mirror.url).host;
});
afterAll(async () => {
  await mirror?.stop();
});
beforeEach(async () => {
  await admin().reset();
});

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
  digest: string;
}

async function call(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetchT(`${mirror.url}${path}`, init, 60_000);
  const body = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    headers: res.headers,
    body,
    text: body.toString("utf8"),
    digest: `sha256:${createHash("sha256").update(body).digest("hex")}`,
  };
}

/** A request to an admin endpoint with the admin token. */
async function adminCall<T>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: T; text: string }> {
  const r = await call(path, {
    method,
    headers: { ...BEARER, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json: unknown = null;
  try {
    json = JSON.parse(r.text);
  } catch {
    // Asserted by the caller through the status and text.
  }
  return { status: r.status, json: json as T, text: r.text };
}

function tail(): string {
  return `--- operations mirror output (tail)\n${mirror.process.output().slice(-4000)}`;
}

function show(reqs: LoggedRequest[]): string {
  return reqs.map((r) => `${r.upstream} ${r.method} ${r.url} → ${r.status}`).join("\n") || "(none)";
}

let pullSeq = 0;
async function pull(
  img: ExpectedImage,
  opts: { all?: boolean; arch?: "amd64" | "arm64" } = {},
): Promise<PulledDir> {
  const dest = join(env.dir, `pull-${pullSeq++}`);
  const ref = `${host}/${imageRef(img)}`;
  const r = await skopeoCopy(env, {
    ref,
    dest: `dir:${dest}`,
    all: opts.all,
    extra: opts.arch ? ["--override-arch", opts.arch] : [],
  });
  if (r.code !== 0) {
    throw new Error(
      `skopeo copy${opts.all ? " --all" : ""} docker://${ref} failed (exit ${r.code}, ${r.ms} ms)\n${r.stderr}\n--- upstream requests\n${show(await admin().requests())}\n${tail()}`,
    );
  }
  return readDir(dest);
}

/** Upstream requests (through the `anon` proxy) for one repository, oldest first. */
async function upstreamFor(img: ExpectedImage): Promise<LoggedRequest[]> {
  return (await admin().requests(PREFIX)).filter((r) => r.url.startsWith(`/v2/${img.repo}/`));
}

const blobGets = (reqs: LoggedRequest[]): string[] =>
  reqs
    .filter((r) => r.kind === "blob-get")
    .map((r) => r.url.split("/").at(-1) ?? "")
    .sort();

interface WarmReport {
  image: string;
  digest: string;
  manifests: number;
  blobs: number;
  fetched: number;
}

interface Stats {
  requests: {
    total: number;
    byCache: { HIT: number; MISS: number; STALE: number; REVALIDATED: number };
    errors: number;
  };
  bytes: { fromCache: number; fromUpstream: number };
  upstreams: Record<
    string,
    { requests: { token: number; manifest: number; blob: number; other: number }; tooManyRequests: number }
  >;
  storage: { blobs: number; bytes: number };
  topRepositories: { repository: string; pulls: number }[];
}

async function stats(): Promise<Stats> {
  const r = await adminCall<Stats>("GET", "/_/stats?top=100");
  expect(r.status, r.text).toBe(200);
  return r.json;
}

async function catalog(query = ""): Promise<{ repositories: string[]; link: string | null; status: number }> {
  const r = await call(`/v2/_catalog${query}`);
  expect(r.status, r.text).toBe(200);
  return {
    status: r.status,
    repositories: (JSON.parse(r.text) as { repositories: string[] }).repositories,
    link: r.headers.get("link"),
  };
}

interface CachedImage {
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  ageSeconds: number;
}

async function cachedImages(): Promise<CachedImage[]> {
  const r = await adminCall<{ images: CachedImage[]; cursor: string | null }>(
    "GET",
    `/_/images?upstream=${PREFIX}`,
  );
  expect(r.status, r.text).toBe(200);
  return r.json.images;
}

describe("landing page and admin authentication", () => {
  it("GET / answers HTML with this mirror's host in the set-up snippets", async () => {
    const r = await call("/");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/html/);
    expect(r.text).toMatch(/<html/i);
    expect(r.text).toContain(host);
  });

  it("admin endpoints without the token or with a wrong one → 401, and nothing reaches an upstream", async () => {
    const wrong = { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -2)}xx` };
    const attempts: [string, string, RequestInit][] = [
      ["GET", "/_/stats", {}],
      ["GET", "/_/stats", { headers: wrong }],
      ["GET", `/_/images?upstream=${PREFIX}`, {}],
      ["GET", `/_/images?upstream=${PREFIX}`, { headers: { authorization: ADMIN_TOKEN.toUpperCase() } }],
      [
        "POST",
        "/_/warm",
        {
          headers: { ...wrong, "content-type": "application/json" },
          body: JSON.stringify({ image: imageRef(warmed) }),
        },
      ],
      [
        "POST",
        "/_/warm",
        {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ image: imageRef(warmed) }),
        },
      ],
      ["DELETE", `/_/images/${imageRef(warmed)}`, { headers: wrong }],
      ["DELETE", `/_/images/${PREFIX}/${warmed.repo}`, {}],
    ];
    for (const [method, path, init] of attempts) {
      const r = await call(path, { ...init, method });
      expect(r.status, `${method} ${path} (${init.headers ? "wrong token" : "no token"}) → ${r.text}`).toBe(
        401,
      );
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer /);
    }
    expect(show(await admin().requests()), "upstream requests").toBe("(none)");
  });
});

describe("warm-up: POST /_/warm", () => {
  it("warms every platform: the report has the index digest, 3 manifests and every blob, each fetched once", async () => {
    const r = await adminCall<WarmReport>("POST", "/_/warm", { image: imageRef(warmed) });
    expect(r.status, `${r.text}\n${tail()}`).toBe(200);
    const all = blobsOf(...warmed.manifests);
    expect(r.json).toEqual({
      image: imageRef(warmed),
      digest: warmed.top.digest,
      manifests: 1 + warmed.manifests.length,
      blobs: all.length,
      fetched: all.length,
      pending: 0,
    });
    const reqs = await upstreamFor(warmed);
    expect(blobGets(reqs), show(reqs)).toEqual(all);
    const line = logEvents(mirror.process.output(), "warm").find((e) => e.image === imageRef(warmed));
    expect(line, tail()).toMatchObject({ digest: warmed.top.digest, fetched: all.length });
  });

  it("a second POST fetches nothing; skopeo --all then pulls every digest with ZERO upstream requests", async () => {
    const again = await adminCall<WarmReport>("POST", "/_/warm", { image: imageRef(warmed) });
    expect(again.status, again.text).toBe(200);
    expect(again.json.fetched).toBe(0);
    expectFullCopy(await pull(warmed, { all: true }), warmed);
    expect(show(await admin().requests()), "upstream requests").toBe("(none)");
  });

  it("an image outside the configured upstreams → 400 NAME_INVALID", async () => {
    const r = await adminCall<{ errors: { code: string }[] }>("POST", "/_/warm", { image: "nowhere/x/y:1" });
    expect(r.status, r.text).toBe(400);
    expect(r.json.errors[0]?.code).toBe("NAME_INVALID");
    expect(show(await admin().requests()), "upstream requests").toBe("(none)");
  });
});

describe("warm-up: the cron (GET /__scheduled) warms WARM_IMAGES", () => {
  const arm = platformManifest(cronArm, "arm64");
  const amd = platformManifest(cronArm, "amd64");

  it("logs one warm line per image with its digest; the restricted one fetched only linux/arm64", async () => {
    const before = logEvents(mirror.process.output(), "warm").length;
    const fired = await call("/__scheduled?cron=17+4+*+*+*");
    expect(fired.status, fired.text).toBe(200);
    const lines = await waitFor(
      "two warm lines after /__scheduled",
      async () => {
        const warm = logEvents(mirror.process.output(), "warm").slice(before);
        if (logEvents(mirror.process.output(), "warm.failed").length > 0) return warm;
        return warm.length >= 2 ? warm : undefined;
      },
      60_000,
      200,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${tail()}`);
    });
    expect(logEvents(mirror.process.output(), "warm.failed"), tail()).toEqual([]);
    expect(lines).toEqual([
      expect.objectContaining({
        image: imageRef(cronAll),
        digest: cronAll.top.digest,
        manifests: 1 + cronAll.manifests.length,
        blobs: blobsOf(...cronAll.manifests).length,
        fetched: blobsOf(...cronAll.manifests).length,
      }),
      expect.objectContaining({
        image: imageRef(cronArm),
        digest: cronArm.top.digest,
        manifests: 2,
        blobs: blobsOf(arm).length,
        fetched: blobsOf(arm).length,
      }),
    ]);
    const all = await upstreamFor(cronAll);
    expect(blobGets(all), show(all)).toEqual(blobsOf(...cronAll.manifests));
    const restricted = await upstreamFor(cronArm);
    expect(blobGets(restricted), `only linux/arm64's blobs\n${show(restricted)}`).toEqual(blobsOf(arm));
    expect(
      restricted.some((r) => r.url.endsWith(`/manifests/${amd.digest}`)),
      `the amd64 manifest was not fetched\n${show(restricted)}`,
    ).toBe(false);
  });

  it("then skopeo --all of the first and the arm64 image of the second are all cache hits: ZERO upstream requests", async () => {
    expectFullCopy(await pull(cronAll, { all: true }), cronAll);
    expectSingleCopy(await pull(cronArm, { arch: "arm64" }), cronArm, "arm64");
    expect(show(await admin().requests()), "upstream requests").toBe("(none)");
  });
});

describe("stats: GET /_/stats", () => {
  it("counts requests, HIT/MISS, bytes, upstream requests by kind, storage and the pulled repository", async () => {
    const s0 = await stats();
    const m = counted.top;
    const layer = platformManifest(counted).layers[0];
    if (!layer) throw new Error("no layer");
    const manifestPath = `/v2/${PREFIX}/${counted.repo}/manifests/${counted.tag}`;
    const blobPath = `/v2/${PREFIX}/${counted.repo}/blobs/${layer.digest}`;
    const got: Answer[] = [];
    for (const [path, cache] of [
      [manifestPath, "MISS"],
      [manifestPath, "HIT"],
      [blobPath, "MISS"],
      [blobPath, "HIT"],
    ] as const) {
      if (path === blobPath && cache === "HIT") {
        // The blob goes to R2 once the clients are quiet: the second GET comes once the stats have it stored.
        await waitFor(
          "the blob stored",
          async () => ((await stats()).storage.blobs > s0.storage.blobs ? true : undefined),
          15_000,
        );
      }
      const r = await call(path, { headers: { accept: ACCEPT_ALL } });
      expect(r.status, `${path} → ${r.text.slice(0, 300)}`).toBe(200);
      expect(r.headers.get("x-mirror-cache"), path).toBe(cache);
      expect(r.digest).toBe(path === manifestPath ? m.digest : layer.digest);
      got.push(r);
    }
    const c = (await admin().counts())[PREFIX];
    expect(c, show(await admin().requests())).toBeDefined();
    // Counts reach the stats object asynchronously (waitUntil): wait (bounded) for the requests.
    let s1 = await stats();
    for (let i = 0; i < 25 && s1.requests.total < s0.requests.total + 4; i++) {
      await sleep(200);
      s1 = await stats();
    }
    const len = (r: Answer) => r.body.length;
    const [mMiss, mHit, bMiss, bHit] = got as [Answer, Answer, Answer, Answer];
    expect({
      total: s1.requests.total - s0.requests.total,
      HIT: s1.requests.byCache.HIT - s0.requests.byCache.HIT,
      MISS: s1.requests.byCache.MISS - s0.requests.byCache.MISS,
      errors: s1.requests.errors - s0.requests.errors,
      fromCache: s1.bytes.fromCache - s0.bytes.fromCache,
      fromUpstream: s1.bytes.fromUpstream - s0.bytes.fromUpstream,
      storageBlobs: s1.storage.blobs - s0.storage.blobs,
      storageBytes: s1.storage.bytes - s0.storage.bytes,
    }).toEqual({
      total: 4,
      HIT: 2,
      MISS: 2,
      errors: 0,
      fromCache: len(mHit) + len(bHit),
      fromUpstream: len(mMiss) + len(bMiss),
      storageBlobs: 1,
      storageBytes: layer.size,
    });
    // Upstream requests by kind agree with what the counting proxy saw.
    const d = (k: "token" | "manifest" | "blob" | "other") =>
      (s1.upstreams[PREFIX]?.requests[k] ?? 0) - (s0.upstreams[PREFIX]?.requests[k] ?? 0);
    expect({ manifest: d("manifest"), blob: d("blob") }, show(await admin().requests())).toEqual({
      manifest: (c?.["manifest-get"] ?? 0) + (c?.["manifest-head"] ?? 0),
      blob: (c?.["blob-get"] ?? 0) + (c?.["blob-head"] ?? 0),
    });
    expect(d("manifest")).toBeGreaterThan(0);
    expect(d("blob")).toBeGreaterThan(0);
    // Totals of the whole file so far.
    expect(s1.requests.byCache.HIT).toBeGreaterThan(0);
    expect(s1.requests.byCache.MISS).toBeGreaterThan(0);
    expect(s1.bytes.fromCache).toBeGreaterThan(0);
    expect(s1.bytes.fromUpstream).toBeGreaterThan(0);
    expect(s1.storage.blobs).toBeGreaterThan(0);
    expect(s1.storage.bytes).toBeGreaterThan(0);
    expect(s1.topRepositories).toContainEqual({ repository: `${PREFIX}/${counted.repo}`, pulls: 2 });
    const warmedPulls = s1.topRepositories.find((t) => t.repository === `${PREFIX}/${warmed.repo}`);
    expect(warmedPulls?.pulls ?? 0, "the skopeo pull of the warmed image").toBeGreaterThanOrEqual(1);
  });
});

describe("catalog: GET /v2/_catalog", () => {
  const pulled = [warmed, cronAll, cronArm, counted].map((img) => `${PREFIX}/${img.repo}`).sort();

  it("lists the repositories pulled through the mirror, sorted", async () => {
    const all = await catalog();
    expect(all.repositories).toEqual(pulled);
    expect(all.link).toBeNull();
  });

  it("n=1 pages through them by their Link headers", async () => {
    const seen: string[] = [];
    let query = "?n=1";
    for (let page = 0; page < 10; page++) {
      const r = await catalog(query);
      expect(r.repositories.length, `page ${query}`).toBe(1);
      seen.push(...r.repositories);
      if (!r.link) break;
      const m = /^<([^>]+)>; rel="next"$/.exec(r.link);
      expect(m, `Link: ${r.link}`).not.toBeNull();
      const next = new URL(m?.[1] ?? "", mirror.url);
      expect(next.pathname).toBe("/v2/_catalog");
      query = next.search;
    }
    expect(seen).toEqual(pulled);
  });

  it("n out of range → 400 PAGINATION_NUMBER_INVALID", async () => {
    const r = await call("/v2/_catalog?n=0");
    expect(r.status, r.text).toBe(400);
    expect(r.text).toContain("PAGINATION_NUMBER_INVALID");
  });
});

describe("cached images and purge: /_/images", () => {
  it("lists the cached tags with their digests", async () => {
    const images = await cachedImages();
    for (const img of [warmed, cronAll, cronArm, counted]) {
      expect(images, JSON.stringify(images)).toContainEqual(
        expect.objectContaining({
          repository: `${PREFIX}/${img.repo}`,
          tag: img.tag,
          digest: img.top.digest,
        }),
      );
    }
  });

  it("DELETE <prefix>/<name>:<tag> forgets the tag: the next pull asks the upstream for the manifest again", async () => {
    const r = await adminCall<{ purged: number }>("DELETE", `/_/images/${imageRef(warmed)}`);
    expect(r.status, r.text).toBe(200);
    expect(r.json.purged).toBeGreaterThan(0);
    expect(
      (await cachedImages()).some((i) => i.repository === `${PREFIX}/${warmed.repo}` && i.tag === warmed.tag),
    ).toBe(false);
    await admin().reset();
    expectFullCopy(await pull(warmed, { all: true }), warmed);
    const reqs = await upstreamFor(warmed);
    const tagRequests = reqs.filter((q) => q.url === `/v2/${warmed.repo}/manifests/${warmed.tag}`);
    expect(tagRequests.length, show(reqs)).toBe(1);
    expect(blobGets(reqs), `blobs stay cached\n${show(reqs)}`).toEqual([]);
  });

  it("DELETE <prefix>/<name> removes the repository from /_/images and the catalog", async () => {
    const r = await adminCall<{ purged: number }>("DELETE", `/_/images/${PREFIX}/${warmed.repo}`);
    expect(r.status, r.text).toBe(200);
    expect(r.json.purged).toBeGreaterThan(0);
    expect((await cachedImages()).some((i) => i.repository === `${PREFIX}/${warmed.repo}`)).toBe(false);
    expect((await catalog()).repositories).not.toContain(`${PREFIX}/${warmed.repo}`);
    expect((await catalog()).repositories).toContain(`${PREFIX}/${counted.repo}`);
    const purge = logEvents(mirror.process.output(), "purge").at(-1);
    expect(purge, tail()).toMatchObject({ upstream: PREFIX, repository: warmed.repo });
  });

  it("an unknown prefix → 404, an invalid name → 400", async () => {
    expect((await adminCall("DELETE", "/_/images/nowhere/team/x:v1")).status).toBe(404);
    expect((await adminCall("DELETE", `/_/images/${PREFIX}/Team/UPPER:v1`)).status).toBe(400);
  });
});
