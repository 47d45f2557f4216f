import { describe, expect, it } from "vitest";
import { RegistryError } from "../../src/oci/errors";
import { assertValidName, assertValidTag, isValidName, isValidTag, truncate } from "../../src/oci/names";

describe("repository names follow the OCI grammar", () => {
  it.each([
    "a",
    "library/redis",
    "0",
    "org/team/app",
    "my.app",
    "my_app",
    "my__app",
    "my-app",
    "my---app",
    "a.b_c__d-e",
    "v2/v2",
    "123/456",
  ])("accepts %s", (name) => {
    expect(isValidName(name)).toBe(true);
    expect(() => assertValidName(name)).not.toThrow();
  });

  it.each([
    ["an empty name", ""],
    ["upper case", "Library/redis"],
    ["a leading separator", "-app"],
    ["a trailing separator", "app-"],
    ["a leading dot", ".app"],
    ["a trailing dot", "app."],
    ["two dots in a row", "my..app"],
    ["three underscores", "my___app"],
    ["mixed separators", "my.-app"],
    ["an empty component", "org//app"],
    ["a leading slash", "/app"],
    ["a trailing slash", "app/"],
    ["a path traversal", "org/../app"],
    ["a colon", "app:latest"],
    ["an at sign", "app@sha256"],
    ["a space", "my app"],
    ["a NUL", "app\u0000"],
    ["a non-ASCII letter", "äpp"],
  ])("refuses %s", (_case, name) => {
    expect(isValidName(name)).toBe(false);
  });

  it("allows 255 characters and no more", () => {
    const component = "a".repeat(63);
    const name255 = [component, component, component, "b".repeat(63)].join("/");
    expect(name255).toHaveLength(255);
    expect(isValidName(name255)).toBe(true);
    expect(isValidName(`${name255}c`)).toBe(false);
    expect(isValidName("a".repeat(256))).toBe(false);
  });

  it("reports an invalid name as NAME_INVALID with status 400, quoting a shortened name", () => {
    const error = catchError(() => assertValidName(`Bad/${"x".repeat(200)}`));
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ status: 400, code: "NAME_INVALID" });
    expect(error.message.length).toBeLessThan(120);
  });

  it("says so when a name is too long rather than echoing it", () => {
    const error = catchError(() => assertValidName("a".repeat(300)));
    expect(error).toMatchObject({ status: 400, code: "NAME_INVALID" });
    expect(error.message).toContain("255");
    expect(error.message).not.toContain("a".repeat(100));
  });
});

describe("tags follow the OCI grammar", () => {
  it.each(["latest", "1.2.3", "v1.0.0-rc.1", "_private", "A", "0", "x".repeat(128), "a_b.c-D"])(
    "accepts %s",
    (tag) => {
      expect(isValidTag(tag)).toBe(true);
      expect(() => assertValidTag(tag)).not.toThrow();
    },
  );

  it.each([
    ["an empty tag", ""],
    ["a leading dot", ".hidden"],
    ["a leading dash", "-bad"],
    ["129 characters", "x".repeat(129)],
    ["a slash", "a/b"],
    ["a colon", "a:b"],
    ["a plus", "1.0+build"],
    ["a space", "a b"],
    ["a newline", "a\n"],
  ])("refuses %s", (_case, tag) => {
    expect(isValidTag(tag)).toBe(false);
  });

  it("reports an invalid tag as a manifest not found: MANIFEST_UNKNOWN with status 404", () => {
    expect(catchError(() => assertValidTag("-bad"))).toMatchObject({ status: 404, code: "MANIFEST_UNKNOWN" });
  });
});

describe("echoed input is kept short", () => {
  it("leaves short values alone and cuts long ones with an ellipsis", () => {
    expect(truncate("short")).toBe("short");
    expect(truncate("x".repeat(80))).toBe("x".repeat(80));
    expect(truncate("x".repeat(81))).toBe(`${"x".repeat(80)}…`);
    expect(truncate("abcdef", 3)).toBe("abc…");
  });
});

function catchError(action: () => void): Error {
  try {
    action();
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`threw a non-error: ${String(error)}`);
  }
  throw new Error("did not throw");
}
