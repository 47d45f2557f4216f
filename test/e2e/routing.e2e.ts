// The mirror is reachable in every form that real clients use, and what comes out is byte for byte
// what the upstream holds: same index / list, same platform manifests, same configs and layers.
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ociLayoutTop, skopeoCopy } from "./harness/clients.ts";
import { admin, bed } from "./harness/context.ts";
import { expectFullCopy, expectSingleCopy, platformManifest } from "./harness/expect-image.ts";
import {
  describeResponse,
  diagnostics,
  fetchBlob,
  fetchManifest,
  pullThroughMirror,
} from "./harness/mirror-client.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
const { app, alpine, busybox, anon } = b.images;
let env: SkopeoEnv;

beforeAll(() => {
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "routing-")));
});

describe("GET /v2/", () => {
  it("answers 200 (clients probe it before anything else)", async () => {
    const res = await fetch(`${b.mirrorUrl}/v2/`);
    expect(res.status).toBe(200);
  });
});

describe("skopeo through /v2/<prefix>/<name>", () => {
  it("single platform: the linux/amd64 manifest and its blobs", async () => {
    expectSingleCopy(await pullThroughMirror(env, `quay/${app.repo}:v1`), app);
  });

  it("--all: the OCI index, both platform manifests and every blob", async () => {
    expectFullCopy(await pullThroughMirror(env, `quay/${app.repo}:v1`, { all: true }), app);
  });

  it("--all with Docker media types (manifest list, schema 2)", async () => {
    expectFullCopy(await pullThroughMirror(env, `anon/${anon.repo}:v1`, { all: true }), anon);
  });

  it("--all into an `oci:` layout keeps the OCI index digest", async () => {
    const dest = join(env.dir, "oci-layout");
    const r = await skopeoCopy(env, {
      ref: `${b.mirrorHost}/quay/${app.repo}:v1`,
      dest: `oci:${dest}:v1`,
      all: true,
    });
    expect(r.code, `${r.stderr}\n${await diagnostics()}`).toBe(0);
    expect(ociLayoutTop(dest, "v1")).toBe(app.top.digest);
  });

  it("a manifest by digest (`name@sha256:...`)", async () => {
    const arm = platformManifest(app, "arm64");
    expectSingleCopy(await pullThroughMirror(env, `quay/${app.repo}@${arm.digest}`), app, "arm64");
  });

  it("a Docker Hub official image by its short name adds library/ (`/v2/hub/alpine`)", async () => {
    expectFullCopy(await pullThroughMirror(env, `hub/alpine:${alpine.tag}`, { all: true }), alpine);
  });
});

describe("skopeo through the bare /v2/<name> (default upstream, Docker Hub style)", () => {
  it("`alpine` becomes library/alpine on the default upstream", async () => {
    expectSingleCopy(await pullThroughMirror(env, `alpine:${alpine.tag}`), alpine);
  });

  it("`library/busybox` with --all, Docker media types", async () => {
    expectFullCopy(await pullThroughMirror(env, `library/busybox:${busybox.tag}`, { all: true }), busybox);
  });
});

describe("raw requests in the forms skopeo cannot produce", () => {
  const arm = platformManifest(app, "arm64");
  const layer = arm.layers[0];

  it.each([
    ["/v2/<prefix>/<name>", `/v2/quay/${app.repo}/manifests/v1`],
    ["/<prefix>/v2/<name>", `/quay/v2/${app.repo}/manifests/v1`],
    ["/v2/<name>?ns=<host>", `/v2/${app.repo}/manifests/v1?ns=quay.io`],
  ])("%s: the tag's index, unchanged", async (_form, path) => {
    const m = await fetchManifest(path);
    expect(m.status, describeResponse(`GET ${path}`, m)).toBe(200);
    expect(m.bodyDigest).toBe(app.top.digest);
    expect(m.digestHeader).toBe(app.top.digest);
    expect(m.contentType).toBe(app.top.mediaType);
  });

  it.each([
    ["/<prefix>/v2/<name>", `/quay/v2/${app.repo}/blobs/${layer?.digest}`],
    ["/v2/<name>?ns=<host>", `/v2/${app.repo}/blobs/${layer?.digest}?ns=quay.io`],
  ])("%s: a blob, byte for byte", async (_form, path) => {
    const r = await fetchBlob(path);
    expect(r.status, describeResponse(`GET ${path}`, r)).toBe(200);
    expect(r.digest).toBe(layer?.digest);
  });

  it("HEAD on a manifest carries Docker-Content-Digest and Content-Length (containerd resolves with it)", async () => {
    const res = await fetch(`${b.mirrorUrl}/v2/quay/${app.repo}/manifests/v1?ns=quay.io`, {
      method: "HEAD",
      headers: { accept: "application/vnd.oci.image.index.v1+json" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(app.top.digest);
    expect(res.headers.get("content-length")).toBe(String(app.top.size));
  });

  it.each([
    ["an unknown ?ns= host", `/v2/${app.repo}/manifests/v1?ns=evil.example.com`],
    ["an unknown /<prefix>/v2/", `/nope/v2/${app.repo}/manifests/v1`],
  ])(
    "%s is refused with 404 NAME_UNKNOWN and reaches no upstream (never an open proxy)",
    async (_case, path) => {
      await admin().reset();
      const m = await fetchManifest(path);
      expect(m.status, describeResponse(`GET ${path}`, m)).toBe(404);
      expect(m.body).toContain("NAME_UNKNOWN");
      expect(await admin().counts()).toEqual({});
    },
  );
});
