import { beginForeground } from "../util/foreground";
import { until } from "../util/until";
import { RECENT_ROWS, SpoolRows } from "./spool-rows";
import { clearSpoolTables, spoolRowsLeft } from "./spool-tables";

/** The download waits for the leading reader when it is this many rows behind (see `room`). */
const LEAD_ROWS = RECENT_ROWS / 2;
/** Once storage has failed, how long the download waits at most for its slowest reader, per chunk. */
const STALLED_READER_MS = 30_000;
/**
 * A reader that paces the download (the put to the store) and has taken nothing for this long is
 * stalled, not slow: the download stops waiting for it (it reads back from SQLite once it moves again),
 * so a store that hangs never slows the clients to its wait per chunk.
 */
const STALLED_PACER_MS = 1_000;

/**
 * One upstream download fanned out to any number of readers that may join at any time. Chunks are
 * appended to the Durable Object's SQLite storage as they arrive; each reader follows at its own pace
 * from the first chunk on, so memory stays flat however large the blob and however slow a reader.
 * Readers that keep up get the newest rows from memory and never wait for SQLite to read them back.
 *
 * The final chunk is held back from readers until the bytes are verified against the digest: a wrong
 * body ends every reader with an error (a truncated response the client detects), never with a clean end.
 */
export class Spool {
  private finished = false;
  private verdict: boolean | null = null;
  private failure: Error | null = null;
  private wakers: Array<() => void> = [];
  /** Where each reader is: the next row it reads, and when it last took one. */
  private readonly positions = new Set<{
    seq: number;
    movedAt: number;
    background: boolean;
    paces: boolean;
  }>();
  /** Woken whenever a reader moves on or goes away. */
  private moved: Array<() => void> = [];
  /** The rows are still needed by the fill itself (to upload them), readers or not. */
  private held = false;
  /** The rows are gone: no new reader can start. */
  disposed = false;

  private constructor(
    /** The bytes so far, in the object's storage. */
    private readonly data: SpoolRows,
    /** Length of the whole body. */
    readonly size: number,
    /** Downloaded with upstream credentials: readers from other repositories need confirmation. */
    readonly restricted: boolean,
    /** Called once the spool is finished, released by the fill and left by every reader: the rows are gone. */
    private readonly onIdle: () => void,
  ) {}

  /**
   * An empty spool, for a download about to start, in a table of its own (rows earlier ones left are
   * dropped, but not those a reader of this isolate still reads).
   */
  static create(sql: SqlStorage, size: number, restricted: boolean, onIdle: () => void): Spool {
    Spool.clear(sql);
    return new Spool(new SpoolRows(sql), size, restricted, onIdle);
  }

  /**
   * The verified, complete spool an earlier instance of the object left in storage (it was restarted
   * before its upload ended); held for the upload. Null when the rows are not exactly `size` bytes.
   */
  static resume(
    sql: SqlStorage,
    table: string,
    size: number,
    restricted: boolean,
    onIdle: () => void,
  ): Spool | null {
    const data = SpoolRows.load(sql, table);
    if (!data) return null;
    if (data.appended !== size) {
      data.drop();
      return null;
    }
    const spool = new Spool(data, size, restricted, onIdle);
    spool.finished = true;
    spool.verdict = true;
    spool.held = true;
    return spool;
  }

  /**
   * An empty spool kept in memory only, every row of it (for a small blob): nothing is written to the
   * object's storage, and nothing is left there to resume after a restart.
   */
  static inMemory(size: number, restricted: boolean, onIdle: () => void): Spool {
    return new Spool(new SpoolRows(null), size, restricted, onIdle);
  }

  /**
   * Drops the rows spools left in storage, except those of this isolate's spools still in use; how
   * many spools those are.
   */
  static clear(sql: SqlStorage): number {
    return clearSpoolTables(sql);
  }

  /** Rows spools left in storage. */
  static left(sql: SqlStorage): number {
    return spoolRowsLeft(sql);
  }

  /** The table its rows are in (for its pending upload's record). */
  get table(): string {
    return this.data.table;
  }

  /** Stores the chunk (SQLite copies it); the chunk is kept a while for readers, so it must not change. */
  append(chunk: Uint8Array): void {
    this.data.append(chunk);
    this.wake();
  }

  /**
   * All chunks are in; `verified` says whether they hash to the digest. `hold` keeps the rows after the
   * last reader is gone, until `release` (the fill still has to upload them).
   */
  finish(verified: boolean, hold = false): void {
    this.finished = true;
    this.verdict = verified;
    this.held = verified && hold;
    this.forgetWhenWaiting();
    this.wake();
    this.idleCheck();
  }

  /** The fill no longer needs the rows: they go when the last reader does. */
  release(): void {
    this.held = false;
    this.idleCheck();
  }

  fail(error: Error): void {
    this.failure = error;
    this.wake();
    this.idleCheck();
  }

  /** Storage refused a row: readers that keep up still get every byte, but the spool cannot be uploaded. */
  get storageFailed(): boolean {
    return this.data.failure !== null;
  }

  /** What storage said when it refused a row (for the log). */
  get storageFailure(): string | null {
    return this.data.failure === null ? null : String(this.data.failure);
  }

  get done(): boolean {
    return this.failure !== null || this.finished;
  }

  private get readers(): number {
    return this.positions.size;
  }

