import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, policyEntryFor } from "../../src/config";
import keyless from "../signatures/keyless-fixtures.json";
import fixtures from "../signatures/openssl-fixtures.json";

const UPSTREAMS = JSON.stringify({
  dockerhub: { url: "https://hub.test" },
  ghcr: { url: "https://ghcr.test" },
});
const KEY = fixtures["ecdsa-p256"].pem;

function withPolicy(policy: unknown) {
  return parseConfig({
    UPSTREAMS,
    SIGNATURE_POLICY: typeof policy === "string" ? policy : JSON.stringify(policy),
  });
}

function errorOf(policy: unknown): string {
  try {
    withPolicy(policy);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("the policy was accepted");
}

describe("SIGNATURE_POLICY", () => {
  it("is off when unset or empty: no entry applies anywhere", () => {
    expect(parseConfig({ UPSTREAMS }).signaturePolicy).toBeNull();
    expect(withPolicy([]).signaturePolicy).toBeNull();
  });

  it("reads entries with each key type, and the first matching entry applies", () => {
    const config = withPolicy([
      { repositories: ["dockerhub/library/*"], mode: "enforce", keys: [KEY, fixtures.rsa.pem] },
      { repositories: ["ghcr/acme/**", "dockerhub/**"], mode: "warn", keys: [fixtures.ed25519.pem] },
    ]);
    const policy = config.signaturePolicy;
    expect(policy?.entries.map((entry) => entry.keys.map((key) => key.kind))).toEqual([
      ["ecdsa-p256", "rsa"],
      ["ed25519"],
    ]);
    expect(policyEntryFor(policy ?? null, "dockerhub", "library/alpine")?.index).toBe(0);
    expect(policyEntryFor(policy ?? null, "dockerhub", "library/a/b")?.index).toBe(1);
    expect(policyEntryFor(policy ?? null, "ghcr", "acme/tools/cli")?.mode).toBe("warn");
    expect(policyEntryFor(policy ?? null, "ghcr", "other/app")).toBeNull();
  });

  it.each([
    ["not JSON", "[{", /SIGNATURE_POLICY: not valid JSON/],
    ["not an array", { mode: "enforce" }, /SIGNATURE_POLICY: /],
    [
      "a bad mode",
      [{ repositories: ["dockerhub/x"], mode: "audit", keys: [KEY] }],
      /SIGNATURE_POLICY\[0\]\.mode: must be "enforce" or "warn"/,
    ],
    [
      "no repositories",
      [{ repositories: [], mode: "warn", keys: [KEY] }],
      /SIGNATURE_POLICY\[0\]\.repositories: must name/,
    ],
    [
      "a bad pattern",
      [{ repositories: ["Docker Hub/x"], mode: "warn", keys: [KEY] }],
      /SIGNATURE_POLICY\[0\]\.repositories\[0\]: must be patterns/,
    ],
    [
      "an unknown prefix",
      [{ repositories: ["quay/x/*"], mode: "warn", keys: [KEY] }],
      /SIGNATURE_POLICY\[0\]\.repositories\[0\]: "quay" is not a prefix in UPSTREAMS/,
    ],
    [
      "an unknown field",
      [{ repositories: ["dockerhub/x"], mode: "warn", keys: [KEY], key: KEY }],
      /SIGNATURE_POLICY\[0\]: /,
    ],
    [
      "neither keys nor identities",
      [{ repositories: ["dockerhub/x"], mode: "warn" }],
      /SIGNATURE_POLICY\[0\]\.keys: must list at least one public key/,
    ],
    [
      "a bad key",
      [{ repositories: ["dockerhub/x"], mode: "warn", keys: [KEY, "ssh-rsa AAAA"] }],
      /SIGNATURE_POLICY\[0\]\.keys\[1\]: must be a PEM public key/,
    ],
    [
      "a P-384 key",
      [{ repositories: ["dockerhub/x"], mode: "warn", keys: [fixtures["ecdsa-p384"].pem] }],
      /SIGNATURE_POLICY\[0\]\.keys\[0\]: an ECDSA key must be on the P-256 curve/,
    ],
    [
      "an identity without subject",
      [{ repositories: ["dockerhub/x"], mode: "warn", identities: [{ issuer: "https://x" }] }],
      /SIGNATURE_POLICY\[0\]\.identities\[0\]\.subject/,
    ],
  ])("refuses %s, naming the field", (_what, policy, message) => {
    expect(errorOf(policy)).toMatch(message);
  });

  it("accepts keyless identities, verified against sigstore's public-good trusted root by default", () => {
    const config = withPolicy([
      {
        repositories: ["ghcr/acme/**"],
        mode: "enforce",
        identities: [
          {
            issuer: "https://token.actions.githubusercontent.com",
            subject: "https://github.com/acme/*/.github/workflows/*",
          },
        ],
      },
    ]);
    const entry = config.signaturePolicy?.entries[0];
    expect(entry?.keys).toEqual([]);
    expect(entry?.signers.sigstore).not.toBeNull();
    expect(
      entry?.identities[0]?.subjectPattern.test("https://github.com/acme/app/.github/workflows/ci.yml"),
    ).toBe(true);
  });

  it("reads SIGSTORE_TRUSTED_ROOT, naming it when it is not a trusted root", () => {
    const policy = JSON.stringify([
      {
        repositories: ["ghcr/**"],
        mode: "enforce",
        identities: [{ issuer: "https://issuer.test", subject: "**" }],
      },
    ]);
    const parse = (root: string) =>
      parseConfig({ UPSTREAMS, SIGNATURE_POLICY: policy, SIGSTORE_TRUSTED_ROOT: root });
    expect(
      parse(JSON.stringify(keyless.roots.trusted)).signaturePolicy?.entries[0]?.signers.sigstore,
    ).not.toBeNull();
    expect(() => parse("{")).toThrow(/SIGSTORE_TRUSTED_ROOT: not valid JSON/);
    expect(() => parse('{"mediaType":"x"}')).toThrow(/SIGSTORE_TRUSTED_ROOT: /);
    // Without identities, the root is not even read.
    expect(() => withPolicy([{ repositories: ["ghcr/**"], mode: "warn", keys: [KEY] }])).not.toThrow();
  });

  it("gives each entry a version that changes with its keys", () => {
    const one = withPolicy([{ repositories: ["dockerhub/**"], mode: "enforce", keys: [KEY] }]);
    const same = withPolicy([{ repositories: ["dockerhub/**"], mode: "enforce", keys: [`\n${KEY}`] }]);
    const other = withPolicy([{ repositories: ["dockerhub/**"], mode: "enforce", keys: [fixtures.rsa.pem] }]);
    const canonical = (config: typeof one) => config.signaturePolicy?.entries[0]?.canonical;
    expect(canonical(same)).toBe(canonical(one));
    expect(canonical(other)).not.toBe(canonical(one));
  });
});
