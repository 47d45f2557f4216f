import type { StoredListing } from "./listing-store";
import type { RepositoryKey } from "./manifest-store";

/** Answers held at most; the oldest go first (they are then simply asked again). */
const MAX_HELD = 1_000;

/**
 * Listing answers kept in the isolate's memory only, for a short while: what a client can vary without
 * bound (a tag page after any `last`, the referrers of any digest, which are mostly none). In KV, each
 * would be a write (KV's free plan allows 1,000 a day): about a thousand anonymous requests would use
 * up a day's writes, after which nothing could be cached.
 */
export class ListingMemory {
  private readonly held = new Map<string, { readonly listing: StoredListing; readonly until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  get(repository: RepositoryKey, key: string): StoredListing | null {
    const name = memoryKey(repository, key);
    const entry = this.held.get(name);
    if (!entry) return null;
    if (entry.until > this.now()) return entry.listing;
    this.held.delete(name);
    return null;
  }

  put(repository: RepositoryKey, key: string, listing: StoredListing, keepSeconds: number): void {
    const name = memoryKey(repository, key);
    this.held.delete(name); // re-inserted last: the Map's order is the age
    if (this.held.size >= MAX_HELD) {
      const oldest = this.held.keys().next().value;
      if (oldest !== undefined) this.held.delete(oldest);
    }
    this.held.set(name, { listing, until: this.now() + keepSeconds * 1000 });
  }
}

function memoryKey(repository: RepositoryKey, key: string): string {
  return `${repository.upstream}/${repository.name}:${key}`;
}
