import { describe, expect, it } from "vitest";
import { audienceFor, cacheControl } from "../../src/access/audience";

describe("who may keep a response", () => {
  it("is anyone only when neither the client, the upstream nor the stored blob involved credentials", () => {
    const none = { authenticatedClient: false, authenticatedUpstream: false };
    expect(audienceFor(none)).toBe("public");
    expect(audienceFor({ ...none, restricted: false })).toBe("public");
    expect(audienceFor({ ...none, authenticatedClient: true })).toBe("private");
    expect(audienceFor({ ...none, authenticatedUpstream: true })).toBe("private");
    expect(audienceFor({ ...none, restricted: true })).toBe("private");
  });

  it("keeps immutable content a year, private content in the client's own cache only", () => {
    expect(cacheControl("public", "immutable")).toBe("public, max-age=31536000, immutable");
    expect(cacheControl("private", "immutable")).toBe("private, max-age=31536000, immutable");
  });

  it("gives mutable content no lifetime, and keeps private mutable content out of shared caches", () => {
    expect(cacheControl("public", "mutable")).toBeNull();
    expect(cacheControl("private", "mutable")).toBe("private");
  });
});
