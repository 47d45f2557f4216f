// Every refusal of a platform token, and how the issuer's keys are fetched and kept.
import { beforeEach, describe, expect, it } from "vitest";
import {
  IssuerKeys,
  MIN_FETCH_INTERVAL_MS,
  type OidcIssuer,
  OidcVerifier,
  parseOidcIssuers,
} from "../../../src/auth/oidc";
import { FakeIssuer, hs256WithPublicKey, makeKey, unsignedToken } from "../../support/oidc-issuer";

const ORIGIN = "https://issuer.test";
let issuer: FakeIssuer;
let clock: number;
let verifier: OidcVerifier;
let keys: IssuerKeys | null;

function makeVerifier(extra: Record<string, unknown> = {}, lifetime?: string): OidcVerifier {
  const config = parseOidcIssuers(
    JSON.stringify({
      ci: {
        issuer: ORIGIN,
        audience: ["https://mirror.test", "other-audience"],
        rules: [
          { claims: { repository_owner: "acme", ref: "refs/heads/*" }, allow: ["quay/acme/*"] },
          { claims: { repository: "acme/release" }, allow: ["ghcr/acme/**"] },
        ],
        ...extra,
      },
    }),
    lifetime,
  );
  if (!config) throw new Error("no config");
  keys = null;
  return new OidcVerifier(
    config,
    (configured: OidcIssuer) => {
      keys ??= new IssuerKeys(configured, issuer.fetch, () => clock);
      return keys;
    },
    () => clock,
  );
}

const CLAIMS = { repository_owner: "acme", ref: "refs/heads/main", repository: "acme/app" };

beforeEach(async () => {
  issuer = await FakeIssuer.start(ORIGIN);
  clock = Date.now();
  verifier = makeVerifier();
});

describe("a valid platform token", () => {
  it("passes with an RSA or an EC key, giving the identity, the rules' allow list and the token's expiry", async () => {
    for (const key of [issuer.keys.rsa, issuer.keys.ec]) {
      const token = await issuer.sign(CLAIMS, { key, now: clock });
      const result = await verifier.verify(token);
      expect(result).toEqual({
        ok: true,
        identity: {
          issuer: "ci",
          subject: "repo:acme/app:ref:refs/heads/main",
          allow: ["quay/acme/*"],
          matched: { repository_owner: "acme", ref: "refs/heads/main" },
          expiresAt: Math.floor(clock / 1000) + 600,
        },
      });
    }
    // Discovery once, the JWKS once: both keys came in one set.
    expect(issuer.served).toEqual(["/.well-known/openid-configuration", "/keys"]);
  });

  it("joins the allow lists of every rule the claims match", async () => {
    const token = await issuer.sign({ ...CLAIMS, repository: "acme/release" }, { now: clock });
    const result = await verifier.verify(token);
    expect(result.ok && result.identity.allow).toEqual(["quay/acme/*", "ghcr/acme/**"]);
  });

  it("allows 60 s of clock skew on nbf and iat, none on exp", async () => {
    const now = Math.floor(clock / 1000);
    const token = await issuer.sign(
      { ...CLAIMS, iat: now + 50, nbf: now + 50, exp: now + 600 },
      { now: clock },
    );
    expect((await verifier.verify(token)).ok).toBe(true);
    const expiredJustNow = await issuer.sign({ ...CLAIMS, exp: now, iat: now - 600 }, { now: clock });
    expect(await verifier.verify(expiredJustNow)).toMatchObject({ ok: false, check: "expired" });
  });
});

