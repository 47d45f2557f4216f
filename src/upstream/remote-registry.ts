import type { UpstreamConfig } from "../config";
import { type Digest, digestOf, parseDigest } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { baseType, manifestMediaType } from "../oci/media-types";
import { type ByteRange, type RangeSpec, rangeHeader } from "../oci/range";
import { type Reference, referenceString } from "../oci/reference";
import { BodyTooLargeError, idleTimeout, readLimited, withLength } from "../util/streams";
import type { UpstreamObject } from "./errors";
import { type ReferrersPage, readReferrers, readTagList, type TagListPage } from "./listing-reads";
import type { Transport } from "./transport";

export type { ReferrersPage, TagListPage };

/** Manifests larger than this are refused (the distribution spec's recommended limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** What a manifest HEAD told: enough to serve a HEAD or to know a tag did not move. */
export interface ManifestHead {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

/** A manifest read whole and checked: `digest` is computed from `body`, not taken from a header. */
export interface FetchedManifest {
  readonly body: ArrayBuffer;
  readonly mediaType: string;
  readonly digest: string;
}

/** A blob or part of one as the upstream sent it; `size` is the whole blob's (unknown without a length). */
export interface UpstreamBlob {
  readonly size: number | undefined;
  readonly body: ReadableStream<Uint8Array> | null;
  /** Set when the body is a part of the blob (206). */
  readonly range?: ByteRange;
}

/**
 * One upstream registry as the caching policy sees it (distribution's proxy store, in our words): typed
 * reads that either answer or throw the client's RegistryError. Status and header parsing, digest
 * claims, bounded reads and fallbacks live here; authentication, redirects and the accounts' quota live
 * in the Transport below. No Response leaves this class.
 */
export class RemoteRegistry {
  constructor(private readonly transport: Transport) {}

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

  /**
   * A HEAD on the manifest; null when the upstream's answer lacks what we need (then the caller GETs).
   * By digest, an answer naming another digest is refused.
   */
  async headManifest(name: string, reference: Reference, accept: string): Promise<ManifestHead | null> {
    const response = await this.transport.request({
      name,
      path: `manifests/${referenceString(reference)}`,
      method: "HEAD",
      headers: { Accept: accept },
    });
    if (!response.ok) throw await this.errorFor(response, name, "manifest");
    const head = manifestHead(response.headers);
    if (head && reference.kind === "digest" && head.digest !== reference.digest.value) throw this.mismatch();
    return head;
  }

  /**
   * GETs a manifest, reads it (at most MAX_MANIFEST_BYTES) and computes its digest: with the requested
   * digest's algorithm (which it must then equal), else with the algorithm of the upstream's claim. A
   * claim of the same algorithm that differs is refused.
   */
  async getManifest(name: string, reference: Reference, accept: string): Promise<FetchedManifest> {
    const response = await this.transport.request({
      name,
      path: `manifests/${referenceString(reference)}`,
      method: "GET",
      headers: { Accept: accept },
    });
    if (!response.ok || !response.body) throw await this.errorFor(response, name, "manifest");
    let body: Uint8Array;
    try {
      body = await readLimited(idleTimeout(response.body, this.upstream.timeout * 1000), MAX_MANIFEST_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        throw new RegistryError(
          502,
          "MANIFEST_INVALID",
          `upstream manifest exceeds ${MAX_MANIFEST_BYTES} bytes`,
        );
      }
      throw new RegistryError(
        502,
        "UNAVAILABLE",
        `upstream "${this.upstream.prefix}" broke off the manifest`,
      );
    }
    const claimed = response.headers.get("Docker-Content-Digest");
    const claimedAlgorithm = claimed?.startsWith("sha512:") ? "sha512" : "sha256";
    const asked = reference.kind === "digest" ? reference.digest : null;
    const digest = await digestOf(body, asked?.algorithm ?? claimedAlgorithm);
    if (claimed?.startsWith(digest.split(":")[0] ?? "") && claimed !== digest) throw this.mismatch();
    if (asked && digest !== asked.value) throw this.mismatch();
    return {
      body: body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
      mediaType: manifestMediaType(response.headers.get("Content-Type"), body),
      digest,
    };
  }

  /**
   * Whether this repository has the blob (else the upstream's error: BLOB_UNKNOWN, …), and its size.
   * Signed CDN URLs (Quay's S3 redirects) are signed for GET only and refuse a HEAD: then one byte is
   * asked for instead.
   */
  async blobSize(name: string, digest: Digest): Promise<number | undefined> {
    const response = await this.transport.request({ name, path: `blobs/${digest.value}`, method: "HEAD" });
    if (response.ok) {
      checkBlobClaim(response, digest);
      return contentLength(response);
    }
    if (![401, 404, 429].includes(response.status)) return this.blobSizeByOneByte(name, digest);
    throw await this.errorFor(response, name, "blob");
  }

