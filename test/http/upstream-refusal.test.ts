// An upstream that still answers 401 after the mirror's own login (bad upstream credentials, a private
// repository anonymous access cannot see): the client gets the mirror's challenge when client
// authentication is on, else 403 DENIED naming the upstream; never the upstream's WWW-Authenticate.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config";
import { forClient, unauthorized } from "../../src/http/auth";
import worker from "../../src/index";
import { RegistryError } from "../../src/oci/errors";
import { pushImage, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, UPSTREAM_CREDENTIALS } from "../support/mirror";

const USERS = { ci: "ci-password-1" };
const SECRETS = [
  UPSTREAM_CREDENTIALS.password,
  btoa(`${UPSTREAM_CREDENTIALS.user}:${UPSTREAM_CREDENTIALS.password}`),
  USERS.ci,
];

let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;
let test = 0;
let tag = "";
beforeEach(async () => {
  upstreams = fakeUpstreams();
  tag = `t${++test}`;
  image = await pushImage(upstreams.tokens, "private/app", tag);
  await pushImage(upstreams.basic, "team/app", tag);
});
afterEach(() => vi.restoreAllMocks());

async function request(path: string, init: RequestInit, extra: Record<string, unknown> = {}) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`http://mirror.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...extra },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

async function expectNoUpstreamChallengeOrSecret(response: Response): Promise<void> {
  const text = `${[...response.headers].join("\n")}\n${await response.clone().text()}`;
  expect(text).not.toContain("auth.tokens.test");
  expect(text).not.toContain("fake registry");
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

const privatePaths = (): Array<[string, string]> => [
  ["GET", `/v2/public/private/app/manifests/${tag}`],
  ["HEAD", `/v2/public/private/app/manifests/${tag}`],
  ["GET", `/v2/public/private/app/blobs/${image.layerDigests[0]}`],
  ["HEAD", `/v2/public/private/app/blobs/${image.layerDigests[1]}`],
];

describe("client authentication off", () => {
  it("a private repository anonymous access cannot see → 403 DENIED naming the upstream, no challenge", async () => {
    for (const [method, path] of privatePaths()) {
      const response = await request(path, { method, headers: { Accept: ACCEPT_ALL } });
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.headers.has("WWW-Authenticate"), `${method} ${path}`).toBe(false);
      if (method === "GET") {
        const body = (await response.clone().json()) as { errors: Array<{ code: string; message: string }> };
        expect(body.errors[0]?.code).toBe("DENIED");
        expect(body.errors[0]?.message).toContain('upstream "public"');
      }
      await expectNoUpstreamChallengeOrSecret(response);
    }
  });

  it.each([
    ["basic", "team/app", "Basic auth"],
    ["private", "private/app", "a token service"],
  ] as const)(
    "%s (%s, %s) stops accepting the mirror's credentials → 403 DENIED naming the upstream",
    async (prefix, name, _auth) => {
      const registry = prefix === "basic" ? upstreams.basic : upstreams.tokens;
      registry.credentialsRevoked = true;
      const response = await request(`/v2/${prefix}/${name}/manifests/${tag}`, {
        headers: { Accept: ACCEPT_ALL },
      });
      expect(response.status).toBe(403);
      expect(response.headers.has("WWW-Authenticate")).toBe(false);
      const body = (await response.clone().json()) as { errors: Array<{ code: string; message: string }> };
      expect(body.errors[0]).toMatchObject({ code: "DENIED" });
      expect(body.errors[0]?.message).toContain(`upstream "${prefix}"`);
      expect(body.errors[0]?.message).toContain("refused the mirror's credentials");
      await expectNoUpstreamChallengeOrSecret(response);
      // The mirror did log in (the refusal is the upstream's answer to its credentials, not a guess).
      expect(registry.requests.some((r) => r.headers.get("Authorization")?.startsWith("Basic "))).toBe(true);
    },
  );
});

describe("client authentication on (MIRROR_USERS)", () => {
  it("an authenticated client gets the mirror's own challenge, never the upstream's", async () => {
    const authorization = `Basic ${btoa(`ci:${USERS.ci}`)}`;
    for (const [method, path] of privatePaths()) {
      const response = await request(
        path,
        { method, headers: { Accept: ACCEPT_ALL, Authorization: authorization } },
        { MIRROR_USERS: JSON.stringify(USERS) },
      );
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(response.headers.get("WWW-Authenticate"), `${method} ${path}`).toBe(
        'Bearer realm="http://mirror.test/token",service="mirror.test"',
      );
      if (method === "GET") {
        const body = (await response.clone().json()) as { errors: Array<{ code: string; message: string }> };
        expect(body.errors[0]?.code).toBe("UNAUTHORIZED");
        expect(body.errors[0]?.message).toContain('upstream "public"');
      }
      await expectNoUpstreamChallengeOrSecret(response);
    }
  });
});

describe("forClient", () => {
  const base = { UPSTREAMS: { q: { url: "https://q.test" } } };
  const on = parseConfig({ ...base, MIRROR_USERS: JSON.stringify(USERS) });
  const off = parseConfig(base);
  const client = new Request("https://mirror.test/v2/q/a/manifests/x");
  const refusal = () => new RegistryError(401, "UNAUTHORIZED", 'upstream "q", repository "a" refused');

  it("leaves the mirror's own challenges and every other error alone", () => {
    const own = unauthorized(client);
    expect(forClient(own, client, on)).toBe(own);
    expect(forClient(own, client, off)).toBe(own);
    const missing = new RegistryError(404, "MANIFEST_UNKNOWN", "not found");
    expect(forClient(missing, client, off)).toBe(missing);
  });

  it("a 401 without a challenge: the mirror's challenge with client auth, 403 DENIED without", () => {
    expect(forClient(refusal(), client, on)).toMatchObject({
      status: 401,
      code: "UNAUTHORIZED",
      message: 'upstream "q", repository "a" refused',
      headers: { "WWW-Authenticate": 'Bearer realm="https://mirror.test/token",service="mirror.test"' },
    });
    expect(forClient(refusal(), client, off)).toMatchObject({
      status: 403,
      code: "DENIED",
      message: 'upstream "q", repository "a" refused',
      headers: {},
    });
    // Before the configuration is known there is no login to offer either.
    expect(forClient(refusal(), client, undefined)).toMatchObject({ status: 403, code: "DENIED" });
  });
});
