import type { Digest } from "../oci/digest";
import type { ByteRange } from "../oci/range";
import type { BlobStore, MultipartWatch } from "./blob-store";
import type { DownloadEnd, Fill, StoreOutcome } from "./fill";
import { StoreThrough } from "./store-through";

/**
 * A blob too large for a spool, stored as it streams to the client that started its download (see
 * StoreThrough): only that client reads it; anyone else, and any range, goes to the upstream. No byte
 * is kept in the object's storage and nothing waits for an alarm; only the id of an open multipart
 * upload is recorded (by the `multipart` watch), for the alarm to abort if this instance dies mid-way.
 */
export class ThroughFill implements Fill {
  readonly way = "through";
  readonly quick = false;
  readonly rowsInStorage = false;
  readonly downloaded: Promise<DownloadEnd>;
  private readonly through: StoreThrough;

  constructor(
    body: ReadableStream<Uint8Array>,
    size: number,
    digest: Digest,
    restricted: boolean,
    stallMs: number,
    store: BlobStore,
    /** How far the client may fall behind, and where it continues then (`landed`: the download's end). */
    catchUp: {
      readonly windowBytes: number;
      readonly resume: (offset: number, landed: Promise<unknown>) => Promise<ReadableStream<Uint8Array>>;
    },
    /** Keeps the id of the store's multipart upload while it is open (see MultipartWatch). */
    multipart?: MultipartWatch,
  ) {
    this.through = new StoreThrough(
      body,
      size,
      digest,
      restricted,
      stallMs,
      (stream, verdict) => store.put(digest, stream, size, { restricted, verdict, multipart }),
      { windowBytes: catchUp.windowBytes, resume: (offset) => catchUp.resume(offset, this.through.done) },
    );
    const done = this.through.done;
    this.downloaded = done.then(({ verified }) =>
      verified ? { verified: true } : { verified: false, cause: "fill_failed" },
    );
  }

  get size(): number {
    return this.through.size;
  }

  get restricted(): boolean {
    return this.through.restricted;
  }

  get gone(): boolean {
    return this.through.finished;
  }

  read(range: ByteRange | null): ReadableStream<Uint8Array> | null {
    return range ? null : this.through.takeClient();
  }

  release(): void {
    // Nothing is kept: the bytes went to the client and the store as they came.
  }

  /** The store had the bytes as they streamed: its answer came with the download's end. */
  async store(): Promise<StoreOutcome> {
    return (await this.through.done).stored ? { kind: "stored" } : { kind: "failed" };
  }
}
