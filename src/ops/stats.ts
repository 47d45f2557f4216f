import type { UpstreamEvent } from "../upstream/client";
import type { MirrorStats, StatsBatch } from "./stats-object";

/** Where the totals live; null when the binding is absent (stats off). */
export type StatsNamespace = DurableObjectNamespace<MirrorStats> | undefined;

/** What one client request did, as the stats count it. */
export interface RequestFacts {
  readonly cache?: string;
  readonly status: number;
  readonly bytes: number;
  /** `<prefix>/<name>` for pulls of a manifest by tag (what users think of as "a pull"). */
  readonly pulled?: string;
}

/**
 * Counts in the isolate and sends the counts to the `MirrorStats` object at most every `flushMs`, so a
 * busy mirror does not make one Durable Object call per request. Counts not yet sent when an isolate is
 * evicted are lost: the figures are for operating the mirror, not for billing.
 */
export class StatsRecorder {
  private counters: Record<string, number> = {};
  private repositories: Record<string, number> = {};
  private rateLimits: StatsBatch["rateLimits"] = {};
  private lastFlush = 0;
  private empty = true;

  constructor(
    private readonly namespace: StatsNamespace,
    private readonly flushMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  request(facts: RequestFacts): void {
    this.add("requests");
    if (facts.status >= 400) this.add("errors");
    if (facts.cache) this.add(`cache.${facts.cache}`);
    if (facts.cache === "HIT" || facts.cache === "STALE" || facts.cache === "REVALIDATED")
      this.add("bytes.cache", facts.bytes);
    else if (facts.cache === "MISS") this.add("bytes.upstream", facts.bytes);
    // Only pulls that worked: the repositories table is also the catalog.
    if (facts.pulled && facts.status < 400)
      this.repositories[facts.pulled] = (this.repositories[facts.pulled] ?? 0) + 1;
  }

  /** A repository now in the cache without a client pull (warm-up): listed in the catalog, no pull counted. */
  holds(repository: string): void {
    this.repositories[repository] = this.repositories[repository] ?? 0;
    this.empty = false;
  }

  upstream(prefix: string, event: UpstreamEvent): void {
    this.add(`upstream.${prefix}.${event.kind}`);
    if (event.status === 429) this.add(`upstream.${prefix}.429`);
    if (event.rateLimit)
      this.rateLimits = {
        ...this.rateLimits,
        [prefix]: { ...event.rateLimit, seenAt: new Date(this.now()).toISOString() },
      };
  }

  blobStored(bytes: number): void {
    this.add("storage.blobs");
    this.add("storage.bytes", bytes);
  }

  blobsDeleted(count: number, bytes: number): void {
    this.add("storage.blobs", -count);
    this.add("storage.bytes", -bytes);
  }

  /** Sends what was counted if it is time; resolves when sent (give it to `waitUntil`). */
  async flushIfDue(): Promise<void> {
    if (this.now() - this.lastFlush >= this.flushMs) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.empty || !this.namespace) return;
    const batch: StatsBatch = {
      counters: this.counters,
      repositories: this.repositories,
      rateLimits: this.rateLimits,
    };
    this.counters = {};
    this.repositories = {};
    this.rateLimits = {};
    this.empty = true;
    this.lastFlush = this.now();
    await statsStub(this.namespace)?.record(batch);
  }

  private add(key: string, value = 1): void {
    this.counters[key] = (this.counters[key] ?? 0) + value;
    this.empty = false;
  }
}

export function statsStub(namespace: StatsNamespace): DurableObjectStub<MirrorStats> | null {
  return namespace ? namespace.get(namespace.idFromName("global")) : null;
}

const recorders = new WeakMap<object, StatsRecorder>();

/** One recorder per isolate (per namespace object). */
export function recorderFor(namespace: StatsNamespace, flushMs: number): StatsRecorder {
  const key = namespace ?? recorders;
  let recorder = recorders.get(key);
  if (!recorder) {
    recorder = new StatsRecorder(namespace, flushMs);
    recorders.set(key, recorder);
  }
  return recorder;
}