describe("refusals, each naming the check that failed", () => {
  const now = () => Math.floor(clock / 1000);

  it("alg none", async () => {
    const token = unsignedToken({
      ...CLAIMS,
      iss: ORIGIN,
      aud: "https://mirror.test",
      sub: "x",
      exp: now() + 60,
    });
    expect(await verifier.verify(token)).toEqual({ ok: false, check: "algorithm", issuer: "ci" });
    // Refused before any key was looked up.
    expect(issuer.served).toEqual([]);
  });

  it("HS256 keyed with the issuer's RSA public key", async () => {
    const token = await hs256WithPublicKey(issuer, {
      ...CLAIMS,
      iss: ORIGIN,
      aud: "https://mirror.test",
      sub: "x",
      iat: now(),
      exp: now() + 60,
    });
    expect(await verifier.verify(token)).toEqual({ ok: false, check: "algorithm", issuer: "ci" });
    expect(issuer.served).toEqual([]);
  });

  it("a token signed by a key the issuer never published (with a known kid): signature", async () => {
    const stranger = await makeKey(issuer.keys.rsa.kid, "RS256");
    const token = await issuer.sign(CLAIMS, { key: stranger, now: clock });
    expect(await verifier.verify(token)).toMatchObject({ ok: false, check: "signature", issuer: "ci" });
  });

  it("an EC-signed token naming the RSA key's kid", async () => {
    const token = await issuer.sign(CLAIMS, { key: issuer.keys.ec, kid: issuer.keys.rsa.kid, now: clock });
    expect(await verifier.verify(token)).toMatchObject({ ok: false, check: "unknown_key" });
  });

  it("an issuer that is not configured (no fetch to it)", async () => {
    const token = await issuer.sign({ ...CLAIMS, iss: "https://evil.test" }, { now: clock });
    expect(await verifier.verify(token)).toEqual({ ok: false, check: "issuer" });
    expect(issuer.served).toEqual([]);
  });

  it("a wrong audience, and a token with none", async () => {
    const wrong = await issuer.sign({ ...CLAIMS, aud: "https://another-mirror.test" }, { now: clock });
    expect(await verifier.verify(wrong)).toMatchObject({ ok: false, check: "audience" });
    const none = await issuer.sign({ ...CLAIMS, aud: undefined }, { now: clock });
    expect(await verifier.verify(none)).toMatchObject({ ok: false, check: "missing_claim", detail: "aud" });
    const listed = await issuer.sign({ ...CLAIMS, aud: ["x", "other-audience"] }, { now: clock });
    expect((await verifier.verify(listed)).ok).toBe(true);
  });

  it("expired, and without exp", async () => {
    const expired = await issuer.sign({ ...CLAIMS, iat: now() - 700, exp: now() - 1 }, { now: clock });
    expect(await verifier.verify(expired)).toMatchObject({ ok: false, check: "expired" });
    const endless = await issuer.sign({ ...CLAIMS, exp: undefined }, { now: clock });
    expect(await verifier.verify(endless)).toMatchObject({
      ok: false,
      check: "missing_claim",
      detail: "exp",
    });
  });

  it("not yet valid, or issued in the future (past the skew)", async () => {
    const early = await issuer.sign({ ...CLAIMS, nbf: now() + 61 }, { now: clock });
    expect(await verifier.verify(early)).toMatchObject({ ok: false, check: "not_yet_valid" });
    const future = await issuer.sign({ ...CLAIMS, iat: now() + 61, nbf: undefined }, { now: clock });
    expect(await verifier.verify(future)).toMatchObject({ ok: false, check: "issued_in_future" });
  });

  it("too long-lived: past OIDC_MAX_TOKEN_LIFETIME (24 h by default) from iat", async () => {
    const day = await issuer.sign(CLAIMS, { lifetime: 86_400, now: clock });
    expect((await verifier.verify(day)).ok).toBe(true);
    const longer = await issuer.sign(CLAIMS, { lifetime: 86_401, now: clock });
    expect(await verifier.verify(longer)).toMatchObject({ ok: false, check: "lifetime" });
    const noIat = await issuer.sign(
      { ...CLAIMS, iat: undefined, nbf: undefined },
      { lifetime: 90_000, now: clock },
    );
    expect(await verifier.verify(noIat)).toMatchObject({ ok: false, check: "lifetime" });
    const strict = makeVerifier({}, "3600");
    expect(await strict.verify(day)).toMatchObject({ ok: false, check: "lifetime" });
  });

  it("no matching rule, and a claim a rule needs missing (the verified subject is named)", async () => {
    const other = await issuer.sign({ ...CLAIMS, repository_owner: "mallory" }, { now: clock });
    expect(await verifier.verify(other)).toEqual({
      ok: false,
      check: "no_rule",
      issuer: "ci",
      subject: "repo:acme/app:ref:refs/heads/main",
    });
    const missing = await issuer.sign({ ref: "refs/heads/main" }, { now: clock });
    expect(await verifier.verify(missing)).toMatchObject({ ok: false, check: "no_rule" });
  });

  it("without a subject", async () => {
    const token = await issuer.sign({ ...CLAIMS, sub: undefined }, { now: clock });
    expect(await verifier.verify(token)).toMatchObject({ ok: false, check: "missing_claim", detail: "sub" });
  });

  it("garbage and oversized tokens, without a fetch", async () => {
    for (const token of ["", "abc", "a.b.c", `${"a".repeat(20_000)}.b.c`, "eyJhbGciOiJSUzI1NiJ9.%%%.x"]) {
      expect(await verifier.verify(token)).toMatchObject({ ok: false, check: "malformed" });
    }
    expect(issuer.served).toEqual([]);
  });
});

