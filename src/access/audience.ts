/**
 * Who may keep a response: `private` when the client authenticated or the content was reached with
 * upstream credentials (no shared cache may keep it and hand it to someone else), else `public`.
 */
export type Audience = "public" | "private";

/** What a response is about, as far as keeping it goes. */
export interface Viewing {
  /** The client authenticated (what it sees may depend on who it is). */
  readonly authenticatedClient: boolean;
  /** The upstream was reached with the mirror's credentials. */
  readonly authenticatedUpstream: boolean;
  /** A stored blob fetched with upstream credentials (BlobInfo.restricted). */
  readonly restricted?: boolean;
}

export function audienceFor(viewing: Viewing): Audience {
  const { authenticatedClient, authenticatedUpstream, restricted = false } = viewing;
  return authenticatedClient || authenticatedUpstream || restricted ? "private" : "public";
}

/**
 * The `Cache-Control` of a response, or null for none. Immutable content (blobs, addressed by digest)
 * may be kept a year, private ones in the client's own cache only. Mutable content (manifests, which
 * tags move; tag lists, referrers, the catalog) carries no lifetime when public, and private ones must
 * not enter a shared cache at all.
 */
export function cacheControl(audience: Audience, content: "immutable" | "mutable"): string | null {
  if (content === "immutable") return `${audience}, max-age=31536000, immutable`;
  return audience === "private" ? "private" : null;
}
