import type { MirrorStats, ServedPage } from "./stats-object";

/** The day each blob was last served, as retention reads it. */
export interface ServedDays {
  /** Every blob with a recorded day, page by page (`cursor` from the previous page). */
  list(cursor?: string): Promise<ServedPage>;
  forget(digests: readonly string[]): Promise<void>;
}

/** Rows per page: well under a Durable Object call's size limit (a digest is about 71 bytes). */
const PAGE_SIZE = 1000;

/** Served days kept by the stats object (isolates send them with their stats batches). */
export class StatsServedDays implements ServedDays {
  constructor(private readonly stub: DurableObjectStub<MirrorStats>) {}

  async list(cursor?: string): Promise<ServedPage> {
    return this.stub.servedPage(cursor ?? null, PAGE_SIZE);
  }

  async forget(digests: readonly string[]): Promise<void> {
    await this.stub.forgetServed([...digests]);
  }
}
