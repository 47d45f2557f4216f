import { describe, expect, it } from "vitest";
import type { UpstreamConfig } from "../../src/config";
import { RegistryError } from "../../src/oci/errors";
import { TokenCache } from "../../src/upstream/tokens";
import { Transport } from "../../src/upstream/transport";
import { type AuthMode, FakeRegistry, pseudoRandomBytes, sha256 } from "../support/fake-registry";
import { registryRejection } from "../support/rejection";
import { upstreamConfig } from "../support/upstream-config";

const CREDENTIALS = { username: "robot", password: "upstream-s3cret" };
const BASIC = `Basic ${btoa(`${CREDENTIALS.username}:${CREDENTIALS.password}`)}`;

function upstream(url: string, authHosts: string[] = []): UpstreamConfig {
  return upstreamConfig({ url, authHosts, accounts: [CREDENTIALS] });
}

/**
 * The network the client sees: the fake registries, and any other host, which plays a hostile token
 * service (it records what it got and hands out a token to anyone).
 */
function network(registries: readonly FakeRegistry[]) {
  const foreign: Array<{ url: string; authorization: string | null }> = [];
  const fetcher = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const registry = registries.find((candidate) => candidate.owns(url));
    if (registry) return registry.handle(request);
    foreign.push({ url: request.url, authorization: request.headers.get("Authorization") });
    return Response.json({ token: "evil-token", expires_in: 300 });
  };
  return { fetcher, foreign };
}

async function registryWithBlob(options: { origin: string; auth: AuthMode; cdnOrigin?: string }) {
  const registry = new FakeRegistry(options);
  const bytes = pseudoRandomBytes(1024, 7);
  const digest = await sha256(bytes);
  registry.addBlob(bytes, digest, "team/app");
  return { registry, digest };
}

/** What a request came to: the error it threw, or the status it answered with. */
async function settle(
  promise: Promise<Response>,
): Promise<{ status: number; code?: string; message?: string }> {
  try {
    const response = await promise;
    await response.body?.cancel();
    return { status: response.status };
  } catch (error) {
    if (error instanceof RegistryError)
      return { status: error.status, code: error.code, message: error.message };
    throw error;
  }
}

const bearer = (realmOrigin: string): AuthMode => ({
  kind: "bearer",
  realmOrigin,
  service: "reg.test",
  user: CREDENTIALS.username,
  password: CREDENTIALS.password,
});

describe("a 401 from a redirect target (CDN, signed URL)", () => {
  it.each([
    ['Bearer realm="http://evil.test/token",service="cdn"', "a foreign http realm"],
    ['Bearer realm="https://auth.reg.test/token",service="reg.test"', "even the upstream's own realm"],
    ['Basic realm="cdn"', "a Basic challenge"],
  ])("%s (%s) is an upstream error: no credentials leave, no realm is remembered", async (challenge) => {
    const { registry, digest } = await registryWithBlob({
      origin: "https://reg.test",
      cdnOrigin: "https://cdn.test",
      auth: { kind: "basic", user: CREDENTIALS.username, password: CREDENTIALS.password },
    });
    registry.cdnChallenge = challenge;
    const { fetcher, foreign } = network([registry]);
    const tokens = new TokenCache();
    const client = new Transport(upstream("https://reg.test"), tokens, fetcher);

    // Twice: the second request sends the credentials up front, as after any first contact.
    const outcomes = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      outcomes.push(
        await settle(client.request({ name: "team/app", path: `blobs/${digest}`, method: "GET" })),
      );
    }
    expect(foreign).toEqual([]);
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ status: 502, code: "UNAVAILABLE" });
      expect(outcome.message).toContain("redirect target");
      expect(outcome.message).not.toContain(CREDENTIALS.password);
    }
    const cdn = registry.requests.filter((request) => request.kind === "cdn");
    expect(cdn.length).toBeGreaterThan(0);
    expect(cdn.filter((request) => request.headers.has("Authorization"))).toEqual([]);
    // The upstream itself challenged with Basic; the CDN's challenge was not taken for the upstream's.
    expect(tokens.knownChallenge("https://reg.test")).toEqual({ scheme: "basic" });
  });

  it("without the hostile challenge the same blob is fetched, and the CDN gets no credentials", async () => {
    const { registry, digest } = await registryWithBlob({
      origin: "https://reg.test",
      cdnOrigin: "https://cdn.test",
      auth: { kind: "basic", user: CREDENTIALS.username, password: CREDENTIALS.password },
    });
    const { fetcher, foreign } = network([registry]);
    const client = new Transport(upstream("https://reg.test"), new TokenCache(), fetcher);
    const response = await client.request({ name: "team/app", path: `blobs/${digest}`, method: "GET" });
    expect(response.status).toBe(200);
    expect(await sha256(new Uint8Array(await response.arrayBuffer()))).toBe(digest);
    expect(foreign).toEqual([]);
  });
});

