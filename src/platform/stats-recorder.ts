import type { BudgetKind } from "../access/spending";
import type { MirrorEvent, TagResolution } from "../mirror/events";
import { MAX_PENDING, ServedDigests, utcDay } from "../ops/served-digests";
import type { AccountQuota } from "../upstream/quota";
import type { UpstreamEvent } from "../upstream/transport";
import type { MirrorStats, StatsBatch } from "./stats-object";

/** Clients whose counted upstream requests one isolate keeps before a flush; the rest count as one. */
const MAX_PENDING_SPENDERS = 1000;
/** Events one isolate keeps before a flush; past it they are dropped and counted (`events.dropped`). */
export const MAX_PENDING_EVENTS = 100;
/** Where counted requests of clients past that bound go. */
export const OTHER_CLIENTS = "other";

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
 * evicted are lost: the figures are for operating the mirror, not for billing. The blobs served travel
 * in the same batches (for retention), each digest at most once a day per isolate.
 */
export class StatsRecorder {
  private counters: Record<string, number> = {};
  private repositories: Record<string, number> = {};
  private quota: Record<string, Record<string, AccountQuota>> = {};
  private spenders: Record<string, number> = {};
  private abandonedBytes: Record<string, number> = {};
  /** Told, after each flush, which clients the stats object counts over their budget. */
  private overBudget: (kind: BudgetKind, clients: readonly string[]) => void = () => {};
  private events: MirrorEvent[] = [];
  private resolutions: TagResolution[] = [];
  /** An account was exhausted: other isolates should know at the next chance, not after `flushMs`. */
  private urgent = false;
  private readonly servedDigests: ServedDigests;
  private lastFlush = 0;
  private empty = true;

  constructor(
    private readonly namespace: StatsNamespace,
    private flushMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.servedDigests = new ServedDigests(() => utcDay(this.now()));
  }

  /** The interval comes from the configuration, which may differ between calls (tests set it per request). */
  flushEvery(flushMs: number): void {
    this.flushMs = flushMs;
  }

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
    if (event.change) {
      this.quota[prefix] = { ...this.quota[prefix], [event.change.state.account]: event.change.state };
      if (event.change.becameExhausted) this.urgent = true;
    }
  }

  /**
   * `client` (`user:<name>`, `ip:<address>` or `warm-up`) caused `count` counted upstream requests
   * (manifest GETs, what Docker Hub's quota counts).
   */
  spent(client: string, count: number): void {
    if (count <= 0) return;
    const key =
      client in this.spenders || Object.keys(this.spenders).length < MAX_PENDING_SPENDERS
        ? client
        : OTHER_CLIENTS;
    this.spenders[key] = (this.spenders[key] ?? 0) + count;
    this.empty = false;
  }

  /**
   * An event for the webhooks: sent with the next flush, which it hastens (at the next chance, not after
   * `flushMs`), so the pull that caused it only enqueued it.
   */
  event(event: MirrorEvent): void {
    if (this.events.length >= MAX_PENDING_EVENTS) {
      this.add("events.dropped");
      return;
    }
    this.events.push(event);
    this.urgent = true;
    this.empty = false;
  }

  /** `client` hung up on a blob fill of `bytes`, which goes on and stores them. */
  abandoned(client: string, bytes: number): void {
    if (bytes <= 0) return;
    const key =
      client in this.abandonedBytes || Object.keys(this.abandonedBytes).length < MAX_PENDING_SPENDERS
        ? client
        : OTHER_CLIENTS;
    this.abandonedBytes[key] = (this.abandonedBytes[key] ?? 0) + bytes;
    this.empty = false;
  }

  /** A client's budget refused a request. */
  budgetRefused(kind: BudgetKind): void {
    this.add(`budget.refused.${kind}`);
  }

  /**
   * Where the stats object's answer to a flush goes: the clients over their budget in all isolates.
   * Set per request (the budget comes with the configuration); the recorder lives per isolate.
   */
  reportOverBudget(sink: (kind: BudgetKind, clients: readonly string[]) => void): void {
    this.overBudget = sink;
  }

  /** A tag resolved to a digest by a HEAD: sent at the next chance, ahead of the digest's own event. */
  resolved(resolution: TagResolution): void {
    if (this.resolutions.length >= MAX_PENDING_EVENTS) return;
    this.resolutions.push(resolution);
    this.urgent = true;
    this.empty = false;
  }

  /** A blob body was served: its day is sent with a later flush, unless it was already sent today. */
  served(digest: string): void {
    if (this.servedDigests.mark(digest)) this.empty = false;
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
    if (this.urgent || this.now() - this.lastFlush >= this.flushMs || this.servedDigests.size >= MAX_PENDING)
      await this.flush();
  }

  /** Rejects when the stats object cannot be reached; the blobs served are then sent with the next flush. */
  async flush(): Promise<void> {
    if (this.empty || !this.namespace) return;
    const served = this.servedDigests.take();
    const events = this.events;
    const resolutions = this.resolutions;
    const batch: StatsBatch = {
      counters: this.counters,
      repositories: this.repositories,
      quota: this.quota,
      spenders: this.spenders,
      abandoned: this.abandonedBytes,
      ...(served ? { served } : {}),
      ...(events.length > 0 ? { events } : {}),
      ...(resolutions.length > 0 ? { resolutions } : {}),
    };
    this.events = [];
    this.resolutions = [];
    this.counters = {};
    this.repositories = {};
    this.quota = {};
    this.spenders = {};
    this.abandonedBytes = {};
    this.urgent = false;
    this.empty = true;
    this.lastFlush = this.now();
    try {
      const over = await statsStub(this.namespace)?.record(batch);
      if (over) {
        this.overBudget("requests", over.requests);
        this.overBudget("bytes", over.bytes);
      }
    } catch (error) {
      // Retention needs the days and scanners the events; the counters are only figures and are let go.
      if (served) {
        this.servedDigests.putBack(served);
        this.empty = false;
      }
      if (events.length > 0) {
        this.events = [...events, ...this.events].slice(0, MAX_PENDING_EVENTS);
        this.empty = false;
      }
      throw error;
    }
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
  recorder.flushEvery(flushMs);
  return recorder;
}
