import { toHex } from "../oci/digest";
import type { ListingChecks } from "./listing-store";
import { KV_MIN_TTL_SECONDS, type RepositoryKey } from "./manifest-store";

/** Tags (as JSON) per stored page, at most: serving a page of the list reads one or two of them. */
export const TAG_PAGE_BYTES = 256 * 1024;

/** A repository's whole tag list as stored: sorted tags in pages, and what finds the right page. */
export interface TagListHead {
  readonly name: string;
  /** The first tag of each page, in order. */
  readonly firsts: readonly string[];
  /** Names this version of the list: its pages are stored under it, never mixed with another's. */
  readonly version: string;
  /** Milliseconds since the epoch when the upstream last answered this list. */
  readonly checkedAt: number;
  /** The tags themselves when they fit in one page: the list is then one KV value, one write. */
  readonly tags?: readonly string[];
}

/** A stored head with when it was written (`checkedAt` may be later: a check this isolate made). */
export interface ReadTagListHead extends TagListHead {
  readonly writtenAt: number;
}

/** A whole tag list, sorted, cut into the pages it is stored in. */
export interface PagedTagList {
  readonly head: TagListHead;
  readonly pages: readonly (readonly string[])[];
}

export interface TagListStore {
  head(repository: RepositoryKey): Promise<ReadTagListHead | null>;
  /** One page of the list `head` describes; null when it is gone (expired, or storage failed). */
  page(repository: RepositoryKey, head: TagListHead, index: number): Promise<string[] | null>;
  /** Keeps the list for `retainSeconds`; an unchanged one (same version as `previous`) is not written again. */
  put(
    repository: RepositoryKey,
    list: PagedTagList,
    previous: ReadTagListHead | null,
    retainSeconds: number,
  ): Promise<void>;
}

/** An unchanged list is written again at least this often. */
const REWRITE_INTERVAL_MS = 24 * 3600 * 1000;

/** The sorted, distinct `tags` of repository `name` cut into pages of at most TAG_PAGE_BYTES. */
export async function pagedTagList(
  name: string,
  tags: readonly string[],
  checkedAt: number,
): Promise<PagedTagList> {
  const pages: string[][] = [];
  let page: string[] = [];
  let bytes = 0;
  for (const tag of tags) {
    const size = JSON.stringify(tag).length + 1;
    if (page.length > 0 && bytes + size > TAG_PAGE_BYTES) {
      pages.push(page);
      page = [];
      bytes = 0;
    }
    page.push(tag);
    bytes += size;
  }
  if (page.length > 0 || pages.length === 0) pages.push(page);
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(JSON.stringify([name, tags])),
  );
  const version = toHex(digest).slice(0, 16);
  return { head: { name, firsts: pages.map((p) => p[0] ?? ""), version, checkedAt }, pages };
}

/**
 * Whole tag lists in KV as a head and pages, so a page served reads what it needs, not a list of up to
 * 8 MiB. Pages are written before the head that names them, under the list's version: a reader never
 * sees pages of two versions. A list of one page (most lists) is kept in its head: one value, one write. A failed read is a miss and a failed write is dropped (logged). An
 * unchanged list is remembered in the isolate rather than written (see KvListingStore).
 */
export class KvTagListStore implements TagListStore {
  constructor(
    private readonly kv: KVNamespace,
    private readonly checks: ListingChecks,
    private readonly onFailure: (operation: string, error: unknown) => void,
  ) {}

  async head(repository: RepositoryKey): Promise<ReadTagListHead | null> {
    const name = headKey(repository);
    let stored: unknown;
    try {
      stored = await this.kv.get(name, "json");
    } catch (error) {
      this.onFailure("get", error);
      return null;
    }
    if (!isHead(stored)) return null;
    const check = this.checks.get(name);
    const checkedAt =
      check && check[0] === stored.checkedAt ? Math.max(check[1], stored.checkedAt) : stored.checkedAt;
    return { ...stored, checkedAt, writtenAt: stored.checkedAt };
  }

  async page(repository: RepositoryKey, head: TagListHead, index: number): Promise<string[] | null> {
    if (head.tags) return index === 0 ? [...head.tags] : null;
    try {
      const stored: unknown = await this.kv.get(pageKey(repository, head.version, index), "json");
      return Array.isArray(stored) && stored.every((tag) => typeof tag === "string") ? stored : null;
    } catch (error) {
      this.onFailure("get", error);
      return null;
    }
  }

  async put(
    repository: RepositoryKey,
    list: PagedTagList,
    previous: ReadTagListHead | null,
    retainSeconds: number,
  ): Promise<void> {
    const name = headKey(repository);
    const { head, pages } = list;
    if (
      previous &&
      previous.version === head.version &&
      head.checkedAt - previous.writtenAt < REWRITE_INTERVAL_MS
    ) {
      remember(this.checks, name, previous.writtenAt, head.checkedAt);
      return;
    }
    const expirationTtl = Math.max(KV_MIN_TTL_SECONDS, Math.ceil(retainSeconds));
    const [only] = pages;
    try {
      if (pages.length === 1 && only) {
        await this.kv.put(name, JSON.stringify({ ...head, tags: only }), { expirationTtl });
        this.checks.delete(name);
        return;
      }
      await Promise.all(
        pages.map((page, index) =>
          this.kv.put(pageKey(repository, head.version, index), JSON.stringify(page), { expirationTtl }),
        ),
      );
      await this.kv.put(name, JSON.stringify(head), { expirationTtl });
      this.checks.delete(name);
    } catch (error) {
      this.onFailure("put", error);
    }
  }
}

/** Checks remembered per isolate; the oldest are forgotten first (they are then simply written). */
const MAX_REMEMBERED = 2_000;

function remember(checks: ListingChecks, name: string, writtenAt: number, checkedAt: number): void {
  checks.delete(name); // re-inserted last: the Map's order is the age
  if (checks.size >= MAX_REMEMBERED) {
    const oldest = checks.keys().next().value;
    if (oldest !== undefined) checks.delete(oldest);
  }
  checks.set(name, [writtenAt, checkedAt]);
}

// Under the listings' prefix (`listing/<upstream>/<name>:`), so a repository's purge takes them too.
function headKey(repository: RepositoryKey): string {
  return `listing/${repository.upstream}/${repository.name}:tag-list`;
}

function pageKey(repository: RepositoryKey, version: string, index: number): string {
  return `listing/${repository.upstream}/${repository.name}:tag-list/${version}/${index}`;
}

function isHead(value: unknown): value is TagListHead {
  if (!value || typeof value !== "object") return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry.name === "string" &&
    typeof entry.version === "string" &&
    typeof entry.checkedAt === "number" &&
    Array.isArray(entry.firsts) &&
    entry.firsts.length > 0 &&
    entry.firsts.every((tag) => typeof tag === "string") &&
    (entry.tags === undefined ||
      (Array.isArray(entry.tags) && entry.tags.every((tag) => typeof tag === "string")))
  );
}
