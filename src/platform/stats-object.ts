import { DurableObject } from "cloudflare:workers";
import type { QuarantineEntry, QuarantineSnapshot } from "../access/quarantine";
import type { Config } from "../config";
import type { WarmImage } from "../config/warm-images";
import type { MirrorEvent, TagResolution } from "../mirror/events";
import type { Log } from "../mirror/types";
import type { ServedPage } from "../ops/retention";
import type { ServedBatch } from "../ops/served-digests";
import { type WarmServices, warmWithin } from "../ops/warm";
import type { AccountQuota } from "../upstream/quota";
import { OpBudget } from "../util/op-budget";
import { deliverDue, type EventTargets, targetList, targetName } from "./event-delivery";
import { log } from "./log";
import { EventOutbox } from "./stats/event-outbox";
import { QuarantineTable } from "./stats/quarantine-table";
import { allExhausted, type QuotaBatch, type QuotaEntry, QuotaTable } from "./stats/quota-table";
import { ServedTable } from "./stats/served-table";
import { SpendersTable, type TopClient } from "./stats/spenders-table";
import { TotalsTable } from "./stats/totals-table";
import { WarmupsTable } from "./stats/warmups-table";

/** Counters gathered in an isolate and added to the totals in one call. */
export interface StatsBatch {
  readonly counters: Readonly<Record<string, number>>;
  /** `<prefix>/<name>` → pulls. */
  readonly repositories: Readonly<Record<string, number>>;
  /** prefix → account → its latest standing (from the `ratelimit-*` headers and 429s). */
  readonly quota?: QuotaBatch;
  /** Client (`user:<name>`, `ip:<address>`, `warm-up`) → counted upstream requests it caused. */
  readonly spenders?: Readonly<Record<string, number>>;
  /** Client → bytes of blob fills it hung up on (which went on and stored them). */
  readonly abandoned?: Readonly<Record<string, number>>;
  /** Blobs served on `day` (UTC, YYYY-MM-DD) that the isolate had not reported yet that day. */
  readonly served?: ServedBatch;
  /** Events for the webhooks and the Queue, in the order they happened. */
  readonly events?: readonly MirrorEvent[];
  /** Tags resolved by a HEAD: the tag of the `image.cached` event of a digest fetched by digest next. */
  readonly resolutions?: readonly TagResolution[];
}

/** Clients over each of their hourly budgets, counting every isolate. */
export interface OverBudget {
  readonly requests: readonly string[];
  readonly bytes: readonly string[];
}

export interface UpstreamStats {
  requests: { token: number; manifest: number; blob: number; other: number };
  tooManyRequests: number;
  /** One entry per account the mirror has a reading or a 429 for. */
  quota: QuotaEntry[];
  /** Every account of the upstream is exhausted now (the mirror answers 429 or serves stale). */
  quotaExhausted: boolean;
}

/** What `/_/stats` shows. */
export interface StatsSnapshot {
  readonly since: string;
  readonly requests: {
    total: number;
    byCache: { HIT: number; MISS: number; STALE: number; REVALIDATED: number };
    errors: number;
  };
  readonly bytes: { fromCache: number; fromUpstream: number };
  readonly upstreams: Record<string, UpstreamStats>;
  readonly storage: { blobs: number; bytes: number };
  readonly topRepositories: Array<{ repository: string; pulls: number }>;
  /**
   * Who caused counted upstream requests (manifest GETs) and stored bytes by hanging up on fills, in
   * the last 24 hours and this hour, most first.
   */
  readonly topClients: TopClient[];
  /** Each client's hourly budget, and how often a budget refused a request (since the stats began). */
  readonly budget: {
    readonly requests: number;
    readonly bytes: number;
    readonly refused: { readonly requests: number; readonly bytes: number };
  };
  /** Warm-ups that stopped to spare the quota reserve, and when they go on. */
  readonly deferredWarmups: Array<{ image: string; resumeAt: string }>;
  /** Events sent to the webhooks and the Queue: deliveries, retries, failures per target, the last events. */
  readonly events: EventStats;
  /** Digests refused to every client: how many, and the latest. */
  readonly quarantine: { readonly count: number; readonly latest: readonly QuarantineEntry[] };
}

