// The signature policy at pull time (SIGNATURE_POLICY): what an `enforce` prefix serves and refuses,
// what `warn` marks, and what verification costs (once per digest and policy version; nothing at all
// without a policy). Images are signed as cosign does (test/support/cosign.ts), with genuine keys.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import keyless from "../signatures/keyless-fixtures.json";
import { attachBundle, generateKey, type SigningKey, signBundle, signLegacy } from "../support/cosign";
import { type FakeRegistry, pushImage, pushManifest, sha256, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams } from "../support/mirror";
import { pullImage, send } from "../support/pull";

const INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

let upstreams: ReturnType<typeof fakeUpstreams>;
let logs: string[];
let key: SigningKey;
let test = 0;
let tag = "";
beforeEach(async () => {
  upstreams = fakeUpstreams();
  tag = `t${++test}`;
  key = await generateKey("ecdsa-p256");
  logs = [];
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    logs.push(args.map(String).join(" "));
  });
});
afterEach(() => vi.restoreAllMocks());

function policy(
  mode: "enforce" | "warn",
  keys: readonly string[],
  repositories = ["oci/signed/**", "legacy/signed/**"],
) {
  return { SIGNATURE_POLICY: JSON.stringify([{ repositories, mode, keys }]) };
}

async function image(registry: FakeRegistry, name: string, seed = test): Promise<TestImage> {
  return pushImage(registry, name, tag, seed);
}

function subjectOf(registry: FakeRegistry, name: string, digest: string) {
  const body = registry.manifestAt(name, digest)?.body;
  if (!body) throw new Error("no such manifest");
  return { digest, size: body.length, mediaType: INDEX };
}

function manifest(base: string, reference: string, vars: Record<string, string>, method = "GET") {
  return send(`${base}/manifests/${reference}`, vars, { method, headers: { Accept: ACCEPT_ALL } });
}

async function errorOf(response: Response, body: Uint8Array) {
  expect(response.headers.get("Content-Type")).toMatch(/application\/json/);
  return (JSON.parse(new TextDecoder().decode(body)) as { errors: Array<{ code: string; message: string }> })
    .errors[0];
}

const signatureRequests = (registry: FakeRegistry) =>
  registry.requests.filter(
    (request) => request.kind === "referrers" || /sha256-[a-f0-9]{64}/.test(request.url.pathname),
  ).length;

describe("an enforce entry serves what its keys signed", () => {
  it.each(["ecdsa-p256", "rsa", "ed25519"] as const)(
    "pulls an index signed in cosign's legacy form with a %s key: index, children and blobs",
    async (kind) => {
      const signer = await generateKey(kind);
      const pushed = await image(upstreams.oci, "signed/app");
      await signLegacy(upstreams.oci, "signed/app", pushed.indexDigest, signer);
      const vars = policy("enforce", [signer.pem]);
      const index = await manifest("/v2/oci/signed/app", tag, vars);
      expect(index.response.status).toBe(200);
      expect(index.response.headers.get("X-Mirror-Signature")).toBe("verified");
      const pulled = await pullImage("/v2/oci/signed/app", tag, vars);
      expect(pulled.manifests).toEqual([pushed.indexDigest, ...pushed.manifestDigests]);
      expect(logs.some((line) => line.includes('"event":"signature.verified"'))).toBe(true);
    },
  );

  it("pulls an index signed with a sigstore bundle found through the referrers API", async () => {
    const pushed = await image(upstreams.oci, "signed/bundled");
    const subject = subjectOf(upstreams.oci, "signed/bundled", pushed.indexDigest);
    await signBundle(upstreams.oci, "signed/bundled", subject, key);
    const pulled = await pullImage("/v2/oci/signed/bundled", tag, policy("enforce", [key.pem]));
    expect(pulled.manifests[0]).toBe(pushed.indexDigest);
    expect(upstreams.oci.count("referrers")).toBeGreaterThan(0);
  });

  it("finds a bundle through the sha256-<hex> tag where the upstream has no referrers API", async () => {
    const pushed = await image(upstreams.legacy, "signed/bundled");
    const subject = subjectOf(upstreams.legacy, "signed/bundled", pushed.indexDigest);
    await signBundle(upstreams.legacy, "signed/bundled", subject, key, { tagSchema: true });
    const index = await manifest("/v2/legacy/signed/bundled", tag, policy("enforce", [key.pem]));
    expect(index.response.status).toBe(200);
    expect(index.response.headers.get("X-Mirror-Signature")).toBe("verified");
  });

  it("accepts a message-signature bundle over the manifest itself", async () => {
    const pushed = await image(upstreams.oci, "signed/message");
    const body = upstreams.oci.manifestAt("signed/message", pushed.indexDigest)?.body;
    const subject = subjectOf(upstreams.oci, "signed/message", pushed.indexDigest);
    await signBundle(upstreams.oci, "signed/message", subject, key, { form: "message", manifest: body });
    const index = await manifest("/v2/oci/signed/message", tag, policy("enforce", [key.pem]));
    expect(index.response.status).toBe(200);
  });

  it("answers a HEAD by tag once the signature verified, as containerd resolves", async () => {
    const pushed = await image(upstreams.oci, "signed/head");
    await signLegacy(upstreams.oci, "signed/head", pushed.indexDigest, key);
    const head = await manifest("/v2/oci/signed/head", tag, policy("enforce", [key.pem]), "HEAD");
    expect(head.response.status).toBe(200);
    expect(head.response.headers.get("Docker-Content-Digest")).toBe(pushed.indexDigest);
    expect(head.response.headers.get("X-Mirror-Signature")).toBe("verified");
  });

  it("serves cosign's own signature tag, which is no image", async () => {
    const pushed = await image(upstreams.oci, "signed/sigtag");
    await signLegacy(upstreams.oci, "signed/sigtag", pushed.indexDigest, key);
    const signatureTag = `${pushed.indexDigest.replace(":", "-")}.sig`;
    const response = await manifest("/v2/oci/signed/sigtag", signatureTag, policy("enforce", [key.pem]));
    expect(response.response.status).toBe(200);
  });
});

