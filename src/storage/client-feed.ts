import { type Digest, DigestVerifier } from "../oci/digest";
import { releaseHeld, tryHoldEvicting, yieldWhenSqueezed } from "../util/held-bytes";
import { StallWatch } from "../util/stall-watch";
import { until } from "../util/until";

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

/**
 * The client's stream of a store-through download (StoreThrough): the download's chunks, queued up to
 * the window while the client reads them, and once it has fallen behind (or stalled) the rest from its
 * own source. Every byte it passes on is hashed here, and the chunk that completes the blob only once
 * the whole matches the digest.
 */
export class ClientFeed {
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
  private readonly idle: StallWatch;
  /** Withdraws the window from those the budget takes back (set while it holds bytes). */
  private unyield: (() => void) | null = null;
  /** Wakes a download waiting for room in the window (see `room`). */
  private took: (() => void) | null = null;

  constructor(
    private readonly size: number,
    digest: Digest,
    stallMs: number,
    private readonly catchUp: ClientCatchUp,
  ) {
    this.verifier = new DigestVerifier(digest);
    this.idle = new StallWatch(stallMs, () => this.detach());
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
    // Beyond its window, or beyond the isolate's budget (rows kept only to save a read give way to
    // it), the client has fallen behind.
    const windowFull = this.queued + chunk.byteLength > this.catchUp.windowBytes;
    if (windowFull || !tryHoldEvicting(chunk.byteLength)) {
      this.detach();
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.byteLength;
    // A download that needs the room takes it back: the client then continues on its own.
    this.unyield ??= yieldWhenSqueezed(() => this.detach());
    this.idle.start();
    this.signal();
  }

  /**
   * Resolves once the window has room for `bytes` more, or the client is let go, or after
   * CLIENT_WAIT_MS_PER_MIB for them at the latest (then `push` lets the client go).
   */
  async room(bytes: number): Promise<void> {
    const fits = () => this.letGo || this.queued + bytes <= this.catchUp.windowBytes;
    await until(fits, Math.ceil((bytes / MIB) * CLIENT_WAIT_MS_PER_MIB), (look) => {
      this.took = look;
    });
    this.took = null;
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
    this.idle.dispose();
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
        if (this.queue.length > 0) this.idle.moved();
        else this.idle.stop();
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
