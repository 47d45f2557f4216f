import { describe, expect, it } from "vitest";
import { parseDigest } from "../../src/oci/digest";
import { MediaType } from "../../src/oci/media-types";
import { digestReference, tagReference } from "../../src/oci/reference";
import { MAX_MANIFEST_BYTES } from "../../src/upstream/manifest-reads";
import { RemoteRegistry } from "../../src/upstream/remote-registry";
import { TokenCache } from "../../src/upstream/tokens";
import { Transport } from "../../src/upstream/transport";
import { pseudoRandomBytes, sha256 } from "../support/fake-registry";
import { registryRejection } from "../support/rejection";
import { upstreamConfig } from "../support/upstream-config";

const UPSTREAM = upstreamConfig({ url: "http://127.0.0.1:5999" });

const ACCEPT = MediaType.OCI_MANIFEST;
const OTHER = `sha256:${"0".repeat(64)}`;

/** A registry answering with `answer` for each request; the requests it got, as `METHOD path`. */
function registry(answer: (request: Request) => Response) {
  const seen: string[] = [];
  const remote = new RemoteRegistry(
    new Transport(UPSTREAM, new TokenCache(), async (request) => {
      seen.push(`${request.method} ${new URL(request.url).pathname}`);
      return answer(request);
    }),
  );
  return { remote, seen };
}

const manifestBytes = new TextEncoder().encode(
  JSON.stringify({ schemaVersion: 2, mediaType: ACCEPT, config: {}, layers: [] }),
);

describe("headManifest", () => {
  it("reads digest, media type and size from the headers", async () => {
    const digest = await sha256(manifestBytes);
    const { remote, seen } = registry(
      () =>
        new Response(null, {
          headers: {
            "Docker-Content-Digest": digest,
            "Content-Type": `${ACCEPT}; charset=utf-8`,
            "Content-Length": "321",
          },
        }),
    );
    expect(await remote.headManifest("team/app", tagReference("1.0"), ACCEPT)).toEqual({
      digest,
      mediaType: ACCEPT,
      size: 321,
    });
    expect(seen).toEqual(["HEAD /v2/team/app/manifests/1.0"]);
  });

  it.each([
    ["no digest", { "Content-Type": ACCEPT, "Content-Length": "3" }],
    [
      "a generic media type",
      { "Docker-Content-Digest": OTHER, "Content-Type": "application/json", "Content-Length": "3" },
    ],
    ["no length", { "Docker-Content-Digest": OTHER, "Content-Type": ACCEPT }],
    [
      "an invalid digest",
      { "Docker-Content-Digest": "sha256:xyz", "Content-Type": ACCEPT, "Content-Length": "3" },
    ],
  ])("is null for an answer with %s (the caller GETs instead)", async (_case, headers) => {
    const { remote } = registry(() => new Response(null, { headers }));
    expect(await remote.headManifest("team/app", tagReference("1.0"), ACCEPT)).toBeNull();
  });

  it("refuses a HEAD by digest that names another digest", async () => {
    const digest = await sha256(manifestBytes);
    const { remote } = registry(
      () =>
        new Response(null, {
          headers: { "Docker-Content-Digest": OTHER, "Content-Type": ACCEPT, "Content-Length": "3" },
        }),
    );
    const error = await registryRejection(
      remote.headManifest("team/app", digestReference(parseDigest(digest)), ACCEPT),
    );
    expect(error.status).toBe(502);
    expect(error.message).toBe('upstream "up" sent a manifest that does not match its digest');
  });

  it("turns a 404 into MANIFEST_UNKNOWN", async () => {
    const { remote } = registry(() => new Response(null, { status: 404 }));
    const error = await registryRejection(remote.headManifest("team/app", tagReference("nope"), ACCEPT));
    expect([error.status, error.code]).toEqual([404, "MANIFEST_UNKNOWN"]);
  });
});

