// Workload identity through the whole Worker: CI jobs and cluster nodes log in with their platform's
// OIDC token (user `oidc`, the JWT as the password, or the JWT as a Bearer), get what their issuer's
// rules allow and nothing else, and are refused with the mirror's challenge and an audit line otherwise.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { decode } from "hono/jwt";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import type { StatsSnapshot } from "../../src/platform/stats-object";
import { pushImage, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams } from "../support/mirror";
import { FakeIssuer, hs256WithPublicKey, unsignedToken } from "../support/oidc-issuer";

const ORIGIN = "https://issuer.test";
const ISSUERS = {
  ci: {
    issuer: ORIGIN,
    audience: "https://mirror.test",
    rules: [
      { claims: { repository_owner: "acme", ref: "refs/heads/*" }, allow: ["quay/org/*"] },
      { claims: { repository: "acme/release" }, allow: ["pool/team/*"] },
    ],
  },
};
const TOKEN_KEY = "a-long-random-secret-for-the-mirror-tokens";
const ADMIN = "admin-token-for-oidc-tests";
const CLAIMS = { repository_owner: "acme", ref: "refs/heads/main", repository: "acme/app" };

let issuer: FakeIssuer;
let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;
let logs: string[];
let test = 0;
let tag = "";
let ip = "";

