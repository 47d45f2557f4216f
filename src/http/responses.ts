import { type Audience, cacheControl } from "../access/audience";
import type { BlobResult } from "../mirror/blobs";
import type { Listing } from "../mirror/listings";
import type { ManifestResult } from "../mirror/manifests";
import { errorBody, RegistryError } from "../oci/errors";
import { isServableManifestType } from "../oci/media-types";

export const API_VERSION_HEADER = { "Docker-Distribution-API-Version": "registry/2.0" } as const;
const JSON_TYPE = "application/json; charset=utf-8";

export function errorResponse(error: RegistryError): Response {
  return new Response(errorBody(error), {
    status: error.status,
    headers: { ...API_VERSION_HEADER, ...error.headers, "Content-Type": JSON_TYPE },
  });
}

export function pingResponse(): Response {
  return new Response("{}", { headers: { ...API_VERSION_HEADER, "Content-Type": JSON_TYPE } });
}

export function manifestResponse(result: ManifestResult, audience: Audience): Response {
  // Reads refuse such types now; an entry stored before they did is not served either.
  if (!isServableManifestType(result.mediaType)) {
    throw new RegistryError(
      502,
      "MANIFEST_INVALID",
      "the stored manifest has a type that is not a manifest type",
    );
  }
  const headers: Record<string, string> = {
    ...API_VERSION_HEADER,
    "Content-Type": result.mediaType,
    "Content-Length": String(result.size),
    "Docker-Content-Digest": result.digest,
    ETag: `"${result.digest}"`,
    "X-Mirror-Cache": result.cache,
  };
  if (result.cache === "STALE") headers.Warning = '110 - "Response is Stale"';
  if (result.signature) headers["X-Mirror-Signature"] = result.signature;
  // Tags move: a manifest is mutable content.
  withCacheControl(headers, audience, "mutable");
  return new Response(result.body, { headers });
}

/** Blobs are immutable (ETag = digest, byte ranges). */
export function blobResponse(result: BlobResult, digest: string, audience: Audience): Response {
  const headers: Record<string, string> = {
    ...API_VERSION_HEADER,
    "Content-Type": "application/octet-stream",
    "Docker-Content-Digest": digest,
    ETag: `"${digest}"`,
    "Accept-Ranges": "bytes",
  };
  withCacheControl(headers, audience, "immutable");
  headers["X-Mirror-Cache"] = result.cache;
  if (result.colo) headers["X-Mirror-Colo"] = "HIT";
  if (result.range) {
    headers["Content-Range"] = `bytes ${result.range.start}-${result.range.end}/${result.size}`;
    headers["Content-Length"] = String(result.range.end - result.range.start + 1);
  } else if (result.size !== undefined) {
    headers["Content-Length"] = String(result.size);
  }
  return new Response(result.body, { status: result.range ? 206 : 200, headers });
}

/** A listing with its `next` link re-rooted at the path the client used (and its `ns`, if any). */
export function listingResponse(
  listing: Listing,
  linkPath: string,
  ns: string | null,
  audience: Audience,
): Response {
  const headers: Record<string, string> = {
    ...API_VERSION_HEADER,
    "Content-Type": listing.contentType,
    "X-Mirror-Cache": listing.cache,
  };
  if (listing.cache === "STALE") headers.Warning = '110 - "Response is Stale"';
  withCacheControl(headers, audience, "mutable");
  if (listing.next) {
    const query = new URLSearchParams(listing.next);
    if (ns) query.set("ns", ns);
    headers.Link = `<${linkPath}?${query}>; rel="next"`;
  }
  if (listing.filtersApplied) headers["OCI-Filters-Applied"] = listing.filtersApplied;
  return new Response(listing.body, { headers });
}

/** The headers of a catalog page (a list that changes, whose content depends on who asks). */
export function catalogHeaders(audience: Audience): Record<string, string> {
  return withCacheControl({ ...API_VERSION_HEADER }, audience, "mutable");
}

/** Writes out the access module's `Cache-Control` for the audience, if it has one. */
function withCacheControl(
  headers: Record<string, string>,
  audience: Audience,
  content: "immutable" | "mutable",
): Record<string, string> {
  const value = cacheControl(audience, content);
  if (value !== null) headers["Cache-Control"] = value;
  return headers;
}
