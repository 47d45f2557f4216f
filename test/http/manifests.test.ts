import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { pushImage, sha256, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, bytesOf, fakeUpstreams, mirror } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;
let repository = 0;
let name = "";
beforeEach(async () => {
  upstreams = fakeUpstreams();
  // Storage lives as long as this file: a repository of its own per test.
  name = `org/app${++repository}`;
  image = await pushImage(upstreams.quay, name, "1.0");
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

const get = (path: string, accept = ACCEPT_ALL, method = "GET") =>
  mirror(path, { method, headers: { Accept: accept } });

describe("manifests by tag", () => {
  it("serves the upstream's manifest with its media type, digest and length", async () => {
    const response = await get(`/v2/quay/${name}/manifests/1.0`);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toBe("application/vnd.oci.image.index.v1+json");
    expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
    const body = await bytesOf(response);
    expect(Number(response.headers.get("Content-Length"))).toBe(body.length);
    expect(await sha256(body)).toBe(image.indexDigest);
  });

  it("asks the upstream with a bounded Accept when a client sends thousands of types", async () => {
    const many = Array.from({ length: 2500 }, (_, index) => `application/x-type-${index}+json`);
    const response = await get(`/v2/quay/${name}/manifests/1.0`, [...many, ACCEPT_ALL].join(", "));
    expect(response.status).toBe(200);
    expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
    const sent = upstreams.quay.requests.find((request) => request.kind === "manifest");
    expect(sent?.headers.get("Accept")?.split(",").length).toBeLessThanOrEqual(16);
    expect(sent?.headers.get("Accept")).toContain("application/vnd.oci.image.index.v1+json");
  });

  it("is served from the cache within tagTtl without any upstream request, GET and HEAD alike", async () => {
    await (await get(`/v2/quay/${name}/manifests/1.0`)).arrayBuffer();
    upstreams.quay.reset();
    for (const method of ["GET", "HEAD", "GET"]) {
      const response = await get(`/v2/quay/${name}/manifests/1.0`, ACCEPT_ALL, method);
      expect(response.status).toBe(200);
      expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
      expect(response.headers.get("X-Mirror-Cache")).toBe("HIT");
      expect(Number(response.headers.get("Content-Length"))).toBeGreaterThan(0);
      await response.arrayBuffer();
    }
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("after tagTtl revalidates with one HEAD and no GET when the tag did not move", async () => {
    await (await get(`/v2/quay/${name}/manifests/1.0`)).arrayBuffer();
    upstreams.quay.reset();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 301_000);
    const response = await get(`/v2/quay/${name}/manifests/1.0`);
    expect(await sha256(await bytesOf(response))).toBe(image.indexDigest);
    expect(response.headers.get("X-Mirror-Cache")).toBe("REVALIDATED");
    expect(upstreams.quay.requests.map((r) => r.method)).toEqual(["HEAD"]);
  });

  it("after tagTtl fetches the new manifest when the tag moved", async () => {
    await (await get(`/v2/quay/${name}/manifests/1.0`)).arrayBuffer();
    const moved = await pushImage(upstreams.quay, name, "1.0", 7);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 301_000);
    const response = await get(`/v2/quay/${name}/manifests/1.0`);
    expect(response.headers.get("Docker-Content-Digest")).toBe(moved.indexDigest);
    expect(await sha256(await bytesOf(response))).toBe(moved.indexDigest);
  });

  it("makes concurrent misses of one tag share a single upstream request", async () => {
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => get(`/v2/quay/${name}/manifests/1.0`)),
    );
    for (const response of responses) {
      expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
      expect(await sha256(await bytesOf(response))).toBe(image.indexDigest);
    }
    expect(upstreams.quay.count("manifest", "GET")).toBe(1);
  });

  it("with tagTtl 0 always asks the upstream", async () => {
    await (await get(`/v2/fresh/${name}/manifests/1.0`)).arrayBuffer();
    upstreams.quay.reset();
    await (await get(`/v2/fresh/${name}/manifests/1.0`)).arrayBuffer();
    expect(upstreams.quay.count("manifest")).toBeGreaterThan(0);
  });

  it("never serves an index to a client that accepts only single manifests", async () => {
    await (await get(`/v2/quay/${name}/manifests/1.0`)).arrayBuffer(); // caches the index
    const response = await get(
      `/v2/quay/${name}/manifests/1.0`,
      "application/vnd.oci.image.manifest.v1+json",
    );
    expect(response.headers.get("Content-Type")).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(response.headers.get("Docker-Content-Digest")).toBe(image.manifestDigests[0]);
    // …and a later client that accepts indexes still gets the index, from the cache.
    upstreams.quay.reset();
    const again = await get(`/v2/quay/${name}/manifests/1.0`);
    expect(again.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("answers 404 MANIFEST_UNKNOWN, never a 5xx, when the manifest is of a type the client does not accept", async () => {
    const dockerOnly = "application/vnd.docker.distribution.manifest.v2+json";
    // The upstream resolves the index to an OCI manifest, which this client cannot take either.
    for (const method of ["GET", "HEAD"]) {
      const response = await get(`/v2/quay/${name}/manifests/1.0`, dockerOnly, method);
      expect(response.status).toBe(404);
      if (method === "GET") {
        expect(await response.json()).toMatchObject({
          errors: [{ code: "MANIFEST_UNKNOWN", message: expect.stringContaining("Accept") }],
        });
      }
    }
  });

  it("refuses a stored manifest by digest of a type the client does not accept without asking the upstream", async () => {
    const digest = image.manifestDigests[0] ?? "";
    await (await get(`/v2/quay/${name}/manifests/${digest}`)).arrayBuffer();
    upstreams.quay.reset();
    const refused = await get(
      `/v2/quay/${name}/manifests/${digest}`,
      "application/vnd.oci.image.index.v1+json",
    );
    expect(refused.status).toBe(404);
    expect(await refused.json()).toMatchObject({ errors: [{ code: "MANIFEST_UNKNOWN" }] });
    const served = await get(
      `/v2/quay/${name}/manifests/${digest}`,
      "application/vnd.oci.image.manifest.v1+json",
    );
    expect(served.status).toBe(200);
    expect(await sha256(await bytesOf(served))).toBe(digest);
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("resolves a tag with a HEAD (containerd) without downloading the manifest upstream", async () => {
    const response = await get(`/v2/quay/${name}/manifests/1.0`, ACCEPT_ALL, "HEAD");
    expect(response.status).toBe(200);
    expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
    expect(Number(response.headers.get("Content-Length"))).toBeGreaterThan(0);
    expect(upstreams.quay.requests.map((r) => r.method)).toEqual(["HEAD"]);
  });

  it("answers MANIFEST_UNKNOWN for a tag the upstream does not have", async () => {
    const response = await get(`/v2/quay/${name}/manifests/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ errors: [{ code: "MANIFEST_UNKNOWN" }] });
  });
});

describe("serving stale when the upstream is in trouble", () => {
  it.each([
    ["answers 503", (u: typeof upstreams) => (u.quay.failWith = 503), "quay"],
    // Through another prefix of the same upstream: a bare 429 makes the mirror leave the upstream alone
    // until its Retry-After, which would hold back the tests that follow.
    ["answers 429", (u: typeof upstreams) => (u.quay.failWith = 429), "fresh"],
    [
      "is unreachable",
      (u: typeof upstreams) => u.spy.mockRejectedValue(new TypeError("connection refused")),
      "quay",
    ],
  ])(
    "serves the cached manifest past its TTL with Warning 110 when the upstream %s",
    async (_case, breakIt, prefix) => {
      await (await get(`/v2/${prefix}/${name}/manifests/1.0`)).arrayBuffer();
      breakIt(upstreams);
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(Date.now() + 3600_000);
      for (const method of ["GET", "HEAD"]) {
        const response = await get(`/v2/${prefix}/${name}/manifests/1.0`, ACCEPT_ALL, method);
        expect(response.status).toBe(200);
        expect(response.headers.get("X-Mirror-Cache")).toBe("STALE");
        expect(response.headers.get("Warning")).toBe('110 - "Response is Stale"');
        expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
        if (method === "GET") expect(await sha256(await bytesOf(response))).toBe(image.indexDigest);
      }
    },
  );

  it("serves another client's cached variant when its media type is accepted, never one it is not", async () => {
    await (await get(`/v2/quay/${name}/manifests/1.0`)).arrayBuffer(); // skopeo-like Accept: the index
    upstreams.quay.failWith = 503;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 3600_000);
    const containerd = `${ACCEPT_ALL}, */*`;
    const response = await get(`/v2/quay/${name}/manifests/1.0`, containerd);
    expect(response.headers.get("X-Mirror-Cache")).toBe("STALE");
    expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
    const singleOnly = await get(
      `/v2/quay/${name}/manifests/1.0`,
      "application/vnd.oci.image.manifest.v1+json",
    );
    expect(singleOnly.status).toBe(502);
  });

  it("does not serve stale past maxStale, nor over a definite answer such as 404", async () => {
    await (await get(`/v2/quay/${name}/manifests/1.0`)).arrayBuffer();
    upstreams.quay.failWith = 404;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 3600_000);
    expect((await get(`/v2/quay/${name}/manifests/1.0`)).status).toBe(404);
    upstreams.quay.failWith = 503;
    vi.setSystemTime(Date.now() + 8 * 24 * 3600_000);
    expect((await get(`/v2/quay/${name}/manifests/1.0`)).status).toBe(502);
  });
});

describe("manifests by digest", () => {
  it("are immutable: fetched once, verified, then served from the cache forever", async () => {
    const digest = image.manifestDigests[1] ?? "";
    const first = await get(`/v2/quay/${name}/manifests/${digest}`);
    expect(await sha256(await bytesOf(first))).toBe(digest);
    upstreams.quay.reset();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 365 * 24 * 3600 * 1000);
    const again = await get(`/v2/quay/${name}/manifests/${digest}`);
    expect(await sha256(await bytesOf(again))).toBe(digest);
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("are refused and not cached when the upstream sends other bytes", async () => {
    const digest = `sha256:${"ab".repeat(32)}`;
    const bogus = new TextEncoder().encode('{"schemaVersion":2}');
    upstreams.quay.addManifest(
      name,
      digest,
      { body: bogus, mediaType: "application/vnd.oci.image.manifest.v1+json" },
      digest,
    );
    const response = await get(`/v2/quay/${name}/manifests/${digest}`);
    expect(response.status).toBe(502);
    const keys = await env.MANIFESTS.list({ prefix: `manifest/quay/${name}@` });
    expect(keys.keys.map((key) => key.name)).not.toContain(`manifest/quay/${name}@${digest}`);
  });
});
