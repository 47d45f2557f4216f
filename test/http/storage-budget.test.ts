import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { countStorage, type StorageCounts } from "../support/counting-env";
import { pushImage, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams } from "../support/mirror";
import { pullImage, send } from "../support/pull";

/** The stats flush is periodic (not per request) in production: make it so here. */
const HOURLY_FLUSH = { STATS_FLUSH_SECONDS: "3600" };

let upstreams: ReturnType<typeof fakeUpstreams>;
let counts: StorageCounts;
let test = 0;
let name = "";
let image: TestImage;
beforeEach(async () => {
  upstreams = fakeUpstreams();
  name = `budget/app${++test}`;
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** KV keys written, by kind: `manifest`, `tag`, `linkpurge`, `served`, `token` (once: `links`, `link`). */
function writtenKinds(): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const key of counts.kvKeysWritten) {
    const kind = key.slice(0, key.indexOf("/"));
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

describe("a cold pull", () => {
  it("writes KV once per manifest and tag and nothing per blob: blob links stay in the fill objects", async () => {
    // The private upstream fetches with credentials: tokens and blob links are written too.
    const base = `/v2/private/private/${name}`;
    image = await pushImage(upstreams.tokens, `private/${name}`, "1.0", 500 + test);
    counts = countStorage();
    const pulled = await pullImage(base, "1.0", HOURLY_FLUSH);
    expect(pulled.manifests).toHaveLength(3); // the index and two platforms' manifests
    expect(pulled.blobs).toHaveLength(4); // a config and a layer each
    const kinds = writtenKinds();
    expect(kinds).toMatchObject({ manifest: 3, tag: 1 });
    expect(image.manifestDigests).toHaveLength(2);
    // No link record of any kind: a manifest links nothing, a download links in its own object.
    expect(kinds.links).toBeUndefined();
    expect(kinds.link).toBeUndefined();
    expect(kinds.served).toBeUndefined();
    expect(counts.log.filter((op) => op === "do.BLOB_FILLS.link")).toEqual([]);
    const manifestsAndTags = pulled.manifests.length + 1;
    expect(counts.kvWrites - (kinds.token ?? 0)).toBeLessThanOrEqual(manifestsAndTags);
    // A token per token cache that asked (the Worker's and the fill objects'), not per blob.
    expect(kinds.token ?? 0).toBeLessThanOrEqual(2);
    // Each blob is written to R2 once.
    expect(counts.count("r2.put")).toBe(pulled.blobs.length);
  });

  it("still serves the private blobs through the repository the upstream served them to", async () => {
    const base = `/v2/private/private/${name}`;
    await pushImage(upstreams.tokens, `private/${name}`, "1.0", 600 + test);
    const pulled = await pullImage(base, "1.0", HOURLY_FLUSH);
    upstreams.tokens.reset();
    for (const blob of pulled.blobs) {
      const { response } = await send(`${base}/blobs/${blob}`, HOURLY_FLUSH, { method: "HEAD" });
      expect(response.status).toBe(200);
      expect(response.headers.get("X-Mirror-Cache")).toBe("HIT");
    }
    expect(upstreams.tokens.requests).toEqual([]); // linked: no confirmation asked of the upstream
  });
});

describe("a warm pull within the tag TTL", () => {
  it("writes nothing to KV, R2 or any Durable Object and sends nothing upstream", async () => {
    const base = `/v2/quay/${name}`;
    await pushImage(upstreams.quay, name, "1.0", 700 + test);
    await pullImage(base, "1.0", HOURLY_FLUSH);
    upstreams.quay.reset();
    counts = countStorage();
    const pulled = await pullImage(base, "1.0", HOURLY_FLUSH);
    expect(pulled.blobs).toHaveLength(4);
    expect(counts.count("kv.get")).toBeGreaterThan(0); // it did look (the counting works)
    expect(counts.kvWrites).toBe(0);
    expect(counts.r2Writes).toBe(0);
    expect(counts.doCalls).toBe(0);
    expect(upstreams.quay.requests).toEqual([]);
  });
});

describe("revalidation of an unchanged tag", () => {
  const tagPath = () => `/v2/quay/${name}/manifests/1.0`;
  const revalidate = async (at: number) => {
    vi.setSystemTime(at);
    const { response } = await send(tagPath(), HOURLY_FLUSH, { headers: { Accept: ACCEPT_ALL } });
    expect(response.status).toBe(200);
    expect(response.headers.get("X-Mirror-Cache")).toBe("REVALIDATED");
    expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
  };

  beforeEach(async () => {
    image = await pushImage(upstreams.quay, name, "1.0", 800 + test);
    vi.useFakeTimers({ toFake: ["Date"] });
    await send(tagPath(), HOURLY_FLUSH, { headers: { Accept: ACCEPT_ALL } });
    upstreams.quay.reset();
  });

  it("twice in a day writes no KV entry (the check time stays in memory) and asks with HEADs only", async () => {
    const start = Date.now();
    counts = countStorage();
    await revalidate(start + 301_000);
    await revalidate(start + 602_000);
    expect(counts.kvWrites).toBe(0);
    expect(upstreams.quay.requests.map((request) => request.method)).toEqual(["HEAD", "HEAD"]);
  });

  it("writes the tag once when a day has passed since it was written, then not again that day", async () => {
    const start = Date.now();
    counts = countStorage();
    await revalidate(start + 25 * 3600_000);
    expect(counts.kvKeysWritten).toEqual([expect.stringMatching(/^tag\/quay\//)]);
    await revalidate(start + 25 * 3600_000 + 301_000);
    expect(counts.kvWrites).toBe(1);
  });
});
