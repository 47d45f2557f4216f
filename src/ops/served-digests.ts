/** Blobs remembered as served today per isolate; beyond this the memory starts afresh (a few more writes). */
const MAX_REMEMBERED = 10_000;
/** A batch this large is sent without waiting for the flush interval (it bounds memory and the call). */
export const MAX_PENDING = 2_000;

/** The blobs an isolate served that the stats object has not heard of yet today. */
export interface ServedBatch {
  readonly day: string;
  readonly digests: readonly string[];
}

/**
 * Which blobs this isolate served today, gathered for the stats object (which keeps the day each blob
 * was last served, for retention). A digest is sent once per day per isolate: a warm pull of a blob
 * already marked today changes nothing, and the batch travels with the stats flush.
 */
export class ServedDigests {
  private readonly sent = new Map<string, string>();
  private pending = new Set<string>();
  private day = "";

  constructor(private readonly today: () => string) {}

  /** Says whether the digest is new today (and now waits to be sent). */
  mark(digest: string): boolean {
    const day = this.today();
    if (day !== this.day) {
      // A new day: yesterday's batch (if unsent) is still worth sending as today's.
      this.day = day;
      this.sent.clear();
    }
    if (this.sent.get(digest) === day) return false;
    if (this.sent.size >= MAX_REMEMBERED) this.sent.clear();
    this.sent.set(digest, day);
    this.pending.add(digest);
    return true;
  }

  get size(): number {
    return this.pending.size;
  }

  /** The batch to send, which is then no longer pending; null when there is none. */
  take(): ServedBatch | null {
    if (this.pending.size === 0) return null;
    const batch = { day: this.day, digests: [...this.pending] };
    this.pending = new Set();
    return batch;
  }

  /** A batch that could not be sent waits for the next flush (bounded, like any batch). */
  putBack(batch: ServedBatch): void {
    for (const digest of batch.digests) {
      if (this.pending.size >= MAX_PENDING * 2) return;
      this.pending.add(digest);
    }
  }
}

export function utcDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}
