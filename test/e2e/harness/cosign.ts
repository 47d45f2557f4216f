// Signs images in the test registries as cosign does, over the registry API: the legacy form (a
// `sha256-<hex>.sig` manifest whose simple-signing layer carries the signature in the
// `dev.cosignproject.cosign/signature` annotation) and cosign v3's sigstore bundle attached as a
// referrer. Keys are made with Node's crypto (OpenSSL), and every signature is checked with the
// openssl CLI before it is pushed, so the mirror is held to what an independent verifier accepts.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OCI_MANIFEST, type PushedDescriptor, pushBlob, pushManifest } from "./push-artifact.ts";

const SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
export const BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json";
const IN_TOTO = "application/vnd.in-toto+json";

export interface CosignKey {
  /** `cosign.pub`: what goes into SIGNATURE_POLICY. */
  readonly pem: string;
  sign(message: Buffer): Buffer;
}

/** An ECDSA P-256 key pair, as `cosign generate-key-pair` makes. */
export function generateCosignKey(): CosignKey {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  return {
    pem,
    sign(message) {
      // DER-encoded ECDSA over SHA-256, cosign's signature format.
      const signature = sign("sha256", message, privateKey as KeyObject);
      opensslVerify(pem, message, signature);
      return signature;
    },
  };
}

/** Fails unless `openssl dgst -sha256 -verify` accepts the signature. */
function opensslVerify(pem: string, message: Buffer, signature: Buffer): void {
  const dir = mkdtempSync(join(tmpdir(), "e2e-openssl-"));
  try {
    writeFileSync(join(dir, "key.pub"), pem);
    writeFileSync(join(dir, "message"), message);
    writeFileSync(join(dir, "signature"), signature);
    const out = execFileSync(
      "openssl",
      [
        "dgst",
        "-sha256",
        "-verify",
        join(dir, "key.pub"),
        "-signature",
        join(dir, "signature"),
        join(dir, "message"),
      ],
      { encoding: "utf8" },
    );
    if (!out.includes("Verified OK")) throw new Error(`openssl did not verify the signature: ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** cosign's legacy form: the payload blob and the `sha256-<hex>.sig` manifest for `digest`. */
export async function signLegacy(
  registry: string,
  repo: string,
  digest: string,
  key: CosignKey,
): Promise<void> {
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": `registry.test/${repo}` },
        image: { "docker-manifest-digest": digest },
        type: "cosign container image signature",
      },
      optional: null,
    }),
  );
  const layer = await pushBlob(registry, repo, payload, SIMPLE_SIGNING);
  const config = await pushBlob(
    registry,
    repo,
    Buffer.from("{}"),
    "application/vnd.oci.image.config.v1+json",
  );
  await pushManifest(
    registry,
    repo,
    `${digest.replace(":", "-")}.sig`,
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config,
      layers: [
        {
          ...layer,
          annotations: { "dev.cosignproject.cosign/signature": key.sign(payload).toString("base64") },
        },
      ],
    },
    OCI_MANIFEST,
  );
}

/**
 * A bundle made elsewhere (e.g. a keyless one from test/signatures/keyless-fixtures.json) attached to
 * `subject` as cosign v3 attaches it: the bundle as the layer of a referrer manifest pushed by digest.
 */
export async function attachBundle(
  registry: string,
  repo: string,
  subject: PushedDescriptor,
  bundle: Buffer,
): Promise<void> {
  const layer = await pushBlob(registry, repo, bundle, BUNDLE);
  const empty = await pushBlob(registry, repo, Buffer.from("{}"));
  await pushManifest(
    registry,
    repo,
    null,
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: BUNDLE,
      config: empty,
      layers: [layer],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    },
    OCI_MANIFEST,
  );
}

/**
 * cosign v3's form: a sigstore bundle (DSSE envelope, in-toto statement naming `subject`) as the layer of
 * a manifest whose `subject` is the image, pushed by digest; the registry's referrers API lists it.
 */
export async function signBundle(
  registry: string,
  repo: string,
  subject: PushedDescriptor,
  key: CosignKey,
): Promise<void> {
  const statement = Buffer.from(
    JSON.stringify({
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: `registry.test/${repo}`, digest: { sha256: subject.digest.slice(7) } }],
      predicateType: "https://sigstore.dev/cosign/sign/v1",
      predicate: {},
    }),
  );
  const pae = Buffer.concat([
    Buffer.from(`DSSEv1 ${IN_TOTO.length} ${IN_TOTO} ${statement.length} `),
    statement,
  ]);
  const bundle = Buffer.from(
    JSON.stringify({
      mediaType: BUNDLE,
      verificationMaterial: { publicKey: { hint: "e2e" }, tlogEntries: [] },
      dsseEnvelope: {
        payload: statement.toString("base64"),
        payloadType: IN_TOTO,
        signatures: [{ sig: key.sign(pae).toString("base64"), keyid: "" }],
      },
    }),
  );
  await attachBundle(registry, repo, subject, bundle);
}
