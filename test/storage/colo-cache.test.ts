import { describe, expect, it } from "vitest";
import { WorkersColoCache } from "../../src/storage/colo-cache";

let n = 0;

/** A colo cache on `caches.default` whose background puts are collected, to be awaited. */
function coloCache(cache: Cache = caches.default, maxBytes = 1_000) {
  const pending: Promise<unknown>[] = [];
  const origin = `https://colo-${++n}.test`;
  const colo = new WorkersColoCache(cache, {
    maxBytes,
    ttlSeconds: 60,
    requestOrigin: origin,
    keyOrigin: origin,
    waitUntil: (promise) => pending.push(promise),
  });
  return { colo, origin, settled: () => Promise.all(pending) };
}

/** A Cache API that keeps nothing, as on `*.workers.dev`: puts vanish, every match misses. */
function forgetfulCache(): Cache & { puts: number; matches: number } {
  const calls = { puts: 0, matches: 0 };
  return Object.assign(calls, {
    put: async () => {
      calls.puts++;
    },
    match: async () => {
      calls.matches++;
      return undefined;
    },
    delete: async () => false,
  }) as unknown as Cache & { puts: number; matches: number };
}

describe("WorkersColoCache", () => {
  it("puts a whole object streamed from `open` and answers it, and ranges of it", async () => {
    const { colo, origin, settled } = coloCache();
    const key = `${origin}/_colo/v1/blob/a`;
    const bytes = new Uint8Array(500).map((_, i) => i % 251);
    expect(colo.put(key, 500, {}, async () => new Response(bytes).body)).toBe(true);
    await settled();
    const whole = await colo.match(key);
    expect(whole?.headers.get("Cache-Control")).toBe("public, max-age=60");
    expect(new Uint8Array((await whole?.arrayBuffer()) ?? new ArrayBuffer(0))).toEqual(bytes);
    const part = await colo.match(key, "bytes=10-19");
    expect(part?.status).toBe(206);
    expect(new Uint8Array((await part?.arrayBuffer()) ?? new ArrayBuffer(0))).toEqual(bytes.slice(10, 20));
  });

  it("leaves no entry when the body breaks off before its length", async () => {
    const { colo, origin, settled } = coloCache();
    const key = `${origin}/_colo/v1/blob/b`;
    let chunks = 0;
    const breaking = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (chunks++ < 2) controller.enqueue(new Uint8Array(100));
        else controller.error(new Error("R2 read broke off"));
      },
    });
    colo.put(key, 500, {}, async () => breaking);
    await settled();
    expect(await colo.match(key)).toBeNull();
  });

  it("puts nothing over its size limit, and a key once while its put runs", async () => {
    const { colo, origin, settled } = coloCache();
    let opened = 0;
    const open = async () => {
      opened++;
      return new Response(new Uint8Array(10)).body;
    };
    expect(colo.put(`${origin}/big`, 1_001, {}, open)).toBe(false);
    expect(colo.put(`${origin}/small`, 10, {}, open)).toBe(true);
    expect(colo.put(`${origin}/small`, 10, {}, open)).toBe(false);
    await settled();
    expect(opened).toBe(1);
  });

  it("where the cache keeps nothing (workers.dev), finds out once and then neither reads nor opens a body", async () => {
    const cache = forgetfulCache();
    const { colo, origin, settled } = coloCache(cache);
    expect(await colo.active()).toBe(false);
    expect({ puts: cache.puts, matches: cache.matches }).toEqual({ puts: 1, matches: 1 }); // the probe
    let opened = 0;
    colo.put(`${origin}/x`, 10, {}, async () => {
      opened++;
      return null;
    });
    await settled();
    expect(await colo.match(`${origin}/x`)).toBeNull();
    expect(opened).toBe(0);
    expect({ puts: cache.puts, matches: cache.matches }).toEqual({ puts: 1, matches: 1 });
  });

  it("takes an error of the cache for a miss and a dropped put", async () => {
    const failing = {
      put: async () => {
        throw new Error("put failed");
      },
      match: async () => {
        throw new Error("match failed");
      },
      delete: async () => {
        throw new Error("delete failed");
      },
    } as unknown as Cache;
    const { colo, origin, settled } = coloCache(failing);
    expect(await colo.match(`${origin}/y`)).toBeNull();
    colo.put(`${origin}/y`, 1, {}, async () => "y");
    await expect(settled()).resolves.toBeDefined();
    expect(await colo.delete(`${origin}/y`)).toBe(false);
  });
});