  private async blobSizeByOneByte(name: string, digest: Digest): Promise<number | undefined> {
    const response = await this.transport.request({
      name,
      path: `blobs/${digest.value}`,
      method: "GET",
      headers: { Range: "bytes=0-0" },
    });
    if (!response.ok) throw await this.errorFor(response, name, "blob");
    await response.body?.cancel();
    checkBlobClaim(response, digest);
    const total = /\/(\d+)$/.exec(response.headers.get("Content-Range") ?? "")?.[1];
    return response.status === 206 ? (total ? Number(total) : undefined) : contentLength(response);
  }

  /** The whole blob, streaming; its length must be declared and a same-algorithm claim must match. */
  async openBlob(name: string, digest: Digest): Promise<{ size: number; body: ReadableStream<Uint8Array> }> {
    const response = await this.transport.request({ name, path: `blobs/${digest.value}`, method: "GET" });
    if (!response.ok) throw await this.errorFor(response, name, "blob");
    const claimed = response.headers.get("Docker-Content-Digest");
    const length = response.headers.get("Content-Length");
    if (
      (claimed?.startsWith(`${digest.algorithm}:`) && claimed !== digest.value) ||
      !length ||
      !/^\d+$/.test(length) ||
      !response.body
    ) {
      await response.body?.cancel();
      throw new RegistryError(
        502,
        "UNAVAILABLE",
        `upstream "${this.upstream.prefix}" sent an unusable blob response`,
      );
    }
    return { size: Number(length), body: response.body };
  }

  /** A part of the blob (206); an upstream that ignores the range sends the whole blob, passed on as such. */
  async blobRange(name: string, digest: Digest, spec: RangeSpec): Promise<UpstreamBlob> {
    const response = await this.transport.request({
      name,
      path: `blobs/${digest.value}`,
      method: "GET",
      headers: { Range: rangeHeader(spec) },
    });
    if (response.status === 200) {
      checkBlobClaim(response, digest);
      return { size: contentLength(response), body: response.body };
    }
    if (response.status !== 206) throw await this.errorFor(response, name, "blob");
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get("Content-Range") ?? "");
    if (!match || !response.body) {
      await response.body?.cancel();
      throw new RegistryError(
        502,
        "UNAVAILABLE",
        `upstream "${this.upstream.prefix}" sent an unusable partial response`,
      );
    }
    const range = { start: Number(match[1]), end: Number(match[2]) };
    return { size: Number(match[3]), body: withLength(response.body, range.end - range.start + 1), range };
  }

  /** One page of the repository's tags as the upstream sent it (it may ignore `n` and `last`). */
  tagList(name: string, query: URLSearchParams): Promise<TagListPage> {
    return readTagList(this.transport, name, query);
  }

  /** The referrers of a manifest: the referrers API, or the tag schema where the upstream has none. */
  referrers(name: string, digest: Digest, artifactType: string | undefined): Promise<ReferrersPage> {
    return readReferrers(this.transport, name, digest, artifactType);
  }

  private errorFor(response: Response, name: string, object: UpstreamObject): Promise<RegistryError> {
    return this.transport.errorFor(response, name, object);
  }

  private mismatch(): RegistryError {
    return new RegistryError(
      502,
      "UNAVAILABLE",
      `upstream "${this.upstream.prefix}" sent a manifest that does not match its digest`,
    );
  }
}

/** The digest, media type and size of a HEAD answer, or null when one is missing or unusable. */
function manifestHead(headers: Headers): ManifestHead | null {
  const digest = headers.get("Docker-Content-Digest");
  const contentType = headers.get("Content-Type");
  const length = headers.get("Content-Length");
  if (!digest || !contentType || !length || !/^\d+$/.test(length)) return null;
  try {
    parseDigest(digest);
  } catch {
    return null;
  }
  const mediaType = baseType(contentType);
  // A generic type says nothing about the manifest: the GET's body tells.
  if (mediaType === "application/json" || mediaType === "text/plain") return null;
  return { digest, mediaType, size: Number(length) };
}

/** An upstream that labels the body with another digest is serving something else: never pass it on. */
function checkBlobClaim(response: Response, digest: Digest): void {
  const claimed = response.headers.get("Docker-Content-Digest");
  if (claimed?.startsWith(`${digest.algorithm}:`) && claimed !== digest.value) {
    response.body?.cancel().catch(() => {});
    throw new RegistryError(502, "UNAVAILABLE", "upstream sent a blob with a different digest");
  }
}

function contentLength(response: Response): number | undefined {
  const value = response.headers.get("Content-Length");
  return value !== null && /^\d{1,16}$/.test(value) ? Number(value) : undefined;
}
