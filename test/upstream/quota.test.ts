import { describe, expect, it } from "vitest";
import { type AccountQuota, QuotaBook } from "../../src/upstream/quota";
import { parseQuotaHeader, readQuota, retryAfterSeconds } from "../../src/upstream/quota-headers";
import {
  QUOTA_IDLE_SYNC_MS,
  QUOTA_SYNC_MS,
  QUOTA_SYNC_WAIT_MS,
  SharedQuotaPool,
} from "../../src/upstream/quota-pool";

const reading = (remaining: number, limit = 100, window = 21600) => ({ limit, remaining, window });
const answer = (remaining: number, limit = 100) => ({
  status: 200,
  reading: reading(remaining, limit),
  retryAfter: null,
});

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("Docker Hub's ratelimit headers", () => {
  it("read as count and window", () => {
    expect(parseQuotaHeader("100;w=21600")).toEqual({ count: 100, window: 21600 });
    expect(parseQuotaHeader("76")).toEqual({ count: 76, window: 0 });
    expect(parseQuotaHeader("junk")).toBeNull();
    expect(parseQuotaHeader(null)).toBeNull();
    const headers = new Headers({ "ratelimit-limit": "200;w=21600", "ratelimit-remaining": "3;w=21600" });
    expect(readQuota(headers)).toEqual({ limit: 200, remaining: 3, window: 21600 });
    expect(readQuota(new Headers({ "ratelimit-limit": "200;w=21600" }))).toBeNull();
  });

  it("Retry-After in seconds or as a date", () => {
    expect(retryAfterSeconds("30", 0)).toBe(30);
    expect(retryAfterSeconds(new Date(90_000).toUTCString(), 0)).toBe(90);
    expect(retryAfterSeconds("soon", 0)).toBeNull();
  });
});

describe("choosing an account", () => {
  it("takes turns among accounts never read, then goes by the most quota left", () => {
    const book = new QuotaBook(["a", "b"]);
    const first = book.choose(true);
    const second = book.choose(true);
    expect(new Set([first, second])).toEqual(new Set(["a", "b"]));
    book.observe("a", answer(50));
    book.settle("a");
    book.observe("b", answer(10));
    book.settle("b");
    expect(book.choose(true)).toBe("a");
  });

  it("spreads counted requests in flight before their answers arrive", () => {
    const book = new QuotaBook(["a", "b"]);
    book.observe("a", answer(11));
    book.observe("b", answer(10));
    const chosen = [book.choose(true), book.choose(true), book.choose(true), book.choose(true)];
    expect(chosen.filter((name) => name === "a")).toHaveLength(2);
    expect(chosen.filter((name) => name === "b")).toHaveLength(2);
  });

  it("leaves an account that answered 429 alone until its Retry-After (or window) is up", () => {
    const time = clock();
    const book = new QuotaBook(["a", "b"], time.now);
    const change = book.observe("a", { status: 429, reading: reading(0), retryAfter: 60 });
    expect(change?.becameExhausted).toBe(true);
    expect(change?.allExhausted).toBe(false);
    expect(book.choose(true)).toBe("b");
    book.settle("b");
    expect(book.choose(true, new Set(["b"]))).toBeNull();
    time.advance(61_000);
    expect(book.choose(true, new Set(["b"]))).toBe("a");
  });

  it("treats a reading of 0 left as exhausted for the window", () => {
    const time = clock();
    const book = new QuotaBook(["a"], time.now);
    expect(book.observe("a", answer(0))?.allExhausted).toBe(true);
    expect(book.choose(true)).toBeNull();
    expect(book.availableAt()).toBe(time.now() + 21600 * 1000);
    // Uncounted requests (HEAD, blobs) still go out: they spend nothing.
    expect(book.choose(false)).toBe("a");
  });

  it("takes a bare 429 as the address refused (an abuse limit), not the account's quota", () => {
    const time = clock();
    const book = new QuotaBook(["a"], time.now);
    expect(book.observe("a", { status: 429, reading: null, retryAfter: 60 })).toBeNull();
    expect(book.choose(true)).toBe("a");
    expect(book.refusedUntil()).toBe(time.now() + 60_000);
    time.advance(60_000);
    expect(book.refusedUntil()).toBe(0);
  });

  it("leaves a refusing upstream alone a minute without Retry-After, an hour at most with one", () => {
    const time = clock();
    const book = new QuotaBook(["a"], time.now);
    book.observe("a", { status: 429, reading: null, retryAfter: null });
    expect(book.refusedUntil()).toBe(time.now() + 60_000);
    book.observe("a", { status: 429, reading: null, retryAfter: 10 * 24 * 3600 });
    expect(book.refusedUntil()).toBe(time.now() + 3600_000);
  });

  it("backs off a minute when an exhausting answer names neither window nor Retry-After", () => {
    const time = clock();
    const book = new QuotaBook(["a"], time.now);
    book.observe("a", { status: 429, reading: { limit: 100, remaining: 0, window: 0 }, retryAfter: null });
    expect(book.availableAt()).toBe(time.now() + 60_000);
  });
});

