import type { Config } from "../../config";
import type { AccountQuota } from "../../upstream/quota";
import { accountNames } from "../../upstream/quota-pool";

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

/** prefix → account → its latest standing, as isolates send it. */
export type QuotaBatch = Readonly<Record<string, Readonly<Record<string, AccountQuota>>>>;

/** How long the quota history is kept, and how finely. */
export const HISTORY_MS = 12 * 3600_000;
export const HISTORY_BUCKET_MS = 5 * 60_000;

type QuotaRow = {
  account: string;
  quota_limit: number | null;
  remaining: number | null;
  window: number | null;
  seen_at: number;
  exhausted_until: number;
};

/** The upstream accounts' quota readings, and a short history of each for the landing page's chart. */
export class QuotaTable {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      DROP TABLE IF EXISTS rate_limits;
      CREATE TABLE IF NOT EXISTS quota (upstream TEXT NOT NULL, account TEXT NOT NULL, quota_limit INTEGER, remaining INTEGER, window INTEGER, seen_at INTEGER NOT NULL, exhausted_until INTEGER NOT NULL, PRIMARY KEY (upstream, account));
      CREATE TABLE IF NOT EXISTS quota_history (upstream TEXT NOT NULL, account TEXT NOT NULL, at INTEGER NOT NULL, remaining INTEGER NOT NULL, quota_limit INTEGER NOT NULL, PRIMARY KEY (upstream, account, at));
    `);
  }

  /** Readings are taken when newer than the one held; an exhaustion lasts as long as anyone said. */
  record(quota: QuotaBatch, now: number): void {
    for (const [upstream, accounts] of Object.entries(quota)) {
      for (const [account, state] of Object.entries(accounts)) {
        this.sql.exec(
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
          this.sql.exec(
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
    if (Object.keys(quota).length > 0)
      this.sql.exec("DELETE FROM quota_history WHERE at < ?", now - HISTORY_MS);
  }

  /** What the mirror knows of an upstream's accounts, for isolates about to choose one. */
  state(upstream: string): AccountQuota[] {
    return this.sql
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

  /** Every account with a reading or a 429, per upstream, with its history. */
  entries(now: number): Map<string, QuotaEntry[]> {
    const history = new Map<string, Array<{ at: string; remaining: number; limit: number }>>();
    for (const row of this.sql.exec<{
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
    const byUpstream = new Map<string, QuotaEntry[]>();
    for (const row of this.sql
      .exec<QuotaRow & { upstream: string }>(
        "SELECT upstream, account, quota_limit, remaining, window, seen_at, exhausted_until FROM quota ORDER BY upstream, account",
      )
      .toArray()) {
      const list = byUpstream.get(row.upstream) ?? [];
      list.push({
        account: row.account,
        limit: row.quota_limit,
        remaining: row.remaining,
        window: row.window,
        seenAt: row.seen_at > 0 ? new Date(row.seen_at).toISOString() : null,
        exhaustedUntil: row.exhausted_until > now ? new Date(row.exhausted_until).toISOString() : null,
        history: history.get(`${row.upstream}\n${row.account}`) ?? [],
      });
      byUpstream.set(row.upstream, list);
    }
    return byUpstream;
  }
}

/**
 * Whether every account of an upstream is exhausted now: its configured accounts (or, when the
 * configuration cannot be read, those with entries).
 */
export function allExhausted(prefix: string, entries: readonly QuotaEntry[], config: Config | null): boolean {
  const upstream = config?.upstreams.get(prefix);
  const names = upstream ? accountNames(upstream) : entries.map((quota) => quota.account);
  return (
    names.length > 0 &&
    names.every((name) => entries.some((quota) => quota.account === name && quota.exhaustedUntil))
  );
}