describe("an enforce entry refuses what its keys did not sign, before serving any of it", () => {
  it("refuses an unsigned image with 403 DENIED naming the entry and what is missing", async () => {
    const pushed = await image(upstreams.oci, "signed/unsigned");
    const vars = policy("enforce", [key.pem]);
    const { response, body } = await manifest("/v2/oci/signed/unsigned", tag, vars);
    expect(response.status).toBe(403);
    const error = await errorOf(response, body);
    expect(error?.code).toBe("DENIED");
    expect(error?.message).toBe(
      `SIGNATURE_POLICY[0] (oci/signed/**, legacy/signed/**): manifest ${pushed.indexDigest} is not signed (no cosign signature or sigstore bundle found)`,
    );
    expect(logs.some((line) => line.includes('"event":"signature.refused"'))).toBe(true);
  });

  it("refuses its children and blobs by digest too, without fetching a blob", async () => {
    const pushed = await image(upstreams.oci, "signed/unsigned-parts");
    const vars = policy("enforce", [key.pem]);
    const child = await manifest("/v2/oci/signed/unsigned-parts", pushed.manifestDigests[0] ?? "", vars);
    expect(child.response.status).toBe(403);
    upstreams.oci.reset();
    const blob = await send(`/v2/oci/signed/unsigned-parts/blobs/${pushed.layerDigests[0]}`, vars);
    expect(blob.response.status).toBe(403);
    expect((await errorOf(blob.response, blob.body))?.message).toMatch(/is not named by a verified manifest/);
    expect(upstreams.oci.count("blob")).toBe(0);
  });

  it("refuses a signature by another key: wrong key", async () => {
    const pushed = await image(upstreams.oci, "signed/wrong-key");
    await signLegacy(upstreams.oci, "signed/wrong-key", pushed.indexDigest, await generateKey("ecdsa-p256"));
    const { response, body } = await manifest("/v2/oci/signed/wrong-key", tag, policy("enforce", [key.pem]));
    expect(response.status).toBe(403);
    expect((await errorOf(response, body))?.message).toMatch(
      /is signed, but not with a key of the policy \(wrong key\)/,
    );
  });

  it("refuses a valid signature whose payload names another digest", async () => {
    const pushed = await image(upstreams.oci, "signed/other-digest");
    const other = await pushImage(upstreams.oci, "signed/other-digest", `${tag}-other`, test + 1000);
    await signLegacy(upstreams.oci, "signed/other-digest", pushed.indexDigest, key, other.indexDigest);
    const { response, body } = await manifest(
      "/v2/oci/signed/other-digest",
      tag,
      policy("enforce", [key.pem]),
    );
    expect(response.status).toBe(403);
    expect((await errorOf(response, body))?.message).toMatch(/payload names another digest/);
  });

  it("refuses a bundle whose statement names another digest", async () => {
    const pushed = await image(upstreams.oci, "signed/other-bundle");
    const subject = subjectOf(upstreams.oci, "signed/other-bundle", pushed.indexDigest);
    await signBundle(upstreams.oci, "signed/other-bundle", subject, key, {
      names: pushed.manifestDigests[0],
    });
    const { response } = await manifest("/v2/oci/signed/other-bundle", tag, policy("enforce", [key.pem]));
    expect(response.status).toBe(403);
  });

  it("still serves a blob already stored (and its links), as without a policy", async () => {
    const pushed = await image(upstreams.oci, "signed/shared");
    await pullImage("/v2/oci/signed/shared", tag);
    const blob = await send(
      `/v2/oci/signed/shared/blobs/${pushed.layerDigests[0]}`,
      policy("enforce", [key.pem]),
    );
    expect(blob.response.status).toBe(200);
  });
});

