import type { Digest } from "../oci/digest";
import type { ByteRange } from "../oci/range";
import { releaseHeld, tryHold } from "../util/held-bytes";
import type { BlobStore } from "./blob-store";
import type { DownloadEnd, Fill, StoreOutcome, StoreSteps } from "./fill";
import { Spool } from "./spool";
import { spoolVerified } from "./spool-copy";

/** Blobs up to this size (configs, small layers) may be spooled in memory. */
export const MEMORY_FILL_MAX_BYTES = 1024 * 1024;
/** What memory spools may hold at once in this isolate, within the fills' budget (util/held-bytes). */
const MEMORY_FILLS_MAX_BYTES = 32 * 1024 * 1024;
/** Bytes the memory spools of this isolate hold now. */
let memorySpooled = 0;

/**
 * A small blob spooled in the fill object's memory: no row is written for it and no alarm set, so its
 * responses never wait on the object's storage. Its whole size is held in the isolate's budget from
 * the start until its last reader is done. The download's own invocation uploads it; nothing is left to
 * resume after a restart: a blob it failed to store is fetched again by the next pull.
 */
export class MemoryFill implements Fill {
  readonly way = "memory";
  readonly quick = true;
  readonly rowsInStorage = false;
  readonly downloaded: Promise<DownloadEnd>;
  /** The put that streams the blob to the store as it arrives (see `start`); true once stored. */
  private streamed: Promise<boolean> = Promise.resolve(false);

  private constructor(
    private readonly spool: Spool,
    body: ReadableStream<Uint8Array>,
    digest: Digest,
    readerWaitMs: number,
  ) {
    // Held until the store has answered: requests meanwhile join it instead of fetching again.
    this.downloaded = spoolVerified(body, spool, digest, readerWaitMs, true);
  }

  /**
   * A memory spool for the download, or null when the isolate has no room for one this size. The blob
   * streams to `store` as it arrives: the store checks length and digest itself (one put,
   * far below the multipart threshold), and the spool's last chunk waits for the verdict all the same.
   */
  static start(
    body: ReadableStream<Uint8Array>,
    digest: Digest,
    size: number,
    restricted: boolean,
    readerWaitMs: number,
    store: BlobStore,
  ): MemoryFill | null {
    if (size > MEMORY_FILL_MAX_BYTES || memorySpooled + size > MEMORY_FILLS_MAX_BYTES) return null;
    if (!tryHold(size)) return null;
    memorySpooled += size;
    const spool = Spool.inMemory(size, restricted, () => {
      memorySpooled -= size;
      releaseHeld(size);
    });
    const fill = new MemoryFill(spool, body, digest, readerWaitMs);
    fill.streamed = fill.put(store, digest);
    return fill;
  }

  get size(): number {
    return this.spool.size;
  }

  get restricted(): boolean {
    return this.spool.restricted;
  }

  get gone(): boolean {
    return this.spool.disposed;
  }

  read(range: ByteRange | null): ReadableStream<Uint8Array> {
    return this.spool.reader(range ? { range } : {});
  }

  release(): void {
    this.spool.release();
  }

  /** The put that streamed with the download, which its last chunk waited for, tells. */
  async store(steps: StoreSteps): Promise<StoreOutcome> {
    steps.verified({ size: this.size, way: this.way });
    steps.uploading({ way: this.way });
    return (await this.streamed) ? { kind: "stored" } : { kind: "failed" };
  }

  /**
   * A store that throws is a store that refused, and one that gave up without reading to the end must
   * not keep its reader.
   */
  private async put(store: BlobStore, digest: Digest): Promise<boolean> {
    const reader = this.spool.reader({ background: true });
    const stored = await store
      .put(digest, reader, this.size, { restricted: this.restricted })
      .catch(() => false);
    await reader.cancel().catch(() => {});
    return stored;
  }
}
