import type { Log } from "../mirror/types";
import { type ColoCache, coloKeys } from "../storage/colo-cache";
import { OpBudget } from "../util/op-budget";

/** A page of blobs with the day each was last served. */
export interface ServedPage {
  readonly entries: Array<{ digest: string; day: string }>;
  /** The digest to continue after; absent on the last page. */
  readonly cursor?: string;
}

/** The day each blob was last served, as retention reads it, and where retention's last run stopped. */
export interface ServedDays {
  /** Every blob with a recorded day, page by page (`cursor` from the previous page). */
  list(cursor?: string): Promise<ServedPage>;
  /** The recorded day (YYYY-MM-DD) of each of these digests that has one: exact, however many rows exist. */
  daysOf(digests: readonly string[]): Promise<Record<string, string>>;
  forget(digests: readonly string[]): Promise<void>;
  /** The store key the next run of retention starts after; null: from the first blob. */
  resumeAfter(): Promise<string | null>;
  setResumeAfter(key: string | null): Promise<void>;
}

/** What retention reports to the stats. */
export interface RetentionStats {
  blobsDeleted(count: number, bytes: number): void;
}

export interface RetentionOptions {
  readonly days: number;
  readonly maxBytes: number | null;
  /** Pages of blobs one run examines at most. */
  readonly maxPages?: number;
  /** Blobs per page (R2 lists at most 1,000). */
  readonly pageSize?: number;
  /** Platform operations one run may spend (R2 lists and deletes, stats-object calls). */
  readonly maxOperations?: number;
}

export interface RetentionReport {
  readonly examined: number;
  readonly deleted: number;
  readonly deletedBytes: number;
  readonly keptBytes: number;
  /** The listing reached the store's end (and the size cap, if any, was applied): the next run starts over. */
  readonly complete: boolean;
}

export interface RetentionDeps {
  readonly bucket: R2Bucket;
  readonly served: ServedDays;
  readonly stats: RetentionStats;
  readonly log: Log;
  /** The colo cache of the data centre the run is in, and the origin its keys name. */
  readonly colo?: { readonly cache: ColoCache; readonly origin: string } | null;
  readonly now?: () => number;
}

interface Blob {
  readonly key: string;
  readonly digest: string;
  readonly size: number;
  readonly lastServed: number;
  readonly restricted: boolean;
}

const DAY_MS = 24 * 3600 * 1000;
/** R2 lists and deletes at most this many keys per call. */
const BATCH = 1000;
/**
 * The cron's share of the ~1,000 subrequests of an invocation (the warm-up before it takes the rest):
 * 100 pages of 1,000 blobs at 4 operations each, and the resume point read and written.
 */
const DEFAULT_OPERATIONS = 402;
/** A page costs a list, a lookup of its served days, and for its doomed blobs a delete and a forget. */
const PAGE_OPERATIONS = 4;
/** Kept back from colo cache deletes: the next page and saving where the run stopped. */
const RESERVED_OPERATIONS = PAGE_OPERATIONS + 1;

/**
 * Deletes blobs not served for `days` (by the day recorded when served, else the day they were stored),
 * then, with a size cap, the least recently served until the rest fits. Deleting never breaks a pull: a
 * later request simply fetches the blob again.
 *
 * Bounded per run: each page of the store's listing is judged by the served days of exactly its blobs
 * (looked up, not taken from a listing that may have been cut short), so a blob is deleted only when its
 * record says it was not served within `days`. A run that runs out of pages or operations saves where
 * it stopped and the next run goes on from there. A blob and its served-day row go together, or neither.
 */
export async function runRetention(deps: RetentionDeps, options: RetentionOptions): Promise<RetentionReport> {
  const now = deps.now?.() ?? Date.now();
  const oldest = now - options.days * DAY_MS;
  const budget = new OpBudget(options.maxOperations ?? DEFAULT_OPERATIONS);
  const maxPages = options.maxPages ?? 100;
  const pageSize = Math.min(options.pageSize ?? BATCH, BATCH);
  const deleted: Blob[] = [];
  const survivors: Blob[] = [];
  let examined = 0;
  let keptBytes = 0;

  budget.take(1);
  const start = await deps.served.resumeAfter();
  let after = start;
  let reachedEnd = false;
  // Room is kept for saving where the run stopped (1 operation).
  for (let page = 0; page < maxPages && budget.left >= PAGE_OPERATIONS + 1; page++) {
    budget.take(2);
    const listed = await deps.bucket.list({
      prefix: "blobs/",
      startAfter: after ?? undefined,
      limit: pageSize,
      // Whether a blob is restricted names its colo cache key (no extra call).
      include: ["customMetadata"],
    });
    const blobs = await judge(deps.served, listed.objects);
    examined += blobs.length;
    const doomed = blobs.filter((blob) => blob.lastServed < oldest);
    if (doomed.length > 0) {
      budget.take(2);
      await deleteBlobs(deps, doomed, budget, now);
      deleted.push(...doomed);
    }
    const kept = blobs.filter((blob) => blob.lastServed >= oldest);
    keptBytes += sum(kept);
    if (options.maxBytes !== null) survivors.push(...kept);
    after = listed.objects.at(-1)?.key ?? after;
    if (!listed.truncated) {
      reachedEnd = true;
      break;
    }
  }
  budget.take(1);
  await deps.served.setResumeAfter(reachedEnd ? null : after);

  // The size cap needs every blob's day at once: applied by a run that examined the whole store.
  let capped = true;
  if (options.maxBytes !== null) {
    if (start === null && reachedEnd) {
      const evicted = await applyCap(deps, survivors, options.maxBytes, budget, now);
      deleted.push(...evicted.blobs);
      keptBytes -= sum(evicted.blobs);
      capped = evicted.fits;
    } else {
      capped = false;
      deps.log({ event: "retention.cap_deferred", reason: "the store was not examined whole in this run" });
    }
  }
  const report = {
    examined,
    deleted: deleted.length,
    deletedBytes: sum(deleted),
    keptBytes,
    complete: reachedEnd && capped,
  };
  deps.log({ event: "retention", ...report });
  return report;
}