describe("warming up (POST /_/warm) under an enforce entry", () => {
  const warm = (image: string, vars: Record<string, string>) =>
    send(
      "/_/warm",
      { ADMIN_TOKEN: "admin-token", ...vars },
      {
        method: "POST",
        headers: { Authorization: "Bearer admin-token", "Content-Type": "application/json" },
        body: JSON.stringify({ image }),
      },
    );

  it("refuses an unsigned image even when its manifest is cached, and stores none of its blobs", async () => {
    const pushed = await image(upstreams.oci, "signed/warm-unsigned");
    // Its manifests cached (pulled without a policy), its blobs not.
    await manifest("/v2/oci/signed/warm-unsigned", tag, {});
    for (const child of pushed.manifestDigests) await manifest("/v2/oci/signed/warm-unsigned", child, {});
    upstreams.oci.reset();
    const { response } = await warm(`oci/signed/warm-unsigned:${tag}`, policy("enforce", [key.pem]));
    expect(response.status).toBe(403);
    expect(upstreams.oci.count("blob")).toBe(0);
    const [algorithm, hex] = (pushed.layerDigests[0] ?? "").split(":");
    expect(await env.BLOBS.head(`blobs/${algorithm}/${hex}`)).toBeNull();
  });

  it("warms a signed one", async () => {
    const pushed = await image(upstreams.oci, "signed/warm-signed");
    await signLegacy(upstreams.oci, "signed/warm-signed", pushed.indexDigest, key);
    const { response, body } = await warm(`oci/signed/warm-signed:${tag}`, policy("enforce", [key.pem]));
    expect(response.status, new TextDecoder().decode(body)).toBe(200);
    expect(JSON.parse(new TextDecoder().decode(body))).toMatchObject({
      digest: pushed.indexDigest,
      fetched: 4,
    });
  });
});

