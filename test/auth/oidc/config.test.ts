import { describe, expect, it } from "vitest";
import { matchRules, parseOidcIssuers } from "../../../src/auth/oidc";

const GITHUB = {
  issuer: "https://token.actions.githubusercontent.com",
  audience: "https://mirror.example.com",
  rules: [{ claims: { repository_owner: "acme", ref: "refs/heads/*" }, allow: ["dockerhub/library/*"] }],
};

const parse = (issuers: unknown, lifetime?: unknown) => parseOidcIssuers(JSON.stringify(issuers), lifetime);

describe("OIDC_ISSUERS", () => {
  it("is off when unset", () => {
    expect(parseOidcIssuers(undefined, undefined)).toBeNull();
    expect(parseOidcIssuers("", undefined)).toBeNull();
  });

  it("reads the issue's example: issuer, audience, rules; lifetime bound 24 h by default", () => {
    const config = parse({ github: GITHUB });
    const github = config?.issuers.get("github");
    expect(github).toMatchObject({
      name: "github",
      issuer: GITHUB.issuer,
      audiences: [GITHUB.audience],
      jwksUrl: null,
    });
    expect(github?.rules[0]?.allow).toEqual(["dockerhub/library/*"]);
    expect(config?.maxLifetimeSeconds).toBe(86_400);
    expect(parse({ github: GITHUB }, "3600")?.maxLifetimeSeconds).toBe(3600);
  });

  it("takes a list of audiences and an explicit jwksUrl", () => {
    const github = parse({
      github: { ...GITHUB, audience: ["a", "b"], jwksUrl: "https://keys.example.com/jwks" },
    })?.issuers.get("github");
    expect(github?.audiences).toEqual(["a", "b"]);
    expect(github?.jwksUrl).toBe("https://keys.example.com/jwks");
  });

  it("accepts http:// only for a loopback issuer", () => {
    expect(parse({ local: { ...GITHUB, issuer: "http://127.0.0.1:9999" } })?.issuers.size).toBe(1);
    expect(parse({ local: { ...GITHUB, issuer: "http://localhost:9999/x" } })?.issuers.size).toBe(1);
    expect(() => parse({ remote: { ...GITHUB, issuer: "http://issuer.example.com" } })).toThrow(
      "OIDC_ISSUERS.remote.issuer: issuer must be an https:// URL (http:// only for localhost or 127.0.0.1)",
    );
    expect(() => parse({ remote: { ...GITHUB, jwksUrl: "http://10.0.0.1/keys" } })).toThrow(
      "OIDC_ISSUERS.remote.jwksUrl: jwksUrl must be an https:// URL",
    );
  });

  it.each([
    [{ github: { ...GITHUB, audience: undefined } }, "OIDC_ISSUERS.github.audience"],
    [{ github: { ...GITHUB, audience: [] } }, "OIDC_ISSUERS.github.audience"],
    [{ github: { ...GITHUB, rules: [] } }, "OIDC_ISSUERS.github.rules: name at least one rule"],
    [
      { github: { ...GITHUB, rules: [{ claims: {}, allow: ["quay/*"] }] } },
      "OIDC_ISSUERS.github.rules.0.claims: name at least one claim",
    ],
    [
      { github: { ...GITHUB, rules: [{ claims: { sub: "x" }, allow: ["Quay/*"] }] } },
      "OIDC_ISSUERS.github.rules.0.allow.0: must be patterns like dockerhub/library/*",
    ],
    [
      { github: { ...GITHUB, rules: [{ claims: { sub: "x" }, allow: [] }] } },
      "OIDC_ISSUERS.github.rules.0.allow: name at least one pattern",
    ],
    [{ github: { ...GITHUB, extra: 1 } }, "OIDC_ISSUERS.github"],
    [{ "Git:Hub": GITHUB }, "issuer names are lower-case letters"],
    [{ a: GITHUB, b: GITHUB }, 'OIDC_ISSUERS.b.issuer: already the issuer of "a"'],
    [{}, "OIDC_ISSUERS: no issuers"],
  ])("refuses %j naming the field", (issuers, message) => {
    expect(() => parse(issuers)).toThrow(message);
  });

  it("refuses bad JSON and a bad lifetime bound", () => {
    expect(() => parseOidcIssuers("{", undefined)).toThrow("OIDC_ISSUERS: not valid JSON");
    expect(() => parse({ github: GITHUB }, "ten")).toThrow("OIDC_MAX_TOKEN_LIFETIME");
    expect(() => parse({ github: GITHUB }, "10")).toThrow("OIDC_MAX_TOKEN_LIFETIME");
  });
});

describe("rule matching", () => {
  const issuer = parse({
    github: {
      ...GITHUB,
      rules: [
        {
          claims: { repository_owner: "acme", ref: "refs/heads/*" },
          allow: ["dockerhub/library/*", "ghcr/acme/**"],
        },
        {
          claims: { repository: "acme/release", environment: "prod" },
          allow: ["quay/acme/*", "ghcr/acme/**"],
        },
        { claims: { sub: "repo:Acme/*:ref:refs/tags/v*" }, allow: ["quay/tags/*"] },
      ],
    },
  })?.issuers.get("github");
  if (!issuer) throw new Error("no issuer");

  it("needs every claim of a rule to match; the allow lists of all matching rules are joined", () => {
    expect(
      matchRules(issuer, { repository_owner: "acme", ref: "refs/heads/main", repository: "acme/app" }),
    ).toEqual({
      allow: ["dockerhub/library/*", "ghcr/acme/**"],
      matched: { repository_owner: "acme", ref: "refs/heads/main" },
    });
    expect(
      matchRules(issuer, {
        repository_owner: "acme",
        ref: "refs/heads/main",
        repository: "acme/release",
        environment: "prod",
      }),
    ).toEqual({
      allow: ["dockerhub/library/*", "ghcr/acme/**", "quay/acme/*"],
      matched: {
        repository_owner: "acme",
        ref: "refs/heads/main",
        repository: "acme/release",
        environment: "prod",
      },
    });
  });

  it("matches claim values with the allow lists' glob syntax: * within a path component", () => {
    expect(matchRules(issuer, { repository_owner: "acme", ref: "refs/heads/feature/x" })).toBeNull();
    expect(matchRules(issuer, { repository_owner: "acme", ref: "refs/tags/v1" })).toBeNull();
    expect(matchRules(issuer, { sub: "repo:Acme/app:ref:refs/tags/v1.2" })?.allow).toEqual(["quay/tags/*"]);
    // Case-sensitive, and the `.` of a claim is no wildcard.
    expect(matchRules(issuer, { sub: "repo:acme/app:ref:refs/tags/v1.2" })).toBeNull();
  });

  it("never matches a missing claim, nor one that is not a string", () => {
    expect(matchRules(issuer, { ref: "refs/heads/main" })).toBeNull();
    expect(matchRules(issuer, { repository_owner: ["acme"], ref: "refs/heads/main" })).toBeNull();
    expect(matchRules(issuer, { repository: "acme/release", environment: true })).toBeNull();
    expect(matchRules(issuer, {})).toBeNull();
  });
});
