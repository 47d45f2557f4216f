import type { Digest } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { type ByteRange, type RangeSpec, rangeHeader, resolveRange } from "../oci/range";
import type { BlobLinks } from "../storage/blob-links";
import type { BlobInfo, BlobStore } from "../storage/blob-store";
import type { ColoCache } from "../storage/colo-cache";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { foregroundBody } from "../util/foreground";
import type { CacheStatus } from "./types";

export interface BlobResult {
  /** Size of the whole blob; unknown only when an upstream sent no length. */
  readonly size: number | undefined;
  /** Null for HEAD. */
  readonly body: ReadableStream<Uint8Array> | null;
  /** Set when the body is a part of the blob (206). */
  readonly range?: ByteRange;
  readonly cache: CacheStatus;
  /** A stored blob fetched with upstream credentials (BlobInfo.restricted): never for shared caches. */
  readonly restricted?: boolean;
  /** Served from the data centre's cache (the colo cache), without R2. */
  readonly colo?: boolean;
}

/** The colo cache as the blob policy uses it: the cache and the keys of this mirror's host. */
export interface BlobColoCache {
  readonly cache: ColoCache;
  key(digest: Digest, restricted: boolean): string;
}

/** Fetches an uncached blob from the upstream into the store while streaming it to the client. */
export interface BlobFiller {
  /** Null when the blob turned out to be stored meanwhile: serve it from the store. */
  fill(client: RemoteRegistry, name: string, digest: Digest): Promise<BlobResult | null>;
  /**
   * From a download in progress only (never starting one): its size (no range: a HEAD), or the range
   * as its bytes arrive. Null when there is none.
   */
  inFlight(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    range: RangeSpec | null,
  ): Promise<BlobResult | null>;
  /** True once the blob's fill (download and upload to the store) is over, false after `timeoutMs`. */
  settled(digest: Digest, timeoutMs: number): Promise<boolean>;
}

/**
 * Blobs are immutable, so the policy is local first: the store when present, else the filler, which
 * makes one upstream read serve the client and the store (and every other client asking meanwhile).
 *
 * The store is shared by every repository. A blob fetched with upstream credentials may be private, so
 * it is served through a repository only when that repository is known to hold it (a link written when
 * the upstream served it for that repository or confirmed it), or the upstream confirms it now. A
 * manifest naming the digest links nothing: its author need not have access to the blob.
 */
export class BlobMirror {
  constructor(
    private readonly store: BlobStore,
    private readonly filler: BlobFiller,
    private readonly links: BlobLinks,
    /** The colo cache, in front of the store (null: not used, e.g. in Durable Objects and the cron). */
    private readonly colo: BlobColoCache | null = null,
  ) {}

  /** Waits until a blob fetched through the filler is in the store (or its fill is over), at most `timeoutMs`. */
  async settled(digest: Digest, timeoutMs: number): Promise<boolean> {
    return (await this.filler.settled(digest, timeoutMs)) && (await this.store.head(digest)) !== null;
  }

  async head(client: RemoteRegistry, name: string, digest: Digest): Promise<BlobResult> {
    const edge = await this.fromColo(client, name, digest, "HEAD");
    if (edge) return edge;
    const stored = await this.store.head(digest);
    if (stored) {
      await this.checkLink(client, name, digest, stored);
      return { size: stored.size, body: null, cache: "HIT", restricted: stored.restricted };
    }
    // A blob being fetched right now: its size is known without asking the upstream.
    const filling = await this.filler.inFlight(client, name, digest, null);
    if (filling) return filling;
    return { size: await client.blobSize(name, digest), body: null, cache: "MISS" };
  }

  /** Lets a restricted blob through this repository only if it is linked or the upstream confirms it. */
  private async checkLink(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    info: BlobInfo,
  ): Promise<void> {
    if (!info.restricted) return;
    if (await this.links.has({ upstream: client.upstream.prefix, name }, digest.value)) return;
    await this.confirm(client, name, digest);
  }

  /**
   * Asks the upstream whether this repository holds the blob; links it if so, throws (BLOB_UNKNOWN, …) if
   * not. `links`: where the link goes (the fill object passes its own table).
   */
  async confirm(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    links: Pick<BlobLinks, "add"> = this.links,
  ): Promise<void> {
    await client.blobSize(name, digest);
    await links.add({ upstream: client.upstream.prefix, name }, digest.value);
  }

