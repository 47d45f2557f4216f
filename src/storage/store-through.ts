import { type Digest, DigestVerifier } from "../oci/digest";
import { releaseHeld, tryHold, yieldWhenSqueezed } from "../util/held-bytes";

/** How a store-through download ended. */
export interface StoreThroughResult {
  /** The upstream's bytes were exactly the blob. */
  readonly verified: boolean;
  /** The store kept them. */
  readonly stored: boolean;
}

/** How the client of a store-through download is kept from holding it up. */
export interface ClientCatchUp {
  /** How many bytes the client may fall behind the download before it continues on its own. */
  readonly windowBytes: number;
  /**
   * The blob from `offset` to its end, for a client that fell behind: from the store once it holds the
   * blob, else from the upstream (a Range request). Null: such a client gets an error instead.
   */
  readonly resume: ((offset: number) => Promise<ReadableStream<Uint8Array>>) | null;
}

const MIB = 1024 * 1024;

/**
 * A client at the end of its window is waited for this long per MiB it is to take, at most, before it
 * is let go: one that reads at least 5 MiB/s (40 Mbit/s) keeps the download's bytes, a slower one
 * continues on its own and no longer sets the store's pace. A fast client that is merely a little
 * slower than the store (under `wrangler dev` they share one thread) must not fetch the blob twice.
 */
const CLIENT_WAIT_MS_PER_MIB = 200;
/** Without a catch-up source, a client this far behind is dropped (it must not hold the download). */
const DEFAULT_CATCH_UP: ClientCatchUp = { windowBytes: 16 * 1024 * 1024, resume: null };

/**
 * A download too large for the fill object's spool (a Durable Object holds at most 10 GB): every chunk
 * goes to the store as it arrives, at the upstream's pace, and to the client that started the download.
 * No one else can read it from the start: later clients are sent to the upstream.
 *
 * The client never holds the store up for long: it may fall behind by `windowBytes` (held for it in
 * memory, and counted in the isolate's fill budget, util/held-bytes.ts), and is waited for there only
 * while it reads at least 5 MiB/s (CLIENT_WAIT_MS_PER_MIB); further behind, or once the budget has no
 * room for its window (or a download needs the room), or taking nothing for `stallMs`, it lets go of
 * the download and continues from its own offset on its own source (`resume`). Whichever way its bytes came, the client hashes them itself
 * and its last chunk reaches it only once the whole blob matches the digest. A client that goes away
 * does not stop the store's copy, and a store that fails (or takes nothing for `stallMs`) is dropped and
 * does not stop the client's.
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

/**
 * The client's stream: the download's chunks, queued up to the window while the client reads them, and
 * once it has fallen behind (or stalled) the rest from its own source. Every byte it passes on is hashed
 * here, and the chunk that completes the blob only once the whole matches the digest.
 */
class ClientFeed {
  readonly stream: ReadableStream<Uint8Array>;
  /** The client went away, or failed. */
  gone = false;
  /** Chunks of the download the client has not taken yet, and their bytes. */
  private queue: Uint8Array[] = [];
  private queued = 0;
  /** Bytes passed on to the client. */
  private delivered = 0;
  /** The download has ended verified: the queue is all that is left of it. */
  private complete = false;
  /** The client no longer reads the download but its own source (see `catchUp.resume`). */
  private detached = false;
  private own: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private failure: Error | null = null;
  private readonly verifier: DigestVerifier;
  /** Wakes a read waiting for the next chunk of the download. */
  private wake: (() => void) | null = null;
  /** Lets go of a client that takes nothing for `stallMs` while chunks wait for it. */
  private idle: ReturnType<typeof setTimeout> | undefined;
  /** Withdraws the window from those the budget takes back (set while it holds bytes). */
  private unyield: (() => void) | null = null;
  /** Wakes a download waiting for room in the window (see `room`). */
  private took: (() => void) | null = null;

