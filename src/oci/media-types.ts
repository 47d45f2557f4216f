/** Manifest media types, and the client's `Accept` header reduced to what matters for caching. */
export const MediaType = {
  OCI_INDEX: "application/vnd.oci.image.index.v1+json",
  OCI_MANIFEST: "application/vnd.oci.image.manifest.v1+json",
  DOCKER_LIST: "application/vnd.docker.distribution.manifest.list.v2+json",
  DOCKER_MANIFEST: "application/vnd.docker.distribution.manifest.v2+json",
  DOCKER_V1_SIGNED: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  DOCKER_V1: "application/vnd.docker.distribution.manifest.v1+json",
} as const;

/** What we ask an upstream for when a client accepts anything (order = preference). */
export const ALL_MANIFEST_TYPES: readonly string[] = [
  MediaType.OCI_INDEX,
  MediaType.DOCKER_LIST,
  MediaType.OCI_MANIFEST,
  MediaType.DOCKER_MANIFEST,
];

/**
 * The types that decide which variant an upstream serves; the bit of each names a cache variant. Schema 1
 * types are left out: registries no longer serve schema 1 to clients that take schema 2, so Docker's
 * four-type Accept, skopeo's and podman's six and containerd's `*\/*` all share one cached entry.
 */
const VARIANT_TYPES: readonly string[] = ALL_MANIFEST_TYPES;

export interface AcceptSet {
  /** Media types (without parameters) the client accepts; empty with `any` = accepts anything. */
  readonly types: ReadonlySet<string>;
  readonly any: boolean;
  /** The `Accept` value to send upstream on this client's behalf. */
  readonly header: string;
  /**
   * Which of the known manifest types this client accepts, as a bit set. Clients that accept the same
   * known types get the same answer from a registry, so they can share a cached tag entry.
   */
  readonly variant: number;
}

/** Parses one or more comma-separated `Accept` values; `q=0` entries are refusals. */
export function parseAccept(header: string | null): AcceptSet {
  const types = new Set<string>();
  let any = header === null || header.trim() === "";
  for (const entry of (header ?? "").split(",")) {
    const [rawType = "", ...params] = entry.split(";").map((part) => part.trim().toLowerCase());
    if (!rawType) continue;
    if (params.some((param) => /^q=0(\.0*)?$/.test(param))) continue;
    if (rawType === "*/*" || rawType === "application/*") any = true;
    else types.add(rawType);
  }
  const accepted = (type: string) => any || types.has(type);
  const variant = VARIANT_TYPES.reduce(
    (bits, type, index) => (accepted(type) ? bits | (1 << index) : bits),
    0,
  );
  const headerValue = any ? [...ALL_MANIFEST_TYPES, "*/*"].join(", ") : upstreamAccept(types);
  return { types, any, header: headerValue, variant };
}

/** At most this many types go upstream: a client's Accept of thousands made an upstream answer 431. */
const MAX_UPSTREAM_TYPES = 16;
/** Something shaped like a media type (RFC 6838 names), the rest is not worth sending. */
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/**
 * The `Accept` sent upstream for a client that listed types: the manifest types we know, in our order of
 * preference, then the client's other types, bounded in number. The client is still answered by its
 * own full list.
 */
function upstreamAccept(types: ReadonlySet<string>): string {
  const known = [...ALL_MANIFEST_TYPES, MediaType.DOCKER_V1_SIGNED, MediaType.DOCKER_V1].filter((type) =>
    types.has(type),
  );
  const others = [...types].filter((type) => !known.includes(type) && MEDIA_TYPE.test(type));
  return [...known, ...others].slice(0, MAX_UPSTREAM_TYPES).join(", ");
}

export function accepts(accept: AcceptSet, mediaType: string): boolean {
  return accept.any || accept.types.has(baseType(mediaType));
}

/** `type/subtype` without parameters, lower-cased. */
export function baseType(contentType: string): string {
  return (contentType.split(";")[0] ?? "").trim().toLowerCase();
}

/**
 * The media type of a manifest: its `Content-Type`, unless that is generic, then the `mediaType`
 * field of the body (OCI manifests may omit it; they are then OCI image manifests).
 */
export function manifestMediaType(contentType: string | null, body: Uint8Array): string {
  const fromHeader = contentType ? baseType(contentType) : "";
  if (fromHeader && fromHeader !== "application/json" && fromHeader !== "text/plain") return fromHeader;
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(body));
    if (parsed && typeof parsed === "object") {
      const record = parsed as Record<string, unknown>;
      if (typeof record.mediaType === "string") return record.mediaType;
      if (Array.isArray(record.manifests)) return MediaType.OCI_INDEX;
      if (record.schemaVersion === 1) return MediaType.DOCKER_V1_SIGNED;
    }
  } catch {
    // Not JSON: fall through to the OCI default.
  }
  return MediaType.OCI_MANIFEST;
}

/** The manifest and index types of OCI and Docker, served whatever else is allowed. */
const KNOWN_MANIFEST_TYPES: ReadonlySet<string> = new Set(Object.values(MediaType));
/** A media type without parameters (RFC 6838 names), of the `application/` tree. */
const APPLICATION_TYPE = /^application\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;
/** What a browser would run or render as a document, whatever the registry says it is. */
const ACTIVE_CONTENT = /html|javascript|ecmascript|xml|svg/;

/**
 * Whether the mirror may answer with this manifest type as its `Content-Type`: the OCI and Docker
 * manifest and index types, or another `application/` type (an artifact's own manifest type) that is
 * syntactically sound and nothing a browser would run or render (HTML, script, SVG, XML). The mirror's
 * origin is where the operator types the admin token: an upstream must not choose what runs there.
 */
export function isServableManifestType(mediaType: string): boolean {
  if (KNOWN_MANIFEST_TYPES.has(mediaType)) return true;
  return APPLICATION_TYPE.test(mediaType) && !ACTIVE_CONTENT.test(mediaType);
}

export const EMPTY_INDEX = JSON.stringify({
  schemaVersion: 2,
  mediaType: MediaType.OCI_INDEX,
  manifests: [],
});