  /**
   * Resolves when the leading client's reader, and every reader that `paces` (the put that streams
   * the spool to the store), are close behind the newest row (or there are none), or after `ms` at
   * the latest.
   * The download awaits it before each chunk: in a Durable Object everything shares one thread, and a
   * download that never waits starves its own readers, who then fall behind and read back from
   * SQLite what they could have had from memory. A stalled reader holds nothing up for longer than
   * `ms`, and a slow client never holds up a faster one.
   */
  room(ms: number): Promise<void> {
    if (this.storageFailed) {
      // Memory is all there is now: every reader must stay within it, so the slowest one sets the pace
      // (one that takes nothing for STALLED_READER_MS is left behind, and fails).
      return this.until(() => {
        const now = Date.now();
        let last = Number.POSITIVE_INFINITY;
        for (const position of this.positions) {
          if (now - position.movedAt < STALLED_READER_MS) last = Math.min(last, position.seq);
        }
        return last >= this.data.count - LEAD_ROWS;
      }, STALLED_READER_MS);
    }
    return this.until(
      () => {
        const now = Date.now();
        let lead = -1;
        let pacer = Number.POSITIVE_INFINITY;
        for (const position of this.positions) {
          if (!position.background) lead = Math.max(lead, position.seq);
          if (position.paces && now - position.movedAt < STALLED_PACER_MS)
            pacer = Math.min(pacer, position.seq);
        }
        const near = this.data.count - LEAD_ROWS;
        return (lead < 0 || lead >= near) && pacer >= near;
      },
      ms,
      // A pacer turns stalled by not moving, which wakes nothing: looked at again this often.
      STALLED_PACER_MS,
    );
  }

  /** Waits until `ready`, looking again whenever a reader moves and at least every `recheckMs`. */
  private until(ready: () => boolean, ms: number, recheckMs = ms): Promise<void> {
    return until(ready, ms, (look) => this.moved.push(look), recheckMs);
  }

  /**
   * A new reader of the whole blob, or of the bytes `range.start`–`range.end` (inclusive; the caller
   * has checked them against the size). A client's reader counts as this isolate's foreground traffic;
   * the fill's own upload (`background`) does not.
   */
  reader(
    options: { range?: { start: number; end: number }; background?: boolean; paces?: boolean } = {},
  ): ReadableStream<Uint8Array> {
    const start = options.range?.start ?? 0;
    const end = options.range?.end ?? this.size - 1;
    const position = {
      seq: 0,
      movedAt: Date.now(),
      background: options.background === true,
      paces: options.paces === true,
    };
    /** Bytes of the next row to skip (the range starts inside it). */
    let skip = start;
    let remaining = end - start + 1;
    let released = false;
    let located = start === 0;
    this.positions.add(position);
    const endForeground = options.background ? () => {} : beginForeground();
    const release = () => {
      if (released) return;
      released = true;
      endForeground();
      this.positions.delete(position);
      this.wakeWriter();
      this.forgetWhenWaiting();
      this.idleCheck();
    };
    const mismatch = () => new Error("upstream bytes do not match the digest");
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          for (;;) {
            if (this.failure) {
              release();
              controller.error(this.failure);
              return;
            }
            if (remaining === 0) {
              release();
              controller.close();
              return;
            }
            if (!located) {
              // The first row that holds `start`, once it has arrived.
              const seq = this.data.rowAt(start);
              if (seq !== null) {
                position.seq = seq;
                skip = start - this.data.startOf(seq);
                located = true;
              }
            }
            // Every chunk but the last is safe at once; the last one waits for the verdict.
            const lastIsIn = this.data.appended >= this.size;
            const readable = this.finished || !lastIsIn ? this.data.count : this.data.count - 1;
            // A reader's own last bytes wait for the verdict too: nothing ends cleanly unverified.
            const rowBytes = this.data.endOf(position.seq) - this.data.startOf(position.seq);
            const endsHere = located && rowBytes - skip >= remaining;
            if (located && position.seq < readable && (!endsHere || this.finished)) {
              if (this.finished && this.verdict === false) {
                release();
                controller.error(mismatch());
                return;
              }
              let chunk: Uint8Array;
              position.movedAt = Date.now();
              try {
                chunk = this.data.read(position.seq++);
              } catch (error) {
                // A row storage lost (it failed, and memory no longer holds it).
                release();
                controller.error(error);
                return;
              }
              if (skip > 0 || chunk.byteLength - skip > remaining) {
                chunk = chunk.subarray(skip, skip + Math.min(remaining, chunk.byteLength - skip));
              }
              skip = 0;
              remaining -= chunk.byteLength;
              controller.enqueue(chunk);
              // Done at once: a consumer that knows the length (a FixedLengthStream, R2) may never
              // ask for the end, and the rows must not wait for it.
              if (remaining === 0) {
                release();
                controller.close();
              }
              this.wakeWriter();
              return;
            }
            if (this.finished) {
              release();
              if (this.verdict && remaining === 0) controller.close();
              else controller.error(this.verdict ? new Error("the spool ended early") : mismatch());
              return;
            }
            await new Promise<void>((resolve) => this.wakers.push(resolve));
          }
        },
        cancel: () => release(),
      },
      { highWaterMark: 0 },
    );
  }

  /**
   * Waiting for its upload with no reader left, the spool keeps no row in memory (the alarm's upload
   * reads SQLite). Readers still streaming (a client, the put that streams with the download) keep
   * the newest rows: reading rows back from SQLite was 15% of a cold 128 MiB fill's CPU profile.
   */
  private forgetWhenWaiting(): void {
    if (this.finished && this.held && this.readers === 0 && !this.storageFailed) this.data.forgetRecent();
  }

  private wakeWriter(): void {
    for (const resolve of this.moved.splice(0)) resolve();
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }

  private idleCheck(): void {
    if (this.done && !this.held && this.readers === 0 && !this.disposed) {
      this.disposed = true;
      this.data.drop();
      this.onIdle();
    }
  }
}
