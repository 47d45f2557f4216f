// A manifest's fill object that cannot be reached (overloaded, or reset by a deploy) fails no pull: the
// Worker serves the copy it holds, or the upstream's answer without storing it, as it does for blobs.
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { countStorage, type StorageCounts } from "../support/counting-env";
import { pushImage, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, mirror } from "../support/mirror";

const RESET = new Error("Durable Object reset because its code was updated.");
let upstreams: ReturnType<typeof fakeUpstreams>;
let counts: StorageCounts;
let logs: string[];
let image: TestImage;
let seed = 700;

beforeEach(async () => {
  upstreams = fakeUpstreams();
  logs = [];
  vi.spyOn(console, "log").mockImplementation((line: string) => void logs.push(line));
  image = await pushImage(upstreams.quay, `org/unreachable-${++seed}`, "1.0", seed);
  counts = countStorage();
});
afterEach(() => vi.restoreAllMocks());

const get = (path: string, method = "GET") => mirror(path, { method, headers: { Accept: ACCEPT_ALL } });
const events = (name: string) => logs.filter((line) => line.includes(`"event":"${name}"`));

it("serves a cold tag from the upstream, uncached, when the object cannot be reached", async () => {
  counts.fail("do.MANIFEST_MISSES.resolve", RESET);
  const response = await get(`/v2/quay/org/unreachable-${seed}/manifests/1.0`);
  expect(response.status).toBe(200);
  expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
  expect(response.headers.get("X-Mirror-Cache")).toBe("MISS");
  expect(JSON.parse(await response.text())).toMatchObject({ manifests: expect.any(Array) });
  const head = await get(`/v2/quay/org/unreachable-${seed}/manifests/1.0`, "HEAD");
  expect(head.status).toBe(200);
  expect(head.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
  expect(counts.kvWrites).toBe(0);
  expect(events("manifest.fill_unreachable")).toHaveLength(2);

  // Back again, the object fills the cache as usual.
  counts.heal();
  expect((await get(`/v2/quay/org/unreachable-${seed}/manifests/1.0`)).status).toBe(200);
  expect(counts.kvWrites).toBeGreaterThan(0);
});

it("serves a stale tag as it is, without asking the upstream, when the object cannot be reached", async () => {
  // `fresh` has tagTtl 0: every request after the first needs the object.
  const path = `/v2/fresh/org/unreachable-${seed}/manifests/1.0`;
  expect((await get(path)).status).toBe(200);
  upstreams.quay.reset();
  counts.fail("do.MANIFEST_MISSES.resolve", RESET);
  const response = await get(path);
  expect(response.status).toBe(200);
  expect(response.headers.get("X-Mirror-Cache")).toBe("STALE");
  expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
  expect(upstreams.quay.requests).toHaveLength(0);
});
