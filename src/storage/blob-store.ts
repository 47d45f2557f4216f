import { type Digest, DigestVerifier } from "../oci/digest";
import { withLength } from "../util/streams";
import type { StorageFailure } from "./tolerant-manifest-store";

export interface BlobInfo {
  readonly size: number;
  /** Fetched with upstream credentials: serve only through repositories known to hold it. */
  readonly restricted: boolean;
}

export interface PutOptions {
  readonly restricted: boolean;
  /**
   * The caller's own verdict on the bytes, which it hashes as it streams them here: the store then does
   * not hash them again where it would have to (multipart), and completes only on a true verdict.
   */
  readonly verdict?: Promise<boolean>;
  /** Told of the multipart upload a put above the multipart threshold opens in the store, and of its end. */
  readonly multipart?: MultipartWatch;
}

/**
 * Who keeps track of a put's multipart upload: an instance that dies mid-way must leave its id behind
 * for someone to abort it (R2 keeps an unfinished upload's parts until the bucket's lifecycle rule).
 * Its calls must not throw.
 */
export interface MultipartWatch {
  /** The upload is open in the store under `key`. */
  begun(uploadId: string, key: string): void;
  /** The put is over with it: completed or aborted (`open` false), or its abort failed (`open` true). */
  ended(uploadId: string, open: boolean): void;
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
  put(digest: Digest, body: ReadableStream<Uint8Array>, size: number, options: PutOptions): Promise<boolean>;
  /**
   * A multipart upload that several invocations take turns at: begun here (its id is the caller's to
   * keep), its parts put one by one (each `length` bytes), completed or aborted by whoever comes last.
   * The caller has verified the bytes: nothing here hashes them. These throw when the store refuses.
   */
  beginParts(digest: Digest, options: { restricted: boolean }): Promise<string>;
  putPart(
    digest: Digest,
    uploadId: string,
    partNumber: number,
    body: ReadableStream<Uint8Array>,
    length: number,
  ): Promise<{ partNumber: number; etag: string }>;
  completeParts(
    digest: Digest,
    uploadId: string,
    parts: ReadonlyArray<{ partNumber: number; etag: string }>,
  ): Promise<void>;
  abortParts(digest: Digest, uploadId: string): Promise<void>;
}

const MIB = 1024 ** 2;
/** R2's smallest part (all but the last part must be at least this) and its largest. */
const MIN_PART_SIZE = 5 * MIB;
const MAX_PART_SIZE = 5 * 1024 * MIB;
/**
 * An upload runs in one Durable Object invocation, which may make about 1,000 subrequests (R2 calls
 * included): create + parts + complete (or abort) must stay below that. R2 itself allows 10,000 parts.
 */
const MAX_PARTS = 900;

/**
 * Equal parts (R2 wants every part but the last of one size), as few as the limits allow, in whole
 * MiB: a blob just over the multipart threshold takes 5 MiB parts, a 50 GiB one ~57 MiB parts.
 */
export function partPlan(size: number): { partSize: number; parts: number } {
  const wanted = Math.max(MIN_PART_SIZE, Math.ceil(size / MAX_PARTS / MIB) * MIB);
  if (wanted > MAX_PART_SIZE)
    throw new Error(`a blob of ${size} bytes is larger than a multipart upload takes`);
  return { partSize: wanted, parts: Math.max(1, Math.ceil(size / wanted)) };
}

/**
 * R2 implementation. Up to the multipart threshold, one put that R2 itself checks against the hash
 * and the length. Above it, a multipart upload hashed on the way with `crypto.DigestStream`, completed
 * only when the hash matches and aborted otherwise, so R2 never shows a wrong object under a digest.
 */
export class R2BlobStore implements BlobStore {
  constructor(
    private readonly bucket: R2Bucket,
    private readonly multipartThreshold: number,
    /** Told of reads that failed: they answer as misses, so the upstream serves the pull instead. */
    private readonly failed: StorageFailure = () => {},
  ) {}

  async head(digest: Digest): Promise<BlobInfo | null> {
    try {
      const object = await this.bucket.head(blobKey(digest));
      return object ? { size: object.size, restricted: isRestricted(object) } : null;
    } catch (error) {
      this.failed("head", error);
      return null;
    }
  }

  async get(digest: Digest, range?: { offset: number; length: number }): Promise<StoredBlob | null> {
    try {
      const object = await this.bucket.get(blobKey(digest), range ? { range } : undefined);
      if (!object) return null;
      return { size: object.size, restricted: isRestricted(object), body: object.body };
    } catch (error) {
      this.failed("get", error);
      return null;
    }
  }