/** Each listed blob with its last served day, from the served-day rows of exactly these digests. */
async function judge(served: ServedDays, objects: readonly R2Object[]): Promise<Blob[]> {
  const blobs = objects.map((object) => {
    const [, algorithm, hex] = object.key.split("/");
    return { object, digest: `${algorithm}:${hex}` };
  });
  const days = blobs.length > 0 ? await served.daysOf(blobs.map((blob) => blob.digest)) : {};
  return blobs.map(({ object, digest }) => {
    const day = days[digest];
    return {
      key: object.key,
      digest,
      size: object.size,
      lastServed: Math.max(day ? Date.parse(day) : 0, object.uploaded.getTime()),
      restricted: object.customMetadata?.restricted === "1",
    };
  });
}

/** Evicts the least recently served until the rest fits, as far as the budget goes. */
async function applyCap(
  deps: RetentionDeps,
  survivors: Blob[],
  maxBytes: number,
  budget: OpBudget,
  now: number,
): Promise<{ blobs: Blob[]; fits: boolean }> {
  const deleted: Blob[] = [];
  let keptBytes = sum(survivors);
  const doomed: Blob[] = [];
  for (const blob of [...survivors].sort((a, b) => a.lastServed - b.lastServed)) {
    if (keptBytes <= maxBytes) break;
    doomed.push(blob);
    keptBytes -= blob.size;
  }
  for (let start = 0; start < doomed.length; start += BATCH) {
    if (!budget.take(2)) return { blobs: deleted, fits: false };
    const batch = doomed.slice(start, start + BATCH);
    await deleteBlobs(deps, batch, budget, now);
    deleted.push(...batch);
  }
  return { blobs: deleted, fits: true };
}

/**
 * Deletes blobs (≤ 1,000) and then their served-day rows: 2 operations. The blob goes first, so a
 * failure between the two leaves a row without its blob (ignored: a blob stored again is judged by its
 * new upload), never a blob without its row (which would look unserved since it was stored).
 *
 * Then the colo cache entries of those that may still have one here, as far as the budget goes (a call
 * each): a blob last served longer ago than an entry lives has none in any data centre. So deletions
 * by age cost nothing here (when `RETENTION_DAYS` is longer than the entries' `max-age`); the size cap
 * can evict blobs served today. Entries in other data centres expire by their `max-age`.
 */
async function deleteBlobs(
  deps: RetentionDeps,
  blobs: readonly Blob[],
  budget: OpBudget,
  now: number,
): Promise<void> {
  await deps.bucket.delete(blobs.map((blob) => blob.key));
  deps.stats.blobsDeleted(blobs.length, sum(blobs));
  await deps.served.forget(blobs.map((blob) => blob.digest));
  const colo = deps.colo;
  if (!colo) return;
  // Served days are whole days: an entry put late on its day lives on into a later one.
  const cachedSince = now - (colo.cache.ttlSeconds * 1000 + DAY_MS);
  const cached = blobs.filter((blob) => blob.lastServed > cachedSince);
  const reachable = cached.slice(0, Math.max(0, budget.left - RESERVED_OPERATIONS));
  budget.take(reachable.length);
  await Promise.all(
    reachable.map((blob) => colo.cache.delete(coloKeys.blob(colo.origin, blob.digest, blob.restricted))),
  );
  if (reachable.length < cached.length)
    deps.log({ event: "retention.colo_left", blobs: cached.length - reachable.length });
}

function sum(blobs: ReadonlyArray<{ size: number }>): number {
  return blobs.reduce((total, blob) => total + blob.size, 0);
}