describe("the issuer's keys", () => {
  it("a flood of unknown kids costs the issuer at most one JWKS fetch a minute", async () => {
    expect((await verifier.verify(await issuer.sign(CLAIMS, { now: clock }))).ok).toBe(true);
    expect(issuer.jwksFetches).toBe(1);
    clock += MIN_FETCH_INTERVAL_MS;
    for (let index = 0; index < 100; index++) {
      const token = await issuer.sign(CLAIMS, { kid: `random-${index}`, now: clock });
      expect(await verifier.verify(token)).toMatchObject({ ok: false, check: "unknown_key" });
      clock += 1000;
    }
    // 100 unknown kids over 100 s: one refetch for the first, one when the minute had passed.
    expect(issuer.jwksFetches).toBe(3);
    // Known keys still verify throughout.
    expect((await verifier.verify(await issuer.sign(CLAIMS, { now: clock }))).ok).toBe(true);
  });

  it("a rotated-in key is picked up by refetching for its kid; the set lives as long as the JWKS says", async () => {
    issuer.jwksCacheControl = "public, max-age=3600";
    expect((await verifier.verify(await issuer.sign(CLAIMS, { now: clock }))).ok).toBe(true);
    const rotated = await makeKey("rsa-2", "RS256");
    issuer.published = [rotated, issuer.keys.ec];
    clock += MIN_FETCH_INTERVAL_MS;
    expect((await verifier.verify(await issuer.sign(CLAIMS, { key: rotated, now: clock }))).ok).toBe(true);
    expect(issuer.jwksFetches).toBe(2);
    // The issuer withdrew the old key: its tokens are refused from the new set on.
    expect(await verifier.verify(await issuer.sign(CLAIMS, { now: clock }))).toMatchObject({
      check: "unknown_key",
    });
    // Known keys are served from the cache for the set's max-age, then the set is fetched again.
    clock += 3_599_000;
    expect((await verifier.verify(await issuer.sign(CLAIMS, { key: rotated, now: clock }))).ok).toBe(true);
    expect(issuer.jwksFetches).toBe(2);
    clock += 1000;
    expect((await verifier.verify(await issuer.sign(CLAIMS, { key: rotated, now: clock }))).ok).toBe(true);
    expect(issuer.jwksFetches).toBe(3);
  });

  it("a failing JWKS fetch keeps the cached keys", async () => {
    expect((await verifier.verify(await issuer.sign(CLAIMS, { now: clock }))).ok).toBe(true);
    issuer.failWith = 503;
    clock += 3_600_000; // past the set's lifetime (300 s)
    expect((await verifier.verify(await issuer.sign(CLAIMS, { now: clock }))).ok).toBe(true);
    expect(issuer.served.at(-1)).toBe("/keys");
    expect(await verifier.verify(await issuer.sign(CLAIMS, { kid: "new", now: clock }))).toMatchObject({
      ok: false,
      check: "unknown_key",
    });
  });

  it("no keys at all: refused as keys_unavailable, and the issuer is asked again only after a minute", async () => {
    issuer.failWith = 500;
    const token = await issuer.sign(CLAIMS, { now: clock });
    expect(await verifier.verify(token)).toMatchObject({
      ok: false,
      check: "keys_unavailable",
      detail: "issuer.test answered 500",
    });
    expect(await verifier.verify(token)).toMatchObject({ ok: false, check: "keys_unavailable" });
    expect(issuer.served).toHaveLength(1);
    issuer.failWith = null;
    clock += MIN_FETCH_INTERVAL_MS;
    expect((await verifier.verify(token)).ok).toBe(true);
  });

  it("refuses a discovery document that names another issuer or an http jwks_uri", async () => {
    issuer.discovery = { issuer: "https://evil.test", jwks_uri: `${ORIGIN}/keys` };
    const token = await issuer.sign(CLAIMS, { now: clock });
    expect(await verifier.verify(token)).toMatchObject({
      check: "keys_unavailable",
      detail: expect.stringContaining("another issuer"),
    });
    issuer.discovery = { issuer: ORIGIN, jwks_uri: "http://issuer.test/keys" };
    clock += MIN_FETCH_INTERVAL_MS;
    expect(await verifier.verify(token)).toMatchObject({
      check: "keys_unavailable",
      detail: expect.stringContaining("not https"),
    });
    expect(issuer.jwksFetches).toBe(0);
  });

  it("uses a configured jwksUrl without discovery", async () => {
    verifier = makeVerifier({ jwksUrl: `${ORIGIN}/keys` });
    expect((await verifier.verify(await issuer.sign(CLAIMS, { now: clock }))).ok).toBe(true);
    expect(issuer.served).toEqual(["/keys"]);
  });

  it("gives up on an issuer that does not answer in time, and on a redirect", async () => {
    const config = parseOidcIssuers(
      JSON.stringify({
        ci: {
          issuer: ORIGIN,
          audience: "https://mirror.test",
          rules: [{ claims: { sub: "*" }, allow: ["quay/*"] }],
        },
      }),
      undefined,
    );
    const ci = config?.issuers.get("ci");
    if (!config || !ci) throw new Error("no config");
    // Answers only when the request is given up.
    const silent = (_url: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) =>
        init.signal?.addEventListener("abort", () => reject(new Error("aborted"))),
      );
    const slow = new OidcVerifier(
      config,
      () => new IssuerKeys(ci, silent, () => clock, 50),
      () => clock,
    );
    expect(await slow.verify(await issuer.sign(CLAIMS, { now: clock }))).toMatchObject({
      check: "keys_unavailable",
      detail: "issuer.test could not be reached",
    });
    const moved = async () =>
      new Response(null, { status: 302, headers: { Location: "http://elsewhere.test/keys" } });
    const redirected = new OidcVerifier(
      config,
      () => new IssuerKeys(ci, moved, () => clock),
      () => clock,
    );
    expect(await redirected.verify(await issuer.sign(CLAIMS, { now: clock }))).toMatchObject({
      check: "keys_unavailable",
      detail: "issuer.test answered 302",
    });
  });

  it("refuses a JWKS larger than the bound", async () => {
    issuer.jwksBody = JSON.stringify({ keys: [], padding: "x".repeat(100 * 1024) });
    const token = await issuer.sign(CLAIMS, { now: clock });
    expect(await verifier.verify(token)).toMatchObject({
      check: "keys_unavailable",
      detail: expect.stringContaining("more than"),
    });
  });

  it("ignores symmetric and private keys in a JWKS", async () => {
    const secret = { kty: "oct", kid: "rsa-1", k: "c2VjcmV0", alg: "HS256" };
    issuer.jwksBody = JSON.stringify({ keys: [secret] });
    const token = await issuer.sign(CLAIMS, { now: clock });
    expect(await verifier.verify(token)).toMatchObject({ check: "unknown_key" });
  });
});