/** The quarantined digests `/_/stats` shows (all of them: `GET /_/quarantine`). */
const QUARANTINE_SHOWN = 50;

export interface EventStats {
  /** Events taken in (an image announced once per repository and digest). */
  readonly emitted: number;
  /** Events dropped for lack of room (an isolate's batch, or the deliveries waiting, full). */
  readonly dropped: number;
  readonly delivered: number;
  /** Failed attempts that are tried again. */
  readonly retries: number;
  /** Deliveries given up after every attempt failed. */
  readonly failed: number;
  /** Deliveries waiting (first attempt or a retry). */
  readonly pending: number;
  readonly targets: ReadonlyArray<{
    target: string;
    delivered: number;
    retries: number;
    failed: number;
    pending: number;
    lastStatus: string | null;
    lastAttemptAt: string | null;
  }>;
  /** The last events, newest first. */
  readonly recent: readonly MirrorEvent[];
}

/**
 * Operations (subrequests) one alarm spends on deferred warm-ups, below the ~1,000 of an invocation,
 * with room for the event deliveries before them.
 */
const ALARM_WARM_OPERATIONS = 700;

/**
 * The mirror's totals: one instance (`idFromName("global")`), SQLite-backed, one table module per kind
 * of record (stats/*). Isolates send batches of counters (not one call per request); the repositories
 * doubles as the catalog; the served days are retention's; deferred warm-ups go on in the alarm.
 */
/** What the stats object needs from the composition root (see platform/objects.ts). */
export interface StatsObjectServices {
  /** The services the deferred warm-ups run with. */
  /** `alarm`: built for the object's alarm (the benchmark counts invocations apart by kind). */
  readonly services: (
    invocation?: "alarm",
  ) => WarmServices & { readonly log: Log; readonly stats: { flush(): Promise<void> } };
  /** The configuration; null when it is broken (the stats still show what they hold). */
  readonly config: () => Config | null;
  /** The `EVENTS_QUEUE` binding, if any. */
  readonly eventsQueue: Queue | null;
}

export class MirrorStats extends DurableObject<unknown> {
  private readonly totals: TotalsTable;
  private readonly quota: QuotaTable;
  private readonly spenders: SpendersTable;
  private readonly warmups: WarmupsTable;
  private readonly served: ServedTable;
  private readonly events: EventOutbox;
  private readonly quarantine: QuarantineTable;

