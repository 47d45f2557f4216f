// The signature policy with real registries and real clients: a mirror whose `anon/signed/**` and
// `oci11/signed/**` repositories are under an `enforce` entry with a freshly generated cosign key.
// Images are signed over the registry API as cosign does (legacy `.sig` tag; sigstore bundle as a
// referrer through the OCI 1.1 look-alike), each signature checked with the openssl CLI first.
// skopeo, podman and containerd pull the signed ones and are refused the unsigned and wrongly signed
// ones, with the policy's message.
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Containerd,
  makePodman,
  type Podman,
  readDir,
  registriesConfMirror,
  skopeoCopy,
  startContainerd,
  writeHostsToml,
} from "./harness/clients.ts";
import { admin, bed, startBedMirror } from "./harness/context.ts";
import { attachBundle, type CosignKey, generateCosignKey, signBundle, signLegacy } from "./harness/cosign.ts";
import { buildImage, type ImageSpec } from "./harness/images.ts";
import { logEvents, type Mirror } from "./harness/mirror.ts";
import { type ExpectedImage, pushImage } from "./harness/push.ts";
import { pushBlob, pushManifest } from "./harness/push-artifact.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const keyless = JSON.parse(
  readFileSync(join(b.repoRoot, "test/signatures/keyless-fixtures.json"), "utf8"),
) as KeylessFixtures;

interface KeylessFixtures {
  issuer: string;
  subject: string;
  image: { config: string; layer: string; manifest: string; digest: string };
  roots: { trusted: unknown };
  bundles: Record<"dsse" | "otherSubject", unknown>;
}
const spec = (repo: string, seed: number): ImageSpec => ({
  repo,
  tag: "v1",
  format: "oci",
  platforms: ["amd64", "arm64"],
  // Distinct sizes make distinct layers, so no image shares a blob another one stored.
  layerSizes: [4096 + seed, 2048 + seed],
});

let key: CosignKey;
let mirror: Mirror;
let host: string;
let env: SkopeoEnv;
const images: Record<"legacy" | "bundled" | "unsigned" | "wrongKey" | "wrongKeyCtr", ExpectedImage> =
  {} as never;

beforeAll(async () => {
  key = generateCosignKey();
  const face = b.faces.anon ?? "";
  const pushDir = mkdtempSync(join(b.workDir, "signatures-push-"));
  const pushEnv = makeContainersEnv(pushDir);
  const cache = join(b.workDir, "signature-images");
  const push = async (repo: string, seed: number) =>
    pushImage(await buildImage(spec(repo, seed), cache), face, pushEnv);
  images.legacy = await push("signed/legacy", 1);
  images.bundled = await push("signed/bundled", 2);
  images.unsigned = await push("signed/unsigned", 3);
  images.wrongKey = await push("signed/wrong-key", 4);
  images.wrongKeyCtr = await push("signed/wrong-key-ctr", 5);
  await signLegacy(face, images.legacy.repo, images.legacy.top.digest, key);
  // Through the OCI 1.1 look-alike, which learns the subject as a 1.1 registry would.
  await signBundle(b.upstreams.oci11.url, images.bundled.repo, images.bundled.top, key);
  const stranger = generateCosignKey();
  await signLegacy(face, images.wrongKey.repo, images.wrongKey.top.digest, stranger);
  await signLegacy(face, images.wrongKeyCtr.repo, images.wrongKeyCtr.top.digest, stranger);

  // Keyless: an image and bundles made with @sigstore/mock's CA and logs (test/signatures/keyless-fixtures.json).
  for (const [repo, bundle] of [
    ["keyless/signed", "dsse"],
    ["keyless/other-identity", "otherSubject"],
  ] as const) {
    for (const blob of [keyless.image.config, keyless.image.layer])
      await pushBlob(face, repo, Buffer.from(blob));
    const subject = await pushManifest(face, repo, "v1", JSON.parse(keyless.image.manifest), OCI_MANIFEST);
    await attachBundle(
      b.upstreams.oci11.url,
      repo,
      subject,
      Buffer.from(JSON.stringify(keyless.bundles[bundle])),
    );
  }

  mirror = await startBedMirror({
    vars: {
      SIGNATURE_POLICY: JSON.stringify([
        { repositories: ["anon/signed/**", "oci11/signed/**"], mode: "enforce", keys: [key.pem] },
        {
          repositories: ["oci11/keyless/**"],
          mode: "enforce",
          identities: [
            {
              issuer: keyless.issuer,
              subject: "https://github.com/acme/*/.github/workflows/*@refs/heads/main",
            },
          ],
        },
      ]),
      SIGSTORE_TRUSTED_ROOT: JSON.stringify(keyless.roots.trusted),
    },
    logFile: "wrangler-signatures.log",
  });
  host = new URL(mirror.url).host;
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "signatures-")));
}, 300_000);
afterAll(async () => {
  await mirror?.stop();
});

const POLICY = "SIGNATURE_POLICY[0] (anon/signed/**, oci11/signed/**)";

function copy(path: string, all = true) {
  return skopeoCopy(env, { ref: `${host}/${path}`, dest: `dir:${mkdtempSync(join(env.dir, "pull-"))}`, all });
}

