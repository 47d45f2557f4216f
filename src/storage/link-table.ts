/**
 * The repositories (`upstream/name`) a blob fill object's digest is linked to: those the upstream served
 * the blob to (a download started for them) or confirmed it for (a HEAD). Kept in the object's own
 * SQLite storage, so linking during a pull costs no KV write and no extra call. The table is made by
 * the first link: an object asked only about links keeps no storage.
 */
export class LinkTable {
  constructor(
    private readonly sql: SqlStorage,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Links anew (a later time outlives a purge of the repository made meanwhile). A link storage
   * refuses (full, or failing) is dropped: that repository is confirmed with the upstream again later.
   */
  link(repository: string): void {
    try {
      this.sql.exec(
        "CREATE TABLE IF NOT EXISTS links (repository TEXT PRIMARY KEY, linked_at INTEGER NOT NULL)",
      );
      this.sql.exec(
        "INSERT INTO links (repository, linked_at) VALUES (?, ?) ON CONFLICT(repository) DO UPDATE SET linked_at = excluded.linked_at",
        repository,
        this.now(),
      );
    } catch {
      // Dropped, as above.
    }
  }

  linkedAt(repository: string): number | null {
    const made = this.sql
      .exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'links'")
      .toArray();
    if (made.length === 0) return null;
    const row = this.sql
      .exec<{ linked_at: number }>("SELECT linked_at FROM links WHERE repository = ?", repository)
      .toArray()[0];
    return row ? Number(row.linked_at) : null;
  }
}
