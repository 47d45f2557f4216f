import type { Digest } from "../oci/digest";

export interface BlobInfo {
  readonly size: number;
}

export interface StoredBlob extends BlobInfo {
  readonly body: ReadableStream<Uint8Array>;
}

/** Immutable blobs keyed by digest only: shared by every upstream and repository. */
export interface BlobStore {
  head(digest: Digest): Promise<BlobInfo | null>;
  /** The whole blob, or `length` bytes from `offset`. */
  get(digest: Digest, range?: { offset: number; length: number }): Promise<StoredBlob | null>;
  /**
   * Stores `body` under `digest` only if it is exactly `size` bytes whose hash is `digest`; resolves
   * false (storing nothing) otherwise. Streams: the body is never held in memory.
   */
  put(digest: Digest, body: ReadableStream<Uint8Array>, size: number): Promise<boolean>;
}

/** R2 implementation. R2 itself checks the hash (`sha256`/`sha512` put options) and the length. */
export class R2BlobStore implements BlobStore {
  constructor(private readonly bucket: R2Bucket) {}

  async head(digest: Digest): Promise<BlobInfo | null> {
    const object = await this.bucket.head(blobKey(digest));
    return object ? { size: object.size } : null;
  }

  async get(digest: Digest, range?: { offset: number; length: number }): Promise<StoredBlob | null> {
    const object = await this.bucket.get(blobKey(digest), range ? { range } : undefined);
    if (!object) return null;
    return { size: object.size, body: object.body };
  }

  async put(digest: Digest, body: ReadableStream<Uint8Array>, size: number): Promise<boolean> {
    const sized = body.pipeThrough(new FixedLengthStream(size));
    try {
      await this.bucket.put(blobKey(digest), sized, {
        [digest.algorithm]: digest.hex,
        httpMetadata: { contentType: "application/octet-stream" },
        customMetadata: { digest: digest.value },
      });
      return true;
    } catch {
      // Wrong bytes, a short or long body, or an interrupted upstream: R2 keeps nothing.
      await sized.cancel().catch(() => {});
      return false;
    }
  }
}

export function blobKey(digest: Digest): string {
  return `blobs/${digest.algorithm}/${digest.hex}`;
}
