import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import type { ServedBatch } from "./served-digests";

/** Counters gathered in an isolate and added to the totals in one call. */
export interface StatsBatch {
  readonly counters: Readonly<Record<string, number>>;
  /** `<prefix>/<name>` → pulls. */
  readonly repositories: Readonly<Record<string, number>>;
  /** prefix → the last rate-limit headers seen from it. */
  readonly rateLimits: Readonly<Record<string, { limit: string; remaining: string; seenAt: string }>>;
  /** Blobs served on `day` (UTC, YYYY-MM-DD) that the isolate had not reported yet that day. */
  readonly served?: ServedBatch;
}

/** A page of the blobs' last served days, in digest order. */
export interface ServedPage {
  readonly entries: Array<{ digest: string; day: string }>;
  /** The digest to continue after; absent on the last page. */
  readonly cursor?: string;
}

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
      rateLimit: { limit: string; remaining: string; seenAt: string } | null;
    }
  >;
  readonly storage: { blobs: number; bytes: number };
  readonly topRepositories: Array<{ repository: string; pulls: number }>;
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
      CREATE TABLE IF NOT EXISTS rate_limits (upstream TEXT PRIMARY KEY, rate_limit TEXT, remaining TEXT, seen_at TEXT);
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
    for (const [upstream, seen] of Object.entries(batch.rateLimits)) {
      sql.exec(
        "INSERT OR REPLACE INTO rate_limits (upstream, rate_limit, remaining, seen_at) VALUES (?, ?, ?, ?)",
        upstream,
        seen.limit,
        seen.remaining,
        seen.seenAt,
      );
    }
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
        rateLimit: null,
      };
    }
    for (const row of sql.exec<{ upstream: string; rate_limit: string; remaining: string; seen_at: string }>(
      "SELECT upstream, rate_limit, remaining, seen_at FROM rate_limits",
    )) {
      const entry = upstreams[row.upstream];
      if (entry) entry.rateLimit = { limit: row.rate_limit, remaining: row.remaining, seenAt: row.seen_at };
    }
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
    };
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
