/**
 * Signs images in the fake registry as cosign does, with keys made by WebCrypto: the legacy form
 * (a `sha256-<hex>.sig` manifest whose simple-signing layer carries the signature in an annotation)
 * and cosign v3's sigstore bundles attached as referrers (a DSSE envelope with an in-toto statement,
 * or a message signature). The signatures are genuine; test/signatures/public-keys.test.ts checks the
 * verifier against openssl's, so these specs do not only agree with themselves.
 */
import { type FakeRegistry, pushManifest, sha256 } from "./fake-registry";

export type KeyKind = "ecdsa-p256" | "rsa" | "ed25519";

export interface SigningKey {
  readonly kind: KeyKind;
  /** The public key as cosign writes it (`cosign.pub`). */
  readonly pem: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

const BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
const SIMPLE_SIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const encoder = new TextEncoder();

export async function generateKey(kind: KeyKind): Promise<SigningKey> {
  const algorithm =
    kind === "ecdsa-p256"
      ? { name: "ECDSA", namedCurve: "P-256" }
      : kind === "rsa"
        ? {
            name: "RSASSA-PKCS1-v1_5",
            modulusLength: 2048,
            publicExponent: new Uint8Array([1, 0, 1]),
            hash: "SHA-256",
          }
        : { name: "Ed25519" };
  const pair = (await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer);
  const lines = base64(spki).match(/.{1,64}/g) ?? [];
  const pem = `-----BEGIN PUBLIC KEY-----\n${lines.join("\n")}\n-----END PUBLIC KEY-----\n`;
  return {
    kind,
    pem,
    async sign(message) {
      if (kind === "ecdsa-p256") {
        const raw = new Uint8Array(
          await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, message),
        );
        return rawToDer(raw);
      }
      const name = kind === "rsa" ? "RSASSA-PKCS1-v1_5" : "Ed25519";
      return new Uint8Array(await crypto.subtle.sign({ name }, pair.privateKey, message));
    },
  };
}

/** cosign's simple-signing payload for a digest. */
export function simpleSigningPayload(digest: string, reference = "registry.test/app"): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": reference },
        image: { "docker-manifest-digest": digest },
        type: "cosign container image signature",
      },
      optional: null,
    }),
  );
}

/**
 * The legacy form: pushes the payload blob and the `sha256-<hex>.sig` manifest for `digest`.
 * `names` is the digest the payload names (another one makes a payload that lies).
 */
export async function signLegacy(
  registry: FakeRegistry,
  name: string,
  digest: string,
  key: SigningKey,
  names = digest,
): Promise<string> {
  const payload = simpleSigningPayload(names);
  const payloadDigest = await sha256(payload);
  registry.addBlob(payload, payloadDigest, name);
  const config = encoder.encode("{}");
  const configDigest = await sha256(config);
  registry.addBlob(config, configDigest, name);
  const manifest = encoder.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: configDigest,
        size: config.length,
      },
      layers: [
        {
          mediaType: SIMPLE_SIGNING_TYPE,
          digest: payloadDigest,
          size: payload.length,
          annotations: { "dev.cosignproject.cosign/signature": base64(await key.sign(payload)) },
        },
      ],
    }),
  );
  return pushManifest(registry, name, `${digest.replace(":", "-")}.sig`, manifest, OCI_MANIFEST);
}

export interface BundleOptions {
  /** `dsse` (cosign v3's default) or `message`. */
  readonly form?: "dsse" | "message";
  /** The digest the statement (or message digest) names; another one makes a lying bundle. */
  readonly names?: string;
  /** The manifest's bytes, which a message signature signs. */
  readonly manifest?: Uint8Array;
  /** Also list it under the `sha256-<hex>` tag, as cosign does where there is no referrers API. */
  readonly tagSchema?: boolean;
  /** A Fulcio certificate in place of the key hint (a keyless bundle). */
  readonly keyless?: boolean;
}

