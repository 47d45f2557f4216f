import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type FakeRegistry, pushImage, pushReferrer, type TestImage } from "../support/fake-registry";
import { fakeUpstreams, mirror } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let repository = 0;
let name = "";
beforeEach(() => {
  upstreams = fakeUpstreams();
  // Storage lives as long as this file: a repository of its own per test.
  name = `org/listed${++repository}`;
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

const SBOM = "application/spdx+json";
const SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json";
const INDEX = "application/vnd.oci.image.index.v1+json";

async function json<T>(response: Response): Promise<T> {
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

async function pushTags(registry: FakeRegistry, tags: readonly string[]): Promise<TestImage> {
  let image: TestImage | undefined;
  for (const [index, tag] of tags.entries()) image = await pushImage(registry, name, tag, index + 1);
  if (!image) throw new Error("no tags");
  return image;
}

describe("tags/list", () => {
  it("lists tags in lexical order even when the upstream does not", async () => {
    await pushTags(upstreams.legacy, ["b", "a", "10", "9", "latest"]);
    const list = await json<{ name: string; tags: string[] }>(await mirror(`/v2/legacy/${name}/tags/list`));
    expect(list).toEqual({ name, tags: ["10", "9", "a", "b", "latest"] });
  });

  it("returns at most n tags after last, and a Link to the next page, when the upstream ignores n and last", async () => {
    await pushTags(upstreams.legacy, ["e", "d", "c", "b", "a"]);
    const first = await mirror(`/legacy/v2/${name}/tags/list?n=2`);
    expect(await json(first)).toEqual({ name, tags: ["a", "b"] });
    expect(first.headers.get("Link")).toBe(`</legacy/v2/${name}/tags/list?n=2&last=b>; rel="next"`);
    const second = await mirror(`/legacy/v2/${name}/tags/list?n=2&last=b`);
    expect(await json(second)).toEqual({ name, tags: ["c", "d"] });
    const third = await mirror(`/legacy/v2/${name}/tags/list?n=2&last=d`);
    expect(await json(third)).toEqual({ name, tags: ["e"] });
    expect(third.headers.get("Link")).toBeNull();
    // The whole list the upstream sent with the first page answers the others.
    expect(upstreams.legacy.count("tags")).toBe(1);
  });

  it("passes an upstream's own pages through with the Link re-rooted at the client's path", async () => {
    await pushTags(upstreams.quay, ["1.0", "2.0", "3.0"]);
    const response = await mirror(`/quay/v2/${name}/tags/list?n=2`);
    expect(await json(response)).toMatchObject({ tags: ["1.0", "2.0"] });
    expect(response.headers.get("Link")).toBe(`</quay/v2/${name}/tags/list?n=2&last=2.0>; rel="next"`);
    const next = await mirror(`/quay/v2/${name}/tags/list?n=2&last=2.0`);
    expect(await json(next)).toMatchObject({ tags: ["3.0"] });
  });

  it("is cached for a short TTL, then asked again", async () => {
    await pushTags(upstreams.legacy, ["1.0"]);
    await json(await mirror(`/v2/legacy/${name}/tags/list`));
    const again = await mirror(`/v2/legacy/${name}/tags/list`);
    expect(again.headers.get("X-Mirror-Cache")).toBe("HIT");
    expect(upstreams.legacy.count("tags")).toBe(1);

    await pushImage(upstreams.legacy, name, "2.0", 7);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    const later = await mirror(`/v2/legacy/${name}/tags/list`);
    expect(await json(later)).toEqual({ name, tags: ["1.0", "2.0"] });
    expect(later.headers.get("X-Mirror-Cache")).toBe("MISS");
    expect(upstreams.legacy.count("tags")).toBe(2);
  });

  it("is served stale, with a Warning, while the upstream is down", async () => {
    await pushTags(upstreams.legacy, ["1.0", "0.9"]);
    await json(await mirror(`/v2/legacy/${name}/tags/list`));
    upstreams.legacy.failWith = 503;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 3600_000);
    const response = await mirror(`/v2/legacy/${name}/tags/list?n=1`);
    expect(await json(response)).toEqual({ name, tags: ["0.9"] });
    expect(response.headers.get("X-Mirror-Cache")).toBe("STALE");
    expect(response.headers.get("Warning")).toBe('110 - "Response is Stale"');
  });

  it("writes an unchanged list to KV at most once a day, however often it is asked again", async () => {
    await pushTags(upstreams.legacy, ["1.0"]);
    const put = vi.spyOn(env.MANIFESTS, "put");
    vi.useFakeTimers({ toFake: ["Date"] });
    for (let minute = 0; minute < 5; minute++) {
      vi.setSystemTime(Date.now() + 61_000);
      const response = await mirror(`/v2/legacy/${name}/tags/list`);
      expect(response.headers.get("X-Mirror-Cache")).toBe(minute === 0 ? "MISS" : "REVALIDATED");
      await response.arrayBuffer();
    }
    expect(upstreams.legacy.count("tags")).toBe(5);
    // Written once (a list of one page is one value).
    expect(put.mock.calls.filter(([key]) => String(key).startsWith("listing/"))).toHaveLength(1);
  });

  it("answers NAME_UNKNOWN for a repository the upstream does not have", async () => {
    const response = await mirror(`/v2/legacy/${name}/tags/list`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ errors: [{ code: "NAME_UNKNOWN" }] });
  });
});

describe("referrers", () => {
  it("lists the manifests whose subject is the digest, from an upstream with the referrers API", async () => {
    const image = await pushTags(upstreams.oci, ["1.0"]);
    const subject = await subjectOf(upstreams.oci, image);
    const sbom = await pushReferrer(upstreams.oci, name, subject, SBOM, false);
    const signature = await pushReferrer(upstreams.oci, name, subject, SIGNATURE, false);
    const response = await mirror(`/v2/oci/${name}/referrers/${image.indexDigest}`);
    expect(response.headers.get("Content-Type")).toBe(INDEX);
    const index = await json<{
      mediaType: string;
      manifests: Array<{ digest: string; artifactType: string }>;
    }>(response);
    expect(index.mediaType).toBe(INDEX);
    expect(index.manifests.map((m) => [m.digest, m.artifactType]).sort()).toEqual(
      [
        [sbom.digest, SBOM],
        [signature.digest, SIGNATURE],
      ].sort(),
    );
  });

  it("lists the referrers pushed under the tag schema when the upstream has no referrers API", async () => {
    const image = await pushTags(upstreams.legacy, ["1.0"]);
    const subject = await subjectOf(upstreams.legacy, image);
    const sbom = await pushReferrer(upstreams.legacy, name, subject, SBOM, true);
    const index = await json<{ manifests: Array<{ digest: string; artifactType: string }> }>(
      await mirror(`/v2/legacy/${name}/referrers/${image.indexDigest}`),
    );
    expect(index.manifests).toEqual([expect.objectContaining({ digest: sbom.digest, artifactType: SBOM })]);
    const asked = upstreams.legacy.requests.map((r) => `${r.method} ${r.url.pathname}`);
    expect(asked).toEqual([
      `GET /v2/${name}/referrers/${image.indexDigest}`,
      // A HEAD first (free on Docker Hub): only a tag that exists costs a counted GET.
      `HEAD /v2/${name}/manifests/${image.indexDigest.replace(":", "-")}`,
      `GET /v2/${name}/manifests/${image.indexDigest.replace(":", "-")}`,
    ]);
  });

  it.each([
    ["with", "oci"],
    ["without", "legacy"],
  ] as const)(
    "filters by artifactType and says so in OCI-Filters-Applied (upstream %s the API)",
    async (_, prefix) => {
      const registry = upstreams[prefix];
      const image = await pushTags(registry, ["1.0"]);
      const subject = await subjectOf(registry, image);
      await pushReferrer(registry, name, subject, SBOM, prefix === "legacy");
      const signature = await pushReferrer(registry, name, subject, SIGNATURE, prefix === "legacy");
      const response = await mirror(
        `/v2/${prefix}/${name}/referrers/${image.indexDigest}?artifactType=${encodeURIComponent(SIGNATURE)}`,
      );
      expect(response.headers.get("OCI-Filters-Applied")).toBe("artifactType");
      const index = await json<{ manifests: Array<{ digest: string }> }>(response);
      expect(index.manifests.map((m) => m.digest)).toEqual([signature.digest]);
    },
  );

  it("answers an empty index, never 404, when nothing refers to the digest", async () => {
    const image = await pushTags(upstreams.legacy, ["1.0"]);
    const response = await mirror(`/v2/legacy/${name}/referrers/${image.indexDigest}`);
    expect(await json(response)).toEqual({ schemaVersion: 2, mediaType: INDEX, manifests: [] });
  });

  it("is cached like a tag: within tagTtl no upstream request, after it asked again, stale when the upstream is down", async () => {
    const image = await pushTags(upstreams.legacy, ["1.0"]);
    const subject = await subjectOf(upstreams.legacy, image);
    const sbom = await pushReferrer(upstreams.legacy, name, subject, SBOM, true);
    const path = `/v2/legacy/${name}/referrers/${image.indexDigest}`;
    await json(await mirror(path));
    upstreams.legacy.reset();
    expect((await mirror(path)).headers.get("X-Mirror-Cache")).toBe("HIT");
    expect(upstreams.legacy.requests).toEqual([]);

    const signature = await pushReferrer(upstreams.legacy, name, subject, SIGNATURE, true);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 301_000);
    const later = await mirror(path);
    expect(later.headers.get("X-Mirror-Cache")).toBe("MISS");
    const index = await json<{ manifests: Array<{ digest: string }> }>(later);
    expect(index.manifests.map((m) => m.digest)).toEqual([sbom.digest, signature.digest]);

    upstreams.legacy.failWith = 503;
    vi.setSystemTime(Date.now() + 3600_000);
    const stale = await mirror(path);
    expect(stale.headers.get("X-Mirror-Cache")).toBe("STALE");
    expect((await json<{ manifests: unknown[] }>(stale)).manifests).toHaveLength(2);
  });

  it("answers 502 UNAVAILABLE when the upstream fails and nothing is cached", async () => {
    upstreams.legacy.failWith = 503;
    const image = await pushTags(upstreams.legacy, ["1.0"]);
    const response = await mirror(`/v2/legacy/${name}/referrers/${image.indexDigest}`);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ errors: [{ code: "UNAVAILABLE" }] });
  });
});

async function subjectOf(
  registry: FakeRegistry,
  image: TestImage,
): Promise<{ digest: string; size: number }> {
  const index = registry.manifestAt(name, image.indexDigest);
  if (!index) throw new Error("image not pushed");
  return { digest: image.indexDigest, size: index.body.byteLength };
}
