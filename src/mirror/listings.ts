import type { Digest } from "../oci/digest";
import { MediaType } from "../oci/media-types";
import type { ListingMemory } from "../storage/listing-memory";
import type { ListingStore, ReadListing, StoredListing } from "../storage/listing-store";
import type { RepositoryKey } from "../storage/manifest-store";
import {
  type PagedTagList,
  pagedTagList,
  type ReadTagListHead,
  type TagListHead,
  type TagListStore,
} from "../storage/tag-list-store";
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
/** Answers kept in the isolate's memory only (see ListingMemory) are kept at most this long. */
export const MEMORY_TTL_SECONDS = 60;
/** A page served from a stored list reads at most this many stored pages (TAG_PAGE_BYTES each). */
const MAX_PAGES_READ = 2;

/**
 * Tag lists and referrers, cached like tags: fresh for a while, then asked again, and served stale
 * while the upstream is in trouble. The mirror answers as the spec says even when its upstream does
 * not: tag lists in lexical order with `n`/`last` paging, referrers from the tag schema when the
 * upstream has no referrers API, `artifactType` filtering always applied.
 *
 * What a client can vary without bound stays out of KV: a page after a `last` of its choosing and an
 * empty referrers answer live in the isolate's memory for a minute. A whole list is stored in pages, so
 * any page of it is served from one or two stored pages, whatever the list's size; a request without
 * `n` or `last` for a list longer than one stored page gets the first page and a Link to the rest.
 */
export class ListingMirror {
  constructor(
    private readonly store: ListingStore,
    private readonly tagLists: TagListStore,
    private readonly memory: ListingMemory,
    private readonly log: Log,
    private readonly now: () => number = Date.now,
  ) {}

