import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { pushImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, mirror } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let test = 0;
let tag = "";
beforeEach(async () => {
  upstreams = fakeUpstreams();
  // Storage lives as long as this file: a tag of its own per test, so nothing is served from cache.
  tag = `v${++test}`;
  await pushImage(upstreams.quay, "coreos/etcd", tag);
  await pushImage(upstreams.hub, "library/alpine", tag);
  await pushImage(upstreams.hub, "quay/tool", tag);
});
afterEach(() => vi.restoreAllMocks());

const head = (path: string) => mirror(path, { method: "HEAD", headers: { Accept: ACCEPT_ALL } });

describe("routing: every client's way of naming an upstream reaches the right repository", () => {
  it.each([
    [
      "/v2/<prefix>/… (podman, skopeo, BuildKit, containerd override_path)",
      "/v2/quay/coreos/etcd/manifests/TAG",
    ],
    [
      "/<prefix>/v2/… (Docker ≥ 25 mirror URL with a path, containerd default)",
      "/quay/v2/coreos/etcd/manifests/TAG",
    ],
    ["/v2/…?ns=<host> (containerd)", "/v2/coreos/etcd/manifests/TAG?ns=quay.io"],
    [
      "/v2/<prefix>/…?ns=<host> (containerd with override_path)",
      "/v2/quay/coreos/etcd/manifests/TAG?ns=quay.io",
    ],
  ])("%s", async (_form, path) => {
    const response = await head(path.replace("TAG", tag));
    expect(response.status).toBe(200);
    const [request] = upstreams.quay.requests;
    expect(request?.url.pathname).toBe(`/v2/coreos/etcd/manifests/${tag}`);
    expect(upstreams.unexpected).toEqual([]);
  });

  it("sends bare names to the default upstream, with library/ for official images", async () => {
    expect((await head(`/v2/alpine/manifests/${tag}`)).status).toBe(200);
    const paths = new Set(
      upstreams.hub.requests.filter((r) => r.kind === "manifest").map((r) => r.url.pathname),
    );
    expect([...paths]).toEqual([`/v2/library/alpine/manifests/${tag}`]);
  });

  it("maps ns=docker.io to the Docker Hub upstream even when the name starts like another prefix", async () => {
    expect((await head(`/v2/quay/tool/manifests/${tag}?ns=docker.io`)).status).toBe(200);
    expect(upstreams.hub.requests.some((r) => r.url.pathname === `/v2/quay/tool/manifests/${tag}`)).toBe(
      true,
    );
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("answers the API version check at /v2/ and at /<prefix>/v2/", async () => {
    for (const path of ["/v2/", "/v2", "/quay/v2/"]) {
      const response = await mirror(path);
      expect(response.status).toBe(200);
      expect(response.headers.get("Docker-Distribution-API-Version")).toBe("registry/2.0");
    }
  });

  it.each([
    ["an unknown path prefix", "/nope/v2/coreos/etcd/manifests/v1"],
    ["an unknown ns host", "/v2/coreos/etcd/manifests/v1?ns=evil.example.com"],
    ["an unknown prefix ping", "/nope/v2/"],
  ])("refuses %s with NAME_UNKNOWN and contacts nobody", async (_case, path) => {
    const response = await mirror(path);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ errors: [{ code: "NAME_UNKNOWN" }] });
    expect(upstreams.spy).not.toHaveBeenCalled();
  });
});
