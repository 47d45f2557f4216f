import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ImageCachedEvent } from "../../src/mirror/events";
import type { StatsSnapshot } from "../../src/platform/stats-object";
import { pushImage, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams } from "../support/mirror";
import { pullImage, send } from "../support/pull";

const ADMIN = { ADMIN_TOKEN: "admin-token-for-event-tests" };
let upstreams: ReturnType<typeof fakeUpstreams>;
let test = 0;
beforeEach(() => {
  upstreams = fakeUpstreams();
  test++;
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

async function stats(): Promise<StatsSnapshot> {
  const { body } = await send("/_/stats?top=1", ADMIN, {
    headers: { Authorization: `Bearer ${ADMIN.ADMIN_TOKEN}` },
  });
  return JSON.parse(new TextDecoder().decode(body)) as StatsSnapshot;
}

/** The image.cached events the stats object holds for a repository, once `count` are in (10 s at most). */
async function announced(repository: string, count: number): Promise<ImageCachedEvent[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const events = (await stats()).events.recent.filter(
      (event): event is ImageCachedEvent => event.type === "image.cached" && event.repository === repository,
    );
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function pushed(name: string): Promise<TestImage> {
  return pushImage(upstreams.quay, name, "1.0", 900 + test);
}

describe("image.cached events", () => {
  it("the first pull of an index announces it once, with its platforms and its pull reference", async () => {
    const name = `events/app${test}`;
    const image = await pushed(name);
    await pullImage(`/v2/quay/${name}`, "1.0", ADMIN);
    const [event, ...more] = await announced(name, 1);
    expect(more).toEqual([]);
    expect(event).toMatchObject({
      type: "image.cached",
      upstream: "quay",
      repository: name,
      tag: "1.0",
      digest: image.indexDigest,
      mediaType: "application/vnd.oci.image.index.v1+json",
      platforms: [
        { platform: "linux/amd64", digest: image.manifestDigests[0] },
        { platform: "linux/arm64", digest: image.manifestDigests[1] },
      ],
      pull: `mirror.test/quay/${name}@${image.indexDigest}`,
    });
    expect(Date.parse(event?.time ?? "")).not.toBeNaN();
    expect(event?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a warm pull announces nothing; each new image is announced once", async () => {
    const first = `events/warm${test}`;
    const second = `events/new${test}`;
    await pushed(first);
    await pushed(second);
    await pullImage(`/v2/quay/${first}`, "1.0", ADMIN);
    expect(await announced(first, 1)).toHaveLength(1);
    const before = (await stats()).events.emitted;
    await pullImage(`/v2/quay/${first}`, "1.0", ADMIN); // every manifest a cache hit now
    await pullImage(`/v2/quay/${second}`, "1.0", ADMIN);
    // Once the second image is in, anything the warm pull had caused would be in too.
    expect(await announced(second, 1)).toHaveLength(1);
    expect(await announced(first, 1)).toHaveLength(1);
    expect((await stats()).events.emitted - before).toBe(1);
  });

  it("a manifest pulled by digest alone is announced without a tag", async () => {
    const name = `events/bydigest${test}`;
    const image = await pushed(name);
    const digest = image.manifestDigests[1] ?? "";
    const { response } = await send(`/v2/quay/${name}/manifests/${digest}`, ADMIN, {
      headers: { Accept: ACCEPT_ALL },
    });
    expect(response.status).toBe(200);
    const [event] = await announced(name, 1);
    expect(event).toMatchObject({
      digest,
      tag: null,
      platforms: [],
      mediaType: "application/vnd.oci.image.manifest.v1+json",
    });
  });

  it("names the configured custom domain (COLO_CACHE_HOST) in the pull reference, whatever Host a client sent", async () => {
    const name = `events/host${test}`;
    const image = await pushed(name);
    const vars = { ...ADMIN, COLO_CACHE_HOST: "mirror.example.com" };
    const { response } = await send(`/v2/quay/${name}/manifests/1.0`, vars, {
      headers: { Accept: ACCEPT_ALL },
    });
    expect(response.status).toBe(200);
    const [event] = await announced(name, 1);
    expect(event?.pull).toBe(`mirror.example.com/quay/${name}@${image.indexDigest}`);
  });

  it("a tag resolved with HEAD and then fetched by digest (as containerd pulls) is announced with the tag", async () => {
    const name = `events/containerd${test}`;
    const image = await pushed(name);
    const head = await send(`/v2/quay/${name}/manifests/1.0`, ADMIN, {
      method: "HEAD",
      headers: { Accept: ACCEPT_ALL },
    });
    expect(head.response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
    const { response } = await send(`/v2/quay/${name}/manifests/${image.indexDigest}`, ADMIN, {
      headers: { Accept: ACCEPT_ALL },
    });
    expect(response.status).toBe(200);
    const [event] = await announced(name, 1);
    expect(event).toMatchObject({ digest: image.indexDigest, tag: "1.0" });
  });
});
