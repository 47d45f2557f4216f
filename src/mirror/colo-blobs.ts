import type { BlobAccess } from "../access/blobs";
import type { Digest } from "../oci/digest";
import { type RangeSpec, rangeHeader } from "../oci/range";
import type { BlobInfo, BlobStore } from "../storage/blob-store";
import type { ColoCache } from "../storage/colo-cache";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { contentLength } from "../util/content-length";
import { foregroundBody, foregroundQuiet } from "../util/foreground";
import type { BlobResult } from "./blobs";

/**
 * A copy into the colo cache waits until this isolate's clients have been quiet this long (a pull's
 * blob requests come one after another, so a gap between two of them is not enough) ...
 */
const COPY_QUIET_MS = 250;
/** ... but no longer than this: the copy has to fit in the request's `waitUntil` (30 s). */
const COPY_MAX_WAIT_MS = 5_000;

/** The colo cache as the blob policy uses it: the cache and the keys of this mirror's host. */
export interface BlobColoCache {
  readonly cache: ColoCache;
  key(digest: Digest, restricted: boolean): string;
}

/** The colo cache in front of the blob store: lookups before R2, copies of what R2 served. */
export class ColoBlobs {
  constructor(
    private readonly colo: BlobColoCache,
    private readonly store: BlobStore,
    private readonly access: BlobAccess,
  ) {}

  /**
   * The blob from the colo cache, or null. Public entries (blobs fetched without upstream credentials,
   * which R2 serves to any repository too) are looked up at once; restricted ones only when the access
   * module lets this repository read them, always before the lookup. A range is cut by the cache
   * itself; an answer other than the one asked for (a 416, a whole body) is a miss and R2 answers.
   */
  async lookup(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    spec: RangeSpec | null | "HEAD",
  ): Promise<BlobResult | null> {
    // Where the cache keeps nothing (`*.workers.dev`), not even the access check below is spent on it.
    if (!(await this.colo.cache.active())) return null;
    const range = spec && spec !== "HEAD" ? rangeHeader(spec) : undefined;
    const found = await this.colo.cache.match(this.colo.key(digest, false), range);
    if (found) return served(found, spec, false);
    if (!(await this.access.mayReadRestrictedCopy(client, name, digest))) return null;
    const restricted = await this.colo.cache.match(this.colo.key(digest, true), range);
    return restricted ? served(restricted, spec, true) : null;
  }

  /**
   * Copies a blob just served from R2 into the colo cache, from a second R2 read streamed into the put
   * in the background: the client's body and the copy each go at their own pace, so memory stays flat
   * (a tee would hold what the faster side read ahead, up to the whole blob for a slow client). The
   * price is one more R2 read per blob and data centre, once. The copy is background work: it starts
   * once the isolate's clients are quiet, so it never shares the thread with the pull that caused it.
   */
  copy(digest: Digest, info: BlobInfo): void {
    this.colo.cache.put(
      this.colo.key(digest, info.restricted),
      info.size,
      { "Content-Type": "application/octet-stream", ETag: `"${digest.value}"` },
      async () => {
        await foregroundQuiet(COPY_MAX_WAIT_MS, COPY_QUIET_MS);
        return (await this.store.get(digest))?.body ?? null;
      },
    );
  }
}

/** A colo cache entry as a result: the whole blob (200), its size (HEAD), or the range asked for (206). */
function served(response: Response, spec: RangeSpec | null | "HEAD", restricted: boolean): BlobResult | null {
  const length = contentLength(response);
  if (!response.body || length === undefined) return discard(response);
  if (spec === "HEAD") {
    discard(response);
    return response.status === 200
      ? { size: length, body: null, cache: "HIT", restricted, colo: true }
      : null;
  }
  if (!spec) {
    if (response.status !== 200) return discard(response);
    return {
      size: length,
      body: foregroundBody(response.body, length),
      cache: "HIT",
      restricted,
      colo: true,
    };
  }
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get("Content-Range") ?? "");
  if (response.status !== 206 || !match) return discard(response);
  const range = { start: Number(match[1]), end: Number(match[2]) };
  if (range.end - range.start + 1 !== length) return discard(response);
  return {
    size: Number(match[3]),
    body: foregroundBody(response.body, length),
    range,
    cache: "HIT",
    restricted,
    colo: true,
  };
}

function discard(response: Response): null {
  response.body?.cancel().catch(() => {});
  return null;
}
