import { type Digest, parseDigest } from "./digest";
import { assertValidTag } from "./names";

/** What a manifest request names: a tag (moves) or a digest (immutable). Parsed once, at the edge. */
export type Reference =
  | { readonly kind: "tag"; readonly tag: string }
  | { readonly kind: "digest"; readonly digest: Digest };

/**
 * A digest when it has an algorithm separator (`sha256:…`, else DIGEST_INVALID), otherwise a tag
 * (a malformed one names no manifest: MANIFEST_UNKNOWN). Tags cannot contain `:`.
 */
export function parseReference(value: string): Reference {
  if (value.includes(":")) return { kind: "digest", digest: parseDigest(value) };
  assertValidTag(value);
  return { kind: "tag", tag: value };
}

export function tagReference(tag: string): Reference {
  return { kind: "tag", tag };
}

export function digestReference(digest: Digest): Reference {
  return { kind: "digest", digest };
}

/** The reference as it appears in a URL path. */
export function referenceString(reference: Reference): string {
  return reference.kind === "tag" ? reference.tag : reference.digest.value;
}
