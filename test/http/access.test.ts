import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { pseudoRandomBytes, pushImage, pushManifest, sha256, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, storedBlob, UPSTREAM_CREDENTIALS } from "../support/mirror";

const USERS = {
  ci: "ci-password-1",
  robot: { password: "robot-password-2", allow: ["quay/org/*"] },
};
const SECRETS = [UPSTREAM_CREDENTIALS.password, USERS.ci, USERS.robot.password];

let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;
let logs: string[];
let test = 0;
let tag = "";
beforeEach(async () => {
  upstreams = fakeUpstreams();
  tag = `t${++test}`;
  image = await pushImage(upstreams.quay, "org/app", tag);
  await pushImage(upstreams.quay, "other/app", tag);
  logs = [];
  for (const method of ["log", "error", "warn", "info"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      logs.push(args.map(String).join(" "));
    });
  }
});
afterEach(() => vi.restoreAllMocks());

/** The Worker with client authentication switched on (and anything else the test adds). */
async function request(path: string, init: RequestInit = {}, extra: Record<string, unknown> = {}) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`http://mirror.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, MIRROR_USERS: JSON.stringify(USERS), ...extra },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;

async function tokenFor(user: string, password: string): Promise<string> {
  const response = await request("/token?service=mirror.test&scope=repository:quay/org/app:pull", {
    headers: { Authorization: basic(user, password) },
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { token: string; access_token: string; expires_in: number };
  expect(body.access_token).toBe(body.token);
  expect(body.expires_in).toBeGreaterThan(0);
  return body.token;
}

describe("client authentication (MIRROR_USERS)", () => {
  it("challenges an anonymous client the way docker login, skopeo, podman and containerd expect", async () => {
    for (const path of ["/v2/", `/v2/quay/org/app/manifests/${tag}`]) {
      const response = await request(path);
      expect(response.status).toBe(401);
      expect(response.headers.get("WWW-Authenticate")).toBe(
        'Bearer realm="http://mirror.test/token",service="mirror.test"',
      );
      expect(await response.json()).toMatchObject({ errors: [{ code: "UNAUTHORIZED" }] });
    }
    expect(upstreams.spy).not.toHaveBeenCalled();
  });

  it("issues a token for Basic credentials at /token and accepts it", async () => {
    const token = await tokenFor("ci", USERS.ci);
    const response = await request(`/v2/quay/org/app/manifests/${tag}`, {
      headers: { Authorization: `Bearer ${token}`, Accept: ACCEPT_ALL },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
  });

  it("issues a token for containerd's OAuth2 password grant (POST /token)", async () => {
    const response = await request("/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "password",
        username: "ci",
        password: USERS.ci,
        service: "mirror.test",
      }),
    });
    expect(response.status).toBe(200);
    const { access_token } = (await response.json()) as { access_token: string };
    const ping = await request("/v2/", { headers: { Authorization: `Bearer ${access_token}` } });
    expect(ping.status).toBe(200);
  });

  it("accepts Basic credentials on registry requests directly", async () => {
    const response = await request("/v2/", { headers: { Authorization: basic("ci", USERS.ci) } });
    expect(response.status).toBe(200);
  });

  it.each([
    ["a wrong password", basic("ci", "nope")],
    ["an unknown user", basic("mallory", USERS.ci)],
    ["a forged token", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJl"],
    ["garbage", "Basic %%%"],
  ])("refuses %s", async (_case, authorization) => {
    const response = await request("/v2/", { headers: { Authorization: authorization } });
    expect(response.status).toBe(401);
    const token = await request("/token", { headers: { Authorization: authorization } });
    expect(token.status).toBe(401);
  });

  it("refuses a token signed for another mirror's users", async () => {
    const token = await tokenFor("ci", USERS.ci);
    const ctx = createExecutionContext();
    const other = await worker.fetch(
      new Request("http://mirror.test/v2/", { headers: { Authorization: `Bearer ${token}` } }) as Request<
        unknown,
        IncomingRequestCfProperties
      >,
      { ...env, MIRROR_USERS: JSON.stringify({ ci: "another-password" }) },
      ctx,
    );
    expect(other.status).toBe(401);
  });

  it("lets a user pull only what their patterns allow, with no upstream request otherwise", async () => {
    const authorization = basic("robot", USERS.robot.password);
    const allowed = await request(`/v2/quay/org/app/manifests/${tag}`, {
      headers: { Authorization: authorization },
    });
    expect(allowed.status).toBe(200);
    upstreams.quay.reset();
    const refused = await request(`/v2/quay/other/app/manifests/${tag}`, {
      headers: { Authorization: authorization },
    });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ errors: [{ code: "DENIED" }] });
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("never sends the client's credentials upstream, and no secret appears in a response or log line", async () => {
    const token = await tokenFor("ci", USERS.ci);
    for (const path of [`/v2/quay/org/app/manifests/${tag}`, `/v2/private/private/app/manifests/${tag}`]) {
      const response = await request(path, {
        headers: { Authorization: `Bearer ${token}`, Accept: ACCEPT_ALL },
      });
      const text = `${[...response.headers].join("\n")}\n${await response.text()}`;
      for (const secret of SECRETS) expect(text).not.toContain(secret);
    }
    const sentUpstream = [...upstreams.quay.requests, ...upstreams.tokens.requests].map(
      (r) => r.headers.get("Authorization") ?? "",
    );
    for (const header of sentUpstream) {
      expect(header).not.toContain(token);
      expect(header).not.toBe(basic("ci", USERS.ci));
    }
    for (const line of logs) for (const secret of [...SECRETS, token]) expect(line).not.toContain(secret);
  });
});

describe("repository allow and deny lists per upstream", () => {
  const withLists = {
    MIRROR_USERS: "",
    UPSTREAMS: JSON.stringify({
      quay: {
        url: "https://quay.test",
        hosts: ["quay.io"],
        allow: ["org/*", "team/**"],
        deny: ["org/secret"],
      },
    }),
    DEFAULT_UPSTREAM: "",
  };

  it.each([
    ["a repository outside the allow-list", "/v2/quay/other/app/manifests/latest"],
    ["a denied repository inside the allow-list", "/v2/quay/org/secret/manifests/latest"],
    ["a blob through a refused repository", `/v2/quay/other/app/blobs/sha256:${"a".repeat(64)}`],
  ])("refuse %s with DENIED and no upstream request", async (_case, path) => {
    const response = await request(path, {}, withLists);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ errors: [{ code: "DENIED" }] });
    expect(upstreams.spy).not.toHaveBeenCalled();
  });

  it("let allowed repositories through", async () => {
    const response = await request(
      `/v2/quay/org/app/manifests/${tag}`,
      { headers: { Accept: ACCEPT_ALL } },
      withLists,
    );
    expect(response.status).toBe(200);
  });
});

describe("rate limiting", () => {
  it("answers TOOMANYREQUESTS with Retry-After when the client's budget is spent", async () => {
    const limiter = { limit: vi.fn(async () => ({ success: false })) };
    const response = await request(
      "/v2/",
      { headers: { Authorization: basic("ci", USERS.ci) } },
      { RATE_LIMIT: "on", RATE_LIMITER: limiter },
    );
    expect(response.status).toBe(429);
    expect(response.headers.get("Retry-After")).toBe("60");
    expect(limiter.limit).toHaveBeenCalledWith({ key: "ci" });
  });

  it("is off unless RATE_LIMIT is on", async () => {
    const limiter = { limit: vi.fn(async () => ({ success: false })) };
    const response = await request(
      "/v2/",
      { headers: { Authorization: basic("ci", USERS.ci) } },
      { RATE_LIMITER: limiter },
    );
    expect(response.status).toBe(200);
    expect(limiter.limit).not.toHaveBeenCalled();
  });

  it("counts a registry request once, even when both the /v2/ and the /<prefix>/v2/ form match it", async () => {
    const limiter = { limit: vi.fn(async () => ({ success: true })) };
    // `/v2/v2/` reads as `/v2/` + `v2/` and as `/<prefix "v2">/v2/`: one client request all the same.
    const response = await request(
      "/v2/v2/",
      { headers: { Authorization: basic("ci", USERS.ci) } },
      { RATE_LIMIT: "on", RATE_LIMITER: limiter },
    );
    expect(response.status).toBe(404);
    expect(limiter.limit).toHaveBeenCalledTimes(1);
  });

  it("leaves paths outside the registry API alone: no credentials asked, nothing counted", async () => {
    const limiter = { limit: vi.fn(async () => ({ success: false })) };
    const response = await request("/not-the-api", {}, { RATE_LIMIT: "on", RATE_LIMITER: limiter });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ errors: [{ code: "UNSUPPORTED" }] });
    expect(limiter.limit).not.toHaveBeenCalled();
  });
});

describe("audit log", () => {
  it("also writes a line for a request refused before it named a repository", async () => {
    await request("/v2/", { headers: { Authorization: basic("ci", "wrong") } });
    const pulls = logs.filter((line) => line.includes('"event":"pull"')).map((line) => JSON.parse(line));
    expect(pulls).toHaveLength(1);
    expect(pulls[0]).toMatchObject({ user: "anonymous", path: "/v2/", status: 401, method: "GET" });
  });

  it("writes one JSON line per pull with user, upstream, repository, reference, digest and cache status", async () => {
    await request(`/v2/quay/org/app/manifests/${tag}`, {
      headers: { Authorization: basic("ci", USERS.ci), Accept: ACCEPT_ALL },
    });
    const pulls = logs.filter((line) => line.includes('"event":"pull"')).map((line) => JSON.parse(line));
    expect(pulls).toHaveLength(1);
    expect(pulls[0]).toMatchObject({
      user: "ci",
      upstream: "quay",
      repository: "org/app",
      reference: tag,
      digest: image.indexDigest,
      cache: "MISS",
      status: 200,
    });
    expect(pulls[0].time).toBeTypeOf("string");
    expect(pulls[0].ip).toBeTypeOf("string");
  });
});

describe("private content stays private though blobs are stored once by digest", () => {
  it("does not serve a layer cached through a private repository to another repository", async () => {
    const secret = await pushImage(upstreams.tokens, "private/app", tag, 50 + test);
    const layer = secret.layerDigests[0] ?? "";
    const auth = { headers: { Authorization: basic("ci", USERS.ci) } };
    const first = await request(`/v2/private/private/app/blobs/${layer}`, auth);
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    expect(await storedBlob(layer)).not.toBeNull();

    for (const path of [
      `/v2/public/team/tool/blobs/${layer}`, // the same registry, without the mirror's credentials
      `/v2/quay/org/app/blobs/${layer}`, // another upstream
      `/v2/private/other/repo/blobs/${layer}`, // the same credentials, a repository without the layer
    ]) {
      for (const method of ["GET", "HEAD"]) {
        const response = await request(path, { ...auth, method });
        expect(response.status, `${method} ${path}`).toBe(404);
      }
    }
    const ranged = await request(`/v2/quay/org/app/blobs/${layer}`, {
      headers: { ...auth.headers, Range: "bytes=0-9" },
    });
    expect(ranged.status).toBe(404);
  });

  /**
   * The private repository and another one ask for a layer at once: the owner gets it, the other 404.
   * Whichever request comes first starts the download the other one would join.
   */
  async function ownerAndIntruderAtOnce(layer: string): Promise<void> {
    const auth = { headers: { Authorization: basic("ci", USERS.ci) } };
    const [owner, intruder] = await Promise.all([
      request(`/v2/private/private/app/blobs/${layer}`, auth),
      request(`/v2/public/team/tool/blobs/${layer}`, auth),
    ]);
    expect(owner.status).toBe(200);
    expect(await sha256(new Uint8Array(await owner.arrayBuffer()))).toBe(layer);
    expect(intruder.status).toBe(404);
  }

  it("does not let another repository join a download made with credentials", async () => {
    const secret = await pushImage(upstreams.tokens, "private/app", tag, 60 + test);
    await ownerAndIntruderAtOnce(secret.layerDigests[0] ?? "");
  });

  it("does not let another repository read a download made with credentials that is too large to spool", async () => {
    const big = pseudoRandomBytes(17 * 1024 * 1024 + 3, 65 + test);
    const layer = await sha256(big);
    upstreams.tokens.addBlob(big, layer, "private/app");
    await ownerAndIntruderAtOnce(layer);
    expect(await storedBlob(layer)).not.toBeNull();
    const auth = { headers: { Authorization: basic("ci", USERS.ci) } };
    const later = await request(`/v2/public/team/tool/blobs/${layer}`, { ...auth, method: "HEAD" });
    expect(later.status).toBe(404);
  });

  it("serves it again through its own repository without asking the upstream", async () => {
    const secret = await pushImage(upstreams.tokens, "private/app", tag, 70 + test);
    const layer = secret.layerDigests[1] ?? "";
    const auth = { headers: { Authorization: basic("ci", USERS.ci) } };
    await (await request(`/v2/private/private/app/blobs/${layer}`, auth)).arrayBuffer();
    await storedBlob(layer);
    upstreams.tokens.reset();
    const again = await request(`/v2/private/private/app/blobs/${layer}`, auth);
    expect(again.headers.get("X-Mirror-Cache")).toBe("HIT");
    await again.arrayBuffer();
    expect(upstreams.tokens.requests).toEqual([]);
  });

  it("does not link the blobs a manifest names: a manifest pushed elsewhere grants no private blob", async () => {
    const secret = await pushImage(upstreams.tokens, "private/app", tag, 90 + test);
    const auth = { Authorization: basic("ci", USERS.ci), Accept: ACCEPT_ALL };
    const [layer = "", other = ""] = secret.layerDigests;
    for (const digest of [layer, other]) {
      await (await request(`/v2/private/private/app/blobs/${digest}`, { headers: auth })).arrayBuffer();
      expect(await storedBlob(digest)).not.toBeNull();
    }
    // Someone who may push to another repository of the upstream names the private digests, one of
    // them as a foreign layer (with `urls`), in a manifest of their own.
    const body = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: other, size: 1 },
        layers: [
          { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer, size: 1 },
          {
            mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            digest: other,
            size: 1,
            urls: ["https://example.test/layer"],
          },
        ],
      }),
    );
    const mediaType = "application/vnd.oci.image.manifest.v1+json";
    const digest = await pushManifest(upstreams.tokens, "private/evil", "latest", body, mediaType);
    for (const reference of ["latest", digest]) {
      const manifest = await request(`/v2/private/private/evil/manifests/${reference}`, { headers: auth });
      expect(manifest.status).toBe(200);
      await manifest.arrayBuffer();
    }
    for (const blob of [layer, other]) {
      for (const method of ["GET", "HEAD"]) {
        const response = await request(`/v2/private/private/evil/blobs/${blob}`, { headers: auth, method });
        expect(response.status, `${method} ${blob}`).toBe(404);
        await response.arrayBuffer();
      }
    }
  });

  it("links a stored private blob to another repository once the upstream confirms it there", async () => {
    const secret = await pushImage(upstreams.tokens, "private/app", tag, 95 + test);
    const auth = { Authorization: basic("ci", USERS.ci) };
    // Another repository of the same upstream pulls the layer first, then the private one asks for it.
    const layer = secret.layerDigests[0] ?? "";
    upstreams.tokens.addBlob(secret.layers[0] ?? new Uint8Array(), layer, "private/fork");
    await (await request(`/v2/private/private/fork/blobs/${layer}`, { headers: auth })).arrayBuffer();
    await storedBlob(layer);
    upstreams.tokens.reset();
    const first = await request(`/v2/private/private/app/blobs/${layer}`, { headers: auth });
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    expect(upstreams.tokens.count("blob", "HEAD")).toBeGreaterThan(0); // the confirmation
    expect(upstreams.tokens.count("blob", "GET")).toBe(0); // served from the store
    upstreams.tokens.reset();
    const again = await request(`/v2/private/private/app/blobs/${layer}`, { headers: auth });
    expect(again.status).toBe(200);
    await again.arrayBuffer();
    expect(upstreams.tokens.requests).toEqual([]); // linked now
  });

  it("forgets a repository's links when it is purged: the upstream is asked again", async () => {
    const secret = await pushImage(upstreams.tokens, "private/app", tag, 97 + test);
    const auth = { Authorization: basic("ci", USERS.ci) };
    const admin = { ADMIN_TOKEN: "admin-token" };
    const layer = secret.layerDigests[0] ?? "";
    await (await request(`/v2/private/private/app/blobs/${layer}`, { headers: auth })).arrayBuffer();
    await storedBlob(layer);
    const purge = await request(
      "/_/images/private/private/app",
      { method: "DELETE", headers: { Authorization: "Bearer admin-token" } },
      admin,
    );
    expect(purge.status).toBe(200);
    expect(await purge.json()).toMatchObject({ complete: true });
    upstreams.tokens.reset();
    const again = await request(`/v2/private/private/app/blobs/${layer}`, { headers: auth });
    expect(again.status).toBe(200);
    await again.arrayBuffer();
    expect(upstreams.tokens.count("blob", "HEAD")).toBeGreaterThan(0);
  });
});
