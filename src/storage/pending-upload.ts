/** A verified spool waiting for its upload, as kept in storage (it outlives a restart of the object). */
export interface PendingUpload {
  readonly digest: string;
  readonly size: number;
  readonly restricted: boolean;
  readonly upstream: string;
  readonly name: string;
  readonly attempts: number;
}

/** The fill object's one pending upload (a row in its SQLite), read again after a restart. */
export class PendingUploads {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(
      "CREATE TABLE IF NOT EXISTS pending_upload (id INTEGER PRIMARY KEY CHECK (id = 1), digest TEXT NOT NULL, size INTEGER NOT NULL, restricted INTEGER NOT NULL, upstream TEXT NOT NULL, name TEXT NOT NULL, attempts INTEGER NOT NULL)",
    );
  }

  get(): PendingUpload | null {
    const row = this.sql.exec("SELECT * FROM pending_upload WHERE id = 1").toArray()[0];
    if (!row) return null;
    return {
      digest: String(row.digest),
      size: Number(row.size),
      restricted: Number(row.restricted) === 1,
      upstream: String(row.upstream),
      name: String(row.name),
      attempts: Number(row.attempts),
    };
  }

  record(upload: Omit<PendingUpload, "attempts">): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO pending_upload (id, digest, size, restricted, upstream, name, attempts) VALUES (1, ?, ?, ?, ?, ?, 0)",
      upload.digest,
      upload.size,
      upload.restricted ? 1 : 0,
      upload.upstream,
      upload.name,
    );
  }

  countAttempt(): void {
    this.sql.exec("UPDATE pending_upload SET attempts = attempts + 1");
  }

  clear(): void {
    this.sql.exec("DELETE FROM pending_upload");
  }
}
