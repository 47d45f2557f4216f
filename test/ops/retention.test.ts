import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { runRetention } from "../../src/ops/retention";
import { StatsRecorder } from "../../src/ops/stats";
import type { ServedDays } from "../../src/storage/served-days";
import { pseudoRandomBytes, sha256 } from "../support/fake-registry";

const DAY = 24 * 3600 * 1000;

/** Served days as the retention job reads them, set by the test. */
class FakeServedDays implements ServedDays {
  readonly days = new Map<string, string>();
  readonly forgotten: string[] = [];
  async mark(): Promise<void> {}
  async list() {
    return { entries: [...this.days].map(([digest, day]) => ({ digest, day })) };
  }
  async forget(digests: readonly string[]): Promise<void> {
    this.forgotten.push(...digests);
  }
}

async function storeBlob(seed: number, size: number): Promise<string> {
  const bytes = pseudoRandomBytes(size, seed);
  const digest = await sha256(bytes);
  await env.BLOBS.put(`blobs/sha256/${digest.slice(7)}`, bytes);
  return digest;
}

const exists = async (digest: string) => (await env.BLOBS.head(`blobs/sha256/${digest.slice(7)}`)) !== null;
const day = (time: number) => new Date(time).toISOString().slice(0, 10);

let served: FakeServedDays;
beforeEach(async () => {
  const listed = await env.BLOBS.list({ prefix: "blobs/" });
  await env.BLOBS.delete(listed.objects.map((object) => object.key));
  served = new FakeServedDays();
});

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
    served.days.set(recent, day(now - 2 * DAY));
    served.days.set(stale, day(now - 35 * DAY));
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
    expect(served.forgotten.sort()).toEqual([stale, never].sort());
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
    served.days.set(oldest, day(now - 5 * DAY));
    served.days.set(middle, day(now - 3 * DAY));
    served.days.set(newest, day(now));
    const report = await runRetention(deps(now), { days: 30, maxBytes: 2000 });
    expect(report.deleted).toBe(1);
    expect(await exists(oldest)).toBe(false);
    expect(await exists(middle)).toBe(true);
    expect(await exists(newest)).toBe(true);
  });
});
