import { describe, expect, it } from "vitest";
import { isPasswordHash, verifyPassword } from "../../src/auth/passwords";

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
