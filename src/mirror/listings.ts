import type { Digest } from "../oci/digest";
import { MediaType } from "../oci/media-types";
import type { ListingStore, ReadListing, StoredListing } from "../storage/listing-store";
import type { RepositoryKey } from "../storage/manifest-store";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { type CacheStatus, isUpstreamTrouble, type Log } from "./types";

export interface Listing {
  readonly body: string;
  readonly contentType: string;
  /** Query of the next page, to be re-rooted at the client's own path. */
  readonly next?: URLSearchParams;
  /** Filters applied (`OCI-Filters-Applied`). */
  readonly filtersApplied?: string;
  readonly cache: CacheStatus;
}

export interface TagQuery {
  readonly n?: number;
  readonly last?: string;
}

/** Tag lists change more often than a tag moves: they are kept fresh at most this long. */
export const TAG_LIST_TTL_SECONDS = 60;
/** The key of a repository's whole tag list. */
const WHOLE_LIST = "tags";

/**
 * Tag lists and referrers, cached like tags: fresh for a while, then asked again, and served stale
 * while the upstream is in trouble. The mirror answers as the spec says even when its upstream does
 * not: tag lists in lexical order with `n`/`last` paging, referrers from the tag schema when the
 * upstream has no referrers API, `artifactType` filtering always applied.
 */
export class ListingMirror {
  constructor(
    private readonly store: ListingStore,
    private readonly log: Log,
    private readonly now: () => number = Date.now,
  ) {}

  async tags(client: RemoteRegistry, name: string, query: TagQuery): Promise<Listing> {
    const repository = repositoryOf(client, name);
    const paged = query.n !== undefined || query.last !== undefined;
    const pageKey = `tags?${pageQuery(query)}`;
    // A whole list answers every page; an upstream's own page only itself. Both asked at once.
    const [whole, page] = await Promise.all([
      this.store.get(repository, WHOLE_LIST),
      paged ? this.store.get(repository, pageKey) : null,
    ]);
    const ttl = Math.min(client.upstream.tagTtl, TAG_LIST_TTL_SECONDS);
    if (this.fresh(whole, ttl)) return pageOf(whole, query, "HIT");
    if (this.fresh(page, ttl)) return served(page, "HIT");

    let answer: { listing: StoredListing; whole: boolean };
    try {
      answer = await this.fetchTags(client, name, query);
    } catch (error) {
      const stale = [whole, page].find((entry) => this.usableStale(error, entry, ttl, client));
      if (!stale) throw error;
      this.log({ event: "listing.stale", upstream: client.upstream.prefix, name, listing: "tags" });
      return stale === whole ? pageOf(stale, query, "STALE") : served(stale, "STALE");
    }
    const retain = ttl + client.upstream.maxStale;
    if (answer.whole) {
      await this.store.put(repository, WHOLE_LIST, answer.listing, whole, retain);
      return pageOf(answer.listing, query, cacheStatus(whole, answer.listing));
    }
    await this.store.put(repository, pageKey, answer.listing, page, retain);
    return served(answer.listing, cacheStatus(page, answer.listing));
  }

  async referrers(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    artifactType: string | undefined,
  ): Promise<Listing> {
    const repository = repositoryOf(client, name);
    const key = `referrers/${digest.value}?${new URLSearchParams(artifactType ? { artifactType } : {})}`;
    const cached = await this.store.get(repository, key);
    const ttl = client.upstream.tagTtl;
    if (this.fresh(cached, ttl)) return served(cached, "HIT");
    let listing: StoredListing;
    try {
      listing = await this.fetchReferrers(client, name, digest, artifactType);
    } catch (error) {
      if (!this.usableStale(error, cached, ttl, client)) throw error;
      this.log({ event: "listing.stale", upstream: client.upstream.prefix, name, listing: "referrers" });
      return served(cached, "STALE");
    }
    await this.store.put(repository, key, listing, cached, ttl + client.upstream.maxStale);
    return served(listing, cacheStatus(cached, listing));
  }

  private fresh(entry: ReadListing | null, ttl: number): entry is ReadListing {
    return entry !== null && this.now() - entry.checkedAt < ttl * 1000;
  }