describe("verdicts are kept per digest and policy version", () => {
  it("verifies once: a warm pull asks the upstream for no signature", async () => {
    const pushed = await image(upstreams.oci, "signed/warm");
    await signLegacy(upstreams.oci, "signed/warm", pushed.indexDigest, key);
    const vars = policy("enforce", [key.pem]);
    await pullImage("/v2/oci/signed/warm", tag, vars);
    upstreams.oci.reset();
    await pullImage("/v2/oci/signed/warm", tag, vars);
    expect(signatureRequests(upstreams.oci)).toBe(0);
    expect(upstreams.oci.count("blob")).toBe(0);
  });

  it("costs three upstream requests to verify the legacy form (HEAD .sig, its manifest, the payload), no referrers request", async () => {
    const pushed = await image(upstreams.oci, "signed/cost-legacy");
    await signLegacy(upstreams.oci, "signed/cost-legacy", pushed.indexDigest, key);
    await manifest("/v2/oci/signed/cost-legacy", tag, policy("enforce", [key.pem]));
    const asked = upstreams.oci.requests.map((request) => `${request.method} ${request.kind}`);
    // The tag's own GET, then the signature's three.
    expect(asked).toEqual(["GET manifest", "HEAD manifest", "GET manifest", "GET blob"]);
  });

  it("costs four to verify a bundle (HEAD .sig answered 404, referrers, the bundle's manifest and blob)", async () => {
    const pushed = await image(upstreams.oci, "signed/cost-bundle");
    await signBundle(
      upstreams.oci,
      "signed/cost-bundle",
      subjectOf(upstreams.oci, "signed/cost-bundle", pushed.indexDigest),
      key,
    );
    await manifest("/v2/oci/signed/cost-bundle", tag, policy("enforce", [key.pem]));
    const asked = upstreams.oci.requests.map((request) => `${request.method} ${request.kind}`);
    expect(asked).toEqual(["GET manifest", "HEAD manifest", "GET referrers", "GET manifest", "GET blob"]);
  });

  it("makes concurrent pulls of a new image share one verification", async () => {
    const pushed = await image(upstreams.oci, "signed/concurrent");
    await signLegacy(upstreams.oci, "signed/concurrent", pushed.indexDigest, key);
    const vars = policy("enforce", [key.pem]);
    // Cached first, so the five requests meet at the signature check rather than at the manifest fill.
    await manifest("/v2/oci/signed/concurrent", pushed.indexDigest, {});
    upstreams.oci.reset();
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => manifest("/v2/oci/signed/concurrent", pushed.indexDigest, vars)),
    );
    expect(answers.map((answer) => answer.response.status)).toEqual([200, 200, 200, 200, 200]);
    expect(upstreams.oci.requests.filter((request) => request.url.pathname.endsWith(".sig")).length).toBe(1);
  });

  it("asks with HEAD first: an image without the legacy tag costs no manifest GET for it", async () => {
    const pushed = await image(upstreams.oci, "signed/head-first");
    const subject = subjectOf(upstreams.oci, "signed/head-first", pushed.indexDigest);
    await signBundle(upstreams.oci, "signed/head-first", subject, key);
    await manifest("/v2/oci/signed/head-first", tag, policy("enforce", [key.pem]));
    const legacyTag = upstreams.oci.requests.filter((request) => request.url.pathname.endsWith(".sig"));
    expect(legacyTag.map((request) => request.method)).toEqual(["HEAD"]);
  });

  it("remembers a refusal for its repository only: the same digest signed in another repository is served", async () => {
    const vars = policy("enforce", [key.pem]);
    const unsigned = await pushImage(upstreams.oci, "signed/copy-unsigned", tag, test);
    const signed = await pushImage(upstreams.oci, "signed/copy-signed", tag, test);
    expect(signed.indexDigest).toBe(unsigned.indexDigest);
    await signLegacy(upstreams.oci, "signed/copy-signed", signed.indexDigest, key);
    expect((await manifest("/v2/oci/signed/copy-unsigned", tag, vars)).response.status).toBe(403);
    expect((await manifest("/v2/oci/signed/copy-signed", tag, vars)).response.status).toBe(200);
    // Verified once, the digest is signed content wherever it is pulled under the entry.
    expect((await manifest("/v2/oci/signed/copy-unsigned", tag, vars)).response.status).toBe(200);
  });

  it("verifies again when the entry's keys change", async () => {
    const pushed = await image(upstreams.oci, "signed/rotated");
    await signLegacy(upstreams.oci, "signed/rotated", pushed.indexDigest, key);
    expect(
      (await manifest("/v2/oci/signed/rotated", tag, policy("enforce", [key.pem]))).response.status,
    ).toBe(200);
    const rotated = await generateKey("ecdsa-p256");
    const after = await manifest("/v2/oci/signed/rotated", tag, policy("enforce", [rotated.pem]));
    expect(after.response.status).toBe(403);
  });

  it("costs nothing without a policy: not one signature request", async () => {
    await image(upstreams.oci, "signed/no-policy");
    const response = await manifest("/v2/oci/signed/no-policy", tag, {});
    expect(response.response.status).toBe(200);
    expect(response.response.headers.has("X-Mirror-Signature")).toBe(false);
    expect(signatureRequests(upstreams.oci)).toBe(0);
  });

  it("costs nothing for a repository under no entry", async () => {
    await image(upstreams.oci, "elsewhere/app");
    const response = await manifest("/v2/oci/elsewhere/app", tag, policy("enforce", [key.pem]));
    expect(response.response.status).toBe(200);
    expect(signatureRequests(upstreams.oci)).toBe(0);
  });
});

