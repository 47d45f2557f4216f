import { describe, expect, it } from "vitest";
import { parseChallenges } from "../../src/upstream/challenge";

describe("parseChallenges reads WWW-Authenticate headers", () => {
  it("reads a Docker Hub style Bearer challenge", () => {
    const header =
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull"';
    expect(parseChallenges(header)).toEqual([
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/redis:pull",
        },
      },
    ]);
  });

  it("keeps commas inside a quoted value", () => {
    const [challenge] = parseChallenges('Bearer realm="https://a.test/token",scope="repository:x:pull,push"');
    expect(challenge?.params.scope).toBe("repository:x:pull,push");
    expect(challenge?.params.realm).toBe("https://a.test/token");
  });

  it("keeps several space-separated scopes in one quoted value", () => {
    const [challenge] = parseChallenges(
      'Bearer realm="https://a.test/token", scope="repository:a:pull repository:b:pull,push"',
    );
    expect(challenge?.params.scope).toBe("repository:a:pull repository:b:pull,push");
  });

  it("unescapes backslash-escaped quotes and backslashes", () => {
    const [challenge] = parseChallenges(
      'Bearer realm="https://a.test/token",error="insufficient_scope",error_description="say \\"hi\\" \\\\ bye"',
    );
    expect(challenge?.params.error_description).toBe('say "hi" \\ bye');
    expect(challenge?.params.error).toBe("insufficient_scope");
  });

  it("reads several challenges in one header", () => {
    expect(parseChallenges('Basic realm="a", Bearer realm="b",service="s"')).toEqual([
      { scheme: "basic", params: { realm: "a" } },
      { scheme: "bearer", params: { realm: "b", service: "s" } },
    ]);
  });

  it("reads a challenge without parameters followed by another", () => {
    expect(parseChallenges('Negotiate, Bearer realm="b"')).toEqual([
      { scheme: "negotiate", params: {} },
      { scheme: "bearer", params: { realm: "b" } },
    ]);
  });

  it("lower-cases the scheme and parameter names but not the values", () => {
    expect(parseChallenges('BEARER Realm="https://A.test/Token", SERVICE="Registry"')).toEqual([
      { scheme: "bearer", params: { realm: "https://A.test/Token", service: "Registry" } },
    ]);
  });

  it("reads unquoted token values", () => {
    expect(parseChallenges("Bearer service=registry.example, scope=pull, realm=x")).toEqual([
      { scheme: "bearer", params: { service: "registry.example", scope: "pull", realm: "x" } },
    ]);
  });

  it("tolerates whitespace around = and commas, and empty list elements", () => {
    expect(parseChallenges(' ,Bearer  realm = "r" ,, service\t=\t"s" , ')).toEqual([
      { scheme: "bearer", params: { realm: "r", service: "s" } },
    ]);
  });

  it("reads an empty quoted value", () => {
    expect(parseChallenges('Bearer realm="",service="s"')).toEqual([
      { scheme: "bearer", params: { realm: "", service: "s" } },
    ]);
  });

  it("gives no challenges for an empty header", () => {
    expect(parseChallenges("")).toEqual([]);
  });

  it.each([
    '"',
    "=",
    '=realm="x"',
    'realm="x"',
    'Bearer realm="unterminated',
    'Bearer realm="x" \\',
    "Bearer realm=",
    "Bearer realm=\u0000",
    "Basic dXNlcjpwYXNz==",
    '\u00ff\u0100 garbage, ==,, "',
    "Bearer ".repeat(1000),
  ])("does not throw on garbage: %j", (header) => {
    expect(() => parseChallenges(header)).not.toThrow();
  });

  it("reads a Bearer challenge that follows a challenge with a token68", () => {
    for (const header of ['Negotiate YWJj==, Bearer realm="r"', 'Negotiate a/b+c, Bearer realm="r"']) {
      const bearer = parseChallenges(header).find((challenge) => challenge.scheme === "bearer");
      expect(bearer?.params.realm).toBe("r");
    }
  });

  it("keeps what it understood before garbage", () => {
    const [challenge] = parseChallenges('Bearer realm="https://a.test/token", @@@ service="s"');
    expect(challenge).toEqual({ scheme: "bearer", params: { realm: "https://a.test/token" } });
  });
});