  constructor(
    private readonly size: number,
    digest: Digest,
    private readonly stallMs: number,
    private readonly catchUp: ClientCatchUp,
  ) {
    this.verifier = new DigestVerifier(digest);
    this.stream = new ReadableStream<Uint8Array>(
      {
        pull: (controller) => this.pull(controller),
        cancel: (reason) => {
          this.gone = true;
          this.release();
          return this.own?.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** The download no longer needs to read on for this client. */
  get letGo(): boolean {
    return this.gone || this.detached;
  }

  push(chunk: Uint8Array): void {
    if (this.letGo) return;
    // Beyond its window, or beyond the isolate's budget, the client has fallen behind.
    if (this.queued + chunk.byteLength > this.catchUp.windowBytes || !tryHold(chunk.byteLength)) {
      this.detach();
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.byteLength;
    // A download that needs the room takes it back: the client then continues on its own.
    this.unyield ??= yieldWhenSqueezed(() => this.detach());
    if (this.idle === undefined) this.idle = setTimeout(() => this.detach(), this.stallMs);
    this.signal();
  }

  /**
   * Resolves once the window has room for `bytes` more, or the client is let go, or after
   * CLIENT_WAIT_MS_PER_MIB for them at the latest (then `push` lets the client go).
   */
  async room(bytes: number): Promise<void> {
    const fits = () => this.letGo || this.queued + bytes <= this.catchUp.windowBytes;
    if (fits()) return;
    const deadline = Date.now() + Math.ceil((bytes / MIB) * CLIENT_WAIT_MS_PER_MIB);
    while (!fits() && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.took = resolve;
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      });
      clearTimeout(timer);
      this.took = null;
    }
  }

  end(): void {
    this.complete = true;
    this.signal();
  }

  fail(error: Error): void {
    if (this.detached) return; // It reads its own source, which the download's trouble does not reach.
    this.failure = error;
    this.release();
    this.signal();
  }

  private detach(): void {
    if (this.letGo) return;
    this.detached = true;
    this.release();
    this.signal();
  }

  private release(): void {
    this.took?.();
    releaseHeld(this.queued);
    this.queue = [];
    this.queued = 0;
    this.unyield?.();
    this.unyield = null;
    clearTimeout(this.idle);
    this.idle = undefined;
  }

  private signal(): void {
    this.wake?.();
    this.wake = null;
  }

  private async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    try {
      const chunk = await this.next();
      if (!chunk) throw new Error("the blob ended before its size");
      const total = this.delivered + chunk.byteLength;
      if (total > this.size) throw new Error("the blob is longer than its size");
      await this.verifier.update(chunk);
      this.delivered = total;
      if (total < this.size) {
        controller.enqueue(chunk);
        return;
      }
      if (!(await this.verifier.matches())) throw new Error("upstream bytes do not match the digest");
      controller.enqueue(chunk);
      controller.close();
      await this.own?.cancel().catch(() => {});
    } catch (error) {
      this.gone = true;
      this.release();
      await this.own?.cancel().catch(() => {});
      controller.error(error);
    }
  }

  /** The next chunk for the client, from the download's queue or (detached) from its own source. */
  private async next(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.detached) return this.fromOwnSource();
      const chunk = this.queue.shift();
      if (chunk) {
        this.queued -= chunk.byteLength;
        releaseHeld(chunk.byteLength);
        if (this.queued === 0) {
          this.unyield?.();
          this.unyield = null;
        }
        clearTimeout(this.idle);
        this.idle = this.queue.length > 0 ? setTimeout(() => this.detach(), this.stallMs) : undefined;
        this.took?.();
        return chunk;
      }
      if (this.complete) return null;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private async fromOwnSource(): Promise<Uint8Array | null> {
    if (!this.own) {
      const resume = this.catchUp.resume;
      if (!resume) throw new Error("the client fell behind the download");
      this.own = (await resume(this.delivered)).getReader();
    }
    const { done, value } = await this.own.read();
    return done ? null : value;
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
