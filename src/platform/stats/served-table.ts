import type { ServedPage } from "../../ops/retention";
import type { ServedBatch } from "../../ops/served-digests";

/**
 * The day each blob was last served (one row per blob, written at most once a day), and where
 * retention's last run stopped: what retention reads.
 */
export class ServedTable {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS served (digest TEXT PRIMARY KEY, day TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS retention (id INTEGER PRIMARY KEY CHECK (id = 1), after TEXT NOT NULL);
    `);
  }

  record(served: ServedBatch): void {
    for (const digest of served.digests) {
      // Isolates report a blob once a day each; the row changes only when the day does.
      this.sql.exec(
        "INSERT INTO served (digest, day) VALUES (?, ?) ON CONFLICT(digest) DO UPDATE SET day = excluded.day WHERE excluded.day > served.day",
        digest,
        served.day,
      );
    }
  }

  /** The blobs' last served days, `limit` digests after `after`. */
  page(after: string | null, limit: number): ServedPage {
    const rows = this.sql
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
  days(digests: readonly string[]): Record<string, string> {
    const days: Record<string, string> = {};
    // One point lookup each: local SQLite, and no limit on bound parameters to mind.
    for (const digest of digests) {
      const row = this.sql
        .exec<{ day: string }>("SELECT day FROM served WHERE digest = ?", digest)
        .toArray()[0];
      if (row) days[digest] = row.day;
    }
    return days;
  }

  forget(digests: readonly string[]): void {
    for (const digest of digests) this.sql.exec("DELETE FROM served WHERE digest = ?", digest);
  }

  /** The store key retention's next run starts after; null: from the beginning. */
  retentionCursor(): string | null {
    const row = this.sql.exec<{ after: string }>("SELECT after FROM retention WHERE id = 1").toArray()[0];
    return row?.after ?? null;
  }

  setRetentionCursor(after: string | null): void {
    if (after === null) this.sql.exec("DELETE FROM retention");
    else this.sql.exec("INSERT OR REPLACE INTO retention (id, after) VALUES (1, ?)", after);
  }
}