describe("the upstream's own challenge: which realms get the credentials", () => {
  it.each([
    ["https://evil.test", "a host outside the upstream's domain"],
    ["http://auth.reg.test", "plain http for an https upstream"],
    ["https://reg.test.evil.test", "a look-alike suffix"],
  ])("refuses the realm %s (%s): no token request, 502 naming authHosts", async (realmOrigin) => {
    const { registry, digest } = await registryWithBlob({
      origin: "https://reg.test",
      auth: bearer(realmOrigin),
    });
    const { fetcher, foreign } = network([registry]);
    const tokens = new TokenCache();
    const client = new Transport(upstream("https://reg.test"), tokens, fetcher);

    const error = await registryRejection(
      client.request({ name: "team/app", path: `blobs/${digest}`, method: "GET" }),
    );
    expect(error).toMatchObject({ status: 502, code: "UNAVAILABLE" });
    expect(error.message).toMatch(/token realm .*authHosts/);
    expect(registry.count("token")).toBe(0);
    expect(foreign).toEqual([]);
    expect(tokens.knownChallenge("https://reg.test")).toBeUndefined();
  });

  it.each<[string, string[]]>([
    ["https://auth.reg.test", []],
    ["https://reg.test:8443", []],
    ["https://login.idp.test", ["login.idp.test"]],
  ])("sends the credentials to the realm %s (authHosts %j)", async (realmOrigin, authHosts) => {
    const { registry, digest } = await registryWithBlob({
      origin: "https://reg.test",
      auth: bearer(realmOrigin),
    });
    const { fetcher } = network([registry]);
    const client = new Transport(upstream("https://reg.test", authHosts), new TokenCache(), fetcher);
    const response = await client.request({ name: "team/app", path: `blobs/${digest}`, method: "GET" });
    expect(response.status).toBe(200);
    await response.body?.cancel();
    const [token] = registry.requests.filter((request) => request.kind === "token");
    expect(token?.headers.get("Authorization")).toBe(BASIC);
  });

  it("a loopback http upstream: a realm on the same host (another port) is asked, localhost is not", async () => {
    const same = await registryWithBlob({
      origin: "http://127.0.0.1:5000",
      auth: bearer("http://127.0.0.1:5001"),
    });
    const sameNet = network([same.registry]);
    const ok = await new Transport(
      upstream("http://127.0.0.1:5000"),
      new TokenCache(),
      sameNet.fetcher,
    ).request({ name: "team/app", path: `blobs/${same.digest}`, method: "GET" });
    expect(ok.status).toBe(200);
    await ok.body?.cancel();

    const other = await registryWithBlob({
      origin: "http://127.0.0.1:5000",
      auth: bearer("http://localhost:5001"),
    });
    const otherNet = network([other.registry]);
    const client = new Transport(upstream("http://127.0.0.1:5000"), new TokenCache(), otherNet.fetcher);
    const error = await registryRejection(
      client.request({ name: "team/app", path: `blobs/${other.digest}`, method: "GET" }),
    );
    expect(error.status).toBe(502);
    expect(other.registry.count("token")).toBe(0);
  });
});
