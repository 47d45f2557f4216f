import type { UpstreamConfig } from "../config";
import type { Digest } from "../oci/digest";
import type { RangeSpec } from "../oci/range";
import type { Reference } from "../oci/reference";
import { blobRange, blobSize, openBlob, type UpstreamBlob } from "./blob-reads";
import { type ReferrersPage, readReferrers, readTagList, type TagListPage } from "./listing-reads";
import { type FetchedManifest, getManifest, headManifest, type ManifestHead } from "./manifest-reads";
import { ReferrersSupport } from "./referrers-support";
import type { Transport } from "./transport";

export type { FetchedManifest, ManifestHead, ReferrersPage, TagListPage, UpstreamBlob };

/**
 * One upstream registry as the caching policy sees it (distribution's proxy store, in our words): typed
 * reads that either answer or throw the client's RegistryError. Status and header parsing, digest
 * claims, bounded reads and protocol fallbacks live in the `*-reads` modules; authentication, realm
 * checks, redirects, the retry and the accounts' quota in the Transport below. No Response leaves here.
 */
export class RemoteRegistry {
  constructor(
    private readonly transport: Transport,
    /** What this isolate found of upstreams' referrers APIs (a fresh memory when not shared). */
    private readonly referrersSupport: ReferrersSupport = new ReferrersSupport(),
  ) {}

  get upstream(): UpstreamConfig {
    return this.transport.upstream;
  }

  /** Whether the mirror holds credentials for this upstream: what it fetches may be private. */
  get authenticated(): boolean {
    return this.transport.authenticated;
  }

  /** Counted requests (manifest GETs) this registry made that the upstream served. */
  get counted(): number {
    return this.transport.counted;
  }

  /** Whether every account is below the quota reserve: then serve what is held rather than spend quota. */
  sparingQuota(): Promise<boolean> {
    return this.transport.sparingQuota();
  }

  /** When quota is likely back (ms), or null when the mirror has never seen a reading. */
  quotaRecoveryAt(): number | null {
    return this.transport.quotaRecoveryAt();
  }

  /** The manifest's digest, media type and size from a HEAD; null when the answer lacks one (GET instead). */
  headManifest(name: string, reference: Reference, accept: string): Promise<ManifestHead | null> {
    return headManifest(this.transport, name, reference, accept);
  }

  /** The manifest, read whole (bounded) and checked against the requested digest and the upstream's claim. */
  getManifest(name: string, reference: Reference, accept: string): Promise<FetchedManifest> {
    return getManifest(this.transport, name, reference, accept);
  }

  /** Whether this repository has the blob (else the upstream's error), and its size if the upstream says. */
  blobSize(name: string, digest: Digest): Promise<number | undefined> {
    return blobSize(this.transport, name, digest);
  }

  /** The whole blob, streaming, with its declared length. */
  openBlob(name: string, digest: Digest): Promise<{ size: number; body: ReadableStream<Uint8Array> }> {
    return openBlob(this.transport, name, digest);
  }

  /** A part of the blob, or the whole blob when the upstream ignores the range. */
  blobRange(name: string, digest: Digest, spec: RangeSpec): Promise<UpstreamBlob> {
    return blobRange(this.transport, name, digest, spec);
  }

  /** One page of the repository's tags as the upstream sent it (it may ignore `n` and `last`). */
  tagList(name: string, query: URLSearchParams): Promise<TagListPage> {
    return readTagList(this.transport, name, query);
  }

  /** The referrers of a manifest: the referrers API, or the tag schema where the upstream has none. */
  referrers(name: string, digest: Digest, artifactType: string | undefined): Promise<ReferrersPage> {
    return readReferrers(this.transport, name, digest, artifactType, this.referrersSupport);
  }
}
