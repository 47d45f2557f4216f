import type { ServedDays, ServedPage } from "../ops/retention";
import type { MirrorStats } from "./stats-object";

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
