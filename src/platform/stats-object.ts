import { DurableObject } from "cloudflare:workers";
import { configFor } from "../config";
import type { WarmImage } from "../config/warm-images";
import type { ServedPage } from "../ops/retention";
import type { ServedBatch } from "../ops/served-digests";
import { warmImage } from "../ops/warm";
import { accountNames } from "../upstream/client";
import type { AccountQuota } from "../upstream/quota";
import type { Env } from "./env";
import { describe, servicesFor } from "./services";

/** Counters gathered in an isolate and added to the totals in one call. */
export interface StatsBatch {
  readonly counters: Readonly<Record<string, number>>;
  /** `<prefix>/<name>` → pulls. */
  readonly repositories: Readonly<Record<string, number>>;
  /** prefix → account → its latest standing (from the `ratelimit-*` headers and 429s). */
  readonly quota?: Readonly<Record<string, Readonly<Record<string, AccountQuota>>>>;
  /** Client (`user:<name>`, `ip:<address>`, `warm-up`) → counted upstream requests it caused. */
  readonly spenders?: Readonly<Record<string, number>>;
  /** Blobs served on `day` (UTC, YYYY-MM-DD) that the isolate had not reported yet that day. */
  readonly served?: ServedBatch;
}

/** One account's quota as `/_/stats` shows it; times are ISO 8601. */
export interface QuotaEntry {
  readonly account: string;
  readonly limit: number | null;
  readonly remaining: number | null;
  /** Seconds. */
  readonly window: number | null;
  readonly seenAt: string | null;
  /** Set while the account is exhausted (a 429, or none left): when it is asked again. */
  readonly exhaustedUntil: string | null;
  /** Remaining quota over the last hours, one point per `HISTORY_BUCKET_MS` at most. */
  readonly history: ReadonlyArray<{ at: string; remaining: number; limit: number }>;
}

/** How long the quota history is kept, and how finely. */
export const HISTORY_MS = 12 * 3600_000;
export const HISTORY_BUCKET_MS = 5 * 60_000;
/** Top clients are counted over this long. */
const SPENDERS_MS = 24 * 3600_000;
const HOUR_MS = 3600_000;
/** Deferred warm-ups come back no sooner than this, and no later than this. */
const MIN_WARM_DELAY_MS = 60_000;
const MAX_WARM_DELAY_MS = 6 * 3600_000;

/** A page of the blobs' last served days, in digest order. */
export interface StatsSnapshot {
  readonly since: string;
  readonly requests: {
    total: number;
    byCache: { HIT: number; MISS: number; STALE: number; REVALIDATED: number };
    errors: number;
  };
  readonly bytes: { fromCache: number; fromUpstream: number };
  readonly upstreams: Record<
    string,
    {
      requests: { token: number; manifest: number; blob: number; other: number };
      tooManyRequests: number;
      /** One entry per account the mirror has a reading or a 429 for. */
      quota: QuotaEntry[];
      /** Every account of the upstream is exhausted now (the mirror answers 429 or serves stale). */
      quotaExhausted: boolean;
    }
  >;
  readonly storage: { blobs: number; bytes: number };
  readonly topRepositories: Array<{ repository: string; pulls: number }>;
  /** Who caused counted upstream requests (manifest GETs) in the last 24 hours, most first. */
  readonly topClients: Array<{ client: string; kind: "user" | "ip" | "mirror"; requests: number }>;
  /** Warm-ups that stopped to spare the quota reserve, and when they go on. */
  readonly deferredWarmups: Array<{ image: string; resumeAt: string }>;
}

/**
 * The mirror's totals: one instance (`idFromName("global")`), SQLite-backed. Isolates send batches of
 * counters (not one call per request); the repositories table doubles as the catalog. The served table
 * keeps the day each blob was last served, for retention: one row per blob, written at most once a day.
 */
