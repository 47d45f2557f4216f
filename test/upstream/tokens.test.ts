import { describe, expect, it } from "vitest";
import { TokenCache, type TokenKey, type TokenStore } from "../../src/upstream/tokens";

const key: TokenKey = {
  upstream: "https://registry.test",
  realm: "https://auth.registry.test/token",
  service: "registry.test",
  scope: "repository:team/app:pull",
  username: "robot-user",
};

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(seconds: number) {
      now += seconds * 1000;
    },
  };
}

/** A shared store in memory that records what the cache asks of it. */
class RecordingStore implements TokenStore {
  readonly entries = new Map<string, string>();
  readonly puts: Array<{ key: string; token: string; ttlSeconds: number }> = [];
  readonly gets: string[] = [];

  async get(id: string): Promise<string | null> {
    this.gets.push(id);
    return this.entries.get(id) ?? null;
  }

  async put(id: string, token: string, ttlSeconds: number): Promise<void> {
    this.puts.push({ key: id, token, ttlSeconds });
    this.entries.set(id, token);
  }
}

describe("TokenCache keeps tokens in memory until shortly before they expire", () => {
  it("returns a token that was put", async () => {
    const cache = new TokenCache(undefined, clock().now);
    await cache.put(key, "tok", 300);
    expect(await cache.get(key)).toBe("tok");
  });

  it("misses for a key never put", async () => {
    expect(await new TokenCache().get(key)).toBeNull();
  });

  it("drops a 300 s token 10 s before it expires", async () => {
    const time = clock();
    const cache = new TokenCache(undefined, time.now);
    await cache.put(key, "tok", 300);
    time.advance(289);
    expect(await cache.get(key)).toBe("tok");
    time.advance(1);
    expect(await cache.get(key)).toBeNull();
  });

  it("keeps a short-lived token for 90% of its life", async () => {
    const time = clock();
    const cache = new TokenCache(undefined, time.now);
    await cache.put(key, "tok", 20);
    time.advance(17.9);
    expect(await cache.get(key)).toBe("tok");
    time.advance(0.1);
    expect(await cache.get(key)).toBeNull();
  });

  it("does not keep a token that has no life left", async () => {
    const cache = new TokenCache(undefined, clock().now);
    await cache.put(key, "tok", 0);
    expect(await cache.get(key)).toBeNull();
  });

  it("replaces a token put again under the same key", async () => {
    const cache = new TokenCache(undefined, clock().now);
    await cache.put(key, "old", 300);
    await cache.put(key, "new", 300);
    expect(await cache.get(key)).toBe("new");
  });

  it("forgets a deleted token", async () => {
    const cache = new TokenCache(undefined, clock().now);
    await cache.put(key, "tok", 300);
    await cache.delete(key);
    expect(await cache.get(key)).toBeNull();
  });

  it.each<[keyof TokenKey, string]>([
    ["upstream", "https://other.test"],
    ["realm", "https://auth.other.test/token"],
    ["service", "other.test"],
    ["scope", "repository:team/other:pull"],
    ["username", ""],
  ])("keeps tokens apart that differ only in %s", async (field, value) => {
    const cache = new TokenCache(undefined, clock().now);
    const other: TokenKey = { ...key, [field]: value };
    await cache.put(key, "mine", 300);
    expect(await cache.get(other)).toBeNull();
    await cache.put(other, "theirs", 300);
    expect(await cache.get(key)).toBe("mine");
    expect(await cache.get(other)).toBe("theirs");
  });
});

