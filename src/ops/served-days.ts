import type { MirrorStats, ServedPage } from "./stats-object";

/** The day each blob was last served, as retention reads it, and where retention's last run stopped. */
export interface ServedDays {
  /** Every blob with a recorded day, page by page (`cursor` from the previous page). */
  list(cursor?: string): Promise<ServedPage>;
  /** The recorded day (YYYY-MM-DD) of each of these digests that has one: exact, however many rows exist. */
  daysOf(digests: readonly string[]): Promise<Record<string, string>>;
  forget(digests: readonly string[]): Promise<void>;
  /** The store key the next run of retention starts after; null: from the first blob. */
  resumeAfter(): Promise<string | null>;
  setResumeAfter(key: string | null): Promise<void>;
}

/** Rows per page: well under a Durable Object call's size limit (a digest is about 71 bytes). */
const PAGE_SIZE = 1000;

/** Served days kept by the stats object (isolates send them with their stats batches). */
export class StatsServedDays implements ServedDays {
  constructor(private readonly stub: DurableObjectStub<MirrorStats>) {}

  async list(cursor?: string): Promise<ServedPage> {
    return this.stub.servedPage(cursor ?? null, PAGE_SIZE);
  }

  async daysOf(digests: readonly string[]): Promise<Record<string, string>> {
    return this.stub.servedDays([...digests]);
  }

  async forget(digests: readonly string[]): Promise<void> {
    await this.stub.forgetServed([...digests]);
  }

  async resumeAfter(): Promise<string | null> {
    return this.stub.retentionCursor();
  }

  async setResumeAfter(key: string | null): Promise<void> {
    await this.stub.setRetentionCursor(key);
  }
}
