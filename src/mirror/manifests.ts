import { type Digest, parseDigest } from "../oci/digest";
import { manifestUnknown } from "../oci/errors";
import { type AcceptSet, accepts } from "../oci/media-types";
import { digestReference, type Reference, tagReference } from "../oci/reference";
import type { ManifestStore, RepositoryKey, StoredManifest, TagEntry } from "../storage/manifest-store";
import type { ManifestHead, RemoteRegistry } from "../upstream/remote-registry";
import { type EventSink, imageCached, NO_EVENTS } from "./events";
import { type CacheStatus, isUpstreamTrouble, type Log } from "./types";

export interface ManifestResult {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Null for HEAD. */
  readonly body: ArrayBuffer | null;
  readonly cache: CacheStatus;
  /**
   * Counted upstream requests (manifest GETs, what Docker Hub's quota counts) made to answer this
   * request; absent = none. Set where the request was coordinated (the manifest's fill object).
   */
  readonly counted?: number;
  /** Set under a signature policy (`X-Mirror-Signature`): the digest's signature verified, or not (`warn`). */
  readonly signature?: "verified" | "unverified";
}

/** Answers manifest requests: the mirror itself, or something that coordinates calls to it. */
export interface ManifestSource {
  get(request: ManifestRequest): Promise<ManifestResult>;
}

export interface ManifestRequest {
  readonly client: RemoteRegistry;
  readonly name: string;
  readonly reference: Reference;
  readonly accept: AcceptSet;
  readonly method: "GET" | "HEAD";
  /** The host the client reached the mirror at (the pull reference of an `image.cached` event). */
  readonly via?: string;
  /**
   * Asked once the cache cannot answer alone, before the upstream may be asked: throws to refuse (the
   * client's spending budget). Stays in the Worker: it is not sent to the manifest's fill object.
   */
  readonly beforeUpstream?: () => void;
}

/**
 * By digest a manifest is immutable: cached forever once verified. By tag it is a pointer to a digest,
 * served without asking the upstream for the upstream's `tagTtl`; after that it is revalidated with a
 * HEAD (which Docker Hub does not count against its rate limit), and the body is fetched only when the
 * tag moved. Tag entries are kept per set of accepted media types, because an upstream answers a client
 * that accepts indexes differently from one that does not.
 */