/** The sigstore bundle JSON for `digest`, signed with `key`. */
export async function makeBundle(
  digest: string,
  key: SigningKey,
  options: BundleOptions = {},
): Promise<Uint8Array> {
  const names = options.names ?? digest;
  const material = options.keyless
    ? { certificate: { rawBytes: base64(encoder.encode("not a real certificate")) } }
    : { publicKey: { hint: "test-key" } };
  let content: Record<string, unknown>;
  if (options.form === "message") {
    const message = options.manifest ?? new Uint8Array();
    content = {
      messageSignature: {
        messageDigest: { algorithm: "SHA2_256", digest: base64(hexBytes(names.slice(7))) },
        signature: base64(await key.sign(message)),
      },
    };
  } else {
    const statement = encoder.encode(
      JSON.stringify({
        _type: "https://in-toto.io/Statement/v1",
        subject: [{ name: "registry.test/app", digest: { sha256: names.slice(7) } }],
        predicateType: "https://sigstore.dev/cosign/sign/v1",
        predicate: {},
      }),
    );
    const payloadType = "application/vnd.in-toto+json";
    content = {
      dsseEnvelope: {
        payload: base64(statement),
        payloadType,
        signatures: [{ sig: base64(await key.sign(preAuthEncoding(payloadType, statement))), keyid: "" }],
      },
    };
  }
  return encoder.encode(
    JSON.stringify({
      mediaType: BUNDLE_TYPE,
      verificationMaterial: { ...material, tlogEntries: [] },
      ...content,
    }),
  );
}

/** cosign v3's form: the bundle as a layer of a referrer manifest of `subject` (artifactType = bundle). */
export async function signBundle(
  registry: FakeRegistry,
  name: string,
  subject: { digest: string; size: number; mediaType: string },
  key: SigningKey,
  options: BundleOptions = {},
): Promise<string> {
  const bundle = await makeBundle(subject.digest, key, options);
  return attachBundle(registry, name, subject, bundle, options.tagSchema ?? false);
}

export async function attachBundle(
  registry: FakeRegistry,
  name: string,
  subject: { digest: string; size: number; mediaType: string },
  bundle: Uint8Array,
  tagSchema: boolean,
): Promise<string> {
  const bundleDigest = await sha256(bundle);
  registry.addBlob(bundle, bundleDigest, name);
  const empty = encoder.encode("{}");
  const emptyDigest = await sha256(empty);
  registry.addBlob(empty, emptyDigest, name);
  const manifest = encoder.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: BUNDLE_TYPE,
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: emptyDigest, size: empty.length },
      layers: [{ mediaType: BUNDLE_TYPE, digest: bundleDigest, size: bundle.length }],
      subject,
    }),
  );
  const digest = await sha256(manifest);
  await pushManifest(registry, name, digest, manifest, OCI_MANIFEST);
  if (tagSchema) {
    const index = encoder.encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [{ mediaType: OCI_MANIFEST, digest, size: manifest.length, artifactType: BUNDLE_TYPE }],
      }),
    );
    await pushManifest(
      registry,
      name,
      subject.digest.replace(":", "-"),
      index,
      "application/vnd.oci.image.index.v1+json",
    );
  }
  return digest;
}

export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const head = encoder.encode(
    `DSSEv1 ${encoder.encode(payloadType).length} ${payloadType} ${payload.length} `,
  );
  const message = new Uint8Array(head.length + payload.length);
  message.set(head);
  message.set(payload, head.length);
  return message;
}

/** WebCrypto's `r || s` to the DER SEQUENCE cosign writes. */
function rawToDer(raw: Uint8Array): Uint8Array {
  const integer = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const trimmed = bytes.subarray(start);
    const padded = (trimmed[0] ?? 0) & 0x80 ? Uint8Array.of(0, ...trimmed) : trimmed;
    return Uint8Array.of(0x02, padded.length, ...padded);
  };
  const r = integer(raw.subarray(0, 32));
  const s = integer(raw.subarray(32));
  return Uint8Array.of(0x30, r.length + s.length, ...r, ...s);
}

export function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}
