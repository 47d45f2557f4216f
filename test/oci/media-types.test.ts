import { describe, expect, it } from "vitest";
import {
  ALL_MANIFEST_TYPES,
  accepts,
  baseType,
  EMPTY_INDEX,
  MediaType,
  manifestMediaType,
  parseAccept,
} from "../../src/oci/media-types";

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** What `docker pull` (classic distribution code) sends: the four v2 types, no wildcard. */
const DOCKER_ACCEPT = [
  MediaType.DOCKER_MANIFEST,
  MediaType.DOCKER_LIST,
  MediaType.OCI_INDEX,
  MediaType.OCI_MANIFEST,
].join(", ");

/** What containerd's resolver sends (also nerdctl, docker with the containerd image store, k8s). */
const CONTAINERD_ACCEPT = [
  MediaType.DOCKER_MANIFEST,
  MediaType.DOCKER_LIST,
  MediaType.OCI_MANIFEST,
  MediaType.OCI_INDEX,
  "*/*",
].join(", ");

describe("parseAccept", () => {
  it("treats a missing or empty Accept as accepting anything", () => {
    for (const header of [null, "", "   "]) {
      const accept = parseAccept(header);
      expect(accept.any).toBe(true);
      expect(accepts(accept, MediaType.DOCKER_V1_SIGNED)).toBe(true);
    }
  });

  it("reads several comma-separated types, dropping parameters and case", () => {
    const accept = parseAccept(
      `${MediaType.OCI_INDEX};q=0.9 ,  Application/VND.Docker.Distribution.Manifest.V2+JSON; charset=utf-8`,
    );
    expect(accept.any).toBe(false);
    expect([...accept.types]).toEqual([MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST]);
  });

  it("treats q=0 as a refusal, however it is written", () => {
    const accept = parseAccept(
      `${MediaType.OCI_INDEX};q=0, ${MediaType.DOCKER_LIST}; Q=0.000, ${MediaType.OCI_MANIFEST};q=0.001`,
    );
    expect([...accept.types]).toEqual([MediaType.OCI_MANIFEST]);
  });

  it("treats a refused wildcard as no wildcard", () => {
    const accept = parseAccept(`${MediaType.OCI_MANIFEST}, */*;q=0`);
    expect(accept.any).toBe(false);
    expect(accepts(accept, MediaType.DOCKER_MANIFEST)).toBe(false);
  });

  it("treats */* and application/* as accepting anything", () => {
    expect(parseAccept(`${MediaType.OCI_MANIFEST}, */*`).any).toBe(true);
    expect(parseAccept("application/*").any).toBe(true);
  });

  it("asks the upstream for exactly the types the client named", () => {
    expect(parseAccept(`${MediaType.OCI_MANIFEST}; q=0.5, ${MediaType.DOCKER_MANIFEST}`).header).toBe(
      `${MediaType.OCI_MANIFEST}, ${MediaType.DOCKER_MANIFEST}`,
    );
  });

  it("asks the upstream with a bounded list: the known manifest types first, then the client's others", () => {
    const many = Array.from({ length: 2500 }, (_, index) => `application/x-type-${index}+json`);
    const header = parseAccept([...many, MediaType.DOCKER_MANIFEST, MediaType.OCI_INDEX].join(", ")).header;
    const sent = header.split(", ");
    expect(sent.slice(0, 2)).toEqual([MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST]);
    expect(sent).toHaveLength(16);
    expect(header.length).toBeLessThan(1024);
  });

  it("sends upstream only what is shaped like a media type", () => {
    expect(parseAccept(`${MediaType.OCI_MANIFEST}, not a type, x/${"y".repeat(300)}`).header).toBe(
      MediaType.OCI_MANIFEST,
    );
  });

  it("asks the upstream for every manifest type, and anything, on behalf of a client that accepts anything", () => {
    expect(parseAccept(null).header).toBe([...ALL_MANIFEST_TYPES, "*/*"].join(", "));
    expect(parseAccept(CONTAINERD_ACCEPT).header).toBe([...ALL_MANIFEST_TYPES, "*/*"].join(", "));
  });
});

