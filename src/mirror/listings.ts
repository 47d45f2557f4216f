import type { Digest } from "../oci/digest";
import { EMPTY_INDEX, MediaType } from "../oci/media-types";
import type { RegistryClient } from "../upstream/client";

export interface Listing {
  readonly body: ReadableStream<Uint8Array> | string;
  readonly contentType: string;
  /** Query of the upstream's `rel="next"` link, to be re-rooted at the client's own path. */
  readonly next?: URLSearchParams;
  /** Filters the upstream applied (`OCI-Filters-Applied`). */
  readonly filtersApplied?: string;
}

/** `tags/list`: always asked of the upstream (lists change), paginated with `n` and `last`. */
export async function listTags(
  client: RegistryClient,
  name: string,
  query: URLSearchParams,
): Promise<Listing> {
  const response = await client.request({ name, path: "tags/list", method: "GET", query });
  if (!response.ok || !response.body) {
    throw await client.errorFor(response, name, "tags");
  }
  return {
    body: response.body,
    contentType: response.headers.get("Content-Type") ?? "application/json",
    next: nextLink(response.headers.get("Link")),
  };
}

/**
 * `referrers/<digest>`: asked of the upstream; an upstream without the API answers 404, and then the
 * answer is an empty index, as the spec requires of a registry that supports it.
 */
export async function listReferrers(
  client: RegistryClient,
  name: string,
  digest: Digest,
  query: URLSearchParams,
): Promise<Listing> {
  const response = await client.request({
    name,
    path: `referrers/${digest.value}`,
    method: "GET",
    query,
    headers: { Accept: MediaType.OCI_INDEX },
  });
  const filtered = query.has("artifactType") ? "artifactType" : undefined;
  if (response.status === 404) {
    await response.body?.cancel();
    return { body: EMPTY_INDEX, contentType: MediaType.OCI_INDEX, filtersApplied: filtered };
  }
  if (!response.ok || !response.body) {
    throw await client.errorFor(response, name, "referrers");
  }
  return {
    body: response.body,
    contentType: response.headers.get("Content-Type") ?? MediaType.OCI_INDEX,
    next: nextLink(response.headers.get("Link")),
    filtersApplied: response.headers.get("OCI-Filters-Applied") ?? undefined,
  };
}

/** The query of a `Link: <…>; rel="next"` header; only `n`, `last` and `artifactType` are kept. */
export function nextLink(header: string | null): URLSearchParams | undefined {
  if (!header) return undefined;
  const match = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(header);
  if (!match?.[1]) return undefined;
  let url: URL;
  try {
    url = new URL(match[1], "http://upstream.invalid");
  } catch {
    return undefined;
  }
  const next = new URLSearchParams();
  for (const key of ["n", "last", "artifactType"]) {
    const value = url.searchParams.get(key);
    if (value !== null) next.set(key, value);
  }
  return next;
}
