import type { ByteRange } from "../oci/range";
import type { DownloadEnd, Fill, StoreOutcome } from "./fill";
import { PipedStore } from "./piped-store";

/**
 * The Free plan's fill (PLAN = "free", see PipedStore): the upstream's body piped natively into the
 * store, which checks it; nobody reads this copy, so every client is sent to the upstream until it has
 * landed. The store's answer is the verdict.
 */
export class PipedFill implements Fill {
  readonly way = "piped";
  readonly quick = false;
  readonly rowsInStorage = false;
  readonly downloaded: Promise<DownloadEnd>;
  private readonly piped: PipedStore;

  constructor(size: number, restricted: boolean, storing: Promise<boolean>) {
    this.piped = new PipedStore(size, restricted, storing);
    this.downloaded = this.piped.done.then((stored) =>
      stored ? { verified: true } : { verified: false, cause: "fill_failed" },
    );
  }

  /** The store checked the bytes as they were piped in: its answer was the verdict, and is the outcome. */
  async store(): Promise<StoreOutcome> {
    return (await this.piped.done) ? { kind: "stored" } : { kind: "failed" };
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