describe("cache variants: clients that accept the same known types share a variant", () => {
  it("ignores order, case, parameters and duplicates", () => {
    const a = parseAccept(`${MediaType.OCI_INDEX}, ${MediaType.OCI_MANIFEST}`);
    const b = parseAccept(
      `${MediaType.OCI_MANIFEST.toUpperCase()};q=0.5, ${MediaType.OCI_INDEX}, ${MediaType.OCI_INDEX}`,
    );
    expect(b.variant).toBe(a.variant);
  });

  it("ignores types that are not manifest types", () => {
    expect(parseAccept(`${DOCKER_ACCEPT}, application/json, text/html`).variant).toBe(
      parseAccept(DOCKER_ACCEPT).variant,
    );
  });

  it("gives containerd's Accept (which ends in */*) the variant of a client sending no Accept at all", () => {
    expect(parseAccept(CONTAINERD_ACCEPT).variant).toBe(parseAccept(null).variant);
    const everyKnownType = Object.values(MediaType).join(", ");
    expect(parseAccept(everyKnownType).variant).toBe(parseAccept(null).variant);
  });

  it("gives docker's four-type Accept the variant of containerd's: schema 1 does not split the cache", () => {
    const docker = parseAccept(DOCKER_ACCEPT);
    const containerd = parseAccept(CONTAINERD_ACCEPT);
    expect(docker.variant).toBe(containerd.variant);
    expect(accepts(docker, MediaType.DOCKER_V1_SIGNED)).toBe(false);
    expect(accepts(containerd, MediaType.DOCKER_V1_SIGNED)).toBe(true);
    // Both accept all four v2 manifest types.
    for (const type of ALL_MANIFEST_TYPES) {
      expect(accepts(docker, type)).toBe(true);
      expect(accepts(containerd, type)).toBe(true);
    }
  });

  it("gives different variants to clients that accept different known types", () => {
    const variants = new Set(
      [
        MediaType.OCI_MANIFEST,
        MediaType.DOCKER_MANIFEST,
        `${MediaType.OCI_MANIFEST}, ${MediaType.DOCKER_MANIFEST}`,
        DOCKER_ACCEPT,
        "text/html",
      ].map((header) => parseAccept(header).variant),
    );
    expect(variants.size).toBe(5);
  });

  it("gives a client that accepts no manifest type variant 0", () => {
    expect(parseAccept("text/html").variant).toBe(0);
  });
});

describe("accepts", () => {
  it("matches a Content-Type against the accepted types, ignoring its parameters and case", () => {
    const accept = parseAccept(MediaType.OCI_MANIFEST);
    expect(accepts(accept, MediaType.OCI_MANIFEST)).toBe(true);
    expect(accepts(accept, `${MediaType.OCI_MANIFEST.toUpperCase()}; charset=utf-8`)).toBe(true);
    expect(accepts(accept, MediaType.OCI_INDEX)).toBe(false);
  });

  it("accepts anything for a client that accepts anything", () => {
    expect(accepts(parseAccept("*/*"), "application/octet-stream")).toBe(true);
  });
});

describe("manifestMediaType", () => {
  it("believes a specific Content-Type, without its parameters", () => {
    expect(manifestMediaType(`${MediaType.DOCKER_LIST}; charset=utf-8`, json({}))).toBe(
      MediaType.DOCKER_LIST,
    );
  });

  it.each([null, "", "application/json", "text/plain; charset=utf-8", "Application/JSON"])(
    "reads the body's mediaType field when the Content-Type is %j",
    (contentType) => {
      const body = json({ schemaVersion: 2, mediaType: MediaType.DOCKER_MANIFEST, layers: [] });
      expect(manifestMediaType(contentType, body)).toBe(MediaType.DOCKER_MANIFEST);
    },
  );

  it("takes a body with manifests but no mediaType for an OCI index", () => {
    expect(manifestMediaType("application/json", json({ schemaVersion: 2, manifests: [] }))).toBe(
      MediaType.OCI_INDEX,
    );
  });

  it("takes a body with neither for an OCI image manifest", () => {
    expect(manifestMediaType(null, json({ schemaVersion: 2, config: {}, layers: [] }))).toBe(
      MediaType.OCI_MANIFEST,
    );
  });

  it("takes a schemaVersion 1 body for a signed schema 1 manifest", () => {
    expect(manifestMediaType("application/json", json({ schemaVersion: 1, name: "x", fsLayers: [] }))).toBe(
      MediaType.DOCKER_V1_SIGNED,
    );
  });

  it("falls back to an OCI image manifest for a body that is not JSON", () => {
    expect(manifestMediaType("text/plain", new TextEncoder().encode("not json"))).toBe(
      MediaType.OCI_MANIFEST,
    );
    expect(manifestMediaType(null, json(null))).toBe(MediaType.OCI_MANIFEST);
  });
});

describe("small helpers", () => {
  it("baseType strips parameters and lower-cases", () => {
    expect(baseType(" Application/JSON ; charset=utf-8")).toBe("application/json");
  });

  it("EMPTY_INDEX is an OCI index with no manifests", () => {
    expect(JSON.parse(EMPTY_INDEX)).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      manifests: [],
    });
  });
});
