// Listings cost the upstream and KV only what the upstream has: answers a client can vary without bound
// (referrers of made-up digests, pages after any `last`) write no KV key, and a tag list of any size is
// served a page at a time from stored pages.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { countStorage, type StorageCounts } from "../support/counting-env";
import { pushImage } from "../support/fake-registry";
import { fakeUpstreams, mirror } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let counts: StorageCounts;
let repository = 0;
let name = "";
beforeEach(() => {
  upstreams = fakeUpstreams();
  vi.spyOn(console, "log").mockImplementation(() => {});
  name = `org/amplified${++repository}`;
});
afterEach(() => vi.restoreAllMocks());

function randomDigest(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `sha256:${[...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

it("answers 1,000 referrers requests for random digests with one upstream request each and no KV write", async () => {
  await pushImage(upstreams.legacy, name, "1.0");
  counts = countStorage();
  const requests = 1_000;
  const ask = async () => {
    const response = await mirror(`/v2/legacy/${name}/referrers/${randomDigest()}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ manifests: [] });
  };
  // The first one learns that the upstream has no referrers API (one request more); then 50 at a time.
  await ask();
  for (let batch = 0; batch < (requests - 1) / 50; batch++) {
    await Promise.all(Array.from({ length: Math.min(50, requests - 1 - batch * 50) }, ask));
  }
  // The first request learns that the upstream has no referrers API; from then on each is one HEAD of
  // the `sha256-<hex>` tag (free on Docker Hub), and no counted GET.
  expect(upstreams.legacy.requests.length).toBeLessThanOrEqual(requests + 1);
  expect(upstreams.legacy.count("manifest", "GET")).toBe(0);
  expect(counts.kvWrites).toBe(0);
}, 120_000);

it("keeps an upstream's pages after a client's `last` out of KV", async () => {
  for (const tag of ["a", "b", "c"]) await pushImage(upstreams.quay, name, tag);
  counts = countStorage();
  for (let index = 0; index < 20; index++) {
    const response = await mirror(`/v2/quay/${name}/tags/list?n=1&last=${crypto.randomUUID()}`);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  }
  expect(counts.kvWrites).toBe(0);
  // The same page asked again within a minute is served from the isolate's memory.
  const before = upstreams.quay.count("tags");
  await (await mirror(`/v2/quay/${name}/tags/list?n=1&last=a`)).arrayBuffer();
  const again = await mirror(`/v2/quay/${name}/tags/list?n=1&last=a`);
  expect(await again.json()).toEqual({ name, tags: ["b"] });
  expect(again.headers.get("X-Mirror-Cache")).toBe("HIT");
  expect(upstreams.quay.count("tags")).toBe(before + 1);
});

/** Counts the bytes KV returns for listing keys (what a request reads and parses of stored lists). */
function countListingBytesRead(): { bytes: number } {
  const read = { bytes: 0 };
  const kv = Object.getPrototypeOf(env.MANIFESTS) as KVNamespace;
  const get = kv.get;
  vi.spyOn(kv, "get").mockImplementation(async function counted(this: KVNamespace, ...args: unknown[]) {
    const value: unknown = await Reflect.apply(get, this, args);
    if (String(args[0]).startsWith("listing/") && value !== null) {
      read.bytes += typeof value === "string" ? value.length : JSON.stringify(value).length;
    }
    return value;
  } as KVNamespace["get"]);
  return read;
}

it("serves any page of an 8 MiB tag list reading at most ~1 MiB of it", async () => {
  // About 7.8 MB of tags, sent whole and unsorted by an upstream that ignores `n` and `last`.
  const image = await pushImage(upstreams.legacy, name, "v-000000");
  const manifest = upstreams.legacy.manifestAt(name, "v-000000");
  if (!manifest) throw new Error("no manifest");
  const count = 190_000;
  const tags = Array.from(
    { length: count },
    (_, index) => `v-${String(index).padStart(6, "0")}-${"x".repeat(26)}`,
  );
  for (const tag of tags) upstreams.legacy.addManifest(name, tag, manifest, image.indexDigest);
  const all = ["v-000000", ...tags].sort();

  const first = await mirror(`/v2/legacy/${name}/tags/list?n=100`);
  expect(await first.json()).toEqual({ name, tags: all.slice(0, 100) });
  expect(upstreams.legacy.count("tags")).toBe(1);

  const read = countListingBytesRead();
  for (const [last, n] of [
    [all[120_000], 1000],
    [all[189_990], 50],
    ["v-000500", 10_000],
  ] as const) {
    read.bytes = 0;
    const response = await mirror(`/v2/legacy/${name}/tags/list?n=${n}&last=${last}`);
    expect(response.headers.get("X-Mirror-Cache")).toBe("HIT");
    const page = (await response.json()) as { tags: string[] };
    const from = all.findIndex((tag) => tag > (last ?? ""));
    // At most n, in order, from right after `last`; a Link when the list goes on.
    expect(page.tags).toEqual(all.slice(from, from + page.tags.length));
    expect(page.tags.length).toBeGreaterThan(0);
    expect(page.tags.length).toBeLessThanOrEqual(n);
    const rest = all.length - from - page.tags.length;
    expect(response.headers.get("Link") !== null).toBe(rest > 0);
    expect(read.bytes).toBeLessThanOrEqual(1024 * 1024);
  }
  // Without n, the first stored page, and a Link to the rest.
  read.bytes = 0;
  const whole = await mirror(`/v2/legacy/${name}/tags/list`);
  const firstPage = (await whole.json()) as { tags: string[] };
  expect(firstPage.tags).toEqual(all.slice(0, firstPage.tags.length));
  expect(whole.headers.get("Link")).toBe(
    `</v2/legacy/${name}/tags/list?last=${firstPage.tags.at(-1)}>; rel="next"`,
  );
  expect(read.bytes).toBeLessThanOrEqual(1024 * 1024);
  expect(upstreams.legacy.count("tags")).toBe(1);
});
