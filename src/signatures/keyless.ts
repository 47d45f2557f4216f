// First: workerd's node:crypto must pick Node's default digest before @sigstore/verify is used.
import "./node-crypto-default-digest";
import { bundleFromJSON } from "@sigstore/bundle";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { toSignedEntity, toTrustMaterial, Verifier } from "@sigstore/verify";

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
  readonly verifier: Verifier;
}

/** Why a trusted root cannot be used; a message for the configuration error. */
export class TrustedRootError extends Error {
  override name = "TrustedRootError";
}

/**
 * Builds the verifier from a trusted root (`trusted_root.json`, sigstore's TUF target). Every keyless
 * signature must then chain to one of its Fulcio CAs at signing time, carry an SCT from one of its CT
 * logs, and be in one of its Rekor logs (signed entry timestamp and inclusion proof checked).
 */
export function sigstoreTrust(root: unknown): SigstoreTrust {
  try {
    const material = toTrustMaterial(TrustedRoot.fromJSON(root));
    if (material.certificateAuthorities.length === 0 || material.tlogs.length === 0) {
      throw new TrustedRootError("must name at least one certificate authority and one transparency log");
    }
    return { verifier: new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 1 }) };
  } catch (error) {
    if (error instanceof TrustedRootError) throw error;
    throw new TrustedRootError("is not a sigstore trusted root (trusted_root.json)");
  }
}

/**
 * A glob over an identity: `*` matches within one path segment (no `/`), `**` anything. Everything
 * else is literal, so `https://github.com/acme/*` cannot match `https://github.com/acme-evil/x/y`.
 */
export function compileIdentityGlob(pattern: string): RegExp {
  let source = "";
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index] ?? "";
    if (char === "*" && pattern[index + 1] === "*") {
      source += ".*";
      index++;
    } else if (char === "*") {
      source += "[^/]*";
    } else {
      source += char.replace(/[\\^$.|?+()[\]{}]/g, (special) => `\\${special}`);
    }
  }
  return new RegExp(`^${source}$`);
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
export function verifyKeyless(
  trust: SigstoreTrust,
  bundle: unknown,
  artifact: Uint8Array | undefined,
  identities: readonly KeylessIdentity[],
): KeylessOutcome {
  let issuer: string | undefined;
  let subject: string | undefined;
  try {
    const entity = toSignedEntity(bundleFromJSON(bundle), artifact ? Buffer.from(artifact) : undefined);
    const signer = trust.verifier.verify(entity);
    issuer = signer.identity?.extensions?.issuer;
    subject = signer.identity?.subjectAlternativeName;
  } catch {
    // Malformed, untrusted chain, no SCT, no or wrong Rekor entry, bad signature: not verified.
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
