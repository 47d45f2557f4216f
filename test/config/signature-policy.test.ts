import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, policyEntryFor } from "../../src/config";
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
      "no keys",
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

  it("refuses keyless identities plainly, rather than check them unsoundly", () => {
    const message = errorOf([
      {
        repositories: ["ghcr/acme/**"],
        mode: "enforce",
        identities: [
          { issuer: "https://token.actions.githubusercontent.com", subject: "https://github.com/acme/*" },
        ],
      },
    ]);
    expect(message).toMatch(
      /SIGNATURE_POLICY\[0\]\.identities: keyless signatures .* are not verified by this mirror/,
    );
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