describe("skopeo through an enforce prefix", () => {
  it("copies an index signed in cosign's legacy form, every platform and blob", async () => {
    const dest = mkdtempSync(join(env.dir, "legacy-"));
    const result = await skopeoCopy(env, {
      ref: `${host}/anon/signed/legacy:v1`,
      dest: `dir:${dest}`,
      all: true,
    });
    expect(result.code, result.stderr).toBe(0);
    const pulled = await readDir(dest);
    expect(pulled.top).toBe(images.legacy.top.digest);
    expect(pulled.instances.length).toBe(2);
  });

  it("copies an index signed with a sigstore bundle found through the referrers API", async () => {
    const result = await copy("oci11/signed/bundled:v1");
    expect(result.code, result.stderr).toBe(0);
  });

  it("is refused an unsigned image with the policy's message", async () => {
    const result = await copy("anon/signed/unsigned:v1");
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      `${POLICY}: manifest ${images.unsigned.top.digest} is not signed (no cosign signature or sigstore bundle found)`,
    );
  });

  it("is refused an unsigned image's blob by digest, before the upstream is asked", async () => {
    const layer = images.unsigned.manifests[0]?.layers[0]?.digest ?? "";
    const response = await fetch(`${mirror.url}/v2/anon/signed/unsigned/blobs/${layer}`);
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("is not named by a verified manifest");
    const asked = (await admin().requests("anon")).filter((request) => request.url.includes(layer));
    expect(asked).toEqual([]);
  });
});

describe("keyless signatures (a sigstore stand-in's CA and Rekor log as the trusted root)", () => {
  // One image (one digest) in both repositories: refused first where the signature is another
  // identity's; once verified, a digest is signed content in every repository under the entry.
  it("skopeo is refused one signed by another identity: wrong identity", async () => {
    const result = await copy("oci11/keyless/other-identity:v1", false);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      "is signed keylessly, but not by an identity of the policy (wrong identity)",
    );
  });

  it("skopeo copies an image signed by an identity of the policy", async () => {
    const result = await copy("oci11/keyless/signed:v1", false);
    expect(result.code, result.stderr).toBe(0);
  });
});

describe("podman through a registries.conf prefix mirror", () => {
  let podman: Podman;

  beforeAll(() => {
    const dir = mkdtempSync(join(b.workDir, "signatures-podman-"));
    mkdirSync(join(dir, "tmp"), { recursive: true });
    podman = makePodman(
      dir,
      makeContainersEnv(dir, registriesConfMirror("anon.e2e", b.deadPort, host, "anon")),
    );
  });

  it("pulls the signed image", async () => {
    const result = await podman.run(["pull", "--quiet", "anon.e2e/signed/legacy:v1"]);
    expect(result.code, result.stderr).toBe(0);
  });

  it("is refused an image signed with another key: wrong key", async () => {
    const result = await podman.run(["pull", "--quiet", "anon.e2e/signed/wrong-key:v1"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      `${POLICY}: manifest ${images.wrongKey.top.digest} is signed, but not with a key of the policy (wrong key)`,
    );
  });
});

describe("containerd (ctr) through hosts.toml", () => {
  let containerd: Containerd;
  let hostsDir: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "e2e-sig-"));
    containerd = await startContainerd(dir, join(b.workDir, "containerd-signatures.log"));
    hostsDir = join(containerd.hostsDir, "signatures");
    writeHostsToml(hostsDir, "oci11.e2e", b.deadPort, host, "v2/oci11", true);
  });
  afterAll(async () => {
    await containerd?.stop();
  });

  it("pulls the bundle-signed image (HEAD to resolve, then the platform's manifest and blobs)", async () => {
    const ref = "oci11.e2e/signed/bundled:v1";
    const result = await containerd.ctr(["images", "pull", "--hosts-dir", hostsDir, ref]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it("is refused an unsigned and a wrongly signed image", async () => {
    for (const repo of ["signed/unsigned", "signed/wrong-key-ctr"]) {
      const result = await containerd.ctr([
        "images",
        "pull",
        "--hosts-dir",
        hostsDir,
        `oci11.e2e/${repo}:v1`,
      ]);
      const output = `${result.stdout}\n${result.stderr}`;
      expect(result.code, repo).not.toBe(0);
      // containerd resolves with a HEAD, whose 403 has no body to carry the message: the log has it.
      expect(output).toContain("403 Forbidden");
    }
  });
});

describe("the mirror's log", () => {
  it("has one signature.refused line per refusal, naming the entry and the shortfall", () => {
    const refusals = logEvents(mirror.process.output(), "signature.refused");
    const shortfalls = new Set(refusals.map((entry) => `${entry.repository} ${entry.shortfall}`));
    expect(shortfalls).toContain("signed/unsigned no signature");
    expect(shortfalls).toContain("signed/wrong-key wrong key");
    expect(shortfalls).toContain("signed/wrong-key-ctr wrong key");
    expect(shortfalls).toContain("keyless/other-identity wrong identity");
    for (const entry of refusals) {
      expect(entry.policy).toBe(
        String(entry.repository).startsWith("keyless/") ? "SIGNATURE_POLICY[1] (oci11/keyless/**)" : POLICY,
      );
    }
  });
});
