import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { runRetention } from "../../src/ops/retention";
import { StatsServedDays } from "../../src/platform/served-days";
import type { MirrorStats } from "../../src/platform/stats-object";
import { StatsRecorder } from "../../src/platform/stats-recorder";
import type { ColoCache } from "../../src/storage/colo-cache";
import { countStorage, type StorageCounts } from "../support/counting-env";
import { pseudoRandomBytes, sha256 } from "../support/fake-registry";

const DAY = 24 * 3600 * 1000;

async function storeBlob(seed: number, size: number): Promise<string> {
  const bytes = pseudoRandomBytes(size, seed);
  const digest = await sha256(bytes);
  await env.BLOBS.put(`blobs/sha256/${digest.slice(7)}`, bytes);
  return digest;
}

const exists = async (digest: string) => (await env.BLOBS.head(`blobs/sha256/${digest.slice(7)}`)) !== null;
const day = (time: number) => new Date(time).toISOString().slice(0, 10);

let stats: DurableObjectStub<MirrorStats>;
let served: StatsServedDays;
let test = 0;
let counts: StorageCounts;
afterEach(() => vi.restoreAllMocks());
beforeEach(async () => {
  const listed = await env.BLOBS.list({ prefix: "blobs/" });
  await env.BLOBS.delete(listed.objects.map((object) => object.key));
  // A stats object of its own per test: served days as isolates report them.
  const namespace = env.STATS as DurableObjectNamespace<MirrorStats>;
  stats = namespace.get(namespace.idFromName(`retention-${++test}`));
  served = new StatsServedDays(stats);
});

/** What an isolate's stats flush reports when it served `digests` on `day`. */
const markServed = (day: string, ...digests: string[]) =>
  stats.record({ counters: {}, repositories: {}, served: { day, digests } });

const listedDays = async () => (await served.list()).entries;

const deps = (now: number) => ({
  bucket: env.BLOBS,
  served,
  stats: new StatsRecorder(undefined, 0),
  log: () => {},
  now: () => now,
});

describe("retention", () => {
  it("deletes blobs not served for RETENTION_DAYS and keeps the recently served ones", async () => {
    const now = Date.now() + 40 * DAY; // every blob was stored 40 days before "now"
    const recent = await storeBlob(1, 1000);
    const stale = await storeBlob(2, 2000);
    const never = await storeBlob(3, 3000);
    await markServed(day(now - 2 * DAY), recent);
    await markServed(day(now - 35 * DAY), stale);
    const report = await runRetention(deps(now), { days: 30, maxBytes: null });
    expect(report).toMatchObject({
      examined: 3,
      deleted: 2,
      deletedBytes: 5000,
      keptBytes: 1000,
      complete: true,
    });
    expect(await exists(recent)).toBe(true);
    expect(await exists(stale)).toBe(false);
    expect(await exists(never)).toBe(false);
    expect(await listedDays()).toEqual([{ digest: recent, day: day(now - 2 * DAY) }]);
  });

  it("keeps blobs stored recently even if never served", async () => {
    const fresh = await storeBlob(4, 100);
    const report = await runRetention(deps(Date.now()), { days: 30, maxBytes: null });
    expect(report.deleted).toBe(0);
    expect(await exists(fresh)).toBe(true);
  });

  it("with a size cap evicts the least recently served first", async () => {
    const now = Date.now() + DAY;
    const oldest = await storeBlob(5, 1000);
    const middle = await storeBlob(6, 1000);
    const newest = await storeBlob(7, 1000);
    await markServed(day(now - 5 * DAY), oldest);
    await markServed(day(now - 3 * DAY), middle);
    await markServed(day(now), newest);
    const report = await runRetention(deps(now), { days: 30, maxBytes: 2000 });
    expect(report.deleted).toBe(1);
    expect(await exists(oldest)).toBe(false);
    expect(await exists(middle)).toBe(true);
    expect(await exists(newest)).toBe(true);
  });
});

/** A colo cache that records the keys deleted (entries live a day). */
function recordingColo() {
  const deleted: string[] = [];
  const cache: ColoCache = {
    maxBytes: 512_000_000,
    ttlSeconds: 86_400,
    active: async () => true,
    match: async () => null,
    put: () => false,
    delete: async (key) => {
      deleted.push(key);
      return true;
    },
  };
  return { colo: { cache, origin: "https://mirror.example.com" }, deleted };
}

