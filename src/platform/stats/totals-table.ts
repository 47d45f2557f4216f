/** Counters (requests, cache results, bytes, upstream requests) and the repositories pulled. */
export class TotalsTable {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS repositories (repository TEXT PRIMARY KEY, pulls INTEGER NOT NULL, last_pulled INTEGER NOT NULL);
      INSERT OR IGNORE INTO counters (key, value) VALUES ('since', CAST(strftime('%s','now') AS INTEGER) * 1000);
    `);
  }

  add(
    counters: Readonly<Record<string, number>>,
    repositories: Readonly<Record<string, number>>,
    now: number,
  ): void {
    for (const [key, value] of Object.entries(counters)) {
      this.sql.exec(
        "INSERT INTO counters (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
        key,
        value,
      );
    }
    for (const [repository, pulls] of Object.entries(repositories)) {
      this.sql.exec(
        "INSERT INTO repositories (repository, pulls, last_pulled) VALUES (?, ?, ?) ON CONFLICT(repository) DO UPDATE SET pulls = pulls + excluded.pulls, last_pulled = excluded.last_pulled",
        repository,
        pulls,
        now,
      );
    }
  }

  counters(): Map<string, number> {
    const counters = new Map<string, number>();
    for (const row of this.sql.exec<{ key: string; value: number }>("SELECT key, value FROM counters")) {
      counters.set(row.key, row.value);
    }
    return counters;
  }

  topRepositories(top: number): Array<{ repository: string; pulls: number }> {
    return this.sql
      .exec<{ repository: string; pulls: number }>(
        "SELECT repository, pulls FROM repositories ORDER BY pulls DESC, repository LIMIT ?",
        Math.max(1, Math.min(top, 100)),
      )
      .toArray()
      .map((row) => ({ repository: row.repository, pulls: row.pulls }));
  }

  /** Repositories the mirror holds, sorted, `n` after `last` (the `_catalog` page). */
  catalog(n: number, last: string | null): { repositories: string[]; more: boolean } {
    const rows = this.sql
      .exec<{ repository: string }>(
        "SELECT repository FROM repositories WHERE repository > ? ORDER BY repository LIMIT ?",
        last ?? "",
        n + 1,
      )
      .toArray();
    return { repositories: rows.slice(0, n).map((row) => row.repository), more: rows.length > n };
  }

  forget(repository: string): void {
    this.sql.exec("DELETE FROM repositories WHERE repository = ?", repository);
  }
}
