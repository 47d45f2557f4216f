import { describe, expect, it } from "vitest";
import { checkPull, mayPull } from "../../src/access/repository";
import { RegistryError } from "../../src/oci/errors";
import { compileGlob } from "../../src/util/glob";

function upstream(lists: { allow?: string[]; deny?: string[] } = {}) {
  return {
    prefix: "hub",
    allow: (lists.allow ?? []).map(compileGlob),
    deny: (lists.deny ?? []).map(compileGlob),
  };
}

function user(name: string, allow: string[] | null) {
  return { name, allow: allow === null ? null : allow.map(compileGlob) };
}

/** The refusal as status, code and message, or "allowed". */
function answer(...args: Parameters<typeof checkPull>): string {
  try {
    checkPull(...args);
    return "allowed";
  } catch (error) {
    return error instanceof RegistryError
      ? `${error.status} ${error.code}: ${error.message}`
      : "no registry error";
  }
}

describe("may a client pull a repository", () => {
  it("lets anyone pull anything through an upstream without lists", () => {
    expect(answer(null, upstream(), "library/alpine")).toBe("allowed");
    expect(answer(user("ci", null), upstream(), "any/thing")).toBe("allowed");
  });

  it("refuses what the upstream's deny list names, with DENIED naming the upstream", () => {
    const lists = upstream({ deny: ["secret/**"] });
    expect(answer(null, lists, "secret/a/b")).toBe(
      '403 DENIED: repository "secret/a/b" is not mirrored from upstream "hub"',
    );
    expect(answer(null, lists, "library/alpine")).toBe("allowed");
  });

  it("lets through only what a non-empty allow list names, and deny wins over allow", () => {
    const lists = upstream({ allow: ["library/*"], deny: ["library/old"] });
    expect(answer(null, lists, "library/alpine")).toBe("allowed");
    expect(answer(null, lists, "library/a/b")).toMatch(/^403 DENIED/);
    expect(answer(null, lists, "bitnami/redis")).toMatch(/^403 DENIED/);
    expect(answer(null, lists, "library/old")).toMatch(/^403 DENIED/);
  });

  it("holds a user to their own patterns, matched against <prefix>/<name>", () => {
    const ci = user("ci", ["hub/library/*"]);
    expect(answer(ci, upstream(), "library/alpine")).toBe("allowed");
    expect(answer(ci, upstream(), "bitnami/redis")).toBe(
      '403 DENIED: user "ci" may not pull "hub/bitnami/redis"',
    );
    // A pattern without the prefix names no repository of this upstream.
    expect(answer(user("ci", ["library/*"]), upstream(), "library/alpine")).toMatch(/^403 DENIED/);
  });

  it("applies the upstream's lists to users too", () => {
    expect(answer(user("admin", null), upstream({ deny: ["secret/*"] }), "secret/x")).toMatch(/^403 DENIED/);
  });

  it("answers the same as a yes or no for listings", () => {
    const lists = upstream({ allow: ["library/*"] });
    expect(mayPull(null, lists, "library/alpine")).toBe(true);
    expect(mayPull(null, lists, "bitnami/redis")).toBe(false);
    expect(mayPull(user("ci", ["hub/library/alpine"]), lists, "library/busybox")).toBe(false);
  });
});
