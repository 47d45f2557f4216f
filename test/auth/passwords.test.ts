import { afterEach, describe, expect, it, vi } from "vitest";
import { isPasswordHash, verifyPassword } from "../../src/auth/passwords";
import { decoyFor, parseUsers } from "../../src/auth/users";

afterEach(() => vi.restoreAllMocks());

// Made by `printf %s hello | node scripts/hash-password.mjs`.
const HELLO = "pbkdf2-sha256$100000$W2ZGjRMx5NRg/vCkQAQYFw==$iuDpL70qG/Hup4rr++GMvoDtOM4IWqj+G+zBojZeErA=";

describe("client passwords", () => {
  it("verifies a hash made by scripts/hash-password.mjs", async () => {
    expect(isPasswordHash(HELLO)).toBe(true);
    expect(await verifyPassword("hello", { hash: HELLO })).toBe(true);
    expect(await verifyPassword("hellO", { hash: HELLO })).toBe(false);
  });

  it("verifies plain passwords exactly", async () => {
    expect(await verifyPassword("s3cret", { password: "s3cret" })).toBe(true);
    expect(await verifyPassword("s3cret ", { password: "s3cret" })).toBe(false);
    expect(await verifyPassword("", { password: "s3cret" })).toBe(false);
  });

  it("refuses anything that is not the documented hash form", async () => {
    for (const hash of ["md5$abc", "pbkdf2-sha256$1$a$b", HELLO.replace("pbkdf2", "scrypt")]) {
      expect(isPasswordHash(hash)).toBe(false);
      expect(await verifyPassword("hello", { hash })).toBe(false);
    }
  });
});

describe("timing", () => {
  it("compares plain passwords as fixed-size SHA-256 digests, so the time tells nothing about the length", async () => {
    const digest = vi.spyOn(crypto.subtle, "digest");
    for (const candidate of ["", "s", "s3cre", "s3cret-but-much-longer-than-the-stored-one"]) {
      digest.mockClear();
      expect(await verifyPassword(candidate, { password: "s3cret" })).toBe(false);
      expect(digest).toHaveBeenCalledTimes(2);
    }
  });

  it("checks an unknown user name against a decoy that hashes like the configured users", async () => {
    const users = parseUsers({ robot: { hash: HELLO } });
    if (!users) throw new Error("users expected");
    const deriveBits = vi.spyOn(crypto.subtle, "deriveBits");
    expect(await decoyFor(users).verify("hello")).toBe(false);
    expect(deriveBits).toHaveBeenCalledTimes(1);
    expect((deriveBits.mock.calls[0]?.[0] as { iterations?: number } | undefined)?.iterations).toBe(100_000);
  });
});
