import { digestOf, parseDigest } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { baseType, isServableManifestType, manifestMediaType } from "../oci/media-types";
import { type Reference, referenceString } from "../oci/reference";
import { BodyTooLargeError, idleTimeout, readLimited } from "../util/streams";
import type { Transport } from "./transport";

/** Manifests larger than this are refused (the distribution spec's recommended limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** What a manifest HEAD told: enough to serve a HEAD or to know a tag did not move. */
export interface ManifestHead {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

/** A manifest read whole and checked: `digest` is computed from `body`, not taken from a header. */
export interface FetchedManifest {
  readonly body: ArrayBuffer;
  readonly mediaType: string;
  readonly digest: string;
}

/**
 * A HEAD on the manifest; null when the upstream's answer lacks what we need (then the caller GETs).
 * By digest, an answer naming another digest is refused.
 */
export async function headManifest(
  transport: Transport,
  name: string,
  reference: Reference,
  accept: string,
): Promise<ManifestHead | null> {
  const response = await transport.request({
    name,
    path: `manifests/${referenceString(reference)}`,
    method: "HEAD",
    headers: { Accept: accept },
  });
  if (!response.ok) throw await transport.errorFor(response, name, "manifest");
  const head = manifestHead(response.headers);
  if (head && reference.kind === "digest" && head.digest !== reference.digest.value)
    throw mismatch(transport);
  return head;
}

/**
 * GETs a manifest, reads it (at most MAX_MANIFEST_BYTES) and computes its digest: with the requested
 * digest's algorithm (which it must then equal), else with the algorithm of the upstream's claim. A
 * claim of the same algorithm that differs is refused.
 */
export async function getManifest(
  transport: Transport,
  name: string,
  reference: Reference,
  accept: string,
): Promise<FetchedManifest> {
  const response = await transport.request({
    name,
    path: `manifests/${referenceString(reference)}`,
    method: "GET",
    headers: { Accept: accept },
  });
  if (!response.ok || !response.body) throw await transport.errorFor(response, name, "manifest");
  let body: Uint8Array;
  try {
    body = await readLimited(
      idleTimeout(response.body, transport.upstream.timeout * 1000),
      MAX_MANIFEST_BYTES,
    );
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      throw new RegistryError(
        502,
        "MANIFEST_INVALID",
        `upstream manifest exceeds ${MAX_MANIFEST_BYTES} bytes`,
      );
    }
    throw new RegistryError(
      502,
      "UNAVAILABLE",
      `upstream "${transport.upstream.prefix}" broke off the manifest`,
    );
  }
  const claimed = response.headers.get("Docker-Content-Digest");
  const claimedAlgorithm = claimed?.startsWith("sha512:") ? "sha512" : "sha256";
  const asked = reference.kind === "digest" ? reference.digest : null;
  const digest = await digestOf(body, asked?.algorithm ?? claimedAlgorithm);
  if (claimed?.startsWith(digest.split(":")[0] ?? "") && claimed !== digest) throw mismatch(transport);
  if (asked && digest !== asked.value) throw mismatch(transport);
  const mediaType = manifestMediaType(response.headers.get("Content-Type"), body);
  // Thrown before anything is stored: a manifest of a type the mirror will not serve is never cached.
  if (!isServableManifestType(mediaType)) {
    throw new RegistryError(
      502,
      "MANIFEST_INVALID",
      `upstream "${transport.upstream.prefix}" sent a manifest of a type that is not a manifest type`,
    );
  }
  return {
    body: body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
    mediaType,
    digest,
  };
}

/** The digest, media type and size of a HEAD answer, or null when one is missing or unusable. */
function manifestHead(headers: Headers): ManifestHead | null {
  const digest = headers.get("Docker-Content-Digest");
  const contentType = headers.get("Content-Type");
  const length = headers.get("Content-Length");
  if (!digest || !contentType || !length || !/^\d+$/.test(length)) return null;
  try {
    parseDigest(digest);
  } catch {
    return null;
  }
  const mediaType = baseType(contentType);
  // A generic type says nothing about the manifest: the GET's body tells (and refuses what is no manifest).
  if (mediaType === "application/json" || mediaType === "text/plain") return null;
  if (!isServableManifestType(mediaType)) return null;
  return { digest, mediaType, size: Number(length) };
}

function mismatch(transport: Transport): RegistryError {
  return new RegistryError(
    502,
    "UNAVAILABLE",
    `upstream "${transport.upstream.prefix}" sent a manifest that does not match its digest`,
  );
}