export class MirrorStats extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS repositories (repository TEXT PRIMARY KEY, pulls INTEGER NOT NULL, last_pulled INTEGER NOT NULL);
      DROP TABLE IF EXISTS rate_limits;
      CREATE TABLE IF NOT EXISTS quota (upstream TEXT NOT NULL, account TEXT NOT NULL, quota_limit INTEGER, remaining INTEGER, window INTEGER, seen_at INTEGER NOT NULL, exhausted_until INTEGER NOT NULL, PRIMARY KEY (upstream, account));
      CREATE TABLE IF NOT EXISTS quota_history (upstream TEXT NOT NULL, account TEXT NOT NULL, at INTEGER NOT NULL, remaining INTEGER NOT NULL, quota_limit INTEGER NOT NULL, PRIMARY KEY (upstream, account, at));
      CREATE TABLE IF NOT EXISTS spenders (client TEXT NOT NULL, hour INTEGER NOT NULL, requests INTEGER NOT NULL, PRIMARY KEY (client, hour));
      CREATE TABLE IF NOT EXISTS deferred_warmups (image TEXT PRIMARY KEY, target TEXT NOT NULL, resume_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS served (digest TEXT PRIMARY KEY, day TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS retention (id INTEGER PRIMARY KEY CHECK (id = 1), after TEXT NOT NULL);
      INSERT OR IGNORE INTO counters (key, value) VALUES ('since', CAST(strftime('%s','now') AS INTEGER) * 1000);
    `);
  }

  record(batch: StatsBatch): void {
    const sql = this.ctx.storage.sql;
    for (const [key, value] of Object.entries(batch.counters)) {
      sql.exec(
        "INSERT INTO counters (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
        key,
        value,
      );
    }
    const now = Date.now();
    for (const [repository, pulls] of Object.entries(batch.repositories)) {
      sql.exec(
        "INSERT INTO repositories (repository, pulls, last_pulled) VALUES (?, ?, ?) ON CONFLICT(repository) DO UPDATE SET pulls = pulls + excluded.pulls, last_pulled = excluded.last_pulled",
        repository,
        pulls,
        now,
      );
    }
    this.recordQuota(batch.quota ?? {}, now);
    this.recordSpenders(batch.spenders ?? {}, now);
    const served = batch.served;
    for (const digest of served?.digests ?? []) {
      // Isolates report a blob once a day each; the row changes only when the day does.
      sql.exec(
        "INSERT INTO served (digest, day) VALUES (?, ?) ON CONFLICT(digest) DO UPDATE SET day = excluded.day WHERE excluded.day > served.day",
        digest,
        served?.day ?? "",
      );
    }
  }

  /** Readings are taken when newer than the one held; an exhaustion lasts as long as anyone said. */
  private recordQuota(quota: NonNullable<StatsBatch["quota"]>, now: number): void {
    const sql = this.ctx.storage.sql;
    for (const [upstream, accounts] of Object.entries(quota)) {
      for (const [account, state] of Object.entries(accounts)) {
        sql.exec(
          `INSERT INTO quota (upstream, account, quota_limit, remaining, window, seen_at, exhausted_until)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(upstream, account) DO UPDATE SET
             quota_limit = CASE WHEN excluded.seen_at > quota.seen_at THEN excluded.quota_limit ELSE quota.quota_limit END,
             remaining = CASE WHEN excluded.seen_at > quota.seen_at THEN excluded.remaining ELSE quota.remaining END,
             window = CASE WHEN excluded.seen_at > quota.seen_at THEN excluded.window ELSE quota.window END,
             seen_at = MAX(quota.seen_at, excluded.seen_at),
             exhausted_until = MAX(quota.exhausted_until, excluded.exhausted_until)`,
          upstream,
          account,
          state.limit,
          state.remaining,
          state.window,
          state.seenAt,
          state.exhaustedUntil,
        );
        if (state.remaining !== null && state.limit !== null && state.seenAt > 0) {
          // The last reading of each bucket stands for it.
          sql.exec(
            "INSERT OR REPLACE INTO quota_history (upstream, account, at, remaining, quota_limit) VALUES (?, ?, ?, ?, ?)",
            upstream,
            account,
            state.seenAt - (state.seenAt % HISTORY_BUCKET_MS),
            state.remaining,
            state.limit,
          );
        }
      }
    }
    if (Object.keys(quota).length > 0) sql.exec("DELETE FROM quota_history WHERE at < ?", now - HISTORY_MS);
  }

  private recordSpenders(spenders: NonNullable<StatsBatch["spenders"]>, now: number): void {
    const sql = this.ctx.storage.sql;
    const hour = now - (now % HOUR_MS);
    for (const [client, requests] of Object.entries(spenders)) {
      sql.exec(
        "INSERT INTO spenders (client, hour, requests) VALUES (?, ?, ?) ON CONFLICT(client, hour) DO UPDATE SET requests = requests + excluded.requests",
        client.slice(0, 200),
        hour,
        requests,
      );
    }
    if (Object.keys(spenders).length > 0) sql.exec("DELETE FROM spenders WHERE hour <= ?", now - SPENDERS_MS);
  }

  /** What the mirror knows of an upstream's accounts, for isolates about to choose one. */
  quotaState(upstream: string): AccountQuota[] {
    return this.ctx.storage.sql
      .exec<QuotaRow>(
        "SELECT account, quota_limit, remaining, window, seen_at, exhausted_until FROM quota WHERE upstream = ?",
        upstream,
      )
      .toArray()
      .map((row) => ({
        account: row.account,
        limit: row.quota_limit,
        remaining: row.remaining,
        window: row.window,
        seenAt: row.seen_at,
        exhaustedUntil: row.exhausted_until,
      }));
  }

  /**
   * Warm-ups that stopped to spare the quota reserve go on at `resumeAt` (bounded: a minute to six
   * hours away), in this object's alarm.
   */
  async deferWarmups(targets: readonly WarmImage[], resumeAt: number): Promise<number> {
    const now = Date.now();
    const at = Math.min(Math.max(resumeAt, now + MIN_WARM_DELAY_MS), now + MAX_WARM_DELAY_MS);
    for (const target of targets) {
      this.ctx.storage.sql.exec(
        "INSERT OR REPLACE INTO deferred_warmups (image, target, resume_at) VALUES (?, ?, ?)",
        target.image,
        JSON.stringify(target),
        at,
      );
    }
    await this.scheduleWarmups();
    return at;
  }

  private async scheduleWarmups(): Promise<void> {
    const next = this.ctx.storage.sql
      .exec<{ at: number | null }>("SELECT MIN(resume_at) AS at FROM deferred_warmups")
      .toArray()[0]?.at;
    if (next === null || next === undefined) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }

  /** Goes on with the deferred warm-ups that are due; those that stop again are deferred again. */
  override async alarm(): Promise<void> {
    const sql = this.ctx.storage.sql;
    const due = sql
      .exec<{ image: string; target: string }>(
        "SELECT image, target FROM deferred_warmups WHERE resume_at <= ?",
        Date.now(),
      )
      .toArray();
    for (const row of due) sql.exec("DELETE FROM deferred_warmups WHERE image = ?", row.image);
    if (due.length > 0) {
      const services = servicesFor(this.env);
      for (const row of due) {
        const target = JSON.parse(row.target) as WarmImage;
        try {
          const report = await warmImage(services, target);
          if (report.deferred) await this.deferWarmups([target], Date.parse(report.deferred.resumeAt));
        } catch (error) {
          services.log({ event: "warm.failed", image: target.image, error: describe(error) });
        }
      }
      await services.stats.flush().catch(() => {});
    }
    await this.scheduleWarmups();
  }

  /** The blobs' last served days, `limit` digests after `after`. */
  servedPage(after: string | null, limit: number): ServedPage {
    const rows = this.ctx.storage.sql
      .exec<{ digest: string; day: string }>(
        "SELECT digest, day FROM served WHERE digest > ? ORDER BY digest LIMIT ?",
        after ?? "",
        limit + 1,
      )
      .toArray();
    const entries = rows.slice(0, limit).map((row) => ({ digest: row.digest, day: row.day }));
    return rows.length > limit ? { entries, cursor: entries.at(-1)?.digest } : { entries };
  }

  /** The last served day of each of these digests that has one (a page of blobs retention examines). */
  servedDays(digests: readonly string[]): Record<string, string> {
    const days: Record<string, string> = {};
    // One point lookup each: local SQLite, and no limit on bound parameters to mind.
    for (const digest of digests) {
      const row = this.ctx.storage.sql
        .exec<{ day: string }>("SELECT day FROM served WHERE digest = ?", digest)
        .toArray()[0];
      if (row) days[digest] = row.day;
    }
    return days;
  }

  /** The store key retention's next run starts after; null: from the beginning. */
  retentionCursor(): string | null {
    const row = this.ctx.storage.sql
      .exec<{ after: string }>("SELECT after FROM retention WHERE id = 1")
      .toArray()[0];
    return row?.after ?? null;
  }

  setRetentionCursor(after: string | null): void {
    if (after === null) this.ctx.storage.sql.exec("DELETE FROM retention");
    else this.ctx.storage.sql.exec("INSERT OR REPLACE INTO retention (id, after) VALUES (1, ?)", after);
  }

  forgetServed(digests: readonly string[]): void {
    for (const digest of digests) this.ctx.storage.sql.exec("DELETE FROM served WHERE digest = ?", digest);
  }

  snapshot(top = 10): StatsSnapshot {
    const sql = this.ctx.storage.sql;
    const counters = new Map<string, number>();
    for (const row of sql.exec<{ key: string; value: number }>("SELECT key, value FROM counters")) {
      counters.set(row.key, row.value);
    }
    const count = (key: string) => counters.get(key) ?? 0;
    const upstreams: StatsSnapshot["upstreams"] = {};
    for (const key of counters.keys()) {
      const match = /^upstream\.([^.]+)\./.exec(key);
      const prefix = match?.[1];
      if (!prefix || upstreams[prefix]) continue;
      upstreams[prefix] = {
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
    }
    this.addQuota(upstreams);
    const topRepositories = sql
      .exec<{ repository: string; pulls: number }>(
        "SELECT repository, pulls FROM repositories ORDER BY pulls DESC, repository LIMIT ?",
        Math.max(1, Math.min(top, 100)),
      )
      .toArray()
      .map((row) => ({ repository: row.repository, pulls: row.pulls }));
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
      topRepositories,
      topClients: this.topClients(top),
      deferredWarmups: sql
        .exec<{ image: string; resume_at: number }>(
          "SELECT image, resume_at FROM deferred_warmups ORDER BY resume_at, image LIMIT 100",
        )
        .toArray()
        .map((row) => ({ image: row.image, resumeAt: new Date(row.resume_at).toISOString() })),
    };
  }

  /** Each upstream's accounts with their history; whether all of its configured accounts are exhausted. */
  private addQuota(upstreams: Record<string, StatsSnapshot["upstreams"][string]>): void {
    const sql = this.ctx.storage.sql;
    const now = Date.now();
    const history = new Map<string, Array<{ at: string; remaining: number; limit: number }>>();
    for (const row of sql.exec<{
      upstream: string;
      account: string;
      at: number;
      remaining: number;
      quota_limit: number;
    }>(
      "SELECT upstream, account, at, remaining, quota_limit FROM quota_history WHERE at >= ? ORDER BY at",
      now - HISTORY_MS,
    )) {
      const key = `${row.upstream}\n${row.account}`;
      const points = history.get(key) ?? [];
      points.push({ at: new Date(row.at).toISOString(), remaining: row.remaining, limit: row.quota_limit });
      history.set(key, points);
    }
    const rows = sql
      .exec<QuotaRow & { upstream: string }>(
        "SELECT upstream, account, quota_limit, remaining, window, seen_at, exhausted_until FROM quota ORDER BY upstream, account",
      )
      .toArray();
    for (const row of rows) {
      const entry = upstreams[row.upstream] ?? emptyUpstream();
      upstreams[row.upstream] = entry;
      entry.quota.push({
        account: row.account,
        limit: row.quota_limit,
        remaining: row.remaining,
        window: row.window,
        seenAt: row.seen_at > 0 ? new Date(row.seen_at).toISOString() : null,
        exhaustedUntil: row.exhausted_until > now ? new Date(row.exhausted_until).toISOString() : null,
        history: history.get(`${row.upstream}\n${row.account}`) ?? [],
      });
    }
    let config: ReturnType<typeof configFor> | null = null;
    try {
      config = configFor(this.env);
    } catch {
      // A broken configuration fails every request already; the stats still show what they hold.
    }
    for (const [prefix, entry] of Object.entries(upstreams)) {
      const upstream = config?.upstreams.get(prefix);
      const names = upstream ? accountNames(upstream) : entry.quota.map((quota) => quota.account);
      entry.quotaExhausted =
        names.length > 0 &&
        names.every((name) => entry.quota.some((quota) => quota.account === name && quota.exhaustedUntil));
    }
  }

  private topClients(top: number): StatsSnapshot["topClients"] {
    const now = Date.now();
    return this.ctx.storage.sql
      .exec<{ client: string; requests: number }>(
        "SELECT client, SUM(requests) AS requests FROM spenders WHERE hour > ? GROUP BY client ORDER BY requests DESC, client LIMIT ?",
        now - SPENDERS_MS,
        Math.max(1, Math.min(top, 100)),
      )
      .toArray()
      .map((row) => {
        const colon = row.client.indexOf(":");
        const kind = row.client.startsWith("user:") ? "user" : row.client.startsWith("ip:") ? "ip" : "mirror";
        return {
          client: kind === "mirror" ? row.client : row.client.slice(colon + 1),
          kind,
          requests: row.requests,
        };
      });
  }

  /** Repositories the mirror holds, sorted, `n` after `last` (the `_catalog` page). */
  catalog(n: number, last: string | null): { repositories: string[]; more: boolean } {
    const rows = this.ctx.storage.sql
      .exec<{ repository: string }>(
        "SELECT repository FROM repositories WHERE repository > ? ORDER BY repository LIMIT ?",
        last ?? "",
        n + 1,
      )
      .toArray();
    return { repositories: rows.slice(0, n).map((row) => row.repository), more: rows.length > n };
  }

  forget(repository: string): void {
    this.ctx.storage.sql.exec("DELETE FROM repositories WHERE repository = ?", repository);
  }
}

function emptyUpstream(): StatsSnapshot["upstreams"][string] {
  return {
    requests: { token: 0, manifest: 0, blob: 0, other: 0 },
    tooManyRequests: 0,
    quota: [],
    quotaExhausted: false,
  };
}

type QuotaRow = {
  account: string;
  quota_limit: number | null;
  remaining: number | null;
  window: number | null;
  seen_at: number;
  exhausted_until: number;
};
