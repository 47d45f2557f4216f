// Docker Hub's pull quota, through the whole mirror: the `pool` upstream (vitest.config.ts) holds two
// accounts and its fake registry counts manifest GETs per account. One story, in order: the pool's
// quota state lives as long as this file.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { MirrorStats, StatsSnapshot } from "../../src/platform/stats-object";
import { pushImage, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams } from "../support/mirror";
import { POOL_ACCOUNTS } from "../support/pool-accounts";
import { send } from "../support/pull";

const ADMIN = "admin-token-for-quota-tests";
let upstreams: ReturnType<typeof fakeUpstreams>;
let logs: string[];
const images: Record<string, TestImage> = {};

beforeAll(async () => {
  upstreams = fakeUpstreams();
  logs = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    logs.push(String(line));
  });
  // Three counted pulls per account per minute: one image (index + 2 platforms) each.
  upstreams.pool.quota = { limit: 3, window: 60 };
  for (const [index, name] of ["team/a", "team/b", "team/c"].entries()) {
    images[name] = await pushImage(upstreams.pool, name, "1", 40 + index);
  }
});
afterAll(() => vi.restoreAllMocks());

const manifest = (name: string, reference: string) =>
  send(`/v2/pool/${name}/manifests/${reference}`, {}, { headers: { Accept: ACCEPT_ALL } });

async function pullManifests(name: string): Promise<number[]> {
  const statuses = [(await manifest(name, "1")).response.status];
  for (const digest of images[name]?.manifestDigests ?? [])
    statuses.push((await manifest(name, digest)).response.status);
  return statuses;
}

async function stats(): Promise<StatsSnapshot> {
  const { body } = await send(
    "/_/stats",
    { ADMIN_TOKEN: ADMIN },
    {
      headers: { Authorization: `Bearer ${ADMIN}` },
    },
  );
  return JSON.parse(new TextDecoder().decode(body)) as StatsSnapshot;
}

const manifestGets = () => upstreams.pool.count("manifest", "GET");

describe("a pool of accounts and Docker Hub's pull quota", () => {
  it("serves a demand one account cannot: six counted pulls over two accounts of three", async () => {
    expect(await pullManifests("team/a")).toEqual([200, 200, 200]);
    expect(await pullManifests("team/b")).toEqual([200, 200, 200]);
    expect(upstreams.pool.pulls.get("first")).toBe(3);
    expect(upstreams.pool.pulls.get("second")).toBe(3);
    expect(upstreams.pool.pulls.get("")).toBeUndefined(); // never anonymous
  });

  it("shows each account's remaining quota, and that all are exhausted, in /_/stats", async () => {
    const snapshot = await stats();
    const pool = snapshot.upstreams.pool;
    expect(pool?.quota.map((entry) => entry.account).sort()).toEqual(["first", "second"]);
    for (const entry of pool?.quota ?? []) {
      expect(entry).toMatchObject({ limit: 3, remaining: 0, window: 60 });
      expect(entry.seenAt).toMatch(/^\d{4}-/);
      expect(entry.exhaustedUntil).toMatch(/^\d{4}-/);
      expect(entry.history.length).toBeGreaterThan(0);
    }
    expect(pool?.quotaExhausted).toBe(true);
    // The client that caused the counted requests (anonymous here: its IP).
    expect(snapshot.topClients).toContainEqual(
      expect.objectContaining({ client: "unknown", kind: "ip", requests: 6 }),
    );
    expect(logs.some((line) => line.includes('"event":"upstream.quota_low"'))).toBe(true);
    expect(logs.some((line) => line.includes('"event":"upstream.quota_all_exhausted"'))).toBe(true);
  });

  it("below the reserve, revalidates a moved tag with HEAD only and serves the cached copy stale", async () => {
    await pushImage(upstreams.pool, "team/a", "1", 99); // the tag moves upstream
    const before = manifestGets();
    const { response } = await manifest("team/a", "1");
    expect(response.status).toBe(200);
    expect(response.headers.get("X-Mirror-Cache")).toBe("STALE");
    expect(response.headers.get("Warning")).toBe('110 - "Response is Stale"');
    expect(response.headers.get("Docker-Content-Digest")).toBe(images["team/a"]?.indexDigest);
    expect(manifestGets()).toBe(before);
    expect(upstreams.pool.count("manifest", "HEAD")).toBeGreaterThan(0);
  });

  it("answers 429 with Retry-After for what it does not hold, without asking the upstream", async () => {
    const before = manifestGets();
    const { response, body } = await manifest("team/c", "1");
    expect(response.status).toBe(429);
    expect(Number(response.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(new TextDecoder().decode(body)).toContain("TOOMANYREQUESTS");
    expect(manifestGets()).toBe(before);
  });

  it("defers a warm-up rather than spend the reserve, and lists it in /_/stats", async () => {
    const { response, body } = await send(
      "/_/warm",
      { ADMIN_TOKEN: ADMIN },
      {
        method: "POST",
        headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
        body: JSON.stringify({ image: "pool/team/c:1" }),
      },
    );
    expect(response.status).toBe(202);
    const report = JSON.parse(new TextDecoder().decode(body)) as { deferred?: { resumeAt: string } };
    expect(Date.parse(report.deferred?.resumeAt ?? "")).toBeGreaterThan(Date.now());
    expect((await stats()).deferredWarmups).toContainEqual(
      expect.objectContaining({ image: "pool/team/c:1" }),
    );
  });

  it("goes on with a deferred warm-up in the stats object's alarm, deferring it again while quota is short", async () => {
    const namespace = env.STATS as DurableObjectNamespace<MirrorStats>;
    const stub = namespace.get(namespace.idFromName("global"));
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE deferred_warmups SET resume_at = 0");
    });
    const deferredBefore = logs.filter((line) => line.includes('"event":"warm.deferred"')).length;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(logs.filter((line) => line.includes('"event":"warm.deferred"')).length).toBe(deferredBefore + 1);
    const again = (await stats()).deferredWarmups.find((entry) => entry.image === "pool/team/c:1");
    expect(Date.parse(again?.resumeAt ?? "")).toBeGreaterThan(Date.now());
  });

  it("never shows a password: not in a response, not in a log line", async () => {
    const text = JSON.stringify(await stats()) + logs.join("\n");
    for (const account of POOL_ACCOUNTS) {
      expect(text).not.toContain(account.password);
      expect(text).not.toContain(btoa(`${account.username}:${account.password}`));
    }
  });
});
