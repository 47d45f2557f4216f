import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { MirrorStats } from "../../src/platform/stats-object";
import { countStorage, type StorageCounts } from "../support/counting-env";
import { concatBytes, pseudoRandomBytes, pushImage, sha256, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, mirror, storedBlob } from "../support/mirror";
import { send } from "../support/pull";

/** What KV throws past one write per second per key, or past the plan's daily writes. */
const KV_429 = new Error("KV PUT failed: 429 Too Many Requests");

let upstreams: ReturnType<typeof fakeUpstreams>;
let counts: StorageCounts;
let image: TestImage;
let test = 0;
let name = "";
beforeEach(async () => {
  upstreams = fakeUpstreams();
  name = `faults/app${++test}`;
  image = await pushImage(upstreams.quay, name, "1.0", 900 + test);
  vi.spyOn(console, "log").mockImplementation(() => {});
  counts = countStorage();
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

const getTag = (base = `/v2/quay/${name}`) =>
  send(`${base}/manifests/1.0`, {}, { headers: { Accept: ACCEPT_ALL } });

async function expectIndex(pending: ReturnType<typeof getTag>, digest = image.indexDigest) {
  const { response, body } = await pending;
  expect(response.status).toBe(200);
  expect(response.headers.get("Docker-Content-Digest")).toBe(digest);
  expect(await sha256(body)).toBe(digest);
  return response;
}

describe("KV writes failing with 429", () => {
  beforeEach(() => counts.fail("kv.put", KV_429));

  it("do not fail a cold manifest pull, nor the next one", async () => {
    await expectIndex(getTag());
    await expectIndex(getTag());
    expect(counts.count("kv.put")).toBeGreaterThan(0); // the writes were tried, and failed
  });

  it("do not fail a revalidation that must write (a day later)", async () => {
    counts.heal();
    await expectIndex(getTag());
    counts.fail("kv.put", KV_429);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 25 * 3600_000);
    const response = await expectIndex(getTag());
    expect(response.headers.get("X-Mirror-Cache")).toBe("REVALIDATED");
  });

  it("do not fail a revalidation that finds the tag moved", async () => {
    counts.heal();
    await expectIndex(getTag());
    counts.fail("kv.put", KV_429);
    const moved = await pushImage(upstreams.quay, name, "1.0", 950 + test);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 301_000);
    await expectIndex(getTag(), moved.indexDigest);
  });

  it("do not fail a private pull: token and blob-link writes are dropped", async () => {
    const secret = await pushImage(upstreams.tokens, `private/${name}`, "1.0", 970 + test);
    const base = `/v2/private/private/${name}`;
    await expectIndex(getTag(base), secret.indexDigest);
    const manifest = await send(
      `${base}/manifests/${secret.manifestDigests[0]}`,
      {},
      {
        headers: { Accept: ACCEPT_ALL },
      },
    );
    expect(manifest.response.status).toBe(200);
    const layer = secret.layerDigests[0] ?? "";
    const blob = await send(`${base}/blobs/${layer}`);
    expect(blob.response.status).toBe(200);
    expect(await sha256(blob.body)).toBe(layer);
  });
});

describe("KV reads failing", () => {
  it("fall back to the upstream for a cached tag", async () => {
    await expectIndex(getTag());
    upstreams.quay.reset();
    for (const read of ["kv.get", "kv.getWithMetadata", "kv.list"] as const)
      counts.fail(read, new Error("KV GET failed: 503"));
    await expectIndex(getTag());
    expect(upstreams.quay.count("manifest", "GET")).toBe(1);
  });
});

describe("the stats object failing", () => {
  it("fails no pull, and the blobs served reach it with the next flush", async () => {
    const layer = image.layerDigests[0] ?? "";
    counts.fail("do.STATS.record", new Error("Durable Object reset because its code was updated"));
    const blob = await send(`/v2/quay/${name}/blobs/${layer}`);
    expect(blob.response.status).toBe(200);
    expect(await sha256(blob.body)).toBe(layer);
    await expectIndex(getTag());
    counts.heal();
    await expectIndex(getTag()); // flushes (every request in tests)
    const namespace = env.STATS as DurableObjectNamespace<MirrorStats>;
    const page = await namespace.get(namespace.idFromName("global")).servedPage(null, 1000);
    expect(page.entries.map((entry) => entry.digest)).toContain(layer);
  });
});

describe("the blob fill object failing (overloaded, reset)", () => {
  it("serves a cold blob, a HEAD and a range from the upstream instead, and logs it", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    counts.fail("do.BLOB_FILLS.open", new Error("Durable Object is overloaded. Too many requests queued."));
    const layer = image.layerDigests[0] ?? "";
    const size = image.layers[0]?.length ?? 0;
    const blob = await send(`/v2/quay/${name}/blobs/${layer}`);
    expect(blob.response.status).toBe(200);
    expect(blob.response.headers.get("Content-Length")).toBe(String(size));
    expect(await sha256(blob.body)).toBe(layer);
    const other = image.layerDigests[1] ?? "";
    const head = await send(`/v2/quay/${name}/blobs/${other}`, {}, { method: "HEAD" });
    expect(head.response.status).toBe(200);
    expect(head.response.headers.get("Content-Length")).toBe(String(image.layers[1]?.length));
    const range = await send(`/v2/quay/${name}/blobs/${other}`, {}, { headers: { Range: "bytes=0-9" } });
    expect(range.response.status).toBe(206);
    expect([...range.body]).toEqual([...(image.layers[1] ?? new Uint8Array()).slice(0, 10)]);
    expect(lines.some((line) => line.includes('"event":"blob.fill_unreachable"'))).toBe(true);
  });
});

