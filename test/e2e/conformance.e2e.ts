// OCI distribution-spec conformance of what the mirror answers, in the spec's own words, against both
// kinds of upstream: `anon` (distribution 2.8: no referrers API, no tag paging) and `oci11` (the same
// storage behind an OCI 1.1 look-alike with both, harness/oci11.ts). Artifacts are pushed over the
// registry API as oras/cosign would (harness/push-artifact.ts).
import { beforeAll, describe, expect, it } from "vitest";
import { admin, bed } from "./harness/context.ts";
import { fetchT } from "./harness/net.ts";
import { OCI_INDEX, type PushedDescriptor, pushReferrer, pushSubject } from "./harness/push-artifact.ts";

const b = bed();
const SBOM = "application/spdx+json";
const SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json";
const TAGS = ["b", "a", "10", "9", "latest"];
const LEXICAL = ["10", "9", "a", "b", "latest"];

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: PushedDescriptor[];
}

let apiSubject: PushedDescriptor;
let apiReferrers: PushedDescriptor[];
let tagSchemaSubject: PushedDescriptor;
let tagSchemaReferrers: PushedDescriptor[];
let lonelySubject: PushedDescriptor;

beforeAll(async () => {
  // Pushed through the OCI 1.1 look-alike, which learns the subjects as a 1.1 registry would.
  const oci11 = b.upstreams.oci11.url;
  apiSubject = await pushSubject(oci11, "conformance/api", "v1", "api");
  apiReferrers = [
    await pushReferrer(oci11, "conformance/api", apiSubject, SBOM, { tagSchema: false }),
    await pushReferrer(oci11, "conformance/api", apiSubject, SIGNATURE, { tagSchema: false }),
  ];
  // Pushed straight to distribution 2.8 the tag-schema way.
  const face = b.faces.anon ?? "";
  tagSchemaSubject = await pushSubject(face, "conformance/tagschema", "v1", "tagschema");
  tagSchemaReferrers = [
    await pushReferrer(face, "conformance/tagschema", tagSchemaSubject, SBOM, { tagSchema: true }),
    await pushReferrer(face, "conformance/tagschema", tagSchemaSubject, SIGNATURE, { tagSchema: true }),
  ];
  lonelySubject = await pushSubject(face, "conformance/lonely", "v1", "lonely");
  for (const tag of TAGS) await pushSubject(face, "conformance/tags", tag, "tags");
}, 120_000);

const mirror = (path: string, init?: RequestInit) => fetchT(`${b.mirrorUrl}${path}`, init);
const digestsOf = (index: Index) => index.manifests.map((d) => d.digest).sort();
const upstreamRequests = async (upstream: string, fragment: string) =>
  (await admin().requests(upstream)).filter((r) => r.url.includes(fragment));