describe("the reserve", () => {
  it("is reached when every account is below it, or exhausted", () => {
    const book = new QuotaBook(["a", "b"]);
    expect(book.belowReserve(10)).toBe(false); // nothing read
    book.observe("a", answer(5));
    expect(book.belowReserve(10)).toBe(false); // b unknown
    book.observe("b", answer(20));
    expect(book.belowReserve(10)).toBe(false);
    book.observe("b", answer(9));
    expect(book.belowReserve(10)).toBe(true);
    expect(book.belowReserve(0)).toBe(false);
    book.observe("a", { status: 429, reading: reading(0), retryAfter: 60 });
    book.observe("b", answer(0));
    expect(book.belowReserve(0)).toBe(true);
  });

  it("says once when an account falls below 10 %", () => {
    const book = new QuotaBook(["a"]);
    expect(book.observe("a", answer(11))?.becameLow).toBe(false);
    expect(book.observe("a", answer(9))?.becameLow).toBe(true);
    expect(book.observe("a", answer(8))?.becameLow).toBe(false);
  });
});

describe("sharing readings between isolates", () => {
  it("takes the newer reading and the later exhaustion", () => {
    const time = clock();
    const book = new QuotaBook(["a", "b"], time.now);
    book.observe("a", answer(50));
    book.merge([
      { account: "a", limit: 100, remaining: 70, window: 21600, seenAt: 1, exhaustedUntil: 0 },
      {
        account: "b",
        limit: 100,
        remaining: 0,
        window: 21600,
        seenAt: time.now(),
        exhaustedUntil: time.now() + 5000,
      },
      { account: "stranger", limit: 1, remaining: 1, window: 1, seenAt: time.now(), exhaustedUntil: 0 },
    ]);
    expect(book.states()).toEqual([
      expect.objectContaining({ account: "a", remaining: 50 }),
      expect.objectContaining({ account: "b", remaining: 0, exhaustedUntil: time.now() + 5000 }),
    ]);
    expect(book.choose(true)).toBe("a");
  });

  /** A pool of one account whose shared store holds `shared` and counts its loads. */
  function countingPool(shared: (now: number) => AccountQuota[]) {
    const time = clock();
    const counts = { loads: 0 };
    const pool = new SharedQuotaPool(
      ["a"],
      async () => {
        counts.loads++;
        return shared(time.now());
      },
      time.now,
    );
    return { pool, time, counts };
  }

  it("asks the shared store at most every QUOTA_SYNC_MS, one load at a time", async () => {
    const { pool, time, counts } = countingPool((now) => [
      { account: "a", limit: 100, remaining: 60, window: 21600, seenAt: now, exhaustedUntil: 0 },
    ]);
    await Promise.all([pool.sync(), pool.sync()]);
    await pool.sync();
    expect(counts.loads).toBe(1);
    time.advance(QUOTA_SYNC_MS);
    await pool.sync();
    expect(counts.loads).toBe(2);
  });

  it("asks seldom while nobody has read any quota of the upstream (registries without one)", async () => {
    const { pool, time, counts } = countingPool(() => []);
    const loads = () => counts.loads;
    await pool.sync();
    time.advance(QUOTA_SYNC_MS);
    await pool.sync();
    expect(loads()).toBe(1);
    time.advance(QUOTA_IDLE_SYNC_MS);
    await pool.sync();
    expect(loads()).toBe(2);
    // Once this isolate has a reading, the others' matter again.
    pool.book.observe("a", answer(50));
    time.advance(QUOTA_SYNC_MS);
    await pool.sync();
    expect(loads()).toBe(3);
  });

  it("does not keep a request waiting on a slow store longer than QUOTA_SYNC_WAIT_MS", async () => {
    let release = () => {};
    const pool = new SharedQuotaPool(["a"], () => new Promise((resolve) => (release = () => resolve([]))));
    const started = Date.now();
    await pool.sync();
    expect(Date.now() - started).toBeGreaterThanOrEqual(QUOTA_SYNC_WAIT_MS - 50);
    release();
  });

  it("goes on with its own readings when the store fails", async () => {
    const pool = new SharedQuotaPool(["a"], async () => {
      throw new Error("unreachable");
    });
    await expect(pool.sync()).resolves.toBeUndefined();
  });
});
