// Docker Hub's pull quota (issue 14), on a SECOND mirror whose `hub` upstream has a pool of two
// accounts (UPSTREAM_HUB_CREDENTIALS: alice and bob, no single pair), tagTtl 0 and quotaReserve 30 %.
// The Hub look-alike counts manifest GETs per token subject: 4 per account per 120 s, with
// `ratelimit-*` headers and 429 TOOMANYREQUESTS past the limit. One story, in order.
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, bed, startBedMirror } from "./harness/context.ts";
import { buildImage, type ImageSpec } from "./harness/images.ts";
import type { Mirror } from "./harness/mirror.ts";
import { fetchT } from "./harness/net.ts";
import { ACCEPT_ALL, type ExpectedImage, pushImage } from "./harness/push.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
const ADMIN_TOKEN = randomBytes(24).toString("base64url");
const LIMIT = 4;
const WINDOW = 120;
const ACCOUNTS = [b.user, b.poolUser];
const imagesDir = join(b.repoRoot, ".e2e-work", "images");

/** A one-platform image of its own on the Hub look-alike, whose tag the story moves. */
const original: ImageSpec = {
  repo: "quota/moving",
  tag: "v1",
  format: "oci",
  platforms: ["amd64"],
  layerSizes: [12 * 1024],
};
const moved: ImageSpec = { ...original, layerSizes: [12 * 1024 + 1] };

let mirror: Mirror;
let env: SkopeoEnv;
let before: ExpectedImage;

interface QuotaEntry {
  account: string;
  limit: number | null;
  remaining: number | null;
  window: number | null;
  seenAt: string | null;
  exhaustedUntil: string | null;
  history: unknown[];
}
interface Stats {
  upstreams: Record<string, { quota: QuotaEntry[]; quotaExhausted: boolean; tooManyRequests: number }>;
  topClients: Array<{ client: string; kind: string; requests: number }>;
}

async function pushSpec(spec: ImageSpec): Promise<ExpectedImage> {
  return pushImage(await buildImage(spec, imagesDir), b.faces.anon ?? "", env);
}

