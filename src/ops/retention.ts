import type { Log } from "../mirror/types";
import type { ServedDays } from "./served-days";
import type { StatsRecorder } from "./stats";

export interface RetentionOptions {
  readonly days: number;
  readonly maxBytes: number | null;
  /** Bounds one run (R2 and KV list 1,000 keys a page); what is left waits for the next run. */
  readonly maxPages?: number;
}

export interface RetentionReport {
  readonly examined: number;
  readonly deleted: number;
  readonly deletedBytes: number;
  readonly keptBytes: number;
  readonly complete: boolean;
}

const DAY_MS = 24 * 3600 * 1000;
/** R2 deletes at most this many keys per call. */
const DELETE_BATCH = 1000;

/**
 * Deletes blobs not served for `days` (by the day recorded when served, else the day they were stored),
 * then, with a size cap, the least recently served until the rest fits. Deleting never breaks a pull: a
 * later request simply fetches the blob again.
 */
export async function runRetention(
  deps: { bucket: R2Bucket; served: ServedDays; stats: StatsRecorder; log: Log; now?: () => number },
  options: RetentionOptions,
): Promise<RetentionReport> {
  const now = deps.now?.() ?? Date.now();
  const maxPages = options.maxPages ?? 100;
  const served = new Map<string, number>();
  let cursor: string | undefined;
  let complete = true;
  for (let page = 0; page < maxPages; page++) {
    const listed = await deps.served.list(cursor);
    for (const entry of listed.entries) served.set(entry.digest, Date.parse(entry.day));
    cursor = listed.cursor;
    if (!cursor) break;
    if (page === maxPages - 1) complete = false;
  }

  const blobs: Array<{ key: string; digest: string; size: number; lastServed: number }> = [];
  let r2Cursor: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const listed = await deps.bucket.list({ prefix: "blobs/", cursor: r2Cursor, limit: 1000 });
    for (const object of listed.objects) {
      const [, algorithm, hex] = object.key.split("/");
      const digest = `${algorithm}:${hex}`;
      blobs.push({
        key: object.key,
        digest,
        size: object.size,
        lastServed: Math.max(served.get(digest) ?? 0, object.uploaded.getTime()),
      });
    }
    r2Cursor = listed.truncated ? listed.cursor : undefined;
    if (!r2Cursor) break;
    if (page === maxPages - 1) complete = false;
  }

  const oldest = now - options.days * DAY_MS;
  const doomed = blobs.filter((blob) => blob.lastServed < oldest);
  let keptBytes = blobs.reduce((total, blob) => total + blob.size, 0) - sum(doomed);
  if (options.maxBytes !== null && keptBytes > options.maxBytes) {
    const survivors = blobs
      .filter((blob) => blob.lastServed >= oldest)
      .sort((a, b) => a.lastServed - b.lastServed);
    for (const blob of survivors) {
      if (keptBytes <= options.maxBytes) break;
      doomed.push(blob);
      keptBytes -= blob.size;
    }
  }

  for (let start = 0; start < doomed.length; start += DELETE_BATCH) {
    const batch = doomed.slice(start, start + DELETE_BATCH);
    await deps.bucket.delete(batch.map((blob) => blob.key));
    await deps.served.forget(batch.map((blob) => blob.digest));
    deps.stats.blobsDeleted(batch.length, sum(batch));
  }
  const report = {
    examined: blobs.length,
    deleted: doomed.length,
    deletedBytes: sum(doomed),
    keptBytes,
    complete,
  };
  deps.log({ event: "retention", ...report });
  return report;
}

function sum(blobs: ReadonlyArray<{ size: number }>): number {
  return blobs.reduce((total, blob) => total + blob.size, 0);
}
