import type { Digest } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { MediaType } from "../oci/media-types";
import { BodyTooLargeError, idleTimeout, readLimited } from "../util/streams";
import type { ReferrersSupport } from "./referrers-support";
import type { Transport } from "./transport";

/** Larger tag lists or referrer indexes are refused (a listing is parsed to sort, page or filter it). */
const MAX_LISTING_BYTES = 8 * 1024 * 1024;

/** One page of tags as the upstream sent it. */
export interface TagListPage {
  readonly name?: string;
  readonly tags: string[];
  /** Query of the upstream's next page (`Link: rel="next"`). */
  readonly next?: URLSearchParams;
}

/** Referrer descriptors as the upstream sent them. */
export interface ReferrersPage {
  readonly manifests: unknown[];
  readonly next?: URLSearchParams;
  /** The upstream says it applied the `artifactType` filter itself (`OCI-Filters-Applied`). */
  readonly filtered: boolean;
}

export async function readTagList(
  transport: Transport,
  name: string,
  query: URLSearchParams,
): Promise<TagListPage> {
  const response = await transport.request({ name, path: "tags/list", method: "GET", query });
  if (!response.ok || !response.body) throw await transport.errorFor(response, name, "tags");
  const next = nextLink(response.headers.get("Link"));
  const list = parseTagList(await readListing(transport, response.body, "tag list"), transport);
  return { ...list, next };
}

/**
 * The upstream's referrers API; when it has none (404, or 405/400 from registries that do not route
 * the path), the index under the referrers tag schema (`<alg>-<hex>`), as clients would fall back to.
 * An upstream found without the API is not asked for it again for a while (`support`), so a referrers
 * request for a digest nobody refers to costs one HEAD, which Docker Hub does not count.
 */
export async function readReferrers(
  transport: Transport,
  name: string,
  digest: Digest,
  artifactType: string | undefined,
  support: ReferrersSupport,
): Promise<ReferrersPage> {
  const prefix = transport.upstream.prefix;
  if (support.hasNoApi(prefix)) {
    return { manifests: await tagSchemaReferrers(transport, name, digest), filtered: false };
  }
  const api = await transport.request({
    name,
    path: `referrers/${digest.value}`,
    method: "GET",
    query: new URLSearchParams(artifactType ? { artifactType } : {}),
    headers: { Accept: MediaType.OCI_INDEX },
  });
  if (api.ok && api.body) {
    support.foundApi(prefix);
    const manifests = parseIndex(await readListing(transport, api.body, "referrers index"), transport);
    const filtered = (api.headers.get("OCI-Filters-Applied") ?? "")
      .split(",")
      .some((filter) => filter.trim() === "artifactType");
    return { manifests, next: nextLink(api.headers.get("Link")), filtered };
  }
  if (api.status === 404 || api.status === 405 || api.status === 400) {
    // NAME_UNKNOWN speaks of the repository, not of the API: nothing is learnt about the upstream.
    const error = await transport.errorFor(api, name, "referrers");
    if (error.code !== "NAME_UNKNOWN") support.foundNoApi(prefix);
    return { manifests: await tagSchemaReferrers(transport, name, digest), filtered: false };
  }
  throw await transport.errorFor(api, name, "referrers");
}

/**
 * The index under the referrers tag: asked with a HEAD first (free on Docker Hub), so only a tag that
 * exists costs a counted GET. (The quota-costing requests of a referrers request are made here.)
 */
async function tagSchemaReferrers(transport: Transport, name: string, digest: Digest): Promise<unknown[]> {
  const path = `manifests/${digest.value.replace(":", "-")}`;
  const headers = { Accept: MediaType.OCI_INDEX };
  const head = await transport.request({ name, path, method: "HEAD", headers });
  await head.body?.cancel();
  if (head.status === 404) return [];
  if (!head.ok) throw await transport.errorFor(head, name, "referrers");
  const response = await transport.request({ name, path, method: "GET", headers });
  if (response.status === 404) {
    await response.body?.cancel();
    return [];
  }
  if (!response.ok || !response.body) throw await transport.errorFor(response, name, "referrers");
  return parseIndex(await readListing(transport, response.body, "referrers index"), transport);
}

async function readListing(
  transport: Transport,
  body: ReadableStream<Uint8Array>,
  what: string,
): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await readLimited(idleTimeout(body, transport.upstream.timeout * 1000), MAX_LISTING_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError)
      throw invalid(transport, `${what} exceeds ${MAX_LISTING_BYTES} bytes`);
    throw new RegistryError(
      502,
      "UNAVAILABLE",
      `upstream "${transport.upstream.prefix}" broke off the ${what}`,
    );
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw invalid(transport, `${what} is not JSON`);
  }
}

function parseTagList(value: unknown, transport: Transport): { name?: string; tags: string[] } {
  if (!value || typeof value !== "object") throw invalid(transport, "tag list is not an object");
  const record = value as Record<string, unknown>;
  // distribution answers `"tags": null` for a repository without tags.
  const tags = record.tags ?? [];
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === "string")) {
    throw invalid(transport, "tag list has no list of tags");
  }
  return { name: typeof record.name === "string" ? record.name : undefined, tags };
}

function parseIndex(value: unknown, transport: Transport): unknown[] {
  const manifests =
    value && typeof value === "object" ? (value as Record<string, unknown>).manifests : undefined;
  if (!Array.isArray(manifests)) throw invalid(transport, "referrers index has no manifests");
  return manifests.filter((descriptor) => descriptor && typeof descriptor === "object");
}

function invalid(transport: Transport, message: string): RegistryError {
  return new RegistryError(502, "UNAVAILABLE", `upstream "${transport.upstream.prefix}": ${message}`);
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