describe("getManifest", () => {
  it("computes the digest from the body and takes the media type from Content-Type", async () => {
    const digest = await sha256(manifestBytes);
    const { remote } = registry(
      () =>
        new Response(manifestBytes, { headers: { "Content-Type": ACCEPT, "Docker-Content-Digest": digest } }),
    );
    const manifest = await remote.getManifest("team/app", tagReference("1.0"), ACCEPT);
    expect(manifest.digest).toBe(digest);
    expect(manifest.mediaType).toBe(ACCEPT);
    expect(new Uint8Array(manifest.body)).toEqual(manifestBytes);
  });

  it("refuses a body whose upstream claim names another digest of the same algorithm", async () => {
    const { remote } = registry(
      () =>
        new Response(manifestBytes, { headers: { "Content-Type": ACCEPT, "Docker-Content-Digest": OTHER } }),
    );
    const error = await registryRejection(remote.getManifest("team/app", tagReference("1.0"), ACCEPT));
    expect(error.message).toBe('upstream "up" sent a manifest that does not match its digest');
  });

  it("refuses a body by digest that is not that digest, whatever the upstream claims", async () => {
    const { remote } = registry(() => new Response(manifestBytes, { headers: { "Content-Type": ACCEPT } }));
    const error = await registryRejection(
      remote.getManifest("team/app", digestReference(parseDigest(OTHER)), ACCEPT),
    );
    expect([error.status, error.code]).toEqual([502, "UNAVAILABLE"]);
  });

  it("refuses a manifest over the size limit", async () => {
    const { remote } = registry(
      () => new Response(new Uint8Array(MAX_MANIFEST_BYTES + 1), { headers: { "Content-Type": ACCEPT } }),
    );
    const error = await registryRejection(remote.getManifest("team/app", tagReference("1.0"), ACCEPT));
    expect([error.status, error.code]).toEqual([502, "MANIFEST_INVALID"]);
  });
});

describe("blobs", () => {
  const bytes = pseudoRandomBytes(1000, 3);

  it("blobSize takes the size from a HEAD, and sends nothing else", async () => {
    const digest = parseDigest(await sha256(bytes));
    const { remote, seen } = registry(
      () =>
        new Response(null, { headers: { "Content-Length": "1000", "Docker-Content-Digest": digest.value } }),
    );
    expect(await remote.blobSize("team/app", digest)).toBe(1000);
    expect(seen).toEqual([`HEAD /v2/team/app/blobs/${digest.value}`]);
  });

  it("blobSize asks for one byte where a HEAD is refused (a URL signed for GET only)", async () => {
    const digest = parseDigest(await sha256(bytes));
    const { remote, seen } = registry((request) =>
      request.method === "HEAD"
        ? new Response(null, { status: 403 })
        : new Response(bytes.slice(0, 1), { status: 206, headers: { "Content-Range": "bytes 0-0/1000" } }),
    );
    expect(await remote.blobSize("team/app", digest)).toBe(1000);
    expect(seen).toEqual([
      `HEAD /v2/team/app/blobs/${digest.value}`,
      `GET /v2/team/app/blobs/${digest.value}`,
    ]);
  });

  it("blobSize turns a 404 into BLOB_UNKNOWN without a second request", async () => {
    const digest = parseDigest(await sha256(bytes));
    const { remote, seen } = registry(() => new Response(null, { status: 404 }));
    const error = await registryRejection(remote.blobSize("team/app", digest));
    expect([error.status, error.code]).toEqual([404, "BLOB_UNKNOWN"]);
    expect(seen).toHaveLength(1);
  });

  it("blobSize refuses a blob labelled with another digest", async () => {
    const digest = parseDigest(await sha256(bytes));
    const { remote } = registry(
      () => new Response(null, { headers: { "Content-Length": "1000", "Docker-Content-Digest": OTHER } }),
    );
    const error = await registryRejection(remote.blobSize("team/app", digest));
    expect(error.message).toBe("upstream sent a blob with a different digest");
  });

  it("openBlob answers the declared size and the body as sent", async () => {
    const digest = parseDigest(await sha256(bytes));
    const { remote } = registry(() => new Response(bytes, { headers: { "Content-Length": "1000" } }));
    const blob = await remote.openBlob("team/app", digest);
    expect(blob.size).toBe(1000);
    expect(new Uint8Array(await new Response(blob.body).arrayBuffer())).toEqual(bytes);
  });

  it.each([
    ["without a length", {}],
    ["labelled with another digest", { "Content-Length": "1000", "Docker-Content-Digest": OTHER }],
  ])("openBlob refuses an answer %s", async (_case, headers) => {
    const digest = parseDigest(await sha256(bytes));
    const { remote } = registry(() => new Response(bytes, { headers }));
    const error = await registryRejection(remote.openBlob("team/app", digest));
    expect([error.status, error.message]).toEqual([502, 'upstream "up" sent an unusable blob response']);
  });

  it("blobRange answers the part and the whole blob's size from Content-Range", async () => {
    const digest = parseDigest(await sha256(bytes));
    let asked: string | null = null;
    const { remote } = registry((request) => {
      asked = request.headers.get("Range");
      return new Response(bytes.slice(10, 20), {
        status: 206,
        headers: { "Content-Range": "bytes 10-19/1000" },
      });
    });
    const part = await remote.blobRange("team/app", digest, { kind: "from", start: 10, end: 19 });
    expect(asked).toBe("bytes=10-19");
    expect(part.size).toBe(1000);
    expect(part.range).toEqual({ start: 10, end: 19 });
    expect(new Uint8Array(await new Response(part.body).arrayBuffer())).toEqual(bytes.slice(10, 20));
  });

  it("blobRange passes the whole blob on when the upstream ignores the range", async () => {
    const digest = parseDigest(await sha256(bytes));
    const { remote } = registry(() => new Response(bytes, { headers: { "Content-Length": "1000" } }));
    const whole = await remote.blobRange("team/app", digest, { kind: "from", start: 10, end: 19 });
    expect(whole.size).toBe(1000);
    expect(whole.range).toBeUndefined();
    await whole.body?.cancel();
  });

  it("blobRange refuses a 206 without a usable Content-Range", async () => {
    const digest = parseDigest(await sha256(bytes));
    const { remote } = registry(() => new Response(bytes.slice(0, 10), { status: 206 }));
    const error = await registryRejection(
      remote.blobRange("team/app", digest, { kind: "from", start: 0, end: 9 }),
    );
    expect(error.message).toBe('upstream "up" sent an unusable partial response');
  });
});