async function manifest(repo: string, reference: string) {
  const res = await fetchT(`${mirror.url}/v2/hub/${repo}/manifests/${reference}`, {
    headers: { accept: ACCEPT_ALL },
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** The tag, then every platform's manifest by digest: what a multi-arch pull's manifests cost. */
async function pullManifests(image: ExpectedImage): Promise<number[]> {
  const statuses = [(await manifest(image.repo, image.tag)).status];
  if (image.multiArch) {
    for (const m of image.manifests) statuses.push((await manifest(image.repo, m.digest)).status);
  }
  return statuses;
}

async function stats(): Promise<Stats> {
  const res = await fetchT(`${mirror.url}/_/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return (await res.json()) as Stats;
}

async function hubManifestRequests(): Promise<string[]> {
  return (await admin().requests("hub"))
    .filter((r) => r.kind.startsWith("manifest"))
    .map((r) => `${r.method} ${r.url} → ${r.status}`);
}

beforeAll(async () => {
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "quota-")));
  // The upstream storage outlives runs: a previous run left the tag moved.
  before = await pushSpec(original);
  await admin().setHubQuota({ limit: LIMIT, window: WINDOW });
  mirror = await startBedMirror({
    logFile: "wrangler-quota.log",
    withoutCredentials: ["hub"],
    upstreams: { hub: { tagTtl: 0, quotaReserve: 30 } },
    vars: {
      ADMIN_TOKEN,
      STATS_FLUSH_SECONDS: "0",
      UPSTREAM_HUB_CREDENTIALS: JSON.stringify(ACCOUNTS),
    },
  });
});
afterAll(async () => {
  await mirror?.stop();
  await admin().setHubQuota(null);
});

describe(`a pool of two accounts in front of a Hub with ${LIMIT} pulls per account per ${WINDOW} s`, () => {
  it("serves a demand one account cannot: 7 counted pulls, spread over both accounts", async () => {
    await admin().reset();
    expect((await manifest(before.repo, before.tag)).status).toBe(200);
    expect(await pullManifests(b.images.alpine)).toEqual([200, 200, 200]);
    expect(await pullManifests(b.images.busybox)).toEqual([200, 200, 200]);
    const { used } = await admin().hubQuota();
    expect(used, JSON.stringify(used)).toEqual({ [b.user.username]: LIMIT, [b.poolUser.username]: 3 });
    // No 429 reached the mirror: it moved to the other account before one was due.
    expect((await hubManifestRequests()).filter((line) => line.endsWith("429"))).toEqual([]);
  });

  it("/_/stats shows both accounts' remaining quota, window and history", async () => {
    const hub = (await stats()).upstreams.hub;
    const byAccount = Object.fromEntries((hub?.quota ?? []).map((entry) => [entry.account, entry]));
    expect(byAccount[b.user.username]).toMatchObject({ limit: LIMIT, remaining: 0, window: WINDOW });
    expect(byAccount[b.user.username]?.exhaustedUntil).toBeTruthy();
    expect(byAccount[b.poolUser.username]).toMatchObject({
      limit: LIMIT,
      remaining: 1,
      window: WINDOW,
      exhaustedUntil: null,
    });
    expect(byAccount[b.poolUser.username]?.history.length).toBeGreaterThan(0);
    expect(hub?.quotaExhausted).toBe(false);
  });

  it("below the reserve, a moved tag is checked with a HEAD only and the cached copy is served stale", async () => {
    const next = await pushSpec(moved);
    expect(next.top.digest).not.toBe(before.top.digest);
    await admin().reset();
    const res = await manifest(before.repo, before.tag);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-mirror-cache")).toBe("STALE");
    expect(res.headers.get("warning")).toBe('110 - "Response is Stale"');
    expect(res.headers.get("docker-content-digest")).toBe(before.top.digest);
    // (A 401 first when the account asked has no token for this repository yet: the challenge.)
    const asked = (await hubManifestRequests()).filter((line) => !line.endsWith("→ 401"));
    expect(asked).toEqual([`HEAD /v2/${before.repo}/manifests/${before.tag} → 200`]);
  });

  it("a pull the cache cannot answer still spends the reserve; then, with every account spent, 429 without asking", async () => {
    const counted = b.images.hubCounted;
    expect((await manifest(counted.repo, counted.tag)).status).toBe(200);
    expect((await admin().hubQuota()).used[b.poolUser.username]).toBe(LIMIT);
    await admin().reset();
    const child = counted.manifests[0]?.digest ?? "";
    const res = await manifest(counted.repo, child);
    expect(res.status).toBe(429);
    expect(JSON.parse(res.body).errors[0].code).toBe("TOOMANYREQUESTS");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(res.headers.get("retry-after"))).toBeLessThanOrEqual(WINDOW);
    expect(await hubManifestRequests()).toEqual([]);
    const snapshot = await stats();
    expect(snapshot.upstreams.hub?.quotaExhausted).toBe(true);
    // Each client's entry also says its spending this hour and the fills it left (issue 24).
    expect(snapshot.topClients).toContainEqual(
      expect.objectContaining({ client: "127.0.0.1", kind: "ip", requests: 8 }),
    );
  });

  it("says so in the log, and no password appears in the log or the stats", async () => {
    const log = mirror.process.output();
    expect(log).toContain('"event":"upstream.quota_low"');
    expect(log).toContain('"event":"upstream.quota_all_exhausted"');
    const text = log + JSON.stringify(await stats());
    for (const account of ACCOUNTS) {
      expect(text).not.toContain(account.password);
      expect(text).not.toContain(Buffer.from(`${account.username}:${account.password}`).toString("base64"));
    }
  });
});