  constructor(
    ctx: DurableObjectState,
    env: unknown,
    private readonly deps: StatsObjectServices,
  ) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    this.totals = new TotalsTable(sql);
    this.quota = new QuotaTable(sql);
    this.spenders = new SpendersTable(sql);
    this.warmups = new WarmupsTable(sql);
    this.served = new ServedTable(sql);
    this.events = new EventOutbox(sql);
    this.quarantine = new QuarantineTable(sql);
  }

  /**
   * Adds an isolate's batch. Answers which clients are over their hourly budget (CLIENT_BUDGET_*)
   * counting every isolate's reports, so the isolate refuses them too: this is how a budget holds
   * across isolates, a flush late.
   */
  async record(batch: StatsBatch): Promise<OverBudget> {
    const now = Date.now();
    this.totals.add(batch.counters, batch.repositories, now);
    this.quota.record(batch.quota ?? {}, now);
    this.spenders.record(batch.spenders ?? {}, now, batch.abandoned ?? {});
    if (batch.served) this.served.record(batch.served);
    if (batch.resolutions) this.events.resolved(batch.resolutions, now);
    if (batch.events && batch.events.length > 0) await this.takeEvents(batch.events, now);
    const budget = this.config()?.clientBudget;
    return budget ? this.spenders.over(budget, now) : { requests: [], bytes: [] };
  }

  /** Events in: each wanted delivery is queued and the alarm set for the first one. */
  private async takeEvents(events: readonly MirrorEvent[], now: number): Promise<void> {
    const { accepted, dropped } = this.events.accept(events, targetList(this.eventTargets()), now);
    this.totals.add({ "events.emitted": accepted, "events.dropped": dropped }, {}, now);
    await this.schedule();
  }

  /**
   * Quarantines a digest for every repository and client (or changes its reason), and tells the
   * webhooks; null when the list is full.
   */
  async quarantineDigest(
    digest: string,
    reason: string,
  ): Promise<{ entry: QuarantineEntry; created: boolean } | null> {
    const now = Date.now();
    const added = this.quarantine.add(digest, reason, now);
    if (added) await this.takeEvents([this.stamped({ type: "quarantine.added", digest, reason }, now)], now);
    return added;
  }

  /** Releases a quarantined digest and tells the webhooks; false when it was not quarantined. */
  async releaseDigest(digest: string): Promise<boolean> {
    const now = Date.now();
    const released = this.quarantine.remove(digest);
    if (released)
      await this.takeEvents([this.stamped({ type: "quarantine.released", digest, reason: null }, now)], now);
    return released;
  }

  /** The quarantine list for an isolate, unless the version it holds (`known`) is current (null). */
  quarantined(known: number | null): QuarantineSnapshot | null {
    return this.quarantine.snapshot(known);
  }

  quarantineEntries(): QuarantineEntry[] {
    return this.quarantine.list();
  }

  private stamped(
    event: { type: "quarantine.added" | "quarantine.released"; digest: string; reason: string | null },
    now: number,
  ): MirrorEvent {
    return { ...event, id: crypto.randomUUID(), time: new Date(now).toISOString() };
  }

  private eventTargets(): EventTargets {
    return { webhooks: this.config()?.eventWebhooks ?? [], queue: this.deps.eventsQueue };
  }

  /** What the mirror knows of an upstream's accounts, for isolates about to choose one. */
  quotaState(upstream: string): AccountQuota[] {
    return this.quota.state(upstream);
  }

  /**
   * Warm-ups that stopped to spare the quota reserve go on at `resumeAt` (bounded: a minute to six
   * hours away), in this object's alarm.
   */
  async deferWarmups(targets: readonly WarmImage[], resumeAt: number): Promise<number> {
    const at = this.warmups.defer(targets, resumeAt, Date.now());
    await this.schedule();
    return at;
  }

  /** The alarm goes off for whichever is due first: a deferred warm-up or an event delivery. */
  private async schedule(notBefore = 0): Promise<void> {
    const times = [this.warmups.next(), this.events.next()].filter((at): at is number => at !== null);
    if (times.length === 0) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.max(Math.min(...times), notBefore));
  }

  /**
   * Delivers the events that are due (never in a pull's path: pulls only enqueue them), then goes on
   * with the deferred warm-ups that are due; those that stop again are deferred again.
   */
  override async alarm(): Promise<void> {
    // A broken configuration names no webhooks: the deliveries wait (a minute) rather than being dropped.
    const configured = this.config() !== null;
    if (configured) await deliverDue(this.events, this.eventTargets(), log);
    await this.runWarmups();
    await this.schedule(configured ? 0 : Date.now() + 60_000);
  }

  /** The due warm-ups, within this invocation's share of operations; the rest go on in a later alarm. */
  private async runWarmups(): Promise<void> {
    const due = this.warmups.takeDue(Date.now());
    if (due.length > 0) {
      const services = this.deps.services("alarm");
      await warmWithin(services, due, new OpBudget(ALARM_WARM_OPERATIONS), (targets, resumeAt) =>
        Promise.resolve(this.warmups.defer(targets, resumeAt, Date.now())),
      );
      await services.stats.flush().catch(() => {});
    }
  }

  servedPage(after: string | null, limit: number): ServedPage {
    return this.served.page(after, limit);
  }

  servedDays(digests: readonly string[]): Record<string, string> {
    return this.served.days(digests);
  }

  retentionCursor(): string | null {
    return this.served.retentionCursor();
  }

  setRetentionCursor(after: string | null): void {
    this.served.setRetentionCursor(after);
  }

  forgetServed(digests: readonly string[]): void {
    this.served.forget(digests);
  }

  catalog(n: number, last: string | null): { repositories: string[]; more: boolean } {
    return this.totals.catalog(n, last);
  }

  forget(repository: string): void {
    this.totals.forget(repository);
    const slash = repository.indexOf("/");
    if (slash > 0) this.events.forgetRepository(repository.slice(0, slash), repository.slice(slash + 1));
  }

  snapshot(top = 10): StatsSnapshot {
    const now = Date.now();
    const counters = this.totals.counters();
    const count = (key: string) => counters.get(key) ?? 0;
    const upstreams: Record<string, UpstreamStats> = {};
    const upstreamOf = (prefix: string): UpstreamStats => {
      upstreams[prefix] ??= {
        requests: {
          token: count(`upstream.${prefix}.token`),
          manifest: count(`upstream.${prefix}.manifest`),
          blob: count(`upstream.${prefix}.blob`),
          other: count(`upstream.${prefix}.other`),
        },
        tooManyRequests: count(`upstream.${prefix}.429`),
        quota: [],
        quotaExhausted: false,
      };
      return upstreams[prefix];
    };
    for (const key of counters.keys()) {
      const prefix = /^upstream\.([^.]+)\./.exec(key)?.[1];
      if (prefix) upstreamOf(prefix);
    }
    const config = this.config();
    for (const [prefix, entries] of this.quota.entries(now)) upstreamOf(prefix).quota.push(...entries);
    for (const [prefix, entry] of Object.entries(upstreams)) {
      entry.quotaExhausted = allExhausted(prefix, entry.quota, config);
    }
    return {
      since: new Date(count("since")).toISOString(),
      requests: {
        total: count("requests"),
        byCache: {
          HIT: count("cache.HIT"),
          MISS: count("cache.MISS"),
          STALE: count("cache.STALE"),
          REVALIDATED: count("cache.REVALIDATED"),
        },
        errors: count("errors"),
      },
      bytes: { fromCache: count("bytes.cache"), fromUpstream: count("bytes.upstream") },
      upstreams,
      storage: { blobs: count("storage.blobs"), bytes: count("storage.bytes") },
      topRepositories: this.totals.topRepositories(top),
      topClients: this.spenders.top(top, now),
      budget: {
        requests: config?.clientBudget.requests ?? 0,
        bytes: config?.clientBudget.bytes ?? 0,
        refused: { requests: count("budget.refused.requests"), bytes: count("budget.refused.bytes") },
      },
      deferredWarmups: this.warmups.list(),
      events: this.eventStats(count),
      quarantine: { count: this.quarantine.count(), latest: this.quarantine.list(QUARANTINE_SHOWN) },
    };
  }

  private eventStats(count: (key: string) => number): EventStats {
    const webhooks = this.config()?.eventWebhooks ?? [];
    const targets = this.events
      .targets()
      .map((summary) => ({ ...summary, target: targetName(summary.target, webhooks) }));
    const sum = (field: "delivered" | "retries" | "failed" | "pending") =>
      targets.reduce((total, target) => total + target[field], 0);
    return {
      emitted: count("events.emitted"),
      dropped: count("events.dropped"),
      delivered: sum("delivered"),
      retries: sum("retries"),
      failed: sum("failed"),
      pending: sum("pending"),
      targets,
      recent: this.events.recent(),
    };
  }

  /** A broken configuration fails every request already; the stats still show what they hold. */
  private config(): Config | null {
    return this.deps.config();
  }
}