  async tags(client: RemoteRegistry, name: string, query: TagQuery): Promise<Listing> {
    const repository = repositoryOf(client, name);
    const paged = query.n !== undefined || query.last !== undefined;
    const pageKey = `tags?${pageQuery(query)}`;
    const ttl = Math.min(client.upstream.tagTtl, TAG_LIST_TTL_SECONDS);
    const remembered = paged ? this.memory.get(repository, pageKey) : null;
    if (this.fresh(remembered, ttl)) return served(remembered, "HIT");
    // A whole list answers every page; an upstream's own first page only itself. Both asked at once.
    const [whole, page] = await Promise.all([
      this.tagLists.head(repository),
      paged ? null : this.store.get(repository, pageKey),
    ]);
    if (this.fresh(whole, ttl)) {
      const hit = await this.pageOfStored(repository, whole, query, "HIT");
      if (hit) return hit;
    }
    if (this.fresh(page, ttl)) return served(page, "HIT");

    let answer: { list: PagedTagList; whole: true } | { listing: StoredListing; whole: false };
    try {
      answer = await this.fetchTags(client, name, query);
    } catch (error) {
      const stale = await this.staleTags(error, repository, whole, page, query, ttl, client);
      if (!stale) throw error;
      this.log({ event: "listing.stale", upstream: client.upstream.prefix, name, listing: "tags" });
      return stale;
    }
    const retain = ttl + client.upstream.maxStale;
    if (answer.whole) {
      await this.tagLists.put(repository, answer.list, whole, retain);
      const cache = whole?.version === answer.list.head.version ? "REVALIDATED" : "MISS";
      const pages = answer.list.pages;
      const listing = await pageOf(answer.list.head, async (index) => pages[index] ?? null, query, cache);
      if (!listing) throw new Error("a page of the tag list just fetched is missing");
      return listing;
    }
    if (paged) {
      this.memory.put(repository, pageKey, answer.listing, Math.min(ttl, MEMORY_TTL_SECONDS));
      return served(answer.listing, "MISS");
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
    const ttl = client.upstream.tagTtl;
    const remembered = this.memory.get(repository, key);
    if (this.fresh(remembered, ttl)) return served(remembered, "HIT");
    const cached = await this.store.get(repository, key);
    if (this.fresh(cached, ttl)) return served(cached, "HIT");
    let answer: { listing: StoredListing; empty: boolean };
    try {
      answer = await this.fetchReferrers(client, name, digest, artifactType);
    } catch (error) {
      if (!this.usableStale(error, cached, ttl, client)) throw error;
      this.log({ event: "listing.stale", upstream: client.upstream.prefix, name, listing: "referrers" });
      return served(cached, "STALE");
    }
    // No referrers: any digest, real or made up, gets this answer; it costs no KV write.
    if (answer.empty) this.memory.put(repository, key, answer.listing, Math.min(ttl, MEMORY_TTL_SECONDS));
    else await this.store.put(repository, key, answer.listing, cached, ttl + client.upstream.maxStale);
    return served(answer.listing, cacheStatus(cached, answer.listing));
  }

  /** A page of a stored whole list; null when a page it needs is gone (then the upstream is asked). */
  private pageOfStored(
    repository: RepositoryKey,
    head: TagListHead,
    query: TagQuery,
    cache: CacheStatus,
  ): Promise<Listing | null> {
    return pageOf(head, (index) => this.tagLists.page(repository, head, index), query, cache);
  }

  /** What is held of the tag list when the upstream is in trouble: the whole list, or the first page. */
  private async staleTags(
    error: unknown,
    repository: RepositoryKey,
    whole: ReadTagListHead | null,
    page: ReadListing | null,
    query: TagQuery,
    ttl: number,
    client: RemoteRegistry,
  ): Promise<Listing | null> {
    if (whole && this.usableStale(error, whole, ttl, client)) {
      const stale = await this.pageOfStored(repository, whole, query, "STALE");
      if (stale) return stale;
    }
    return page && this.usableStale(error, page, ttl, client) ? served(page, "STALE") : null;
  }

  private fresh<T extends { readonly checkedAt: number }>(entry: T | null, ttl: number): entry is T {
    return entry !== null && this.now() - entry.checkedAt < ttl * 1000;
  }

  private usableStale<T extends { readonly checkedAt: number }>(
    error: unknown,
    entry: T | null,
    ttl: number,
    client: RemoteRegistry,
  ): entry is T {
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
  ): Promise<{ list: PagedTagList; whole: true } | { listing: StoredListing; whole: false }> {
    const list = await client.tagList(name, new URLSearchParams(pageQuery(query)));
    const next = list.next;
    const ignoredPaging =
      (query.n !== undefined && list.tags.length > query.n) ||
      (query.last !== undefined && list.tags.some((tag) => tag <= (query.last ?? "")));
    const whole = ignoredPaging || (query.n === undefined && query.last === undefined && !next);
    const checkedAt = this.now();
    if (whole) {
      const tags = [...new Set(list.tags)].sort();
      return { list: await pagedTagList(list.name ?? name, tags, checkedAt), whole };
    }
    return { listing: tagListing({ name: list.name ?? name, tags: list.tags }, next, checkedAt), whole };
  }

  /** The upstream's referrers, filtered by `artifactType` here when the upstream did not filter them. */
  private async fetchReferrers(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    artifactType: string | undefined,
  ): Promise<{ listing: StoredListing; empty: boolean }> {
    const page = await client.referrers(name, digest, artifactType);
    const { next, filtered } = page;
    let manifests = page.manifests;
    if (artifactType !== undefined && !filtered) {
      manifests = manifests.filter((descriptor) => artifactTypeOf(descriptor) === artifactType);
    }
    const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests });
    const listing = {
      body,
      contentType: MediaType.OCI_INDEX,
      next: next?.toString(),
      filtersApplied: artifactType !== undefined ? "artifactType" : undefined,
      checkedAt: this.now(),
    };
    return { listing, empty: manifests.length === 0 && next === undefined };
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

/**
 * One page of a whole, sorted list from its stored pages: the tags after `last`, `n` of them at most,
 * read from at most MAX_PAGES_READ stored pages, and a Link when more remain. Null when a page is gone.
 */
async function pageOf(
  head: TagListHead,
  load: (index: number) => Promise<readonly string[] | null>,
  query: TagQuery,
  cache: CacheStatus,
): Promise<Listing | null> {
  const last = query.last;
  // The stored page that holds the first tag after `last`: the last one starting at or before it.
  let index = 0;
  if (last !== undefined) {
    while (index + 1 < head.firsts.length && (head.firsts[index + 1] ?? "") <= last) index += 1;
  }
  const tags: string[] = [];
  const want = query.n ?? Number.POSITIVE_INFINITY;
  let read = 0;
  let more = false;
  while (index < head.firsts.length && read < MAX_PAGES_READ) {
    const page = await load(index);
    if (!page) return null;
    read += 1;
    index += 1;
    const after = last === undefined ? page : page.filter((tag) => tag > last);
    const room = want - tags.length;
    tags.push(...after.slice(0, room));
    if (after.length > room) {
      more = true;
      break;
    }
    // Without `n`, one stored page is the answer (the Link leads on).
    if (tags.length >= want || query.n === undefined) break;
  }
  more ||= index < head.firsts.length;
  const lastTag = tags.at(-1);
  let next: URLSearchParams | undefined;
  if (lastTag !== undefined && more) {
    next = new URLSearchParams();
    if (query.n !== undefined) next.set("n", String(query.n));
    next.set("last", lastTag);
  }
  return { body: JSON.stringify({ name: head.name, tags }), contentType: "application/json", next, cache };
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
