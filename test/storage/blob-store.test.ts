import { describe, expect, it, vi } from "vitest";
import { DigestVerifier, parseDigest } from "../../src/oci/digest";
import { partPlan, R2BlobStore } from "../../src/storage/blob-store";
import { pseudoRandomBytes, sha256 } from "../support/fake-registry";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** An R2 bucket that keeps nothing but counts every call, reading each body it is given to its end. */
class CountingBucket {
  readonly calls: string[] = [];
  readonly partSizes: number[] = [];
  failOn: string | null = null;

  private call(name: string): void {
    this.calls.push(name);
    if (this.failOn === name) throw new Error(`${name}: 429 Too Many Requests`);
  }

  async put(_key: string, body: ReadableStream<Uint8Array>): Promise<R2Object> {
    this.call("put");
    await drain(body);
    return {} as R2Object;
  }

  async createMultipartUpload(): Promise<R2MultipartUpload> {
    this.call("createMultipartUpload");
    const bucket = this;
    return {
      key: "k",
      uploadId: "u",
      async uploadPart(partNumber: number, body: ReadableStream<Uint8Array>) {
        bucket.call("uploadPart");
        bucket.partSizes.push(await drain(body));
        return { partNumber, etag: String(partNumber) };
      },
      async abort() {
        bucket.call("abort");
      },
      async complete() {
        bucket.call("complete");
        return {} as R2Object;
      },
    } as R2MultipartUpload;
  }

  count(name: string): number {
    return this.calls.filter((call) => call === name).length;
  }
}

async function drain(body: ReadableStream<Uint8Array>): Promise<number> {
  let length = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return length;
    length += value.byteLength;
  }
}

function streamOf(bytes: Uint8Array, chunk = 256 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(bytes.slice(offset, offset + chunk));
      offset += chunk;
      if (offset >= bytes.length) controller.close();
    },
  });
}

describe("multipart part plan", () => {
  it("keeps every upload within one Durable Object invocation's ~1,000 calls, in equal whole-MiB parts", () => {
    for (const size of [5 * MIB + 1, 5 * GIB + 1, 50 * GIB, 1024 * GIB, 4 * 1024 * GIB]) {
      const { partSize, parts } = partPlan(size);
      // create + parts + complete (or abort)
      expect(parts + 2).toBeLessThan(1000);
      expect(partSize).toBeGreaterThanOrEqual(5 * MIB);
      expect(partSize % MIB).toBe(0);
      expect(partSize * parts).toBeGreaterThanOrEqual(size);
      expect(partSize * (parts - 1)).toBeLessThan(size);
    }
    expect(partPlan(5 * GIB + 1)).toEqual({ partSize: 6 * MIB, parts: 854 });
    expect(partPlan(50 * GIB)).toEqual({ partSize: 57 * MIB, parts: 899 });
  });

  it("refuses a blob larger than 900 parts of R2's largest part", () => {
    expect(() => partPlan(900 * 5 * GIB + 1)).toThrow(/larger than a multipart upload takes/);
  });
});

describe("R2 blob store", () => {
  it("stores a blob just over the multipart threshold in equal parts, with one create and one complete", async () => {
    const bytes = pseudoRandomBytes(5 * MIB + 1, 11);
    const digest = parseDigest(await sha256(bytes));
    const bucket = new CountingBucket();
    const store = new R2BlobStore(bucket as unknown as R2Bucket, 5 * MIB);
    expect(await store.put(digest, streamOf(bytes), bytes.length, { restricted: false })).toBe(true);
    expect(bucket.calls).toEqual(["createMultipartUpload", "uploadPart", "uploadPart", "complete"]);
    expect(bucket.partSizes).toEqual([5 * MIB, 1]);
  });

  it("aborts, and stores nothing, when the bytes do not match the digest", async () => {
    const bytes = pseudoRandomBytes(6 * MIB, 12);
    const digest = parseDigest(await sha256(pseudoRandomBytes(6 * MIB, 13)));
    const bucket = new CountingBucket();
    const store = new R2BlobStore(bucket as unknown as R2Bucket, 5 * MIB);
    expect(await store.put(digest, streamOf(bytes), bytes.length, { restricted: false })).toBe(false);
    expect(bucket.count("complete")).toBe(0);
    expect(bucket.count("abort")).toBe(1);
  });

  it("answers false, never throws, when R2 refuses a put or a multipart upload", async () => {
    const small = pseudoRandomBytes(1000, 14);
    const big = pseudoRandomBytes(5 * MIB + 1, 15);
    for (const [bytes, failing] of [
      [small, "put"],
      [big, "createMultipartUpload"],
      [big, "uploadPart"],
    ] as const) {
      const bucket = new CountingBucket();
      bucket.failOn = failing;
      const store = new R2BlobStore(bucket as unknown as R2Bucket, 5 * MIB);
      const digest = parseDigest(await sha256(bytes));
      await expect(store.put(digest, streamOf(bytes), bytes.length, { restricted: false })).resolves.toBe(
        false,
      );
      expect(bucket.count("complete")).toBe(0);
    }
  });

  it("takes the caller's verdict instead of hashing a multipart upload again: complete on true, abort on false", async () => {
    const bytes = pseudoRandomBytes(6 * MIB, 16);
    const digest = parseDigest(await sha256(bytes));
    const hashed = vi.spyOn(DigestVerifier.prototype, "update");
    for (const verdict of [true, false]) {
      const bucket = new CountingBucket();
      const store = new R2BlobStore(bucket as unknown as R2Bucket, 5 * MIB);
      const put = store.put(digest, streamOf(bytes), bytes.length, {
        restricted: false,
        verdict: Promise.resolve(verdict),
      });
      expect(await put).toBe(verdict);
      expect(bucket.count("complete")).toBe(verdict ? 1 : 0);
      expect(bucket.count("abort")).toBe(verdict ? 0 : 1);
    }
    expect(hashed).not.toHaveBeenCalled();
    hashed.mockRestore();
  });
});
