/** A multipart upload a store-through download began in the store, as recorded in the fill object's SQLite. */
export interface OpenMultipart {
  readonly uploadId: string;
  /** The blob's digest (the upload's key in the store is derived from it). */
  readonly digest: string;
  /** The upload's key in the bucket. */
  readonly key: string;
  /** Aborts tried on it that failed (the store refused). */
  readonly aborts: number;
}

const TABLE =
  "CREATE TABLE IF NOT EXISTS open_multipart (upload_id TEXT PRIMARY KEY, digest TEXT NOT NULL, key TEXT NOT NULL, aborts INTEGER NOT NULL DEFAULT 0)";

/**
 * The multipart uploads a fill object's store-through downloads have open in the store: one is recorded
 * as it begins and forgotten once completed or aborted, so one whose instance died mid-way (eviction,
 * restart, deploy) is still known to the object's alarm, which aborts it. The table is made on the first
 * record and dropped with the last: an object that never stores through leaves no storage.
 */
export class OpenMultiparts {
  constructor(private readonly sql: SqlStorage) {}

  begun(upload: Omit<OpenMultipart, "aborts">): void {
    this.sql.exec(TABLE);
    this.sql.exec(
      "INSERT OR REPLACE INTO open_multipart (upload_id, digest, key, aborts) VALUES (?, ?, ?, 0)",
      upload.uploadId,
      upload.digest,
      upload.key,
    );
  }

  /** The store no longer holds the upload (completed or aborted). */
  ended(uploadId: string): void {
    if (!this.hasTable()) return;
    this.sql.exec("DELETE FROM open_multipart WHERE upload_id = ?", uploadId);
    if (this.list().length === 0) this.sql.exec("DROP TABLE IF EXISTS open_multipart");
  }

  /** An abort the store refused: counted, the next alarm tries again. */
  abortFailed(uploadId: string): void {
    this.sql.exec("UPDATE open_multipart SET aborts = aborts + 1 WHERE upload_id = ?", uploadId);
  }

  list(): OpenMultipart[] {
    if (!this.hasTable()) return [];
    return this.sql
      .exec<{ upload_id: string; digest: string; key: string; aborts: number }>(
        "SELECT upload_id, digest, key, aborts FROM open_multipart ORDER BY upload_id",
      )
      .toArray()
      .map((row) => ({
        uploadId: String(row.upload_id),
        digest: String(row.digest),
        key: String(row.key),
        aborts: Number(row.aborts),
      }));
  }

  private hasTable(): boolean {
    return (
      this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'open_multipart'").toArray()
        .length > 0
    );
  }
}