describe("retention and the colo cache", () => {
  it("removes this data centre's entry of a blob the size cap evicts while it may still be cached", async () => {
    const now = Date.now() + 5 * DAY; // both stored five days before "now"
    const older = await storeBlob(40, 1000);
    const today = await storeBlob(41, 1000);
    await markServed(day(now - 5 * DAY), older);
    await markServed(day(now), today);
    const { colo, deleted } = recordingColo();
    // A cap that keeps neither: the blob served today may have an entry, the other's has expired.
    const report = await runRetention({ ...deps(now), colo }, { days: 30, maxBytes: 500 });
    expect(report.deleted).toBe(2);
    expect(deleted).toEqual([`https://mirror.example.com/_colo/v1/blob/${today}`]);
  });

  it("spends no call on blobs deleted by age: their entries expired long before", async () => {
    const now = Date.now() + 40 * DAY;
    await storeBlob(42, 1000);
    const { colo, deleted } = recordingColo();
    const report = await runRetention({ ...deps(now), colo }, { days: 30, maxBytes: null });
    expect(report.deleted).toBe(1);
    expect(deleted).toEqual([]);
  });

  it("names a restricted blob's entry by its restricted key", async () => {
    const now = Date.now() + DAY;
    const bytes = pseudoRandomBytes(1000, 43);
    const digest = await sha256(bytes);
    await env.BLOBS.put(`blobs/sha256/${digest.slice(7)}`, bytes, { customMetadata: { restricted: "1" } });
    await markServed(day(now), digest);
    const { colo, deleted } = recordingColo();
    await runRetention({ ...deps(now), colo }, { days: 30, maxBytes: 1 });
    expect(deleted).toEqual([`https://mirror.example.com/_colo/v1/restricted-blob/${digest}`]);
  });
});

describe("retention at scale", () => {
  it("never deletes a blob whose served day lies beyond the first pages of served-day rows", async () => {
    const now = Date.now() + 40 * DAY; // stored 40 days before "now"
    const blob = await storeBlob(8, 500);
    // A thousand rows that sort before the blob's digest, then the blob's own row: served yesterday.
    const others = Array.from({ length: 1000 }, (_, i) => `sha256:000000${String(i).padStart(58, "0")}`);
    await markServed(day(now - 40 * DAY), ...others);
    await markServed(day(now - DAY), blob);
    const report = await runRetention(deps(now), { days: 30, maxBytes: null, maxPages: 1 });
    expect(report.deleted).toBe(0);
    expect(await exists(blob)).toBe(true);
  });

  it("stays within its operation budget per run and goes on where it stopped in the next", async () => {
    const now = Date.now() + 40 * DAY;
    const stale = [];
    for (let seed = 20; seed < 25; seed++) stale.push(await storeBlob(seed, 100));
    const kept = await storeBlob(25, 100);
    await markServed(day(now - DAY), kept);
    counts = countStorage();
    // A stub made while counting, so its calls are counted.
    const namespace = env.STATS as DurableObjectNamespace<MirrorStats>;
    const counted = {
      ...deps(now),
      served: new StatsServedDays(namespace.get(namespace.idFromName(`retention-${test}`))),
    };
    const options = { days: 30, maxBytes: null, pageSize: 2, maxOperations: 7 };
    const reports = [];
    for (let run = 0; run < 5; run++) {
      counts.reset();
      const report = await runRetention(counted, options);
      reports.push(report);
      expect(counts.log.length, counts.log.join(", ")).toBeLessThanOrEqual(options.maxOperations);
      if (report.complete) break;
    }
    expect(reports[0]).toMatchObject({ examined: 2, complete: false });
    expect(reports.at(-1)?.complete).toBe(true);
    expect(reports.reduce((total, report) => total + report.deleted, 0)).toBe(stale.length);
    for (const digest of stale) expect(await exists(digest)).toBe(false);
    expect(await exists(kept)).toBe(true);
  });

  it("with a size cap evicts only after a run that examined the whole store", async () => {
    const now = Date.now() + DAY;
    const blobs = [await storeBlob(30, 1000), await storeBlob(31, 1000), await storeBlob(32, 1000)];
    const options = { days: 30, maxBytes: 1000, pageSize: 1, maxPages: 2 };
    const first = await runRetention(deps(now), options);
    expect(first).toMatchObject({ deleted: 0, complete: false });
    // The next run starts where the first stopped: still not the whole store, so still no eviction.
    const second = await runRetention(deps(now), options);
    expect(second).toMatchObject({ deleted: 0, complete: false });
    const whole = await runRetention(deps(now), { ...options, maxPages: 10 });
    expect(whole).toMatchObject({ deleted: 2, keptBytes: 1000, complete: true });
    expect((await Promise.all(blobs.map(exists))).filter(Boolean)).toHaveLength(1);
  });
});

describe("served days in the stats object", () => {
  it("keep each blob's latest day: a late report of an earlier day does not move it back", async () => {
    await markServed("2026-11-20", "sha256:aa");
    await markServed("2026-11-18", "sha256:aa");
    await markServed("2026-11-21", "sha256:bb");
    await markServed("2026-11-22", "sha256:bb");
    expect(await listedDays()).toEqual([
      { digest: "sha256:aa", day: "2026-11-20" },
      { digest: "sha256:bb", day: "2026-11-22" },
    ]);
  });

  it("are listed page by page, with a cursor until the last page", async () => {
    const digests = Array.from({ length: 1001 }, (_, i) => `sha256:${String(i).padStart(4, "0")}`);
    await markServed("2026-11-20", ...digests);
    const first = await served.list();
    expect(first.entries).toHaveLength(1000);
    expect(first.cursor).toBe("sha256:0999");
    const second = await served.list(first.cursor);
    expect(second).toEqual({ entries: [{ digest: "sha256:1000", day: "2026-11-20" }] });
  });
});
