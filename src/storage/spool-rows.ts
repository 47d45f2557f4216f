import { evictableWhenSqueezed, holdAnyway, releaseHeld, tryHold } from "../util/held-bytes";
import { countRowsWritten } from "../util/op-counters";
import { createSpoolTable, freshTable, leaveTable, spoolTables, useTable } from "./spool-tables";

/** SQLite rows are limited to 2 MB: larger chunks are stored as several rows. */
const ROW_BYTES = 1024 * 1024;
/** How many of the newest rows are also kept in memory, for readers keeping up with the download. */
export const RECENT_ROWS = 16;
/**
 * A spool's bytes: rows of at most 1 MiB in a table of the fill object's SQLite, its own, in order,
 * the newest RECENT_ROWS also in memory so that readers keeping up never read them back, as far as the
 * isolate's budget for fills (util/held-bytes) has room: beyond it they read back from SQLite. Without
 * SQLite (`sql` null, for small blobs) every row is kept in memory instead (the caller holds their
 * bytes in the budget).
 */
export class SpoolRows {
  /** Rows appended (kept in storage, or only in memory once storage failed). */
  count = 0;
  /**
   * Why storage refused a row (full, or failing); from then on rows are kept in memory only, for the
   * readers that keep up, and the spool cannot be uploaded.
   */
  failure: unknown = null;
  /** Rows in storage: the ones before the failure. */
  private stored = 0;
  /** Bytes stored. */
  appended = 0;
  /** Where each row starts in the blob: readers of a range find their first row here. */
  private readonly starts: number[] = [];
  /** The newest rows, by sequence number (at most RECENT_ROWS; every row when there is no SQLite). */
  private readonly recent = new Map<number, Uint8Array>();
  /** Bytes of `recent` held in the isolate's budget (SQLite rows only: the memory kind is held whole). */
  private recentHeld = 0;
  /** Unregisters the rows kept in memory from the budget's caches (SQLite rows only). */
  private readonly uncache: () => void;

  /** The table its rows are in (none without SQLite). */
  readonly table: string;

  constructor(
    private readonly sql: SqlStorage | null,
    table = freshTable(),
  ) {
    this.table = sql ? table : "";
    if (sql) useTable(sql, table);
    // Rows storage holds too are only a shortcut: a download that needs the room takes it from them.
    const rows = this;
    this.uncache = sql
      ? evictableWhenSqueezed({
          get bytes() {
            return rows.recentHeld;
          },
          evictOldest: () => this.forgetOldest(),
        })
      : () => {};
  }

  /**
   * The rows an earlier instance of the object left in `table`; null when there is none, or they are
   * not in one unbroken run.
   */
  static load(sql: SqlStorage, table: string): SpoolRows | null {
    if (!spoolTables(sql).includes(table)) return null;
    const rows = new SpoolRows(sql, table);
    try {
      for (const row of sql.exec<{ seq: number; bytes: number }>(
        `SELECT seq, length(data) AS bytes FROM "${table}" ORDER BY seq`,
      )) {
        if (row.seq !== rows.count) {
          rows.drop();
          return null;
        }
        rows.starts.push(rows.appended);
        rows.appended += row.bytes;
        rows.count++;
        rows.stored++;
      }
    } catch (error) {
      // Storage failed: the rows stay for a later try, but this instance no longer holds on to them.
      rows.untrack();
      throw error;
    }
    return rows;
  }

  /** Stores the chunk (SQLite copies it); the chunk is kept a while for readers, so it must not change. */
  append(chunk: Uint8Array): void {
    for (let offset = 0; offset < chunk.byteLength; offset += ROW_BYTES) {
      const piece = chunk.subarray(offset, offset + ROW_BYTES);
      this.appended += piece.byteLength;
      const whole = piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength;
      if (this.sql && this.failure === null) {
        try {
          if (this.stored === 0) createSpoolTable(this.sql, this.table);
          this.sql.exec(
            `INSERT INTO "${this.table}" (seq, data) VALUES (?, ?)`,
            this.count,
            whole ? piece.buffer : piece.slice().buffer,
          );
          countRowsWritten();
          this.stored++;
        } catch (error) {
          this.failure = error;
        }
      }
      this.starts.push(this.appended - piece.byteLength);
      this.keep(piece);
      this.count++;
    }
  }