describe("the fill object's storage failing (full, or failing)", () => {
  let sqlSpy: { mockRestore(): void } | null = null;
  /** The prototype every Durable Object's SQL storage shares (they run in this isolate). */
  let sqlPrototype: SqlStorage | null = null;
  beforeAll(async () => {
    const stub = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName("sql-prototype"));
    await runInDurableObject(stub, (_instance, state) => {
      sqlPrototype = Object.getPrototypeOf(state.storage.sql) as SqlStorage;
    });
  });

  /**
   * Makes every Durable Object's SQL storage refuse statements that start with `prefix`; what it
   * refused is counted (a spec whose statement no longer runs must fail, not pass without a refusal).
   */
  let refused = 0;
  async function refuseSql(prefix: string): Promise<void> {
    const prototype = sqlPrototype as SqlStorage;
    const exec = prototype.exec;
    refused = 0;
    sqlSpy = vi.spyOn(prototype, "exec").mockImplementation(function (this: SqlStorage, query, ...bindings) {
      if (query.startsWith(prefix)) {
        refused++;
        throw new Error("SQLITE_FULL: database or disk is full");
      }
      return exec.call(this, query, ...bindings);
    });
  }

  it("does not fail a cold blob whose spool rows are refused: the client gets it, and the put that streamed with it stores it", async () => {
    const big = pseudoRandomBytes(3 * 1024 * 1024 + 11, 77 + test);
    const digest = await sha256(big);
    upstreams.quay.addBlob(big, digest);
    await refuseSql('INSERT INTO "chunks_');
    const blob = await send(`/v2/quay/${name}/blobs/${digest}`);
    expect(blob.response.status).toBe(200);
    expect(await sha256(blob.body)).toBe(digest);
    expect(refused).toBeGreaterThan(0);
    expect(await env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest)).settled(10_000)).toBe(true);
    // The put kept up with the download from memory, and R2 checked the digest: stored, nothing pending.
    expect((await storedBlob(digest))?.size).toBe(big.length);
    const [algorithm, hex] = digest.split(":");
    const object = await env.BLOBS.get(`blobs/${algorithm}/${hex}`);
    expect(object && (await sha256(new Uint8Array(await object.arrayBuffer())))).toBe(digest);
    sqlSpy?.mockRestore();
    upstreams.quay.reset();
    const again = await send(`/v2/quay/${name}/blobs/${digest}`);
    expect(again.response.headers.get("X-Mirror-Cache")).toBe("HIT");
    expect(upstreams.quay.requests.filter((r) => r.kind === "blob")).toHaveLength(0);
  });

  it("sends a client that joins after the spool was refused to the upstream: it cannot be read from the start", async () => {
    const big = pseudoRandomBytes(3 * 1024 * 1024 + 13, 66 + test);
    const digest = await sha256(big);
    upstreams.quay.addBlob(big, digest);
    upstreams.quay.blobPauseMs = 300;
    await refuseSql('INSERT INTO "chunks_');
    const first = await mirror(`/v2/quay/${name}/blobs/${digest}`);
    const reader = first.body?.getReader();
    if (!reader) throw new Error("no body");
    const chunks: Uint8Array[] = [];
    const head = await reader.read();
    if (head.value) chunks.push(head.value);
    const second = await send(`/v2/quay/${name}/blobs/${digest}`);
    expect(second.response.status).toBe(200);
    expect(await sha256(second.body)).toBe(digest);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    expect(await sha256(concatBytes(chunks))).toBe(digest);
    const gets = upstreams.quay.requests.filter((r) => r.kind === "blob" && r.method === "GET");
    expect(gets).toHaveLength(2);
    expect(refused).toBeGreaterThan(0);
  });

  it("does not fail a cold blob when even an empty spool is refused: it is stored as it streams", async () => {
    const big = pseudoRandomBytes(2 * 1024 * 1024 + 5, 88 + test);
    const digest = await sha256(big);
    upstreams.quay.addBlob(big, digest);
    // Making a spool starts by looking for the tables earlier ones left.
    await refuseSql("SELECT name FROM sqlite_master");
    const blob = await send(`/v2/quay/${name}/blobs/${digest}`);
    expect(blob.response.status).toBe(200);
    expect(await sha256(blob.body)).toBe(digest);
    expect(refused).toBeGreaterThan(0);
    expect((await storedBlob(digest))?.size).toBe(big.length);
  });
});