describe("TokenCache shares long-lived tokens through a shared store", () => {
  it("writes a token whose remaining life is at least 60 s, with that life as its TTL", async () => {
    const store = new RecordingStore();
    await new TokenCache(store, clock().now).put(key, "tok", 300);
    expect(store.puts).toEqual([{ key: expect.any(String), token: "tok", ttlSeconds: 290 }]);
  });

  it("keeps a token with less than 60 s of life to memory: the shared store cannot hold it that briefly", async () => {
    const store = new RecordingStore();
    const cache = new TokenCache(store, clock().now);
    await cache.put(key, "tok", 60); // 54 s after the margin
    expect(store.puts).toEqual([]);
    expect(await cache.get(key)).toBe("tok");
  });

  it("draws the line at 60 s of life left after the margin", async () => {
    const store = new RecordingStore();
    const cache = new TokenCache(store, clock().now);
    await cache.put(key, "short", 66); // 59.4 s left: memory only
    await cache.put(key, "long", 70); // 63 s left: shared
    expect(store.puts).toEqual([{ key: expect.any(String), token: "long", ttlSeconds: 63 }]);
  });

  it("gives a whole number of seconds as TTL", async () => {
    const store = new RecordingStore();
    await new TokenCache(store, clock().now).put(key, "tok", 100.7);
    expect(store.puts[0]?.ttlSeconds).toBe(90);
  });

  it("finds a token another isolate put, on a memory miss", async () => {
    const store = new RecordingStore();
    await new TokenCache(store, clock().now).put(key, "shared-tok", 300);
    const otherIsolate = new TokenCache(store, clock().now);
    expect(await otherIsolate.get(key)).toBe("shared-tok");
    expect(store.gets).toHaveLength(1);
  });

  it("does not ask the shared store when memory has the token", async () => {
    const store = new RecordingStore();
    const cache = new TokenCache(store, clock().now);
    await cache.put(key, "tok", 300);
    await cache.get(key);
    expect(store.gets).toEqual([]);
  });

  it("asks the shared store once the memory entry has expired", async () => {
    const store = new RecordingStore();
    const time = clock();
    const cache = new TokenCache(store, time.now);
    await cache.put(key, "tok", 300);
    time.advance(295);
    store.entries.set(store.puts[0]?.key ?? "", "refreshed-elsewhere");
    expect(await cache.get(key)).toBe("refreshed-elsewhere");
    expect(store.gets).toHaveLength(1);
  });

  it("stores under opaque hex keys that contain no username, scope or upstream", async () => {
    const store = new RecordingStore();
    const cache = new TokenCache(store, clock().now);
    await cache.put(key, "tok", 300);
    await cache.put({ ...key, username: "" }, "anon", 300);
    const ids = store.puts.map((put) => put.key);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      for (const part of ["robot", "team", "app", "registry", "pull"]) expect(id).not.toContain(part);
    }
  });

  it("uses the same key for the same parts in every isolate", async () => {
    const first = new RecordingStore();
    const second = new RecordingStore();
    await new TokenCache(first, clock().now).put(key, "a", 300);
    await new TokenCache(second, clock().now).put({ ...key }, "b", 300);
    expect(first.puts[0]?.key).toBe(second.puts[0]?.key);
  });
});

describe("TokenCache never makes a request wait for the shared store", () => {
  it("returns before a slow shared write has finished, and hands the write to the background", async () => {
    let finish = () => {};
    const store = new RecordingStore();
    store.put = (id, token, ttlSeconds) => {
      store.puts.push({ key: id, token, ttlSeconds });
      return new Promise<void>((resolve) => {
        finish = resolve;
      });
    };
    const background: Array<Promise<void>> = [];
    const cache = new TokenCache(store, clock().now, (task) => background.push(task));
    await cache.put(key, "tok", 300); // would hang here if the write were awaited
    expect(await cache.get(key)).toBe("tok");
    expect(background).toHaveLength(1);
    finish();
    await background[0];
  });

  it("logs a failed shared write (KV's 429) and keeps the token in memory", async () => {
    const store = new RecordingStore();
    store.put = () => Promise.reject(new Error("KV PUT failed: 429 Too Many Requests"));
    const failures: unknown[] = [];
    const background: Array<Promise<void>> = [];
    const cache = new TokenCache(
      store,
      clock().now,
      (task) => background.push(task),
      (error) => failures.push(error),
    );
    await cache.put(key, "tok", 300);
    await Promise.all(background); // the background task itself never rejects
    expect(failures).toEqual([new Error("KV PUT failed: 429 Too Many Requests")]);
    expect(await cache.get(key)).toBe("tok");
  });
});

describe("TokenCache remembers how each upstream challenged", () => {
  it("knows nothing about an upstream it has not seen", () => {
    expect(new TokenCache().knownChallenge("https://registry.test")).toBeUndefined();
  });

  it("remembers a Bearer challenge's realm and service per upstream", () => {
    const cache = new TokenCache();
    const bearer = { scheme: "bearer", realm: "https://auth.test/token", service: "svc" } as const;
    cache.rememberChallenge("https://a.test", bearer);
    cache.rememberChallenge("https://b.test", { scheme: "basic" });
    expect(cache.knownChallenge("https://a.test")).toEqual(bearer);
    expect(cache.knownChallenge("https://b.test")).toEqual({ scheme: "basic" });
    expect(cache.knownChallenge("https://c.test")).toBeUndefined();
  });

  it("replaces what it knew when the upstream challenges differently", () => {
    const cache = new TokenCache();
    cache.rememberChallenge("https://a.test", { scheme: "basic" });
    cache.rememberChallenge("https://a.test", { scheme: "bearer", realm: "r", service: "s" });
    expect(cache.knownChallenge("https://a.test")).toEqual({ scheme: "bearer", realm: "r", service: "s" });
  });
});