describe("keyless signatures (Fulcio identities), verified against a sigstore trusted root", () => {
  // A small image and keyless bundles made with @sigstore/mock's CA and logs (make-keyless-fixtures.mjs).
  const encoder = new TextEncoder();
  const ACME = {
    issuer: keyless.issuer,
    subject: "https://github.com/acme/*/.github/workflows/*@refs/heads/main",
  };

  async function pushKeylessImage(name: string, bundle: keyof typeof keyless.bundles) {
    for (const blob of [keyless.image.config, keyless.image.layer]) {
      upstreams.oci.addBlob(encoder.encode(blob), await sha256(encoder.encode(blob)), name);
    }
    const manifestBytes = encoder.encode(keyless.image.manifest);
    await pushManifest(upstreams.oci, name, tag, manifestBytes, OCI_MANIFEST);
    const subject = { digest: keyless.image.digest, size: manifestBytes.length, mediaType: OCI_MANIFEST };
    await attachBundle(
      upstreams.oci,
      name,
      subject,
      encoder.encode(JSON.stringify(keyless.bundles[bundle])),
      false,
    );
  }

  function keylessPolicy(entry: Record<string, unknown>) {
    return {
      SIGNATURE_POLICY: JSON.stringify([{ repositories: ["oci/signed/**"], mode: "enforce", ...entry }]),
      SIGSTORE_TRUSTED_ROOT: JSON.stringify(keyless.roots.trusted),
    };
  }

  it("pulls an image signed keylessly by an identity of the policy: manifest and blobs", async () => {
    await pushKeylessImage("signed/keyless", "dsse");
    const vars = keylessPolicy({ identities: [ACME] });
    const served = await manifest("/v2/oci/signed/keyless", tag, vars);
    expect(served.response.status).toBe(200);
    expect(served.response.headers.get("X-Mirror-Signature")).toBe("verified");
    const verified = logs.find((line) => line.includes('"event":"signature.verified"'));
    expect(verified).toContain(`bundle signature, ${keyless.subject} (${keyless.issuer})`);
    const layer = `sha256:${JSON.parse(keyless.image.manifest).layers[0].digest.slice(7)}`;
    expect((await send(`/v2/oci/signed/keyless/blobs/${layer}`, vars)).response.status).toBe(200);
  });

  it("pulls an image signed keylessly in cosign's legacy form (.sig tag with certificate and Rekor bundle)", async () => {
    const name = "signed/keyless-legacy";
    for (const blob of [keyless.image.config, keyless.image.layer]) {
      upstreams.oci.addBlob(encoder.encode(blob), await sha256(encoder.encode(blob)), name);
    }
    await pushManifest(upstreams.oci, name, tag, encoder.encode(keyless.image.manifest), OCI_MANIFEST);
    const payload = encoder.encode(keyless.legacy.signed.payload);
    const config = encoder.encode("{}");
    upstreams.oci.addBlob(payload, await sha256(payload), name);
    upstreams.oci.addBlob(config, await sha256(config), name);
    const signatureManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: await sha256(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
          digest: await sha256(payload),
          size: payload.length,
          annotations: keyless.legacy.signed.annotations,
        },
      ],
    };
    const sigTag = `${keyless.image.digest.replace(":", "-")}.sig`;
    await pushManifest(
      upstreams.oci,
      name,
      sigTag,
      encoder.encode(JSON.stringify(signatureManifest)),
      OCI_MANIFEST,
    );
    // An identity no other spec uses: a policy version of its own, so no verdict is shared with them.
    const vars = keylessPolicy({
      identities: [{ issuer: keyless.issuer, subject: "https://github.com/acme/app/**" }],
    });
    const served = await manifest(`/v2/oci/${name}`, tag, vars);
    expect(served.response.status).toBe(200);
    expect(served.response.headers.get("X-Mirror-Signature")).toBe("verified");
    const verified = logs.find((line) => line.includes('"event":"signature.verified"'));
    expect(verified).toContain(`legacy signature, ${keyless.subject} (${keyless.issuer})`);
    expect(upstreams.oci.requests.filter((request) => request.kind === "referrers")).toHaveLength(0);
    const refused = await manifest(
      `/v2/oci/${name}`,
      tag,
      keylessPolicy({ identities: [{ issuer: keyless.issuer, subject: "https://github.com/other/**" }] }),
    );
    expect(refused.response.status).toBe(403);
    expect((await errorOf(refused.response, refused.body))?.message).toMatch(/\(wrong identity\)/);
  });

  it("refuses a keyless signature by another identity: wrong identity", async () => {
    await pushKeylessImage("signed/keyless-other", "dsse");
    const vars = keylessPolicy({
      identities: [{ issuer: keyless.issuer, subject: "https://github.com/other/**" }],
    });
    const { response, body } = await manifest("/v2/oci/signed/keyless-other", tag, vars);
    expect(response.status).toBe(403);
    expect((await errorOf(response, body))?.message).toMatch(
      /is signed keylessly, but not by an identity of the policy \(wrong identity\)/,
    );
  });

  it("refuses a keyless signature that does not chain to the trusted root", async () => {
    await pushKeylessImage("signed/keyless-stranger", "untrusted");
    const vars = keylessPolicy({ identities: [{ issuer: keyless.issuer, subject: keyless.subject }] });
    const { response, body } = await manifest("/v2/oci/signed/keyless-stranger", tag, vars);
    expect(response.status).toBe(403);
    expect((await errorOf(response, body))?.message).toMatch(
      /has only keyless signatures that the policy does not accept or that do not verify/,
    );
  });

  it("refuses a keyless signature under an entry that lists only keys", async () => {
    await pushKeylessImage("signed/keyless-keys-only", "dsse");
    const { response } = await manifest(
      "/v2/oci/signed/keyless-keys-only",
      tag,
      keylessPolicy({ keys: [key.pem] }),
    );
    expect(response.status).toBe(403);
  });
});

