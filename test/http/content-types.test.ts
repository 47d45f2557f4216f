// The content types the mirror serves are its own (issue 24, finding 6): a manifest only ever goes out
// as a manifest type; anything an upstream calls something else is a 502 and is not cached; every
// response says `nosniff`; the landing page runs only its own style and script.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { isServableManifestType } from "../../src/oci/media-types";
import { pushManifest } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, mirror } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let repository = 0;
let name = "";
beforeEach(() => {
  upstreams = fakeUpstreams();
  name = `types/app${++repository}`;
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const get = (path: string, method = "GET", accept = ACCEPT_ALL) =>
  mirror(path, { method, headers: { Accept: accept } });

/** A manifest whose body names `mediaType`, served by the upstream as `contentType`. */
async function push(mediaType: string, contentType: string) {
  const body = encode({
    schemaVersion: 2,
    mediaType,
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: `sha256:${"0".repeat(64)}`, size: 2 },
    layers: [],
    annotations: { note: "<script>alert(document.cookie)</script>" },
  });
  return pushManifest(upstreams.quay, name, "1.0", body, contentType);
}

describe("manifest media types", () => {
  it("refuses a body that calls itself text/html behind a generic Content-Type: 502, and nothing cached", async () => {
    await push("text/html", "application/json");
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await get(`/v2/quay/${name}/manifests/1.0`);
      expect(response.status).toBe(502);
      expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
      expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
      expect(await response.json()).toMatchObject({ errors: [{ code: "MANIFEST_INVALID" }] });
    }
    // Not cached: each request asked the upstream again.
    expect(
      upstreams.quay.requests.filter((request) => request.kind === "manifest").length,
    ).toBeGreaterThanOrEqual(2);
  });

  it("refuses script, SVG and HTML as the upstream's own Content-Type", async () => {
    for (const type of ["application/javascript", "image/svg+xml", "text/html", "application/xhtml+xml"]) {
      name = `types/app${++repository}`;
      await push("application/vnd.oci.image.manifest.v1+json", type);
      const response = await get(`/v2/quay/${name}/manifests/1.0`);
      expect(response.status, type).toBe(502);
      expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
    }
  });

  it("refuses a mediaType with a newline with a 502 that is not cached, never a 500", async () => {
    await push("application/vnd.oci.image.manifest.v1+json\nX-Injected: 1", "application/json");
    for (let attempt = 0; attempt < 2; attempt++)
      expect((await get(`/v2/quay/${name}/manifests/1.0`)).status).toBe(502);
    // The upstream's answer changes (fixed): the next pull gets it, nothing bad was kept.
    const digest = await push("application/vnd.oci.image.manifest.v1+json", "application/json");
    const fixed = await get(`/v2/quay/${name}/manifests/1.0`);
    expect(fixed.status).toBe(200);
    expect(fixed.headers.get("Docker-Content-Digest")).toBe(digest);
  });

  it("still serves an artifact's own manifest type, and the OCI and Docker types", async () => {
    const type = "application/vnd.example.artifact.manifest.v1+json";
    const digest = await push(type, type);
    // Asked for as ORAS and crane do: with the artifact's type among the accepted ones.
    const response = await get(`/v2/quay/${name}/manifests/1.0`, "GET", `${type}, ${ACCEPT_ALL}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toBe(type);
    expect(response.headers.get("Docker-Content-Digest")).toBe(digest);
    expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
    const head = await get(`/v2/quay/${name}/manifests/1.0`, "HEAD", `${type}, ${ACCEPT_ALL}`);
    expect(head.headers.get("Content-Type")).toBe(type);
  });

  it("names what it serves", () => {
    for (const type of [
      "application/vnd.oci.image.index.v1+json",
      "application/vnd.oci.image.manifest.v1+json",
      "application/vnd.docker.distribution.manifest.list.v2+json",
      "application/vnd.docker.distribution.manifest.v2+json",
      "application/vnd.docker.distribution.manifest.v1+prettyjws",
      "application/vnd.cncf.helm.chart.manifest.v1+json",
    ])
      expect(isServableManifestType(type), type).toBe(true);
    for (const type of [
      "text/html",
      "text/plain",
      "application/javascript",
      "application/x-javascript",
      "image/svg+xml",
      "application/xml",
      "application/vnd.example+xml",
      "application/json; charset=utf-8",
      "application/x\r\nSet-Cookie: a=b",
      "",
    ])
      expect(isServableManifestType(type), type).toBe(false);
  });
});

describe("nosniff and the landing page's policy", () => {
  it("says nosniff on errors, pings, blobs and the landing page", async () => {
    for (const path of ["/v2/", "/v2/quay/nothing-here/manifests/bad tag", "/no/such/path", "/"])
      expect((await mirror(path)).headers.get("X-Content-Type-Options"), path).toBe("nosniff");
  });

  it("lets the landing page run its own inline script and style and nothing else", async () => {
    const response = await mirror("/");
    const policy = response.headers.get("Content-Security-Policy") ?? "";
    const html = await response.text();
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? "";
    const hash = async (text: string) =>
      btoa(
        String.fromCharCode(
          ...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))),
        ),
      );
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain(`script-src 'sha256-${await hash(script)}'`);
    expect(policy).toContain(`style-src 'sha256-${await hash(style)}'`);
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toContain("unsafe-inline");
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toMatch(/\sstyle="/);
  });
});
