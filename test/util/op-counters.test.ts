import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { countCache, countRowsWritten, opCounts, withOpCounters } from "../../src/util/op-counters";

const on = () => withOpCounters({ ...env, OP_COUNTERS: "on" });
let n = 0;
beforeEach(() => {
  n++;
  opCounts(true);
});

describe("withOpCounters", () => {
  it("leaves env alone when OP_COUNTERS is not on", () => {
    const plain = { ...env, OP_COUNTERS: "off" };
    expect(withOpCounters(plain)).toBe(plain);
  });

  it("wraps an env once", () => {
    const vars = { ...env, OP_COUNTERS: "on" };
    expect(withOpCounters(vars)).toBe(withOpCounters(vars));
  });

  it("wraps each binding once, so caches keyed by a binding keep working", () => {
    expect(on().MANIFESTS).toBe(on().MANIFESTS);
    expect(on().BLOBS).toBe(on().BLOBS);
    expect(on().MANIFESTS).not.toBe(env.MANIFESTS);
  });

  it("counts R2 class A and B operations and passes results through", async () => {
    const bucket = on().BLOBS;
    const key = `ops-test/${n}`;
    await bucket.put(key, "hello");
    const head = await bucket.head(key);
    const got = await bucket.get(key);
    const listed = await bucket.list({ prefix: "ops-test/" });
    expect(head?.size).toBe(5);
    expect(await got?.text()).toBe("hello");
    expect(listed.objects.map((o) => o.key)).toContain(key);
    expect(await bucket.get(`${key}-missing`)).toBeNull();

    const upload = await bucket.createMultipartUpload(`${key}-mp`);
    const part = await upload.uploadPart(1, "multi");
    await upload.complete([part]);
    expect(await (await env.BLOBS.get(`${key}-mp`))?.text()).toBe("multi");
    const aborted = await bucket.createMultipartUpload(`${key}-aborted`);
    await aborted.abort();
    await bucket.delete([key, `${key}-mp`]);
    expect(await env.BLOBS.head(key)).toBeNull();

    const c = opCounts();
    // put, list, create ×2, uploadPart, complete, abort, delete
    expect(c.r2ClassA).toBe(8);
    // head, get ×2
    expect(c.r2ClassB).toBe(3);
    expect(c.byOp).toMatchObject({ "r2.put": 1, "r2.uploadPart": 1, "r2.complete": 1, "r2.get": 2 });
    expect(c.kvReads + c.kvWrites + c.doRequests).toBe(0);
  });

  it("counts KV reads and writes and passes results through", async () => {
    const kv = on().MANIFESTS;
    const key = `tag/ops-test-${n}`;
    await kv.put(key, "value", { metadata: { m: 1 } });
    expect(await kv.get(key)).toBe("value");
    expect((await kv.getWithMetadata(key)).metadata).toEqual({ m: 1 });
    expect((await kv.list({ prefix: key })).keys.map((k) => k.name)).toEqual([key]);
    await kv.delete(key);
    expect(await env.MANIFESTS.get(key)).toBeNull();
    const c = opCounts();
    expect(c.kvReads).toBe(3);
    expect(c.kvWrites).toBe(2);
    expect(c.byOp).toMatchObject({ "kv.put tag": 1, "kv.get tag": 1, "kv.list tag": 1, "kv.delete tag": 1 });
    expect(c.r2ClassA + c.r2ClassB).toBe(0);
  });

  it("counts Durable Object requests (RPC and fetch) and rows written", async () => {
    const stats = on().STATS;
    if (!stats) throw new Error("no STATS binding");
    const id = stats.idFromName("global");
    const counted = await stats.get(id).snapshot(5);
    const plain = await env.STATS?.get(env.STATS.idFromName("global")).snapshot(5);
    expect(counted).toEqual(plain);
    const fills = on().BLOB_FILLS;
    expect(await fills.get(fills.idFromName("not-a-digest")).settled(0)).toBe(true);
    countRowsWritten(3);
    const c = opCounts(true);
    expect(c.doRequests).toBe(2);
    expect(c.byOp).toMatchObject({ "do.STATS.snapshot": 1, "do.BLOB_FILLS.settled": 1 });
    expect(c.doRowsWritten).toBe(3);
    expect(opCounts().doRequests).toBe(0);
  });
});

describe("countCache", () => {
  it("counts Cache API reads (hits among them), puts and deletes, and passes results through", async () => {
    on();
    const cache = countCache(caches.default);
    const key = `https://mirror.test/_colo/ops-test/${n}`;
    expect(await cache.match(key)).toBeUndefined();
    await cache.put(key, new Response("cached", { headers: { "Cache-Control": "public, max-age=60" } }));
    expect(await (await cache.match(key))?.text()).toBe("cached");
    expect(await cache.delete(key)).toBe(true);
    const c = opCounts();
    expect(c).toMatchObject({ cacheReads: 2, cacheHits: 1, cachePuts: 1, cacheDeletes: 1 });
    expect(c.byOp).toMatchObject({
      "cache.match hit": 1,
      "cache.match miss": 1,
      "cache.put": 1,
      "cache.delete": 1,
    });
  });
});

describe("GET /_/ops", () => {
  const ADMIN = "admin-token-for-tests";
  const get = async (path: string, vars: Record<string, string>, token = ADMIN) => {
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request(`http://mirror.test${path}`, { headers: { Authorization: `Bearer ${token}` } }) as Request<
        unknown,
        IncomingRequestCfProperties
      >,
      { ...env, ADMIN_TOKEN: ADMIN, ...vars },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return response;
  };

  it("answers the counts to the admin, and resets them on request", async () => {
    await on().MANIFESTS.get("ops-endpoint");
    expect((await get("/_/ops", { OP_COUNTERS: "on" }, "wrong")).status).toBe(401);
    const first = await get("/_/ops?reset=1", { OP_COUNTERS: "on" });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({
      kvReads: 1,
      kvWrites: 0,
      // The bytes this isolate's blob fills hold in memory, their peak, and the budget (FILL_MEMORY_BYTES).
      fillMemory: { held: expect.any(Number), peak: expect.any(Number), budget: 48 * 1024 * 1024 },
    });
    const second = await get("/_/ops", { OP_COUNTERS: "on" });
    expect(await second.json()).toMatchObject({ kvReads: 0 });
  });

  it("is not there when OP_COUNTERS is off", async () => {
    expect((await get("/_/ops", { OP_COUNTERS: "off" })).status).not.toBe(200);
  });

  it("counts invocations and their subrequests per kind: a Worker request apart from the objects it calls", async () => {
    const vars = {
      OP_COUNTERS: "on",
      UPSTREAMS: JSON.stringify({ quay: { url: "https://quay.invalid" } }),
      DEFAULT_UPSTREAM: "",
    };
    opCounts(true);
    // An unknown blob of an upstream that cannot be reached: the request reads R2, calls the fill object
    // (which asks the upstream) and answers an error.
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request(`http://mirror.test/v2/quay/org/app/blobs/sha256:${"a".repeat(64)}`) as Request<
        unknown,
        IncomingRequestCfProperties
      >,
      { ...env, ...vars },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(502);
    const { invocations, byOp } = opCounts();
    expect(invocations.request.count).toBe(1);
    expect(byOp["do.BLOB_FILLS.open"]).toBe(1);
    // The request's own subrequests include its R2 read and its call to the object; the object's are its own.
    expect(invocations.request.subrequests).toBeGreaterThanOrEqual(2);
    expect(invocations.alarm).toEqual({ count: 0, subrequests: 0 });
  });
});
