import { type Digest, DigestVerifier } from "../oci/digest";
import { Handoff } from "../util/handoff";
import { type ClientCatchUp, ClientFeed } from "./client-feed";

/** How a store-through download ended. */
export interface StoreThroughResult {
  /** The upstream's bytes were exactly the blob. */
  readonly verified: boolean;
  /** The store kept them. */
  readonly stored: boolean;
}

/** Without a catch-up source, a client this far behind is dropped (it must not hold the download). */
const DEFAULT_CATCH_UP: ClientCatchUp = { windowBytes: 16 * 1024 * 1024, resume: null };

/**
 * A download too large for the fill object's spool (a Durable Object holds at most 10 GB): every chunk
 * goes to the store as it arrives, at the upstream's pace, and to the client that started the download.
 * No one else can read it from the start: later clients are sent to the upstream.
 *
 * The client never holds the store up for long: it may fall behind by `windowBytes` (held for it in
 * memory, and counted in the isolate's fill budget, util/held-bytes.ts), and is waited for there only
 * while it reads at least 5 MiB/s (see ClientFeed); further behind, or once the budget has no room for
 * its window (or a download needs the room), or taking nothing for `stallMs`, it lets go of the
 * download and continues from its own offset on its own source (`resume`). Whichever way its bytes
 * came, the client hashes them itself and its last chunk reaches it only once the whole blob matches
 * the digest. A client that goes away does not stop the store's copy, and a store that fails (or takes
 * nothing for `stallMs`) is dropped and does not stop the client's.
 */
export class StoreThrough {
  private readonly toClient: ClientFeed;
  /** A client has taken the bytes. */
  private taken = false;
  /** The download is over (its outcome is in `done`). */
  finished = false;

  /** The download's outcome, once the source has ended and the store has answered (or stalled). */
  readonly done: Promise<StoreThroughResult>;

  constructor(
    source: ReadableStream<Uint8Array>,
    readonly size: number,
    digest: Digest,
    /** Downloaded with upstream credentials: readers from other repositories need confirmation. */
    readonly restricted: boolean,
    stallMs: number,
    /**
     * Stores the stream under the digest; false (keeping nothing) when it could not. `verdict` is this
     * copy's own hash check of the same bytes (the store need not hash them again).
     */
    store: (body: ReadableStream<Uint8Array>, verdict: Promise<boolean>) => Promise<boolean>,
    catchUp: ClientCatchUp = DEFAULT_CATCH_UP,
  ) {
    const toClient = new ClientFeed(size, digest, stallMs, catchUp);
    const toStore = new Handoff(stallMs);
    this.toClient = toClient;
    let settle: (verified: boolean) => void = () => {};
    const verdict = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    const stored = store(toStore.stream, verdict).catch(() => false);
    this.done = copy(source, size, digest, toClient, toStore, stored, stallMs, settle).finally(() => {
      settle(false); // Had the copy ended without a verdict, the store must not wait for one.
      this.finished = true;
    });
  }

  /** The bytes, for the one client that takes them first; null for anyone later (or once let go). */
  takeClient(): ReadableStream<Uint8Array> | null {
    if (this.taken || this.toClient.letGo) return null;
    this.taken = true;
    return this.toClient.stream;
  }
}

async function copy(
  source: ReadableStream<Uint8Array>,
  size: number,
  digest: Digest,
  toClient: ClientFeed,
  toStore: Handoff,
  stored: Promise<boolean>,
  stallMs: number,
  /** Told as soon as the bytes are known to be the blob or not (the store may be waiting for it). */
  onVerdict: (verified: boolean) => void,
): Promise<StoreThroughResult> {
  const reader = source.getReader();
  const verifier = new DigestVerifier(digest);
  let length = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.byteLength;
      if (length > size) throw new Error("upstream body is longer than its Content-Length");
      await verifier.update(value);
      await toClient.room(value.byteLength);
      toClient.push(value);
      // The store gets a copy of its own: its sink may take the buffer over.
      if (!toStore.gone) await toStore.offer(value.slice());
      if (toClient.letGo && toStore.gone) {
        await reader.cancel().catch(() => {});
        return { verified: false, stored: false };
      }
    }
    if (length !== size || !(await verifier.matches())) {
      throw new Error("upstream bytes do not match the digest");
    }
    onVerdict(true);
    toStore.close();
    toClient.end();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), stallMs);
    });
    const kept = await Promise.race([stored, late]);
    clearTimeout(timer);
    return { verified: true, stored: kept };
  } catch (error) {
    const reason = error instanceof Error ? error : new Error(String(error));
    onVerdict(false);
    toClient.fail(reason);
    toStore.fail(reason);
    await reader.cancel(reason).catch(() => {});
    await stored;
    return { verified: false, stored: false };
  }
}