beforeAll(async () => {
  issuer = await FakeIssuer.start(ORIGIN);
});
beforeEach(async () => {
  upstreams = fakeUpstreams([issuer]);
  tag = `t${++test}`;
  // Each spec is its own client address: the throttle's counts stay apart.
  ip = `198.51.100.${test}`;
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

/** The Worker with OIDC_ISSUERS (and only that, unless `extra` says otherwise). */
async function request(path: string, init: RequestInit = {}, extra: Record<string, unknown> = {}) {
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  if (!headers.has("CF-Connecting-IP")) headers.set("CF-Connecting-IP", ip);
  const response = await worker.fetch(
    new Request(`http://mirror.test${path}`, { ...init, headers }) as Request<
      unknown,
      IncomingRequestCfProperties
    >,
    { ...env, OIDC_ISSUERS: JSON.stringify(ISSUERS), MIRROR_TOKEN_KEY: TOKEN_KEY, ...extra },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;
const jwt = (claims: Record<string, unknown> = {}, lifetime?: number) =>
  issuer.sign({ ...CLAIMS, ...claims }, { lifetime });
const manifestOf = (repository: string, authorization: string) =>
  request(`/v2/quay/${repository}/manifests/${tag}`, {
    headers: { Authorization: authorization, Accept: ACCEPT_ALL },
  });

async function login(token: string): Promise<{ token: string; expires_in: number }> {
  const response = await request("/token?service=mirror.test&scope=repository:quay/org/app:pull", {
    headers: { Authorization: basic("oidc", token) },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { token: string; expires_in: number };
}

const auditLines = () =>
  logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.event === "pull");
const refusals = () =>
  logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.event === "auth.oidc_refused");

describe("logging in with a platform token", () => {
  it("with only OIDC_ISSUERS set, challenges an anonymous client", async () => {
    const response = await request(`/v2/quay/org/app/manifests/${tag}`);
    expect(response.status).toBe(401);
    expect(response.headers.get("WWW-Authenticate")).toBe(
      'Bearer realm="http://mirror.test/token",service="mirror.test"',
    );
    expect(upstreams.spy.mock.calls.length).toBe(0);
  });

  it("GET /token with user oidc and the JWT as password: a mirror token that pulls what the rules allow", async () => {
    const { token } = await login(await jwt());
    const allowed = await manifestOf("org/app", `Bearer ${token}`);
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
    upstreams.quay.reset();
    const refused = await manifestOf("other/app", `Bearer ${token}`);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ errors: [{ code: "DENIED" }] });
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("POST /token (containerd's password grant) with user oidc", async () => {
    const response = await request("/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "password",
        username: "oidc",
        password: await jwt(),
        service: "mirror.test",
      }),
    });
    expect(response.status).toBe(200);
    const { access_token } = (await response.json()) as { access_token: string };
    expect((await manifestOf("org/app", `Bearer ${access_token}`)).status).toBe(200);
  });

  it("Basic oidc:<JWT> and Bearer <JWT> straight on /v2/", async () => {
    const token = await jwt();
    expect((await manifestOf("org/app", basic("oidc", token))).status).toBe(200);
    expect((await manifestOf("org/app", `Bearer ${token}`)).status).toBe(200);
    expect((await manifestOf("other/app", `Bearer ${token}`)).status).toBe(403);
    expect((await request("/v2/", { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it("the mirror token carries the rules' allow list and expires at the latest with the JWT", async () => {
    const short = await jwt({}, 100);
    const { token, expires_in } = await login(short);
    expect(expires_in).toBeLessThanOrEqual(100);
    expect(expires_in).toBeGreaterThan(90);
    const { payload } = decode(token);
    const { payload: platform } = decode(short);
    expect(payload.exp).toBe(platform.exp);
    expect(payload).toMatchObject({
      sub: "oidc:ci:repo:acme/app:ref:refs/heads/main",
      allow: ["quay/org/*"],
    });
    // A long-lived JWT still gets the mirror's usual five minutes.
    expect((await login(await jwt({}, 3600))).expires_in).toBe(300);
  });

  it("a mirror token whose issuer was removed from OIDC_ISSUERS is refused", async () => {
    const { token } = await login(await jwt());
    const other = { other: { ...ISSUERS.ci, issuer: "https://other-issuer.test" } };
    const response = await request(
      `/v2/`,
      { headers: { Authorization: `Bearer ${token}` } },
      {
        OIDC_ISSUERS: JSON.stringify(other),
      },
    );
    expect(response.status).toBe(401);
  });

  it("works beside MIRROR_USERS: the users' passwords and OIDC tokens both log in", async () => {
    const extra = { MIRROR_USERS: JSON.stringify({ ci: "ci-password-1" }), MIRROR_TOKEN_KEY: undefined };
    const viaUser = await request(
      "/v2/",
      { headers: { Authorization: basic("ci", "ci-password-1") } },
      extra,
    );
    expect(viaUser.status).toBe(200);
    const viaOidc = await request("/v2/", { headers: { Authorization: basic("oidc", await jwt()) } }, extra);
    expect(viaOidc.status).toBe(200);
  });

  it("audits who pulled: oidc:<issuer>:<sub> and the claims the rules matched on", async () => {
    const response = await manifestOf("org/app", `Bearer ${(await login(await jwt())).token}`);
    expect(response.status).toBe(200);
    expect(auditLines().at(-1)).toMatchObject({
      user: "oidc:ci:repo:acme/app:ref:refs/heads/main",
      claims: { repository_owner: "acme", ref: "refs/heads/main" },
      status: 200,
    });
  });

  it("/_/stats topClients groups the upstream quota spent by the OIDC identity", async () => {
    upstreams.pool.quota = { limit: 100, window: 60 };
    await pushImage(upstreams.pool, "team/oidc", tag);
    const token = await jwt({ repository: "acme/release", sub: "repo:acme/release:environment:prod" });
    const response = await request(`/v2/pool/team/oidc/manifests/${tag}`, {
      headers: { Authorization: `Bearer ${token}`, Accept: ACCEPT_ALL },
    });
    expect(response.status).toBe(200);
    const stats = await request(
      "/_/stats",
      { headers: { Authorization: `Bearer ${ADMIN}` } },
      { ADMIN_TOKEN: ADMIN },
    );
    const snapshot = (await stats.json()) as StatsSnapshot;
    expect(snapshot.topClients).toContainEqual(
      expect.objectContaining({
        client: "oidc:ci:repo:acme/release:environment:prod",
        kind: "user",
        requests: 1,
      }),
    );
  });
});

describe("refusals: 401 with the mirror's challenge, an audit line naming the check, never the token", () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases: Array<[string, () => Promise<string>, string]> = [
    [
      "alg none",
      async () =>
        unsignedToken({ ...CLAIMS, iss: ORIGIN, aud: "https://mirror.test", sub: "x", exp: now() + 60 }),
      "algorithm",
    ],
    [
      "HS256 keyed with the RSA public key",
      () =>
        hs256WithPublicKey(issuer, {
          ...CLAIMS,
          iss: ORIGIN,
          aud: "https://mirror.test",
          sub: "x",
          iat: now(),
          exp: now() + 60,
        }),
      "algorithm",
    ],
    ["an unknown kid", () => issuer.sign(CLAIMS, { kid: "made-up" }), "unknown_key"],
    ["a wrong audience", () => jwt({ aud: "https://elsewhere.test" }), "audience"],
    ["a wrong issuer", () => jwt({ iss: "https://evil.test" }), "issuer"],
    ["an expired token", () => jwt({ iat: now() - 3600, exp: now() - 120 }), "expired"],
    ["a too long-lived token", () => jwt({}, 2 * 86_400), "lifetime"],
    ["no matching rule", () => jwt({ repository_owner: "mallory" }), "no_rule"],
    ["a missing claim", () => jwt({ ref: undefined }), "no_rule"],
  ];

  it.each(cases)("%s", async (_case, make, check) => {
    const token = await make();
    for (const authorization of [basic("oidc", token), `Bearer ${token}`]) {
      const response = await manifestOf("org/app", authorization);
      expect(response.status).toBe(401);
      expect(response.headers.get("WWW-Authenticate")).toBe(
        'Bearer realm="http://mirror.test/token",service="mirror.test"',
      );
    }
    const viaToken = await request("/token", { headers: { Authorization: basic("oidc", token) } });
    expect(viaToken.status).toBe(401);
    expect(refusals()).toHaveLength(3);
    expect(refusals().every((line) => line.check === check && line.ip === ip)).toBe(true);
    const [, payload = "", signature = ""] = token.split(".");
    for (const line of logs) {
      expect(line).not.toContain(payload);
      if (signature) expect(line).not.toContain(signature);
    }
    expect(upstreams.quay.requests).toEqual([]);
  });
});

describe("the login throttle", () => {
  it("counts failed OIDC logins per client address, never per the shared user name oidc", async () => {
    const bad = await jwt({ aud: "https://elsewhere.test" });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 12; attempt++) {
      statuses.push((await request("/v2/", { headers: { Authorization: basic("oidc", bad) } })).status);
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual([429, 429]);
    // The same address is held back even with a good token...
    const good = await jwt();
    expect((await request("/v2/", { headers: { Authorization: basic("oidc", good) } })).status).toBe(429);
    // ...but another CI job, from another address, logs in as `oidc` as usual.
    const elsewhere = await request("/v2/", {
      headers: { Authorization: basic("oidc", good), "CF-Connecting-IP": "203.0.113.9" },
    });
    expect(elsewhere.status).toBe(200);
  });

  it("counts an IPv6 client per /64: another address of the same network is held back too", async () => {
    const bad = await jwt({ aud: "https://elsewhere.test" });
    for (let attempt = 0; attempt < 10; attempt++) {
      const response = await request("/v2/", {
        headers: {
          Authorization: basic("oidc", bad),
          "CF-Connecting-IP": `2001:db8:0:${test}::${attempt + 1}`,
        },
      });
      expect(response.status).toBe(401);
    }
    const good = await jwt();
    const sameNetwork = await request("/v2/", {
      headers: { Authorization: `Bearer ${good}`, "CF-Connecting-IP": `2001:db8:0:${test}::ffff` },
    });
    expect(sameNetwork.status).toBe(429);
    const otherNetwork = await request("/v2/", {
      headers: { Authorization: `Bearer ${good}`, "CF-Connecting-IP": `2001:db8:1:${test}::1` },
    });
    expect(otherNetwork.status).toBe(200);
  });
});
