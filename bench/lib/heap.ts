// The Worker isolate's JS heap, sampled through the inspector with Runtime.getHeapUsage every ~50 ms
// (an answer waits while the isolate is busy, so under load the samples come less often).
import { sleep } from "../../test/e2e/harness/net.ts";
import type { Inspector } from "./inspector.ts";

interface HeapUsage {
  usedSize: number;
  totalSize: number;
  /** Newer V8: memory the embedder (workerd) holds for the heap's objects, and ArrayBuffer backing stores. */
  embedderHeapUsedSize?: number;
  backingStorageSize?: number;
}

export interface HeapWindow {
  samples: number;
  /** usedSize just before the window and its peak within it, bytes. */
  usedBaselineBytes: number;
  usedPeakBytes: number;
  usedEndBytes: number;
  /** Peaks of the newer fields, when V8 reports them. */
  embedderPeakBytes?: number;
  backingStoragePeakBytes?: number;
  /** Peak of usedSize + backingStorageSize (+ embedderHeapUsedSize) over single samples. */
  totalPeakBytes: number;
}

export class HeapSampler {
  private readonly inspector: Inspector;
  private readonly intervalMs: number;
  private running = true;
  private readonly loop: Promise<void>;
  private baseline: HeapUsage | undefined;
  private last: HeapUsage | undefined;
  private samples = 0;
  private usedPeak = 0;
  private embedderPeak: number | undefined;
  private backingPeak: number | undefined;
  private totalPeak = 0;
  private error: Error | undefined;

  constructor(inspector: Inspector, intervalMs = 50) {
    this.inspector = inspector;
    this.intervalMs = intervalMs;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const t = performance.now();
      try {
        this.record((await this.inspector.call("Runtime.getHeapUsage")) as HeapUsage);
      } catch (err) {
        this.error = err instanceof Error ? err : new Error(String(err));
        return;
      }
      const wait = this.intervalMs - (performance.now() - t);
      if (wait > 0) await sleep(wait);
    }
  }

  private record(u: HeapUsage): void {
    this.baseline ??= u;
    this.last = u;
    this.samples++;
    this.usedPeak = Math.max(this.usedPeak, u.usedSize);
    if (u.embedderHeapUsedSize !== undefined)
      this.embedderPeak = Math.max(this.embedderPeak ?? 0, u.embedderHeapUsedSize);
    if (u.backingStorageSize !== undefined)
      this.backingPeak = Math.max(this.backingPeak ?? 0, u.backingStorageSize);
    const total = u.usedSize + (u.backingStorageSize ?? 0) + (u.embedderHeapUsedSize ?? 0);
    this.totalPeak = Math.max(this.totalPeak, total);
  }

  /** The window so far; sampling goes on. */
  window(): HeapWindow {
    return {
      samples: this.samples,
      usedBaselineBytes: this.baseline?.usedSize ?? 0,
      usedPeakBytes: this.usedPeak,
      usedEndBytes: this.last?.usedSize ?? 0,
      embedderPeakBytes: this.embedderPeak,
      backingStoragePeakBytes: this.backingPeak,
      totalPeakBytes: this.totalPeak,
    };
  }

  async stop(): Promise<HeapWindow> {
    this.running = false;
    await this.loop;
    if (!this.error) {
      try {
        this.record((await this.inspector.call("Runtime.getHeapUsage")) as HeapUsage);
      } catch (err) {
        this.error = err instanceof Error ? err : new Error(String(err));
      }
    }
    if (this.samples === 0 && this.error) throw this.error;
    return this.window();
  }
}
