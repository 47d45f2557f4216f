import type { BlobAccess } from "../access/blobs";
import type { Digest } from "../oci/digest";
import { type RangeSpec, rangeHeader } from "../oci/range";
import type { BlobInfo, BlobStore } from "../storage/blob-store";
import type { ColoCache } from "../storage/colo-cache";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { contentLength } from "../util/content-length";
import { foregroundBody } from "../util/foreground";
import type { BlobResult } from "./blobs";

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
   * price is one more R2 read per blob and data centre, once. The copy starts at once: on the platform
   * both sides are native streams that cost the isolate next to no CPU, and a copy held back until the
   * clients pause lands in the middle of the next pull instead, or past `waitUntil`'s 30 s.
   */
  copy(digest: Digest, info: BlobInfo): void {
    this.colo.cache.put(
      this.colo.key(digest, info.restricted),
      info.size,
      { "Content-Type": "application/octet-stream", ETag: `"${digest.value}"` },
      async () => (await this.store.get(digest))?.body ?? null,
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
