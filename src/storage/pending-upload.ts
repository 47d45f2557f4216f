/** A verified spool waiting for its upload, as kept in storage (it outlives a restart of the object). */
export interface PendingUpload {
  readonly digest: string;
  readonly size: number;
  readonly restricted: boolean;
  readonly upstream: string;
  readonly name: string;
  /** The table of the object's SQLite its spool's rows are in. */
  readonly spool: string;
  /** Invocations that began uploading since the last one that made progress (counted before working). */
  readonly attempts: number;
  /** The multipart upload under way (R2's id), if one was begun. */
  readonly uploadId: string | null;
}

/** A part of a multipart upload already in the store. */
export interface UploadedPart {
  readonly partNumber: number;
  readonly etag: string;
}

const PENDING_TABLE =
  "CREATE TABLE IF NOT EXISTS pending_upload (id INTEGER PRIMARY KEY CHECK (id = 1), digest TEXT NOT NULL, size INTEGER NOT NULL, restricted INTEGER NOT NULL, upstream TEXT NOT NULL, name TEXT NOT NULL, spool TEXT NOT NULL, attempts INTEGER NOT NULL, upload_id TEXT)";
const PARTS_TABLE =
  "CREATE TABLE IF NOT EXISTS upload_parts (part_number INTEGER PRIMARY KEY, etag TEXT NOT NULL)";

/**
 * The fill object's one pending upload and the parts of it that reached the store (rows in its SQLite),
 * read again by every alarm: an upload cut off (by its own limits, or by the platform) goes on from the
 * last part recorded. The tables are made on the first record, not before: an object that never
 * spools leaves no storage.
 */
export class PendingUploads {
  constructor(private readonly sql: SqlStorage) {}

  get(): PendingUpload | null {
    if (!this.hasTable("pending_upload")) return null;
    const row = this.sql.exec("SELECT * FROM pending_upload WHERE id = 1").toArray()[0];
    if (!row) return null;
    return {
      digest: String(row.digest),
      size: Number(row.size),
      restricted: Number(row.restricted) === 1,
      upstream: String(row.upstream),
      name: String(row.name),
      // A record of a version before tables per spool has no such column: its rows are in `chunks`.
      spool: row.spool === null || row.spool === undefined ? "chunks" : String(row.spool),
      attempts: Number(row.attempts),
      uploadId: row.upload_id === null || row.upload_id === undefined ? null : String(row.upload_id),
    };
  }

  record(upload: Omit<PendingUpload, "attempts" | "uploadId">): void {
    // Made afresh: the one record there is replaces any other (one of an earlier version's shape too).
    this.clear();
    this.sql.exec(PENDING_TABLE);
    this.sql.exec(
      "INSERT INTO pending_upload (id, digest, size, restricted, upstream, name, spool, attempts, upload_id) VALUES (1, ?, ?, ?, ?, ?, ?, 0, NULL)",
      upload.digest,
      upload.size,
      upload.restricted ? 1 : 0,
      upload.upstream,
      upload.name,
      upload.spool,
    );
  }

  /** Counts an attempt before it starts (one the platform kills counts too); the attempts so far. */
  countAttempt(): number {
    this.sql.exec("UPDATE pending_upload SET attempts = attempts + 1");
    return this.get()?.attempts ?? 0;
  }

  /** The multipart upload begun for the pending one. */
  begun(uploadId: string): void {
    this.sql.exec(PARTS_TABLE);
    this.sql.exec("UPDATE pending_upload SET upload_id = ?", uploadId);
  }

  /** A part reached the store: recorded, and the attempts start again (the upload moves). */
  partDone(part: UploadedPart): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO upload_parts (part_number, etag) VALUES (?, ?)",
      part.partNumber,
      part.etag,
    );
    this.sql.exec("UPDATE pending_upload SET attempts = 0");
  }

  parts(): UploadedPart[] {
    if (!this.hasTable("upload_parts")) return [];
    return this.sql
      .exec<{ part_number: number; etag: string }>(
        "SELECT part_number, etag FROM upload_parts ORDER BY part_number",
      )
      .toArray()
      .map((row) => ({ partNumber: Number(row.part_number), etag: String(row.etag) }));
  }

  /** Forgets the pending upload and its parts, the tables with them. */
  clear(): void {
    this.sql.exec("DROP TABLE IF EXISTS pending_upload");
    this.sql.exec("DROP TABLE IF EXISTS upload_parts");
  }

  private hasTable(name: string): boolean {
    return (
      this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name).toArray().length >
      0
    );
  }
}