  async put(
    digest: Digest,
    body: ReadableStream<Uint8Array>,
    size: number,
    options: PutOptions,
  ): Promise<boolean> {
    const customMetadata = { digest: digest.value, ...(options.restricted ? { restricted: "1" } : {}) };
    if (size > this.multipartThreshold) {
      return this.putMultipart(digest, body, size, customMetadata, options);
    }
    const sized = withLength(body, size);
    try {
      await this.bucket.put(blobKey(digest), sized, {
        [digest.algorithm]: digest.hex,
        httpMetadata: { contentType: "application/octet-stream" },
        customMetadata,
      });
      return true;
    } catch {
      // Wrong bytes, a short or long body, or an interrupted upstream: R2 keeps nothing.
      await sized.cancel().catch(() => {});
      return false;
    }
  }

  async beginParts(digest: Digest, options: { restricted: boolean }): Promise<string> {
    const upload = await this.bucket.createMultipartUpload(blobKey(digest), {
      httpMetadata: { contentType: "application/octet-stream" },
      customMetadata: { digest: digest.value, ...(options.restricted ? { restricted: "1" } : {}) },
    });
    return upload.uploadId;
  }

  async putPart(
    digest: Digest,
    uploadId: string,
    partNumber: number,
    body: ReadableStream<Uint8Array>,
    length: number,
  ): Promise<{ partNumber: number; etag: string }> {
    const upload = this.bucket.resumeMultipartUpload(blobKey(digest), uploadId);
    const sized = withLength(body, length);
    try {
      const part = await upload.uploadPart(partNumber, sized);
      return { partNumber: part.partNumber, etag: part.etag };
    } catch (error) {
      await sized.cancel().catch(() => {});
      throw error;
    }
  }

  async completeParts(
    digest: Digest,
    uploadId: string,
    parts: ReadonlyArray<{ partNumber: number; etag: string }>,
  ): Promise<void> {
    await this.bucket.resumeMultipartUpload(blobKey(digest), uploadId).complete([...parts]);
  }

  async abortParts(digest: Digest, uploadId: string): Promise<void> {
    await this.bucket.resumeMultipartUpload(blobKey(digest), uploadId).abort();
  }

  private async putMultipart(
    digest: Digest,
    body: ReadableStream<Uint8Array>,
    size: number,
    customMetadata: Record<string, string>,
    { verdict, multipart }: PutOptions,
  ): Promise<boolean> {
    let upload: R2MultipartUpload;
    let partSize: number;
    try {
      partSize = partPlan(size).partSize;
      upload = await this.bucket.createMultipartUpload(blobKey(digest), {
        httpMetadata: { contentType: "application/octet-stream" },
        customMetadata,
      });
    } catch {
      // Too large, or R2 refused (a 429, an outage): nothing was stored, and the caller goes on.
      await body.cancel().catch(() => {});
      return false;
    }
    multipart?.begun(upload.uploadId, upload.key);
    // Hashed here unless the caller hashes the same bytes on their way in.
    const verifier = verdict ? null : new DigestVerifier(digest);
    const source = new PartReader(body.getReader(), verifier);
    try {
      const parts: R2UploadedPart[] = [];
      for (let offset = 0, number = 1; offset < size; offset += partSize, number++) {
        const length = Math.min(partSize, size - offset);
        parts.push(await upload.uploadPart(number, withLength(source.next(length), length)));
      }
      if (!(await source.atEnd())) throw new Error("upstream body is longer than its Content-Length");
      if (!(await (verifier ? verifier.matches() : verdict))) throw new Error("digest mismatch");
      await upload.complete(parts);
      multipart?.ended(upload.uploadId, false);
      return true;
    } catch {
      const aborted = await upload.abort().then(
        () => true,
        () => false,
      );
      multipart?.ended(upload.uploadId, !aborted);
      await source.cancel();
      return false;
    }
  }
}

/**
 * Cuts one stream into consecutive streams of given lengths (the parts), hashing every byte as it
 * passes (unless the caller does). A chunk that straddles two parts is split; nothing more than that chunk is held.
 */
class PartReader {
  private leftover: Uint8Array | null = null;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly hash: DigestVerifier | null,
  ) {}

  next(length: number): ReadableStream<Uint8Array> {
    let remaining = length;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          if (remaining === 0) {
            controller.close();
            return;
          }
          let chunk = this.leftover;
          this.leftover = null;
          if (!chunk) {
            const { done, value } = await this.reader.read();
            if (done) {
              controller.error(new Error("upstream body ended early"));
              return;
            }
            chunk = value;
          }
          if (chunk.byteLength > remaining) {
            this.leftover = chunk.subarray(remaining);
            chunk = chunk.subarray(0, remaining);
          }
          remaining -= chunk.byteLength;
          await this.hash?.update(chunk);
          controller.enqueue(chunk);
          if (remaining === 0) controller.close();
        },
      },
      { highWaterMark: 0 },
    );
  }

  async atEnd(): Promise<boolean> {
    if (this.leftover?.byteLength) return false;
    const { done } = await this.reader.read();
    return done;
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

function isRestricted(object: R2Object): boolean {
  return object.customMetadata?.restricted === "1";
}

export function blobKey(digest: Digest): string {
  return `blobs/${digest.algorithm}/${digest.hex}`;
}
