import { type BundleContent, parseBundle } from "./bundle";
import { IN_TOTO_PAYLOAD_TYPE, preAuthEncoding, statementDigests } from "./dsse";
import { type KeylessIdentity, type SigstoreTrust, verifyKeyless } from "./keyless";
import { type LegacyKeylessMaterial, legacyKeylessBundle } from "./legacy-keyless";
import { type PublicKey, verifySignature } from "./public-keys";
import { readJson, signedDigestOf } from "./simple-signing";

/** A signature found for a manifest, as its registry holds it; judged here, never trusted as found. */
export type SignatureCandidate =
  | {
      /** cosign's `sha256-<hex>.sig` tag: a simple-signing payload and its annotation's signature. */
      readonly form: "legacy";
      readonly payload: Uint8Array;
      readonly signature: Uint8Array | null;
      /** cosign v2's keyless form: the Fulcio certificate and Rekor entry annotated beside the signature. */
      readonly keyless?: LegacyKeylessMaterial | null;
    }
  | {
      /** A sigstore bundle attached as a referrer (cosign v3). */
      readonly form: "bundle";
      readonly bundle: Uint8Array;
    };

/** Whose signatures a policy entry accepts. */
export interface Signers {
  readonly keys: readonly PublicKey[];
  readonly identities: readonly KeylessIdentity[];
  /** The sigstore trust keyless signatures are verified against; null when no identity is accepted. */
  readonly sigstore: SigstoreTrust | null;
}

/** Why a manifest is not verified, from the least to the most telling. */
export type Shortfall =
  | "no signature"
  | "wrong key"
  | "keyless signature"
  | "wrong identity"
  | "signature names another digest";

export type Verdict =
  | {
      readonly verified: true;
      readonly form: SignatureCandidate["form"];
      /** `key 0`, or the keyless signer's `subject (issuer)`. */
      readonly signer: string;
    }
  | { readonly verified: false; readonly shortfall: Shortfall };

const RANK: Record<Shortfall, number> = {
  "no signature": 0,
  "wrong key": 1,
  "keyless signature": 2,
  "wrong identity": 3,
  "signature names another digest": 4,
};

/**
 * Judges the signatures found for `digest`. Verified when one candidate's signature verifies — with
 * one of the keys, or keylessly (sigstore: a bundle, or cosign v2's annotated `.sig` certificate and
 * Rekor entry) as one of the identities — over content that names exactly
 * this digest: the simple-signing payload's `docker-manifest-digest`, an in-toto statement's subject,
 * or a message signature over the manifest itself (`manifest` is its bytes, which hash to `digest`).
 * Otherwise the most telling shortfall: a good signature over another digest, a keyless signature by
 * another identity, a keyless signature that does not verify (or that the entry does not accept), a
 * signature by another key, none at all.
 */
export async function judge(
  digest: string,
  manifest: Uint8Array,
  signers: Signers,
  candidates: readonly SignatureCandidate[],
): Promise<Verdict> {
  let worst: Shortfall = "no signature";
  const note = (shortfall: Shortfall) => {
    if (RANK[shortfall] > RANK[worst]) worst = shortfall;
  };
  for (const candidate of candidates) {
    if (candidate.form === "legacy") {
      const outcome = candidate.keyless
        ? await judgeLegacyKeyless(digest, signers, candidate.payload, candidate.signature, candidate.keyless)
        : await judgeLegacyKeyed(digest, signers.keys, candidate.payload, candidate.signature);
      if (typeof outcome !== "string") return { verified: true, form: "legacy", signer: outcome.signer };
      note(outcome);
      continue;
    }
    const bundle = parseBundle(candidate.bundle);
    if (!bundle) continue;
    const outcome = bundle.keyless
      ? await judgeKeyless(digest, manifest, signers, bundle, candidate.bundle)
      : await judgeKeyed(digest, manifest, signers.keys, bundle);
    if (typeof outcome !== "string") return { verified: true, form: "bundle", signer: outcome.signer };
    note(outcome);
  }
  return { verified: false, shortfall: worst };
}

async function judgeLegacyKeyed(
  digest: string,
  keys: readonly PublicKey[],
  payload: Uint8Array,
  signature: Uint8Array | null,
): Promise<Shortfall | { signer: string }> {
  const key = signature && (await signingKey(keys, payload, signature));
  if (key === null) return "wrong key";
  return signedDigestOf(payload) === digest ? { signer: `key ${key}` } : "signature names another digest";
}

/** cosign v2's keyless `.sig` signature, verified as the sigstore bundle it stands for, over the payload. */
async function judgeLegacyKeyless(
  digest: string,
  signers: Signers,
  payload: Uint8Array,
  signature: Uint8Array | null,
  material: LegacyKeylessMaterial,
): Promise<Shortfall | { signer: string }> {
  if (!signers.sigstore || signers.identities.length === 0 || !signature) return "keyless signature";
  const bundle = await legacyKeylessBundle(payload, signature, material);
  if (!bundle) return "keyless signature";
  const outcome = await verifyKeyless(signers.sigstore, bundle, payload, signers.identities);
  if (!outcome.verified) return outcome.shortfall;
  return signedDigestOf(payload) === digest ? { signer: outcome.identity } : "signature names another digest";
}

/** Whether what the bundle signs names the digest. */
function namesDigest(digest: string, bundle: BundleContent): boolean {
  return bundle.kind === "dsse"
    ? bundle.payloadType === IN_TOTO_PAYLOAD_TYPE && statementDigests(bundle.payload).includes(digest)
    : bundle.digest === digest;
}

async function judgeKeyed(
  digest: string,
  manifest: Uint8Array,
  keys: readonly PublicKey[],
  bundle: BundleContent,
): Promise<Shortfall | { signer: string }> {
  const key = await bundleSigningKey(manifest, keys, bundle);
  if (key === null) return "wrong key";
  return namesDigest(digest, bundle) ? { signer: `key ${key}` } : "signature names another digest";
}

async function judgeKeyless(
  digest: string,
  manifest: Uint8Array,
  signers: Signers,
  bundle: BundleContent,
  bytes: Uint8Array,
): Promise<Shortfall | { signer: string }> {
  if (!signers.sigstore || signers.identities.length === 0) return "keyless signature";
  const outcome = await verifyKeyless(
    signers.sigstore,
    readJson(bytes),
    bundle.kind === "message" ? manifest : undefined,
    signers.identities,
  );
  if (!outcome.verified) return outcome.shortfall;
  return namesDigest(digest, bundle) ? { signer: outcome.identity } : "signature names another digest";
}

/** The index of the key whose signature the bundle carries, or null. */
async function bundleSigningKey(
  manifest: Uint8Array,
  keys: readonly PublicKey[],
  bundle: BundleContent,
): Promise<number | null> {
  if (bundle.kind === "message") return signingKey(keys, manifest, bundle.signature);
  const message = preAuthEncoding(bundle.payloadType, bundle.payload);
  for (const signature of bundle.signatures) {
    const key = await signingKey(keys, message, signature);
    if (key !== null) return key;
  }
  return null;
}

/** The index of the first key that verifies the signature over the message, or null. */
async function signingKey(
  keys: readonly PublicKey[],
  message: Uint8Array,
  signature: Uint8Array,
): Promise<number | null> {
  for (const [index, key] of keys.entries()) {
    if (await verifySignature(key, message, signature)) return index;
  }
  return null;
}
