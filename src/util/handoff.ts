import { StallWatch } from "./stall-watch";

/**
 * A stream fed one chunk at a time, each only when its reader asks for it: `offer` resolves once the
 * chunk is taken, or once the reader has gone away or taken nothing for `stallMs` (then the stream is
 * dropped with an error and every later offer is ignored).
 */
export class Handoff {
  readonly stream: ReadableStream<Uint8Array>;
  /** The reader went away, or was dropped. */
  gone = false;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  /** Set while the reader waits for a chunk: hands it over. */
  private feed: ((chunk: Uint8Array) => void) | null = null;
  /** Wakes an offer waiting for the reader to ask. */
  private asked: (() => void) | null = null;
  /** Ends an offer's wait once the reader has asked for nothing for `stallMs`. */
  private readonly stall: StallWatch;
  private stalled = false;

  constructor(private readonly stallMs: number) {
    this.stall = new StallWatch(stallMs, () => {
      this.stalled = true;
      this.wake();
    });
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
      this.stall.start();
      while (!this.feed && !this.gone && !this.stalled) {
        await new Promise<void>((resolve) => {
          this.asked = resolve;
        });
        this.asked = null;
      }
      this.stall.stop();
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
    this.stall.dispose();
    this.controller?.close();
  }

  fail(error: Error): void {
    if (this.gone) return;
    this.gone = true;
    this.stall.dispose();
    this.controller?.error(error);
    this.wake();
  }

  private wake(): void {
    this.asked?.();
  }
}