  async get(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    rangeSpec: RangeSpec | null,
  ): Promise<BlobResult> {
    const edge = await this.fromColo(client, name, digest, rangeSpec);
    if (edge) return edge;
    const cached = rangeSpec
      ? await this.getRange(client, name, digest, rangeSpec)
      : await this.getWhole(client, name, digest);
    if (cached) return cached;
    if (rangeSpec) {
      const filling = await this.filler.inFlight(client, name, digest, rangeSpec);
      return filling ?? this.fetchRange(client, name, digest, rangeSpec);
    }
    const filled = await this.filler.fill(client, name, digest);
    if (filled) return filled;
    const stored = await this.getWhole(client, name, digest);
    if (!stored) throw new RegistryError(502, "UNAVAILABLE", "the blob could not be fetched; try again");
    return stored;
  }

  /**
   * The blob from the colo cache, or null. Public entries (blobs fetched without upstream credentials,
   * which R2 serves to any repository too) are looked up at once; restricted ones only through an
   * upstream with credentials and only once this repository's link to the blob is confirmed, the same
   * check a restricted R2 hit gets, and always before the lookup. A range is cut by the cache itself; an
   * answer other than the one asked for (a 416, a whole body) is a miss and R2 answers as before.
   */
  private async fromColo(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    spec: RangeSpec | null | "HEAD",
  ): Promise<BlobResult | null> {
    // Where the cache keeps nothing (`*.workers.dev`), not even the link check below is spent on it.
    if (!this.colo || !(await this.colo.cache.active())) return null;
    const range = spec && spec !== "HEAD" ? rangeHeader(spec) : undefined;
    const found = await this.colo.cache.match(this.colo.key(digest, false), range);
    if (found) return served(found, spec, false);
    if (!client.authenticated) return null;
    if (!(await this.links.has({ upstream: client.upstream.prefix, name }, digest.value))) return null;
    const restricted = await this.colo.cache.match(this.colo.key(digest, true), range);
    return restricted ? served(restricted, spec, true) : null;
  }

  /**
   * Copies a blob just served from R2 into the colo cache, from a second R2 read streamed into the put
   * in the background: the client's body and the copy each go at their own pace, so memory stays flat
   * (a tee would hold what the faster side read ahead, up to the whole blob for a slow client). The
   * price is one more R2 read per blob and data centre, once.
   */
  private fillColo(digest: Digest, info: BlobInfo): void {
    if (!this.colo) return;
    this.colo.cache.put(
      this.colo.key(digest, info.restricted),
      info.size,
      { "Content-Type": "application/octet-stream", ETag: `"${digest.value}"` },
      async () => (await this.store.get(digest))?.body ?? null,
    );
  }

  private async getWhole(client: RemoteRegistry, name: string, digest: Digest): Promise<BlobResult | null> {
    const stored = await this.store.get(digest);
    if (!stored) return null;
    try {
      await this.checkLink(client, name, digest, stored);
    } catch (error) {
      await stored.body.cancel();
      throw error;
    }
    this.fillColo(digest, stored);
    return {
      size: stored.size,
      body: foregroundBody(stored.body, stored.size),
      cache: "HIT",
      restricted: stored.restricted,
    };
  }

  private async getRange(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    spec: RangeSpec,
  ): Promise<BlobResult | null> {
    const info = await this.store.head(digest);
    if (!info) return null;
    await this.checkLink(client, name, digest, info);
    const range = resolveRange(spec, info.size);
    const length = range.end - range.start + 1;
    const stored = await this.store.get(digest, { offset: range.start, length });
    if (stored) this.fillColo(digest, info);
    return stored
      ? {
          size: info.size,
          body: foregroundBody(stored.body, length),
          range,
          cache: "HIT",
          restricted: info.restricted,
        }
      : null;
  }

  /** A part of an uncached blob: passed through from the upstream, not cached (a later whole GET fills). */
  private async fetchRange(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    spec: RangeSpec,
  ): Promise<BlobResult> {
    return { ...(await client.blobRange(name, digest, spec)), cache: "MISS" };
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

function contentLength(response: Response): number | undefined {
  const value = response.headers.get("Content-Length");
  return value !== null && /^\d{1,16}$/.test(value) ? Number(value) : undefined;
}
