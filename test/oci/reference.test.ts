import { describe, expect, it } from "vitest";
import { RegistryError } from "../../src/oci/errors";
import { parseReference, referenceString } from "../../src/oci/reference";

const DIGEST = `sha256:${"ab".repeat(32)}`;

function codeOf(value: string): string | undefined {
  try {
    parseReference(value);
    return undefined;
  } catch (error) {
    return error instanceof RegistryError ? `${error.status} ${error.code}` : "not a registry error";
  }
}

describe("a manifest reference", () => {
  it("is a digest when it has an algorithm separator, else a tag", () => {
    expect(parseReference(DIGEST)).toMatchObject({
      kind: "digest",
      digest: { algorithm: "sha256", value: DIGEST },
    });
    expect(parseReference("3.20")).toEqual({ kind: "tag", tag: "3.20" });
  });

  it("written back is what was parsed", () => {
    for (const value of [DIGEST, "latest", "v1.2.3-rc_1"])
      expect(referenceString(parseReference(value))).toBe(value);
  });

  it("a malformed digest is DIGEST_INVALID; a malformed tag names no manifest", () => {
    expect(codeOf("sha256:xyz")).toBe("400 DIGEST_INVALID");
    expect(codeOf("md5:abc")).toBe("400 DIGEST_INVALID");
    expect(codeOf("-leading-dash")).toBe("404 MANIFEST_UNKNOWN");
    expect(codeOf("x".repeat(129))).toBe("404 MANIFEST_UNKNOWN");
    expect(codeOf("")).toBe("404 MANIFEST_UNKNOWN");
  });
});