  private usableStale(
    error: unknown,
    entry: ReadListing | null,
    ttl: number,
    client: RemoteRegistry,
  ): entry is ReadListing {
    return (
      entry !== null &&
      isUpstreamTrouble(error) &&
      this.now() - entry.checkedAt < (ttl + client.upstream.maxStale) * 1000
    );
  }

  /**
   * Asks the upstream for the client's page. An upstream that ignored `n` or `last` (distribution 2.8
   * does) sent its whole list: it is kept whole, sorted, and paged here.
   */
  private async fetchTags(
    client: RemoteRegistry,
    name: string,
    query: TagQuery,
  ): Promise<{ listing: StoredListing; whole: boolean }> {
    const list = await client.tagList(name, new URLSearchParams(pageQuery(query)));
    const next = list.next;
    const ignoredPaging =
      (query.n !== undefined && list.tags.length > query.n) ||
      (query.last !== undefined && list.tags.some((tag) => tag <= (query.last ?? "")));
    const whole = ignoredPaging || (query.n === undefined && query.last === undefined && !next);
    const checkedAt = this.now();
    if (whole) {
      const tags = [...new Set(list.tags)].sort();
      return { listing: tagListing({ name: list.name ?? name, tags }, undefined, checkedAt), whole };
    }
    return { listing: tagListing({ name: list.name ?? name, tags: list.tags }, next, checkedAt), whole };
  }

  /** The upstream's referrers, filtered by `artifactType` here when the upstream did not filter them. */
  private async fetchReferrers(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    artifactType: string | undefined,
  ): Promise<StoredListing> {
    const page = await client.referrers(name, digest, artifactType);
    const { next, filtered } = page;
    let manifests = page.manifests;
    if (artifactType !== undefined && !filtered) {
      manifests = manifests.filter((descriptor) => artifactTypeOf(descriptor) === artifactType);
    }
    const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests });
    return {
      body,
      contentType: MediaType.OCI_INDEX,
      next: next?.toString(),
      filtersApplied: artifactType !== undefined ? "artifactType" : undefined,
      checkedAt: this.now(),
    };
  }
}

function repositoryOf(client: RemoteRegistry, name: string): RepositoryKey {
  return { upstream: client.upstream.prefix, name };
}

function pageQuery(query: TagQuery): string {
  const params = new URLSearchParams();
  if (query.n !== undefined) params.set("n", String(query.n));
  if (query.last !== undefined) params.set("last", query.last);
  return params.toString();
}

function tagListing(
  list: { name: string; tags: readonly string[] },
  next: URLSearchParams | undefined,
  checkedAt: number,
): StoredListing {
  return {
    body: JSON.stringify({ name: list.name, tags: list.tags }),
    contentType: "application/json",
    next: next?.toString(),
    checkedAt,
  };
}

/** One page of a whole, sorted list: the tags after `last`, `n` of them, and a link when more remain. */
function pageOf(whole: StoredListing, query: TagQuery, cache: CacheStatus): Listing {
  if (query.n === undefined && query.last === undefined) return served(whole, cache);
  const list = JSON.parse(whole.body) as { name: string; tags: string[] };
  const after = query.last === undefined ? list.tags : list.tags.filter((tag) => tag > (query.last ?? ""));
  const page = query.n === undefined ? after : after.slice(0, query.n);
  const lastTag = page.at(-1);
  const next =
    lastTag !== undefined && page.length < after.length
      ? new URLSearchParams({ n: String(query.n), last: lastTag })
      : undefined;
  return {
    body: JSON.stringify({ name: list.name, tags: page }),
    contentType: whole.contentType,
    next,
    cache,
  };
}

function served(listing: StoredListing, cache: CacheStatus): Listing {
  return {
    body: listing.body,
    contentType: listing.contentType,
    next: listing.next !== undefined ? new URLSearchParams(listing.next) : undefined,
    filtersApplied: listing.filtersApplied,
    cache,
  };
}

/** MISS on a first answer, REVALIDATED when the upstream confirmed what was cached. */
function cacheStatus(previous: StoredListing | null, answer: StoredListing): CacheStatus {
  return previous !== null && previous.body === answer.body ? "REVALIDATED" : "MISS";
}

function artifactTypeOf(descriptor: unknown): unknown {
  return (descriptor as Record<string, unknown>).artifactType;
}