export class ManifestMirror implements ManifestSource {
  constructor(
    private readonly store: ManifestStore,
    private readonly log: Log,
    /** Told of each manifest stored (`image.cached`); the stats object announces each image once. */
    private readonly events: EventSink = NO_EVENTS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The answer from the cache alone when it is fresh; null when the upstream must be asked. */
  async cached(request: ManifestRequest): Promise<ManifestResult | null> {
    const repository = repositoryOf(request);
    if (request.reference.kind === "digest") {
      const stored = await this.store.getManifest(repository, request.reference.digest.value);
      return stored ? fromStored(stored, request.method, "HIT") : null;
    }
    const entry = await this.store.getTag(repository, request.reference.tag, request.accept.variant);
    if (!entry || this.now() - entry.checkedAt >= request.client.upstream.tagTtl * 1000) return null;
    if (request.method === "HEAD") return fromEntry(entry, "HIT");
    const stored = await this.store.getManifest(repository, entry.digest);
    return stored ? fromStored(stored, "GET", "HIT") : null;
  }

  async get(request: ManifestRequest): Promise<ManifestResult> {
    return request.reference.kind === "tag"
      ? this.byTag(request, request.reference.tag)
      : this.byDigest(request, request.reference.digest);
  }

  /**
   * The answer when misses cannot be coordinated (the reference's fill object is out of reach): a copy
   * held within `maxStale` as it is, else the upstream's answer, not stored (every isolate would write
   * it at once; the object stores it once it is back).
   */
  async withoutCoordination(request: ManifestRequest): Promise<ManifestResult> {
    const reference = request.reference;
    if (reference.kind === "tag") {
      const own = await this.store.getTag(repositoryOf(request), reference.tag, request.accept.variant);
      const stale = await this.staleEntry(request, reference.tag, own);
      if (stale) {
        this.log({
          event: "manifest.stale",
          reason: "fill object unreachable",
          upstream: request.client.upstream.prefix,
          name: request.name,
          tag: reference.tag,
          digest: stale.digest,
        });
        return this.fromTagEntry(request, stale, "STALE");
      }
    }
    if (request.method === "HEAD") {
      const head = await this.headUpstream(request, reference);
      if (head) return { ...head, body: null, cache: "MISS" };
    }
    return fromStored(await this.fetchManifest(request, reference), request.method, "MISS");
  }

  private async byDigest(request: ManifestRequest, digest: Digest): Promise<ManifestResult> {
    const repository = repositoryOf(request);
    // A digest fixes the content and so its media type: asking the upstream again would not change it.
    const stored = await this.store.getManifest(repository, digest.value);
    if (stored) return fromStored(stored, request.method, "HIT");
    if (request.method === "HEAD") {
      const head = await this.headUpstream(request, digestReference(digest));
      if (head) return { ...head, body: null, cache: "MISS" };
    }
    return this.fetchByDigest(request, digest);
  }

  private async byTag(request: ManifestRequest, tag: string): Promise<ManifestResult> {
    const repository = repositoryOf(request);
    const upstream = request.client.upstream;
    const entry = await this.store.getTag(repository, tag, request.accept.variant);
    if (entry && this.now() - entry.checkedAt < upstream.tagTtl * 1000)
      return this.fromTagEntry(request, entry, "HIT");
    if (await request.client.sparingQuota()) {
      const held = await this.staleEntry(request, tag, entry);
      if (held) return this.revalidateSparingly(request, tag, entry, held);
    }
    try {
      return await this.refreshTag(request, tag, entry);
    } catch (error) {
      // The upstream is down, slow or rate-limiting us: what we had is better than an error.
      const stale = isUpstreamTrouble(error) ? await this.staleEntry(request, tag, entry) : null;
      if (!stale) throw error;
      this.log({
        event: "manifest.stale",
        upstream: upstream.prefix,
        name: request.name,
        tag,
        digest: stale.digest,
      });
      return this.fromTagEntry(request, stale, "STALE");
    }
  }

  /**
   * Every account is below the quota reserve and the mirror holds the tag: it asks only with a HEAD
   * (free). Unchanged, the entry is refreshed; moved to a manifest the mirror holds, that one is served;
   * otherwise (moved, or the HEAD failed) the held copy is served stale rather than GET the new one.
   */
  private async revalidateSparingly(
    request: ManifestRequest,
    tag: string,
    own: TagEntry | null,
    held: TagEntry,
  ): Promise<ManifestResult> {
    const repository = repositoryOf(request);
    let head: ManifestHead | null = null;
    try {
      head = await this.headUpstream(request, tagReference(tag));
    } catch (error) {
      if (!isUpstreamTrouble(error)) throw error;
    }
    if (head) {
      const unchanged = head.digest === held.digest;
      if (unchanged || (await this.store.getManifest(repository, head.digest))) {
        const fresh: TagEntry = { ...head, checkedAt: this.now() };
        await this.store.putTag(repository, tag, request.accept.variant, fresh, this.retention(request));
        return this.fromTagEntry(request, fresh, own?.digest === head.digest ? "REVALIDATED" : "MISS");
      }
    }
    this.log({
      event: "manifest.stale",
      reason: "quota reserve",
      upstream: request.client.upstream.prefix,
      name: request.name,
      tag,
      digest: held.digest,
      upstreamDigest: head?.digest,
    });
    return this.fromTagEntry(request, held, "STALE");
  }

  /**
   * A cached entry still within `maxStale`: the client's own variant, or else the freshest entry another
   * client's variant left whose media type this client accepts (containerd and skopeo send different
   * `Accept` lists but take the same manifests).
   */
  private async staleEntry(
    request: ManifestRequest,
    tag: string,
    own: TagEntry | null,
  ): Promise<TagEntry | null> {
    const upstream = request.client.upstream;
    const oldest = this.now() - (upstream.tagTtl + upstream.maxStale) * 1000;
    const candidates = own ? [own] : await this.store.getTagVariants(repositoryOf(request), tag);
    const usable = candidates.filter(
      (entry) => entry.checkedAt > oldest && accepts(request.accept, entry.mediaType),
    );
    return usable.sort((a, b) => b.checkedAt - a.checkedAt)[0] ?? null;
  }

  /** Asks the upstream where the tag points now: a HEAD when we know it or the client only resolves, else a GET. */
  private async refreshTag(
    request: ManifestRequest,
    tag: string,
    entry: TagEntry | null,
  ): Promise<ManifestResult> {
    const repository = repositoryOf(request);
    const variant = request.accept.variant;
    if (entry || request.method === "HEAD") {
      const head = await this.headUpstream(request, tagReference(tag));
      if (head) {
        const fresh: TagEntry = { ...head, checkedAt: this.now() };
        await this.store.putTag(repository, tag, variant, fresh, this.retention(request));
        const moved = entry?.digest !== head.digest;
        if (moved && request.method === "HEAD") {
          this.events.resolved({
            upstream: repository.upstream,
            repository: request.name,
            tag,
            digest: head.digest,
          });
        }
        return this.fromTagEntry(request, fresh, moved ? "MISS" : "REVALIDATED");
      }
    }
    const manifest = await this.fetchManifest(request, tagReference(tag));
    const fresh: TagEntry = {
      digest: manifest.digest,
      mediaType: manifest.mediaType,
      size: manifest.body.byteLength,
      checkedAt: this.now(),
    };
    // Independent writes: one round trip, not two.
    await Promise.all([
      this.store.putManifest(repository, manifest),
      this.store.putTag(repository, tag, variant, fresh, this.retention(request)),
    ]);
    this.announce(request, manifest);
    return fromStored(manifest, request.method, "MISS");
  }

  private retention(request: ManifestRequest): number {
    return request.client.upstream.tagTtl + request.client.upstream.maxStale;
  }

  /** Serves a tag entry: HEAD from the entry alone, GET with the body stored under its digest. */
  private async fromTagEntry(
    request: ManifestRequest,
    entry: TagEntry,
    cache: CacheStatus,
  ): Promise<ManifestResult> {
    if (request.method === "HEAD") return fromEntry(entry, cache);
    const stored = await this.store.getManifest(repositoryOf(request), entry.digest);
    if (stored) return fromStored(stored, "GET", cache);
    const result = await this.fetchByDigest(request, parseDigest(entry.digest));
    return { ...result, cache: cache === "HIT" ? "MISS" : cache };
  }

  private async fetchByDigest(request: ManifestRequest, digest: Digest): Promise<ManifestResult> {
    const manifest = await this.fetchManifest(request, digestReference(digest));
    await this.store.putManifest(repositoryOf(request), manifest);
    this.announce(request, manifest);
    return fromStored(manifest, request.method, "MISS");
  }

  /**
   * A manifest was just stored: an `image.cached` event, with the tag the client asked for when it
   * named one (the stats object drops repeats, and an index's children).
   */
  private announce(request: ManifestRequest, manifest: StoredManifest): void {
    this.events.emit(
      imageCached({
        upstream: request.client.upstream.prefix,
        repository: request.name,
        tag: request.reference.kind === "tag" ? request.reference.tag : null,
        digest: manifest.digest,
        mediaType: manifest.mediaType,
        body: manifest.body,
        via: request.via ?? null,
      }),
    );
  }

  /** GETs a manifest, verified against its digest (see RemoteRegistry.getManifest). */
  private fetchManifest(request: ManifestRequest, reference: Reference): Promise<StoredManifest> {
    return request.client.getManifest(request.name, reference, request.accept.header);
  }

  /** A HEAD on the manifest; null when the upstream's answer lacks what we need (then we GET). */
  private headUpstream(request: ManifestRequest, reference: Reference): Promise<ManifestHead | null> {
    return request.client.headManifest(request.name, reference, request.accept.header);
  }
}

/**
 * A manifest of a type the client did not accept is not served: 404 MANIFEST_UNKNOWN, as distribution
 * answers ("OCI manifest found, but accept header does not support OCI manifests"). Checked against the
 * client's own full list, which may be longer than what went upstream.
 */
export function servableTo(accept: AcceptSet, result: ManifestResult): ManifestResult {
  if (accepts(accept, result.mediaType)) return result;
  throw manifestUnknown(
    `the manifest is a ${result.mediaType.slice(0, 128)}, which the Accept header does not include`,
  );
}

function repositoryOf(request: ManifestRequest): RepositoryKey {
  return { upstream: request.client.upstream.prefix, name: request.name };
}

function fromEntry(entry: TagEntry, cache: CacheStatus): ManifestResult {
  return { digest: entry.digest, mediaType: entry.mediaType, size: entry.size, body: null, cache };
}

function fromStored(manifest: StoredManifest, method: "GET" | "HEAD", cache: CacheStatus): ManifestResult {
  return {
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    size: manifest.body.byteLength,
    body: method === "GET" ? manifest.body : null,
    cache,
  };
}
