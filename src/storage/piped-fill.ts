import type { ByteRange } from "../oci/range";
import type { DownloadEnd, Fill } from "./fill";
import { PipedStore } from "./piped-store";

/**
 * The Free plan's fill (PLAN = "free", see PipedStore): the upstream's body piped natively into the
 * store, which checks it; nobody reads this copy, so every client is sent to the upstream until it has
 * landed. The store's answer is the verdict.
 */
export class PipedFill implements Fill {
  readonly way = "piped";
  readonly downloaded: Promise<DownloadEnd>;
  private readonly piped: PipedStore;

  constructor(size: number, restricted: boolean, storing: Promise<boolean>) {
    this.piped = new PipedStore(size, restricted, storing);
    this.downloaded = this.piped.done.then((stored) =>
      stored ? { verified: true } : { verified: false, cause: "fill_failed" },
    );
  }

  /** Whether the store kept the blob, once it has answered. */
  get stored(): Promise<boolean> {
    return this.piped.done;
  }

  get size(): number {
    return this.piped.size;
  }

  get restricted(): boolean {
    return this.piped.restricted;
  }

  /** Landed: the Worker finds it in the store. */
  get gone(): boolean {
    return this.piped.stored;
  }

  read(_range: ByteRange | null): null {
    return null;
  }

  release(): void {
    // Nothing is kept.
  }
}
