import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { pushImage, sha256 } from "../support/fake-registry";
import { ACCEPT_ALL, bytesOf, fakeUpstreams, mirror, UPSTREAM_CREDENTIALS } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let test = 0;
let tag = "";
beforeEach(() => {
  upstreams = fakeUpstreams();
  tag = `t${++test}`;
});
afterEach(() => vi.restoreAllMocks());

const get = (path: string) => mirror(path, { headers: { Accept: ACCEPT_ALL } });
const secretValues = [
  UPSTREAM_CREDENTIALS.password,
  btoa(`${UPSTREAM_CREDENTIALS.user}:${UPSTREAM_CREDENTIALS.password}`),
];

async function expectNoSecrets(response: Response): Promise<void> {
  const text = `${[...response.headers].join("\n")}\n${await response.clone().text()}`;
  for (const secret of secretValues) expect(text).not.toContain(secret);
}

describe("the registry token dance", () => {
  it("gets an anonymous token from the realm the upstream names, with the upstream's repository scope", async () => {
    const image = await pushImage(upstreams.tokens, "team/tool", tag);
    const response = await get(`/v2/public/team/tool/manifests/${tag}`);
    expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
    const [token] = upstreams.tokens.requests.filter((r) => r.kind === "token");
    expect(token?.url.searchParams.get("service")).toBe("tokens.test");
    expect(token?.url.searchParams.getAll("scope")).toEqual(["repository:team/tool:pull"]);
    expect(token?.headers.has("Authorization")).toBe(false);
  });

  it("uses library/ in the scope for official images", async () => {
    await pushImage(upstreams.hub, "library/redis", tag);
    await (await get(`/v2/redis/manifests/${tag}`)).arrayBuffer();
    const [token] = upstreams.hub.requests.filter((r) => r.kind === "token");
    expect(token?.url.searchParams.get("scope")).toBe("repository:library/redis:pull");
  });

  it("caches the token: many requests to one repository cost one token request", async () => {
    const image = await pushImage(upstreams.tokens, "team/cached", tag);
    for (const digest of [...image.manifestDigests, ...image.layerDigests]) {
      const path = digest.startsWith("sha256") && image.layerDigests.includes(digest) ? "blobs" : "manifests";
      const response = await get(`/v2/public/team/cached/${path}/${digest}`);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    expect(upstreams.tokens.count("token")).toBe(1);
  });

  it("sends the configured credentials to the token service and reaches private repositories", async () => {
    const image = await pushImage(upstreams.tokens, "private/app", tag);
    const response = await get(`/v2/private/private/app/manifests/${tag}`);
    expect(response.status).toBe(200);
    expect(await sha256(await bytesOf(response))).toBe(image.indexDigest);
    const [token] = upstreams.tokens.requests.filter((r) => r.kind === "token");
    expect(token?.headers.get("Authorization")).toBe(
      `Basic ${btoa(`${UPSTREAM_CREDENTIALS.user}:${UPSTREAM_CREDENTIALS.password}`)}`,
    );
  });

  it("without credentials answers DENIED for a private repository and leaks nothing", async () => {
    await pushImage(upstreams.tokens, "private/app", tag);
    const response = await get(`/v2/public/private/app/manifests/${tag}`);
    // Client authentication is off: a 401 would only send the client into a login loop.
    expect(response.status).toBe(403);
    expect(await response.clone().json()).toMatchObject({ errors: [{ code: "DENIED" }] });
    await expectNoSecrets(response);
  });
});

describe("Basic-auth upstreams", () => {
  it("answer the Basic challenge with the configured credentials, then send them up front", async () => {
    const image = await pushImage(upstreams.basic, "team/basic", tag);
    for (const digest of image.manifestDigests) {
      const response = await get(`/v2/basic/team/basic/manifests/${digest}`);
      expect(response.status).toBe(200);
      await expectNoSecrets(response);
    }
    // One 401 to learn the scheme, then every request carries the credentials.
    expect(
      upstreams.basic.requests.filter((r) => !r.headers.has("Authorization")).length,
    ).toBeLessThanOrEqual(1);
  });
});

describe("upstream failures become OCI errors", () => {
  it("passes a 429 on as TOOMANYREQUESTS with Retry-After", async () => {
    upstreams.quay.failWith = 429;
    // Through another prefix of the same upstream: after a bare 429 the mirror leaves an upstream alone
    // until its Retry-After, which would hold back the tests that follow.
    const response = await get(`/v2/fresh/org/busy/manifests/${tag}`);
    expect(response.status).toBe(429);
    expect(response.headers.get("Retry-After")).toBe("42");
    expect(await response.json()).toMatchObject({ errors: [{ code: "TOOMANYREQUESTS" }] });
  });

  it("turns an upstream 5xx into 502 UNAVAILABLE", async () => {
    upstreams.quay.failWith = 503;
    const response = await get(`/v2/quay/org/down/manifests/${tag}`);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ errors: [{ code: "UNAVAILABLE" }] });
  });

  it("turns an unreachable upstream into 502 UNAVAILABLE without a stack trace", async () => {
    upstreams.spy.mockRejectedValue(new TypeError("Network connection lost."));
    const response = await get(`/v2/quay/org/unreachable/manifests/${tag}`);
    expect(response.status).toBe(502);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ errors: [{ code: "UNAVAILABLE" }] });
    expect(text).not.toMatch(/\bat \w|\.ts:\d/);
  });
});
