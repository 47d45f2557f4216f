import { Buffer } from "node:buffer";
import type { Verifier } from "@sigstore/verify";
import { compileGlob } from "../util/glob";

type SigstoreLib = typeof import("./sigstore-lib");
let lib: Promise<SigstoreLib> | undefined;

/** The sigstore libraries, imported when a keyless signature is first verified. */
function sigstoreLib(): Promise<SigstoreLib> {
  lib ??= import("./sigstore-lib");
  return lib;
}

/** A keyless signer the policy accepts: the Fulcio certificate's issuer and subject, as globs. */
export interface KeylessIdentity {
  /** As written, for logs and the policy's version. */
  readonly issuer: string;
  readonly subject: string;
  readonly issuerPattern: RegExp;
  readonly subjectPattern: RegExp;
}

/** The sigstore trust (Fulcio CAs, Rekor logs, CT logs) keyless signatures are verified against. */
export interface SigstoreTrust {
  /** The verifier, built on first use. Rejects when the root cannot be read as one. */
  verifier(): Promise<Verifier>;
}

/** Why a trusted root cannot be used; a message for the configuration error. */
export class TrustedRootError extends Error {
  override name = "TrustedRootError";
}

/**
 * A trusted root (`trusted_root.json`, sigstore's TUF target), checked for its shape at once; the
 * verifier is built when first needed. Every keyless signature must then chain to one of its Fulcio
 * CAs at signing time, carry an SCT from one of its CT logs, and be in one of its Rekor logs (signed
 * entry timestamp, and inclusion proof when present, checked).
 */
export function sigstoreTrust(root: unknown): SigstoreTrust {
  const shape = root as { mediaType?: unknown; certificateAuthorities?: unknown; tlogs?: unknown } | null;
  if (
    typeof shape?.mediaType !== "string" ||
    !shape.mediaType.startsWith("application/vnd.dev.sigstore.trustedroot")
  ) {
    throw new TrustedRootError("is not a sigstore trusted root (trusted_root.json)");
  }
  if (
    !Array.isArray(shape.certificateAuthorities) ||
    shape.certificateAuthorities.length === 0 ||
    !Array.isArray(shape.tlogs) ||
    shape.tlogs.length === 0
  ) {
    throw new TrustedRootError("must name at least one certificate authority and one transparency log");
  }
  let verifier: Promise<Verifier> | undefined;
  return {
    verifier() {
      verifier ??= sigstoreLib().then(
        ({ toTrustMaterial, TrustedRoot, Verifier }) =>
          new Verifier(toTrustMaterial(TrustedRoot.fromJSON(root)), { tlogThreshold: 1, ctlogThreshold: 1 }),
      );
      return verifier;
    },
  };
}

/**
 * A glob over an identity: `*` matches within one path segment (no `/`), `**` anything. Everything
 * else is literal, so `https://github.com/acme/*` cannot match `https://github.com/acme-evil/x/y`.
 */
export function compileIdentityGlob(pattern: string): RegExp {
  return compileGlob(pattern);
}

export type KeylessOutcome =
  | { readonly verified: true; readonly identity: string }
  | { readonly verified: false; readonly shortfall: "wrong identity" | "keyless signature" };

/**
 * Verifies a keyless sigstore bundle with @sigstore/verify — the certificate chain to a trusted
 * Fulcio CA valid at the Rekor entry's time, the SCT, the Rekor entry (SET, inclusion proof, and that
 * its body matches this signature), and the signature itself with the certificate's key — then
 * matches the certificate's issuer and subject against the policy's identities. `artifact` is the
 * signed message of a message-signature bundle (the manifest's bytes).
 */
export async function verifyKeyless(
  trust: SigstoreTrust,
  bundle: unknown,
  artifact: Uint8Array | undefined,
  identities: readonly KeylessIdentity[],
): Promise<KeylessOutcome> {
  let issuer: string | undefined;
  let subject: string | undefined;
  try {
    const [{ bundleFromJSON, toSignedEntity }, verifier] = await Promise.all([
      sigstoreLib(),
      trust.verifier(),
    ]);
    const entity = toSignedEntity(bundleFromJSON(bundle), artifact ? Buffer.from(artifact) : undefined);
    const signer = verifier.verify(entity);
    issuer = signer.identity?.extensions?.issuer;
    subject = signer.identity?.subjectAlternativeName;
  } catch {
    // Malformed, untrusted chain, no SCT, no or wrong Rekor entry, bad signature, unreadable root:
    // not verified.
    return { verified: false, shortfall: "keyless signature" };
  }
  if (issuer === undefined || subject === undefined) return { verified: false, shortfall: "wrong identity" };
  const matched = identities.some(
    (identity) => identity.issuerPattern.test(issuer) && identity.subjectPattern.test(subject),
  );
  return matched
    ? { verified: true, identity: `${subject} (${issuer})` }
    : { verified: false, shortfall: "wrong identity" };
}
