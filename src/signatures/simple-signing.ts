/** Media type of cosign's legacy signature layers (a "simple signing" payload). */
export const SIMPLE_SIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
/** The layer annotation that holds the payload's signature, base64. */
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";

/**
 * The manifest digest a cosign simple-signing payload names (`critical.image.docker-manifest-digest`),
 * or null when the payload is not one. What was signed is this digest: the payload's other fields
 * (the docker-reference, optional claims) do not make an image signed.
 */
export function signedDigestOf(payload: Uint8Array): string | null {
  const json = readJson(payload) as { critical?: { image?: Record<string, unknown>; type?: unknown } } | null;
  const digest = json?.critical?.image?.["docker-manifest-digest"];
  return typeof digest === "string" ? digest : null;
}

export function readJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    return null;
  }
}
