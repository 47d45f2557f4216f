import type { BlobAccess } from "../access/blobs";
import type { Digest } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { type ByteRange, type RangeSpec, rangeHeader, resolveRange } from "../oci/range";
import type { BlobStore } from "../storage/blob-store";
import type { RegistryClient } from "../upstream/client";
import { contentLength } from "../util/content-length";
import { foregroundBody } from "../util/foreground";
import { withLength } from "../util/streams";
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
  /** Null when the blob turned out to be stored meanwhile: serve it from the store. */
  fill(client: RegistryClient, name: string, digest: Digest): Promise<BlobResult | null>;
  /**
   * From a download in progress only (never starting one): its size (no range: a HEAD), or the range
   * as its bytes arrive. Null when there is none.
   */
  inFlight(
    client: RegistryClient,
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

  async head(client: RegistryClient, name: string, digest: Digest): Promise<BlobResult> {
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
    return { size: await upstreamBlobSize(client, name, digest), body: null, cache: "MISS" };
  }

  async get(
    client: RegistryClient,
    name: string,
    digest: Digest,
    rangeSpec: RangeSpec | null,
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
    const filled = await this.filler.fill(client, name, digest);
    if (filled) return filled;
    const stored = await this.getWhole(client, name, digest);
    if (!stored) throw new RegistryError(502, "UNAVAILABLE", "the blob could not be fetched; try again");
    return stored;
  }

  private async getWhole(client: RegistryClient, name: string, digest: Digest): Promise<BlobResult | null> {
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
    client: RegistryClient,
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
    client: RegistryClient,
    name: string,
    digest: Digest,
    spec: RangeSpec,
  ): Promise<BlobResult> {
    const response = await client.request({
      name,
      path: `blobs/${digest.value}`,
      method: "GET",
      headers: { Range: rangeHeader(spec) },
    });
    if (response.status === 200) {
      // The upstream ignored the range: pass the whole blob on (allowed for a Range request).
      checkUpstreamDigest(response, digest);
      return { size: contentLength(response), body: response.body, cache: "MISS" };
    }
    if (response.status !== 206) throw await client.errorFor(response, name, "blob");
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get("Content-Range") ?? "");
    if (!match || !response.body) {
      await response.body?.cancel();
      throw new RegistryError(
        502,
        "UNAVAILABLE",
        `upstream "${client.upstream.prefix}" sent an unusable partial response`,
      );
    }
    const range = { start: Number(match[1]), end: Number(match[2]) };
    return {
      size: Number(match[3]),
      body: withLength(response.body, range.end - range.start + 1),
      range,
      cache: "MISS",
    };
  }
}

/** An upstream that labels the body with another digest is serving something else: never pass it on. */
function checkUpstreamDigest(response: Response, digest: Digest): void {
  const claimed = response.headers.get("Docker-Content-Digest");
  if (claimed?.startsWith(`${digest.algorithm}:`) && claimed !== digest.value) {
    response.body?.cancel().catch(() => {});
    throw new RegistryError(502, "UNAVAILABLE", "upstream sent a blob with a different digest");
  }
}

/**
 * Asks the upstream whether this repository has the blob, and its size; throws its refusal
 * (BLOB_UNKNOWN, …). What the access module asks to confirm a repository holds a blob.
 */
export async function upstreamBlobSize(
  client: RegistryClient,
  name: string,
  digest: Digest,
): Promise<number | undefined> {
  const response = await client.request({ name, path: `blobs/${digest.value}`, method: "HEAD" });
  if (response.ok) {
    checkUpstreamDigest(response, digest);
    return contentLength(response);
  }
  // Signed CDN URLs (Quay's S3 redirects) are signed for GET only and refuse a HEAD: ask for one byte.
  if (![401, 404, 429].includes(response.status)) return (await headByOneByteGet(client, name, digest)).size;
  throw await client.errorFor(response, name, "blob");
}

async function headByOneByteGet(client: RegistryClient, name: string, digest: Digest): Promise<BlobResult> {
  const response = await client.request({
    name,
    path: `blobs/${digest.value}`,
    method: "GET",
    headers: { Range: "bytes=0-0" },
  });
  if (!response.ok) throw await client.errorFor(response, name, "blob");
  await response.body?.cancel();
  checkUpstreamDigest(response, digest);
  const total = /\/(\d+)$/.exec(response.headers.get("Content-Range") ?? "")?.[1];
  const size = response.status === 206 ? (total ? Number(total) : undefined) : contentLength(response);
  return { size, body: null, cache: "MISS" };
}
