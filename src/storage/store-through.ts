import { type Digest, DigestVerifier } from "../oci/digest";

/** How a store-through download ended. */
export interface StoreThroughResult {
  /** The upstream's bytes were exactly the blob. */
  readonly verified: boolean;
  /** The store kept them. */
  readonly stored: boolean;
}

/**
 * A download too large for the fill object's spool (a Durable Object holds at most 10 GB): every chunk
 * goes to the store as it arrives and to the client that started the download, in step, so memory stays
 * at a chunk or two however large the blob. No one else can read it from the start: later clients are
 * sent to the upstream.
 *
 * As with a spool, the chunk that completes the blob reaches the client only once the whole body is
 * verified (every other chunk at once). A client that goes
 * away does not stop the store's copy, and a store that fails does not stop the client's; either one
 * that takes no chunk for `stallMs` is dropped, so neither can hold the other up for good.
 */
export class StoreThrough {
  private readonly toClient: Handoff;
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
  ) {
    const toClient = new Handoff(stallMs);
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

  /** The bytes, for the one client that takes them first; null for anyone later (or once dropped). */
  takeClient(): ReadableStream<Uint8Array> | null {
    if (this.taken || this.toClient.gone) return null;
    this.taken = true;
    return this.toClient.stream;
  }
}

async function copy(
  source: ReadableStream<Uint8Array>,
  size: number,
  digest: Digest,
  toClient: Handoff,
  toStore: Handoff,
  stored: Promise<boolean>,
  stallMs: number,
  /** Told as soon as the bytes are known to be the blob or not (the store may be waiting for it). */
  onVerdict: (verified: boolean) => void,
): Promise<StoreThroughResult> {
  const reader = source.getReader();
  const verifier = new DigestVerifier(digest);
  /** The chunk that completes the blob: the client gets it only once the whole body is verified. */
  let last: Uint8Array | null = null;
  let length = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.byteLength;
      if (length > size) throw new Error("upstream body is longer than its Content-Length");
      await verifier.update(value);
      if (length === size) last = value;
      // The store gets a copy of its own: its sink may take the buffer over.
      await Promise.all([
        last ? null : toClient.offer(value),
        toStore.gone ? null : toStore.offer(value.slice()),
      ]);
      if (toClient.gone && toStore.gone) {
        await reader.cancel().catch(() => {});
        return { verified: false, stored: false };
      }
    }
    if (length !== size || !(await verifier.matches())) {
      throw new Error("upstream bytes do not match the digest");
    }
    onVerdict(true);
    toStore.close();
    if (last) await toClient.offer(last);
    toClient.close();
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

/**
 * A stream fed one chunk at a time, each only when its reader asks for it: `offer` resolves once the
 * chunk is taken, or once the reader has gone away or taken nothing for `stallMs` (then the stream is
 * dropped with an error and every later offer is ignored).
 */
class Handoff {
  readonly stream: ReadableStream<Uint8Array>;
  /** The reader went away, or was dropped. */
  gone = false;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  /** Set while the reader waits for a chunk: hands it over. */
  private feed: ((chunk: Uint8Array) => void) | null = null;
  /** Wakes an offer waiting for the reader to ask. */
  private asked: (() => void) | null = null;

  constructor(private readonly stallMs: number) {
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: (controller) =>
          new Promise<void>((resolve) => {
            this.feed = (chunk) => {
              controller.enqueue(chunk);
              resolve();
            };
            this.wake();
          }),
        cancel: () => {
          this.gone = true;
          this.wake();
        },
      },
      { highWaterMark: 0 },
    );
  }

  async offer(chunk: Uint8Array): Promise<void> {
    if (this.gone) return;
    if (!this.feed) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.asked = resolve;
        timer = setTimeout(resolve, this.stallMs);
      });
      clearTimeout(timer);
      this.asked = null;
    }
    if (this.gone) return;
    const feed = this.feed;
    if (!feed) {
      this.fail(new Error(`no chunk taken for ${this.stallMs} ms`));
      return;
    }
    this.feed = null;
    feed(chunk);
  }

  close(): void {
    if (this.gone) return;
    this.gone = true;
    this.controller?.close();
  }

  fail(error: Error): void {
    if (this.gone) return;
    this.gone = true;
    this.controller?.error(error);
    this.wake();
  }

  private wake(): void {
    this.asked?.();
  }
}