describe("listings", () => {
  it("tagList reads the tags and the next page's query from Link", async () => {
    const { remote, seen } = registry(() =>
      Response.json(
        { name: "team/app", tags: ["b", "a"] },
        { headers: { Link: '</v2/team/app/tags/list?n=2&last=b&x=1>; rel="next"' } },
      ),
    );
    const page = await remote.tagList("team/app", new URLSearchParams({ n: "2" }));
    expect(page.tags).toEqual(["b", "a"]);
    expect(page.next?.toString()).toBe("n=2&last=b");
    expect(seen).toEqual(["GET /v2/team/app/tags/list"]);
  });

  it("tagList takes distribution's `tags: null` as no tags", async () => {
    const { remote } = registry(() => Response.json({ name: "team/app", tags: null }));
    expect((await remote.tagList("team/app", new URLSearchParams())).tags).toEqual([]);
  });

  it("referrers falls back to the tag schema when the upstream has no referrers API", async () => {
    const subject = parseDigest(await sha256(manifestBytes));
    const descriptor = { mediaType: ACCEPT, digest: OTHER, size: 3, artifactType: "application/x-sig" };
    const { remote, seen } = registry((request) =>
      new URL(request.url).pathname.includes("/referrers/")
        ? new Response(null, { status: 404 })
        : Response.json({ schemaVersion: 2, manifests: [descriptor] }),
    );
    const page = await remote.referrers("team/app", subject, undefined);
    expect(page).toMatchObject({ manifests: [descriptor], filtered: false });
    const tag = `/v2/team/app/manifests/${subject.value.replace(":", "-")}`;
    // The tag is asked with a HEAD (free on Docker Hub) before its counted GET.
    expect(seen).toEqual([`GET /v2/team/app/referrers/${subject.value}`, `HEAD ${tag}`, `GET ${tag}`]);
    // This client found no API: it goes to the tag schema directly from then on.
    seen.length = 0;
    await remote.referrers("team/app", subject, undefined);
    expect(seen).toEqual([`HEAD ${tag}`, `GET ${tag}`]);
  });

  it("referrers answers none when neither the API nor the tag schema knows the subject", async () => {
    const subject = parseDigest(await sha256(manifestBytes));
    const { remote } = registry(() => new Response(null, { status: 404 }));
    expect((await remote.referrers("team/app", subject, undefined)).manifests).toEqual([]);
  });
});
