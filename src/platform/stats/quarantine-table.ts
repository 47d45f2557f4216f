import type { QuarantineEntry, QuarantineSnapshot } from "../../access/quarantine";

/** The most digests the quarantine holds: every isolate keeps the whole list in memory. */
export const MAX_QUARANTINED = 10_000;

/**
 * Quarantined digests and a version that every change raises, so an isolate whose list is current
 * gets "unchanged" instead of the list.
 */
export class QuarantineTable {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS quarantine (digest TEXT PRIMARY KEY, reason TEXT NOT NULL, since INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS quarantine_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
      INSERT OR IGNORE INTO quarantine_version (id, version) VALUES (1, 0);
    `);
  }

  /** Quarantines a digest (or changes its reason); null when the list is full. */
  add(digest: string, reason: string, now: number): { entry: QuarantineEntry; created: boolean } | null {
    const existing = this.get(digest);
    if (!existing && this.count() >= MAX_QUARANTINED) return null;
    const since = existing ? Date.parse(existing.since) : now;
    this.sql.exec(
      "INSERT OR REPLACE INTO quarantine (digest, reason, since) VALUES (?, ?, ?)",
      digest,
      reason,
      since,
    );
    this.bump();
    return { entry: { digest, reason, since: new Date(since).toISOString() }, created: !existing };
  }

  /** Releases a digest; false when it was not quarantined. */
  remove(digest: string): boolean {
    if (!this.get(digest)) return false;
    this.sql.exec("DELETE FROM quarantine WHERE digest = ?", digest);
    this.bump();
    return true;
  }

  get(digest: string): QuarantineEntry | null {
    const row = this.sql
      .exec<{ digest: string; reason: string; since: number }>(
        "SELECT digest, reason, since FROM quarantine WHERE digest = ?",
        digest,
      )
      .toArray()[0];
    return row ? entryOf(row) : null;
  }

  /** The whole list, newest first, unless the caller's `known` version is current (null). */
  snapshot(known: number | null): QuarantineSnapshot | null {
    const version = this.version();
    if (known === version) return null;
    return { version, entries: this.list() };
  }

  list(limit = MAX_QUARANTINED): QuarantineEntry[] {
    return this.sql
      .exec<{ digest: string; reason: string; since: number }>(
        "SELECT digest, reason, since FROM quarantine ORDER BY since DESC, digest LIMIT ?",
        limit,
      )
      .toArray()
      .map(entryOf);
  }

  count(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM quarantine").one().n;
  }

  private version(): number {
    return this.sql.exec<{ version: number }>("SELECT version FROM quarantine_version WHERE id = 1").one()
      .version;
  }

  private bump(): void {
    this.sql.exec("UPDATE quarantine_version SET version = version + 1 WHERE id = 1");
  }
}

function entryOf(row: { digest: string; reason: string; since: number }): QuarantineEntry {
  return { digest: row.digest, reason: row.reason, since: new Date(row.since).toISOString() };
}
