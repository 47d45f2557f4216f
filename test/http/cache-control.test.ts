// What a shared cache (a CDN, a corporate proxy) may keep: responses for authenticated clients and
// content reached with the mirror's upstream credentials are `private`; public content stays public.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { pseudoRandomBytes, pushImage, sha256, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, mirror, storedBlob } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;
let seed = 0;
let tag = "";
beforeEach(async () => {
  upstreams = fakeUpstreams();
  tag = `t${++seed}`;
  image = await pushImage(upstreams.quay, "org/app", tag, 300 + seed);
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

const USERS = { ci: "ci-password-1" };

/** As `ci`, with client authentication on. */
async function asUser(path: string, init: RequestInit = {}) {
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Basic ${btoa(`ci:${USERS.ci}`)}`);
  headers.set("Accept", ACCEPT_ALL);
  const response = await worker.fetch(
    new Request(`http://mirror.test${path}`, { ...init, headers }) as Request<
      unknown,
      IncomingRequestCfProperties
    >,
    { ...env, MIRROR_USERS: JSON.stringify(USERS), AUTH_FAILURES: undefined },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

const cacheControl = (response: Response) => response.headers.get("Cache-Control") ?? "";

describe("Cache-Control", () => {
  it("anonymous pulls of public content stay public", async () => {
    const layer = image.layerDigests[0] ?? "";
    const blob = await mirror(`/v2/quay/org/app/blobs/${layer}`);
    await blob.arrayBuffer();
    expect(cacheControl(blob)).toBe("public, max-age=31536000, immutable");
    const manifest = await mirror(`/v2/quay/org/app/manifests/${tag}`, { headers: { Accept: ACCEPT_ALL } });
    expect(cacheControl(manifest)).not.toContain("private");
  });

  it("responses for an authenticated client are private (manifests, blobs, ranges, HEAD, tags)", async () => {
    const layer = image.layerDigests[0] ?? "";
    for (const [path, init] of [
      [`/v2/quay/org/app/manifests/${tag}`, {}],
      [`/v2/quay/org/app/manifests/${tag}`, { method: "HEAD" }],
      [`/v2/quay/org/app/blobs/${layer}`, {}],
      [`/v2/quay/org/app/blobs/${layer}`, { headers: { Range: "bytes=0-9" } }],
      [`/v2/quay/org/app/blobs/${layer}`, { method: "HEAD" }],
      ["/v2/quay/org/app/tags/list", {}],
    ] as [string, RequestInit][]) {
      const response = await asUser(path, init);
      await response.arrayBuffer();
      expect(response.status, `${init.method ?? "GET"} ${path}`).toBeLessThan(300);
      expect(cacheControl(response), `${init.method ?? "GET"} ${path}`).toMatch(/^private\b/);
      expect(cacheControl(response)).not.toContain("public");
    }
  });

  it("content fetched with the mirror's upstream credentials is private, also to anonymous clients and from R2", async () => {
    const secret = await pushImage(upstreams.tokens, "private/app", tag, 400 + seed);
    const layer = secret.layerDigests[0] ?? "";
    const manifest = await mirror(`/v2/private/private/app/manifests/${tag}`, {
      headers: { Accept: ACCEPT_ALL },
    });
    expect(manifest.status).toBe(200);
    expect(cacheControl(manifest)).toBe("private");
    const miss = await mirror(`/v2/private/private/app/blobs/${layer}`);
    await miss.arrayBuffer();
    expect(miss.status).toBe(200);
    expect(cacheControl(miss)).toMatch(/^private,/);
    await storedBlob(layer);
    const hit = await mirror(`/v2/private/private/app/blobs/${layer}`);
    await hit.arrayBuffer();
    expect(hit.headers.get("X-Mirror-Cache")).toBe("HIT");
    expect(cacheControl(hit)).toMatch(/^private,/);
  });

  it("a stored restricted blob stays private when served through an upstream without credentials", async () => {
    // Stored by an earlier pull with credentials (restricted), also held by a public repository.
    const bytes = pseudoRandomBytes(4096, 500 + seed);
    const digest = await sha256(bytes);
    await env.BLOBS.put(`blobs/sha256/${digest.slice("sha256:".length)}`, bytes, {
      customMetadata: { digest, restricted: "1" },
    });
    upstreams.quay.addBlob(bytes, digest, "org/app");
    for (const init of [{}, { method: "HEAD" }, { headers: { Range: "bytes=0-9" } }] as RequestInit[]) {
      const response = await mirror(`/v2/quay/org/app/blobs/${digest}`, init);
      await response.arrayBuffer();
      expect(response.headers.get("X-Mirror-Cache")).toBe("HIT");
      expect(cacheControl(response), init.method ?? JSON.stringify(init)).toMatch(/^private,/);
    }
  });
});