describe("when the upstream cannot show the signatures", () => {
  it("enforce answers 503 UNAVAILABLE and remembers nothing; warn serves it unverified", async () => {
    const pushed = await image(upstreams.oci, "signed/trouble");
    await signLegacy(upstreams.oci, "signed/trouble", pushed.indexDigest, key);
    // Cached without a policy, so only the signature lookup meets the failing upstream.
    expect((await manifest("/v2/oci/signed/trouble", pushed.indexDigest, {})).response.status).toBe(200);
    upstreams.oci.failWith = 503;
    const enforced = await manifest(
      "/v2/oci/signed/trouble",
      pushed.indexDigest,
      policy("enforce", [key.pem]),
    );
    expect(enforced.response.status).toBe(503);
    expect((await errorOf(enforced.response, enforced.body))?.message).toMatch(
      /SIGNATURE_POLICY\[0\] .*: the signatures of sha256:[a-f0-9]{64} could not be read from upstream "oci"/,
    );
    const warned = await manifest("/v2/oci/signed/trouble", pushed.indexDigest, policy("warn", [key.pem]));
    expect(warned.response.status).toBe(200);
    expect(warned.response.headers.get("X-Mirror-Signature")).toBe("unverified");
    upstreams.oci.failWith = null;
    const later = await manifest("/v2/oci/signed/trouble", pushed.indexDigest, policy("enforce", [key.pem]));
    expect(later.response.status).toBe(200);
  });
});

describe("a warn entry serves, marks and logs", () => {
  it("serves an unsigned image with X-Mirror-Signature: unverified and an audit line", async () => {
    const pushed = await image(upstreams.oci, "signed/warned");
    const vars = policy("warn", [key.pem]);
    const { response } = await manifest("/v2/oci/signed/warned", tag, vars);
    expect(response.status).toBe(200);
    expect(response.headers.get("X-Mirror-Signature")).toBe("unverified");
    const line = logs.find((entry) => entry.includes('"event":"signature.unverified"'));
    expect(line).toContain(pushed.indexDigest);
    expect(line).toContain("not signed");
    // The request's own audit line says so too.
    const audit = logs.find(
      (entry) => entry.includes('"signature":"unverified"') && entry.includes('"status":200'),
    );
    expect(audit).toBeDefined();
    // Its blobs are served as without a policy.
    expect((await pullImage("/v2/oci/signed/warned", tag, vars)).blobs.length).toBe(4);
  });
});