  /**
   * Keeps the newest row in memory for readers: every row without SQLite; with it, the newest
   * RECENT_ROWS the budget has room for (a row storage refused is kept all the same: readers have no
   * other copy).
   */
  private keep(piece: Uint8Array): void {
    if (!this.sql) {
      this.recent.set(this.count, piece);
      return;
    }
    this.forget(this.count - RECENT_ROWS, true);
    let held = tryHold(piece.byteLength);
    // No room: the oldest rows kept go first, readers read them back from SQLite.
    for (const seq of [...this.recent.keys()]) {
      if (held) break;
      if (this.stored > seq) this.forget(seq);
      held = tryHold(piece.byteLength);
    }
    if (!held) {
      // A row storage refused is kept all the same (beyond the budget): readers have no other copy.
      if (this.failure === null) return;
      holdAnyway(piece.byteLength);
    }
    this.recentHeld += piece.byteLength;
    this.recent.set(this.count, piece);
  }

  /** Lets go of a row kept in memory; one storage lost too only when `lost` may be. */
  private forget(seq: number, lost = false): void {
    const row = this.recent.get(seq);
    if (!row || (seq >= this.stored && !lost)) return;
    this.recent.delete(seq);
    this.recentHeld -= row.byteLength;
    releaseHeld(row.byteLength);
  }

  /** Lets go of the oldest row kept in memory that storage holds too; false when there is none. */
  private forgetOldest(): boolean {
    for (const seq of this.recent.keys()) {
      if (seq >= this.stored) return false;
      this.forget(seq);
      return true;
    }
    return false;
  }

  /** Lets go of the rows kept in memory that storage holds too (a spool waiting for its upload). */
  forgetRecent(): void {
    if (!this.sql) return;
    for (const seq of [...this.recent.keys()]) this.forget(seq);
  }

  /** Where row `seq` starts in the blob. */
  startOf(seq: number): number {
    return this.starts[seq] ?? 0;
  }

  /** Where row `seq` ends (exclusive): the next row's start, or the bytes so far for the newest. */
  endOf(seq: number): number {
    return this.starts[seq + 1] ?? this.appended;
  }

  /** The row holding byte `offset`, or null while it has not arrived. */
  rowAt(offset: number): number | null {
    if (offset >= this.appended) return null;
    // Binary search: rows are in order of their start.
    let low = 0;
    let high = this.count - 1;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if (this.startOf(middle) <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  read(seq: number): Uint8Array {
    // Each reader gets its own copy: the stream it feeds may take the buffer over.
    const recent = this.recent.get(seq);
    if (recent) return recent.slice();
    if (!this.sql || seq >= this.stored)
      throw new Error("the spool's storage failed before this part of the blob");
    const row = this.sql
      .exec<{ data: ArrayBuffer }>(`SELECT data FROM "${this.table}" WHERE seq = ?`, seq)
      .one();
    return new Uint8Array(row.data);
  }

  /** Deletes the rows (the spool is done with them), the table with them. */
  drop(): void {
    this.untrack();
    this.recent.clear();
    releaseHeld(this.recentHeld);
    this.recentHeld = 0;
    if (!this.sql) return;
    try {
      this.sql.exec(`DROP TABLE IF EXISTS "${this.table}"`);
      countRowsWritten(this.stored);
    } catch {
      // Storage refused: the next download (or the object's sweep) clears the table.
    }
  }

  /** No longer one of the budget's caches, nor a table in use that clearing keeps. */
  private untrack(): void {
    this.uncache();
    if (this.sql) leaveTable(this.sql, this.table);
  }
}
