import { type BundleContent, parseBundle } from "./bundle";
import { IN_TOTO_PAYLOAD_TYPE, preAuthEncoding, statementDigests } from "./dsse";
import { type PublicKey, verifySignature } from "./public-keys";
import { signedDigestOf } from "./simple-signing";

/** A signature found for a manifest, as its registry holds it; judged here, never trusted as found. */
export type SignatureCandidate =
  | {
      /** cosign's `sha256-<hex>.sig` tag: a simple-signing payload and its annotation's signature. */
      readonly form: "legacy";
      readonly payload: Uint8Array;
      readonly signature: Uint8Array | null;
    }
  | {
      /** A sigstore bundle attached as a referrer (cosign v3). */
      readonly form: "bundle";
      readonly bundle: Uint8Array;
    };

/** Why a manifest is not verified, from the least to the most telling. */
export type Shortfall = "no signature" | "wrong key" | "keyless signature" | "signature names another digest";

export type Verdict =
  | { readonly verified: true; readonly form: SignatureCandidate["form"]; readonly key: number }
  | { readonly verified: false; readonly shortfall: Shortfall };

const RANK: Record<Shortfall, number> = {
  "no signature": 0,
  "wrong key": 1,
  "keyless signature": 2,
  "signature names another digest": 3,
};

/**
 * Judges the signatures found for `digest` against the policy's keys. Verified when one candidate's
 * signature verifies with one of the keys over content that names exactly this digest: the
 * simple-signing payload's `docker-manifest-digest`, an in-toto statement's subject, or a message
 * signature over the manifest itself (`manifest` is its bytes, which hash to `digest`). Otherwise the
 * most telling shortfall: a good signature over another digest, then a keyless signature (not verified
 * by this mirror), then a signature by another key, then none at all.
 */
export async function judge(
  digest: string,
  manifest: Uint8Array,
  keys: readonly PublicKey[],
  candidates: readonly SignatureCandidate[],
): Promise<Verdict> {
  let worst: Shortfall = "no signature";
  const note = (shortfall: Shortfall) => {
    if (RANK[shortfall] > RANK[worst]) worst = shortfall;
  };
  for (const candidate of candidates) {
    if (candidate.form === "legacy") {
      const key = candidate.signature && (await signingKey(keys, candidate.payload, candidate.signature));
      if (key === null || key === undefined) note("wrong key");
      else if (signedDigestOf(candidate.payload) !== digest) note("signature names another digest");
      else return { verified: true, form: "legacy", key };
      continue;
    }
    const bundle = parseBundle(candidate.bundle);
    if (!bundle) continue;
    const outcome = await judgeBundle(digest, manifest, keys, bundle);
    if (typeof outcome === "number") return { verified: true, form: "bundle", key: outcome };
    note(outcome);
  }
  return { verified: false, shortfall: worst };
}

/** The verifying key's index, or what the bundle lacks. */
async function judgeBundle(
  digest: string,
  manifest: Uint8Array,
  keys: readonly PublicKey[],
  bundle: BundleContent,
): Promise<Shortfall | number> {
  const key = await bundleSigningKey(manifest, keys, bundle);
  if (key === null) return bundle.keyless ? "keyless signature" : "wrong key";
  const named =
    bundle.kind === "dsse"
      ? bundle.payloadType === IN_TOTO_PAYLOAD_TYPE && statementDigests(bundle.payload).includes(digest)
      : bundle.digest === digest;
  return named ? key : "signature names another digest";
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
