// Real container runtimes through the mirror, configured the way their users configure mirrors.
// If a client cannot run on this machine the test FAILS with the reason: no silent skips.
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Containerd,
  makePodman,
  type Podman,
  registriesConfMirror,
  startContainerd,
  writeHostsToml,
} from "./harness/clients.ts";
import { admin, bed } from "./harness/context.ts";
import { platformManifest } from "./harness/expect-image.ts";
import { diagnostics, mirrorLogRequests, waitForMirrorLog } from "./harness/mirror-client.ts";
import type { RunResult } from "./harness/processes.ts";
import { makeContainersEnv } from "./harness/skopeo-env.ts";

const b = bed();
const { ctr: ctrImage, podman: podmanImage, app } = b.images;

async function ok(what: string, r: RunResult): Promise<RunResult> {
  if (r.code !== 0) {
    throw new Error(
      `${what} failed (exit ${r.code}, ${r.ms} ms)\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n${await diagnostics()}`,
    );
  }
  return r;
}

describe("containerd (ctr) through hosts.toml", () => {
  let containerd: Containerd;

  beforeAll(async () => {
    // Unix socket paths are limited to 108 bytes: keep containerd's directory short.
    const dir = mkdtempSync(join(tmpdir(), "e2e-ctr-"));
    containerd = await startContainerd(dir, join(b.workDir, "containerd.log"));
  });
  afterAll(async () => {
    await containerd?.stop();
  });

  it("`ctr images pull` with override_path = true (/v2/quay/<name>?ns=quay.io, HEAD to resolve)", async () => {
    const hostsDir = join(containerd.hostsDir, "override");
    writeHostsToml(hostsDir, "quay.io", b.deadPort, b.mirrorHost, "v2/quay", true);
    await admin().reset();
    const logFrom = mirrorLogRequests().length;
    const ref = `quay.io/${ctrImage.repo}:v1`;
    await ok("ctr images pull", await containerd.ctr(["images", "pull", "--hosts-dir", hostsDir, ref]));
    // containerd resolves the tag with a HEAD in the /v2/<prefix>/<name> form.
    await waitForMirrorLog(
      logFrom,
      (e) => e.method === "HEAD" && e.path === `/v2/quay/${ctrImage.repo}/manifests/v1` && e.status === 200,
    );
    const ls = await ok("ctr images ls", await containerd.ctr(["images", "ls"]));
    const line = ls.stdout.split("\n").find((l) => l.startsWith(`${ref} `));
    expect(line, ls.stdout).toContain(ctrImage.top.digest);
    // The pulled (and unpacked) platform's blobs are all in the content store.
    const content = await ok("ctr content ls", await containerd.ctr(["content", "ls", "-q"]));
    const m = platformManifest(ctrImage, "amd64");
    for (const d of [ctrImage.top.digest, m.digest, m.config.digest, ...m.layers.map((l) => l.digest)]) {
      expect(content.stdout).toContain(d);
    }
    // It came through the mirror (upstream quay saw the requests the mirror made).
    expect((await admin().counts()).quay?.["manifest-get"]).toBeGreaterThan(0);
  });

  it("`ctr content fetch --all-platforms` without override_path (/quay/v2/<name>?ns=quay.io)", async () => {
    const hostsDir = join(containerd.hostsDir, "plain");
    writeHostsToml(hostsDir, "quay.io", b.deadPort, b.mirrorHost, "quay", false);
    const ref = `quay.io/${app.repo}:v1`;
    const logFrom = mirrorLogRequests().length;
    await ok(
      "ctr content fetch --all-platforms",
      await containerd.ctr(["content", "fetch", "--all-platforms", "--hosts-dir", hostsDir, ref]),
    );
    await waitForMirrorLog(
      logFrom,
      (e) => e.method === "HEAD" && e.path === `/quay/v2/${app.repo}/manifests/v1`,
    );
    const content = await ok("ctr content ls", await containerd.ctr(["content", "ls", "-q"]));
    for (const m of app.manifests) {
      for (const d of [m.digest, m.config.digest, ...m.layers.map((l) => l.digest)]) {
        expect(content.stdout).toContain(d);
      }
    }
  });
});

describe("podman through a registries.conf prefix mirror", () => {
  let podman: Podman;

  beforeAll(() => {
    const dir = mkdtempSync(join(b.workDir, "podman-"));
    mkdirSync(join(dir, "tmp"), { recursive: true });
    const env = makeContainersEnv(dir, registriesConfMirror("quay.io", b.deadPort, b.mirrorHost, "quay"));
    podman = makePodman(dir, env);
  });

  it("`podman pull quay.io/...` is served by <mirror>/quay (→ /v2/quay/<name>)", async () => {
    await admin().reset();
    const logFrom = mirrorLogRequests().length;
    const ref = `quay.io/${podmanImage.repo}:v1`;
    await ok("podman pull", await podman.run(["pull", "--quiet", ref]));
    const inspect = await ok(
      "podman image inspect",
      await podman.run(["image", "inspect", "--format", "{{.Digest}}", ref]),
    );
    expect(inspect.stdout.trim()).toBe(podmanImage.top.digest);
    await waitForMirrorLog(
      logFrom,
      (e) => e.path === `/v2/quay/${podmanImage.repo}/manifests/v1` && e.status === 200,
    );
    expect((await admin().counts()).quay?.["manifest-get"]).toBeGreaterThan(0);
  });
});
