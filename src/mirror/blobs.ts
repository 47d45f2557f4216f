import type { BlobAccess } from "../access/blobs";
import { type Digest, verifiedBody } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { type ByteRange, type RangeSpec, resolveRange } from "../oci/range";
import type { BlobStore } from "../storage/blob-store";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { foregroundBody } from "../util/foreground";
import { idleTimeout, sliceOf } from "../util/streams";
import { type BlobColoCache, ColoBlobs } from "./colo-blobs";
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

/** Fetches an uncached blob from the upstream into the store while streaming it to the client. */
export interface BlobFiller {
  /**
   * Null when the blob turned out to be stored meanwhile: serve it from the store. `hungUp` is told
   * when the client goes away before the last byte of a fill (which goes on without it).
   */
  fill(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    hungUp?: (size: number) => void,
  ): Promise<BlobResult | null>;
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

/** What the caller learns of a fill started for its client. */
export interface FillWatch {
  /** Asked before a fill is started for the client; throws to refuse (its budget). */
  admit(): void;
  /** The client went away before the last byte of the fill, which goes on and stores the whole blob. */
  hungUp(size: number): void;
}

const NO_WATCH: FillWatch = { admit: () => {}, hungUp: () => {} };

/**
 * Blobs are immutable, so the policy is local first: the store when present, else the filler, which
 * makes one upstream read serve the client and the store (and every other client asking meanwhile).
 * The store is shared by every repository: whether this repository may see a stored blob is the access
 * module's answer (BlobAccess), asked before any byte is served.
 */
export class BlobMirror {
  /** The colo cache, in front of the store (null: not used, e.g. in Durable Objects and the cron). */
  private readonly colo: ColoBlobs | null;

  constructor(
    private readonly store: BlobStore,
    private readonly filler: BlobFiller,
    private readonly access: BlobAccess,
    colo: BlobColoCache | null = null,
  ) {
    this.colo = colo && new ColoBlobs(colo, store, access);
  }

  /** Waits until a blob fetched through the filler is in the store (or its fill is over), at most `timeoutMs`. */
  async settled(digest: Digest, timeoutMs: number): Promise<boolean> {
    return (await this.filler.settled(digest, timeoutMs)) && (await this.store.head(digest)) !== null;
  }

  async head(client: RemoteRegistry, name: string, digest: Digest): Promise<BlobResult> {
    const edge = await this.colo?.lookup(client, name, digest, "HEAD");
    if (edge) return edge;
    const stored = await this.store.head(digest);
    if (stored) {
      await this.access.admitStored(client, name, digest, stored.restricted);
      return { size: stored.size, body: null, cache: "HIT", restricted: stored.restricted };
    }
    // A blob being fetched right now: its size is known without asking the upstream.
    const filling = await this.filler.inFlight(client, name, digest, null);
    if (filling) return filling;
    const size = await client.blobSize(name, digest);
    // A blob without a length is one the mirror cannot serve (a fill needs it): no HEAD says otherwise.
    if (size === undefined)
      throw new RegistryError(502, "UNAVAILABLE", "the upstream does not say the blob's size");
    return { size, body: null, cache: "MISS" };
  }

  /** `watch`: asked before a fill is started for this client, and told if the client leaves it. */
  async get(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    rangeSpec: RangeSpec | null,
    watch: FillWatch = NO_WATCH,
  ): Promise<BlobResult> {
    const edge = await this.colo?.lookup(client, name, digest, rangeSpec);
    if (edge) return edge;
    const cached = rangeSpec
      ? await this.getRange(client, name, digest, rangeSpec)
      : await this.getWhole(client, name, digest);
    if (cached) return cached;
    if (rangeSpec) {
      const filling = await this.filler.inFlight(client, name, digest, rangeSpec);
      return filling ?? this.fetchRange(client, name, digest, rangeSpec);
    }
    watch.admit();
    const filled = await this.filler.fill(client, name, digest, (size) => watch.hungUp(size));
    if (filled) return filled;
    const stored = await this.getWhole(client, name, digest);
    if (!stored) throw new RegistryError(502, "UNAVAILABLE", "the blob could not be fetched; try again");
    return stored;
  }

  private async getWhole(client: RemoteRegistry, name: string, digest: Digest): Promise<BlobResult | null> {
    const stored = await this.store.get(digest);
    if (!stored) return null;
    try {
      await this.access.admitStored(client, name, digest, stored.restricted);
    } catch (error) {
      await stored.body.cancel();
      throw error;
    }
    this.colo?.copy(digest, stored);
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
    await this.access.admitStored(client, name, digest, info.restricted);
    const range = resolveRange(spec, info.size);
    const length = range.end - range.start + 1;
    const stored = await this.store.get(digest, { offset: range.start, length });
    if (stored) this.colo?.copy(digest, info);
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
    const part = await client.blobRange(name, digest, spec);
    if (part.range || !part.body) return { ...part, cache: "MISS" };
    // The upstream ignored the range and sent the whole blob: a part of it could not be checked, so
    // the whole is checked against the digest as it streams, and the range is cut from it here.
    if (part.size === undefined) {
      await part.body.cancel();
      throw new RegistryError(502, "UNAVAILABLE", "the upstream sent the whole blob without its length");
    }
    let range: ByteRange;
    try {
      range = resolveRange(spec, part.size);
    } catch (error) {
      await part.body.cancel();
      throw error;
    }
    const checked = verifiedBody(idleTimeout(part.body, client.upstream.timeout * 1000), digest, part.size);
    const body = foregroundBody(sliceOf(checked, range), range.end - range.start + 1);
    return { size: part.size, body, range, cache: "MISS" };
  }
}