describe("GET /v2/<name>/referrers/<digest>", () => {
  it("upon success, the response MUST be an image index whose manifests are the descriptors of the manifests with that subject (upstream with the referrers API)", async () => {
    const res = await mirror(`/v2/oci11/conformance/api/referrers/${apiSubject.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(OCI_INDEX);
    const index = (await res.json()) as Index;
    expect(index).toMatchObject({ schemaVersion: 2, mediaType: OCI_INDEX });
    expect(digestsOf(index)).toEqual(apiReferrers.map((d) => d.digest).sort());
    for (const descriptor of index.manifests) {
      expect(descriptor.artifactType).toMatch(/^(application\/spdx\+json|application\/vnd\.dev\.cosign)/);
    }
  });

  it("when the upstream has no referrers API, the descriptors come from the referrers tag schema (<alg>-<ref>)", async () => {
    const before = (await upstreamRequests("anon", "/conformance/tagschema/")).length;
    const res = await mirror(`/v2/anon/conformance/tagschema/referrers/${tagSchemaSubject.digest}`);
    expect(res.status).toBe(200);
    const index = (await res.json()) as Index;
    expect(digestsOf(index)).toEqual(tagSchemaReferrers.map((d) => d.digest).sort());
    const asked = (await upstreamRequests("anon", "/conformance/tagschema/"))
      .slice(before)
      .map((r) => `${r.method} ${r.url}`);
    const tag = `/v2/conformance/tagschema/manifests/${tagSchemaSubject.digest.replace(":", "-")}`;
    // The tag is asked with a HEAD first (free on Docker Hub): only a tag that exists costs a GET.
    expect(asked).toEqual([
      `GET /v2/conformance/tagschema/referrers/${tagSchemaSubject.digest}`,
      `HEAD ${tag}`,
      `GET ${tag}`,
    ]);
  });

  it.each([
    ["with", "oci11", "api"],
    ["without", "anon", "tagschema"],
  ] as const)(
    "with ?artifactType=, only descriptors of that type are listed and OCI-Filters-Applied says artifactType (upstream %s the API)",
    async (_, prefix, repo) => {
      const subject = repo === "api" ? apiSubject : tagSchemaSubject;
      const signature = (repo === "api" ? apiReferrers : tagSchemaReferrers)[1];
      const res = await mirror(
        `/v2/${prefix}/conformance/${repo}/referrers/${subject.digest}?artifactType=${encodeURIComponent(SIGNATURE)}`,
      );
      expect(res.status).toBe(200);
      expect(res.headers.get("oci-filters-applied")).toBe("artifactType");
      expect(digestsOf((await res.json()) as Index)).toEqual([signature?.digest]);
    },
  );

  it("a registry that supports the API MUST NOT answer 404: a manifest without referrers gets an empty index", async () => {
    const res = await mirror(`/v2/anon/conformance/lonely/referrers/${lonelySubject.digest}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
  });

  it("is cached like a tag: asked again within the TTL, the upstream hears nothing", async () => {
    const path = `/v2/anon/conformance/tagschema/referrers/${tagSchemaSubject.digest}`;
    await (await mirror(path)).arrayBuffer();
    const before = (await upstreamRequests("anon", "/conformance/tagschema/")).length;
    const res = await mirror(path);
    expect(res.headers.get("x-mirror-cache")).toBe("HIT");
    await res.arrayBuffer();
    expect((await upstreamRequests("anon", "/conformance/tagschema/")).length).toBe(before);
  });
});

describe("GET /v2/<name>/tags/list", () => {
  it.each(["anon", "oci11"])("lists the tags in lexical order (upstream %s)", async (prefix) => {
    const res = await mirror(`/v2/${prefix}/conformance/tags/tags/list`);
    expect(res.status).toBe(200);
    const list = (await res.json()) as { tags: string[] };
    expect(list.tags.filter((t) => TAGS.includes(t))).toEqual(LEXICAL);
  });

  it.each(["anon", "oci11"])(
    "with ?n=<int>, at most <int> tags, and a Link header to the next page, which continues after <last> (upstream %s)",
    async (prefix) => {
      const seen: string[] = [];
      let path: string | null = `/v2/${prefix}/conformance/tags/tags/list?n=2`;
      for (let page = 0; path && page < 10; page++) {
        const res = await mirror(path);
        expect(res.status).toBe(200);
        const list = (await res.json()) as { tags: string[] };
        expect(list.tags.length).toBeLessThanOrEqual(2);
        seen.push(...list.tags);
        const link = res.headers.get("link");
        path = link ? (/<([^>]+)>;\s*rel="next"/.exec(link)?.[1] ?? null) : null;
        if (path) expect(path).toMatch(new RegExp(`^/v2/${prefix}/conformance/tags/tags/list\\?n=2&last=`));
      }
      expect(seen).toEqual([...seen].sort());
      expect(seen.filter((t) => TAGS.includes(t))).toEqual(LEXICAL);
    },
  );

  it("pages of an upstream that ignores n and last come from the one whole list it sent", async () => {
    const before = (await upstreamRequests("anon", "/conformance/tags/tags/list")).length;
    // Within the list's TTL of the test above: served from the cached whole list.
    const res = await mirror(`/v2/anon/conformance/tags/tags/list?n=1&last=9`);
    expect(((await res.json()) as { tags: string[] }).tags).toEqual(["a"]);
    expect((await upstreamRequests("anon", "/conformance/tags/tags/list")).length).toBe(before);
  });
});

describe("GET /v2/<name>/manifests/<reference>", () => {
  it("a client whose Accept holds nothing of the manifest's type gets 404 MANIFEST_UNKNOWN, never a 5xx", async () => {
    for (const method of ["GET", "HEAD"]) {
      const res = await mirror(`/v2/anon/conformance/lonely/manifests/${lonelySubject.digest}`, {
        method,
        headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
      });
      expect(res.status).toBe(404);
      if (method === "GET")
        expect(await res.json()).toMatchObject({ errors: [{ code: "MANIFEST_UNKNOWN" }] });
    }
  });

  it("a client with an Accept of thousands of types still gets the manifest it accepts", async () => {
    const many = Array.from({ length: 2500 }, (_, i) => `application/x-e2e-${i}+json`);
    const res = await mirror(`/v2/anon/conformance/lonely/manifests/v1`, {
      headers: { accept: [...many, "application/vnd.oci.image.manifest.v1+json"].join(", ") },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(lonelySubject.digest);
  });

  it("a malformed tag is a manifest not found: 404 MANIFEST_UNKNOWN, and the upstream hears nothing", async () => {
    const before = (await admin().requests("anon")).length;
    const res = await mirror(`/v2/anon/conformance/lonely/manifests/-not-a-tag`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ errors: [{ code: "MANIFEST_UNKNOWN" }] });
    expect((await admin().requests("anon")).length).toBe(before);
  });
});
