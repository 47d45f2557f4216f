import type { OpBudget } from "../util/op-budget";
import { deleteByPrefix, KV_MIN_TTL_SECONDS, type PurgeResult, type RepositoryKey } from "./manifest-store";

/** A tag list or referrers answer as the mirror serves it, with when the upstream last confirmed it. */
export interface StoredListing {
  readonly body: string;
  readonly contentType: string;
  /** Query of the next page (`n`, `last`, …), when the answer is one page of several. */
  readonly next?: string;
  readonly filtersApplied?: string;
  /** Milliseconds since the epoch when the upstream last answered this. */
  readonly checkedAt: number;
}

/** A stored listing with when it was written (`checkedAt` may be later: a check this isolate made). */
export interface ReadListing extends StoredListing {
  readonly writtenAt: number;
}

export interface ListingStore {
  get(repository: RepositoryKey, key: string): Promise<ReadListing | null>;
  /** Keeps `listing` for `retainSeconds`; `previous` (what `get` returned) lets an unchanged answer skip the write. */
  put(
    repository: RepositoryKey,
    key: string,
    listing: StoredListing,
    previous: ReadListing | null,
    retainSeconds: number,
  ): Promise<void>;
  /** Forgets every listing of a repository, within `budget`. */
  purge(repository: RepositoryKey, budget: OpBudget): Promise<PurgeResult>;
}

/** An unchanged listing is written again at least this often (KV's free plan allows 1,000 writes a day). */
const REWRITE_INTERVAL_MS = 24 * 3600 * 1000;
/** Checks remembered per isolate; the oldest are forgotten first (they are then simply written). */
const MAX_REMEMBERED = 2_000;

/** What this isolate confirmed about a stored listing without writing it: key → [writtenAt, checkedAt]. */
export type ListingChecks = Map<string, readonly [number, number]>;

/**
 * Listings in KV, next to the manifests. A failed read is a miss and a failed write is dropped (logged):
 * a listing cache never fails a request the upstream can answer. An upstream answer that did not change
 * is remembered in the isolate rather than written, so a listing polled every minute costs a KV write a
 * day, not 1,440.
 */
export class KvListingStore implements ListingStore {
  constructor(
    private readonly kv: KVNamespace,
    private readonly checks: ListingChecks,
    private readonly onFailure: (operation: string, error: unknown) => void,
  ) {}

  async get(repository: RepositoryKey, key: string): Promise<ReadListing | null> {
    const name = kvKey(repository, key);
    let stored: unknown;
    try {
      stored = await this.kv.get(name, "json");
    } catch (error) {
      this.onFailure("get", error);
      return null;
    }
    if (!isStoredListing(stored)) return null;
    const check = this.checks.get(name);
    const checkedAt =
      check && check[0] === stored.checkedAt ? Math.max(check[1], stored.checkedAt) : stored.checkedAt;
    return { ...stored, checkedAt, writtenAt: stored.checkedAt };
  }

  async put(
    repository: RepositoryKey,
    key: string,
    listing: StoredListing,
    previous: ReadListing | null,
    retainSeconds: number,
  ): Promise<void> {
    const name = kvKey(repository, key);
    if (
      previous &&
      sameAnswer(previous, listing) &&
      listing.checkedAt - previous.writtenAt < REWRITE_INTERVAL_MS
    ) {
      this.remember(name, previous.writtenAt, listing.checkedAt);
      return;
    }
    const { body, contentType, next, filtersApplied, checkedAt } = listing;
    try {
      await this.kv.put(name, JSON.stringify({ body, contentType, next, filtersApplied, checkedAt }), {
        expirationTtl: Math.max(KV_MIN_TTL_SECONDS, Math.ceil(retainSeconds)),
      });
      this.checks.delete(name);
    } catch (error) {
      this.onFailure("put", error);
    }
  }

  purge(repository: RepositoryKey, budget: OpBudget): Promise<PurgeResult> {
    return deleteByPrefix(this.kv, kvKey(repository, ""), budget);
  }

  private remember(name: string, writtenAt: number, checkedAt: number): void {
    this.checks.delete(name); // re-inserted last: the Map's order is the age
    if (this.checks.size >= MAX_REMEMBERED) {
      const oldest = this.checks.keys().next().value;
      if (oldest !== undefined) this.checks.delete(oldest);
    }
    this.checks.set(name, [writtenAt, checkedAt]);
  }
}

function sameAnswer(a: StoredListing, b: StoredListing): boolean {
  return (
    a.body === b.body &&
    a.contentType === b.contentType &&
    a.next === b.next &&
    a.filtersApplied === b.filtersApplied
  );
}

function kvKey(repository: RepositoryKey, key: string): string {
  return `listing/${repository.upstream}/${repository.name}:${key}`;
}

function isStoredListing(value: unknown): value is StoredListing {
  if (!value || typeof value !== "object") return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry.body === "string" &&
    typeof entry.contentType === "string" &&
    typeof entry.checkedAt === "number" &&
    (entry.next === undefined || typeof entry.next === "string") &&
    (entry.filtersApplied === undefined || typeof entry.filtersApplied === "string")
  );
}
