import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeUpstreams, mirror } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
beforeEach(() => {
  upstreams = fakeUpstreams();
});
afterEach(() => vi.restoreAllMocks());

const digest = `sha256:${"a".repeat(64)}`;

describe("bad input gets a clear OCI error and never reaches an upstream", () => {
  it.each([
    ["an upper-case name", "GET", "/v2/quay/Org/App/manifests/latest", 400, "NAME_INVALID"],
    ["an encoded path traversal", "GET", "/v2/quay/org/..%2f..%2fetc/manifests/latest", 400, "NAME_INVALID"],
    ["a name with a NUL", "GET", "/v2/quay/org/app%00/manifests/latest", 400, "NAME_INVALID"],
    ["a name with an empty component", "GET", "/v2/quay/org//app/manifests/latest", 400, "NAME_INVALID"],
    ["an over-long name", "GET", `/v2/quay/${"a".repeat(256)}/manifests/latest`, 400, "NAME_INVALID"],
    [
      "a one-component name that grows too long with library/",
      "GET",
      `/v2/${"a".repeat(250)}/manifests/latest`,
      400,
      "NAME_INVALID",
    ],
    ["an over-long tag", "GET", `/v2/quay/org/app/manifests/${"t".repeat(129)}`, 404, "MANIFEST_UNKNOWN"],
    ["a tag with a bad character", "GET", "/v2/quay/org/app/manifests/-bad", 404, "MANIFEST_UNKNOWN"],
    ["a short digest", "GET", "/v2/quay/org/app/blobs/sha256:abc", 400, "DIGEST_INVALID"],
    ["an upper-case digest", "GET", `/v2/quay/org/app/blobs/sha256:${"A".repeat(64)}`, 400, "DIGEST_INVALID"],
    [
      "an unknown digest algorithm",
      "GET",
      `/v2/quay/org/app/blobs/md5:${"a".repeat(32)}`,
      400,
      "DIGEST_INVALID",
    ],
    ["a blob reference that is a tag", "GET", "/v2/quay/org/app/blobs/latest", 400, "DIGEST_INVALID"],
    [
      "a manifest digest that is malformed",
      "HEAD",
      "/v2/quay/org/app/manifests/sha256:xyz",
      400,
      "DIGEST_INVALID",
    ],
    [
      "a referrers subject that is not a digest",
      "GET",
      "/v2/quay/org/app/referrers/latest",
      400,
      "DIGEST_INVALID",
    ],
    ["a bad page size", "GET", "/v2/quay/org/app/tags/list?n=-1", 400, "PAGINATION_NUMBER_INVALID"],
    ["a push", "POST", "/v2/quay/org/app/blobs/uploads/", 405, "UNSUPPORTED"],
    ["a manifest upload", "PUT", "/v2/quay/org/app/manifests/latest", 405, "UNSUPPORTED"],
    ["a delete", "DELETE", `/v2/quay/org/app/blobs/${digest}`, 405, "UNSUPPORTED"],
    ["a PATCH", "PATCH", "/v2/quay/org/app/blobs/uploads/1", 405, "UNSUPPORTED"],
    ["an OPTIONS", "OPTIONS", "/v2/", 405, "UNSUPPORTED"],
    ["an unknown prefix", "GET", "/zzz/v2/org/app/manifests/latest", 404, "NAME_UNKNOWN"],
    ["an unknown ns host", "GET", "/v2/org/app/manifests/latest?ns=169.254.169.254", 404, "NAME_UNKNOWN"],
    ["a path outside the API", "GET", "/etc/passwd", 404, "UNSUPPORTED"],
  ])("%s", async (_case, method, path, status, code) => {
    const response = await mirror(path, { method });
    expect(response.status).toBe(status);
    if (method !== "HEAD") {
      const text = await response.text();
      expect(JSON.parse(text)).toMatchObject({ errors: [{ code }] });
    }
    expect(response.headers.get("Content-Type")).toContain("application/json");
    expect(upstreams.spy).not.toHaveBeenCalled();
  });

  it("says which methods are allowed on a write attempt", async () => {
    const response = await mirror("/v2/quay/org/app/manifests/latest", { method: "PUT", body: "{}" });
    expect(response.headers.get("Allow")).toBe("GET, HEAD");
  });
});
