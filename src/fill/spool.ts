/** SQLite rows are limited to 2 MB: larger chunks are stored as several rows. */
const ROW_BYTES = 1024 * 1024;

/**
 * One upstream download fanned out to any number of readers that may join at any time. Chunks are
 * appended to the Durable Object's SQLite storage as they arrive; each reader follows at its own pace
 * from the first chunk on, so memory stays flat however large the blob and however slow a reader.
 *
 * The final chunk is held back from readers until the bytes are verified against the digest: a wrong
 * body ends every reader with an error (a truncated response the client detects), never with a clean end.
 */
export class Spool {
  private rows = 0;
  private appended = 0;
  private finished = false;
  private verdict: boolean | null = null;
  private failure: Error | null = null;
  private wakers: Array<() => void> = [];
  private readers = 0;
  /** The rows are gone: no new reader can start. */
  disposed = false;

  constructor(
    private readonly sql: SqlStorage,
    /** Length of the whole body. */
    readonly size: number,
    /** Downloaded with upstream credentials: readers from other repositories need confirmation. */
    readonly restricted: boolean,
    /** Called once the spool is finished and no reader is left: the rows can go. */
    private readonly onIdle: () => void,
  ) {
    sql.exec("CREATE TABLE IF NOT EXISTS chunks (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)");
    sql.exec("DELETE FROM chunks");
  }

  /** Stores the chunk at once (SQLite copies it), so the caller may hand the chunk on afterwards. */
  append(chunk: Uint8Array): void {
    for (let offset = 0; offset < chunk.byteLength; offset += ROW_BYTES) {
      const piece = chunk.subarray(offset, offset + ROW_BYTES);
      this.appended += piece.byteLength;
      const whole = piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength;
      this.sql.exec(
        "INSERT INTO chunks (seq, data) VALUES (?, ?)",
        this.rows,
        whole ? piece.buffer : piece.slice().buffer,
      );
      this.rows++;
    }
    this.wake();
  }

  /** All chunks are in; `verified` says whether they hash to the digest. */
  finish(verified: boolean): void {
    this.finished = true;
    this.verdict = verified;
    this.wake();
    this.idleCheck();
  }

  fail(error: Error): void {
    this.failure = error;
    this.wake();
    this.idleCheck();
  }

  get done(): boolean {
    return this.failure !== null || this.finished;
  }

  get succeeded(): boolean {
    return this.verdict === true;
  }

  /** A new reader from the first byte. */
  reader(): ReadableStream<Uint8Array> {
    let seq = 0;
    let released = false;
    this.readers++;
    const release = () => {
      if (released) return;
      released = true;
      this.readers--;
      this.idleCheck();
    };
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          for (;;) {
            if (this.failure) {
              release();
              controller.error(this.failure);
              return;
            }
            // Every chunk but the last is safe at once; the last one waits for the verdict.
            const lastIsIn = this.appended >= this.size;
            const readable = this.finished || !lastIsIn ? this.rows : this.rows - 1;
            if (seq < readable) {
              if (this.finished && seq === this.rows - 1 && this.verdict === false) {
                release();
                controller.error(new Error("upstream bytes do not match the digest"));
                return;
              }
              controller.enqueue(this.read(seq++));
              return;
            }
            if (this.finished) {
              release();
              if (this.verdict) controller.close();
              else controller.error(new Error("upstream bytes do not match the digest"));
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

  private read(seq: number): Uint8Array {
    const row = this.sql.exec<{ data: ArrayBuffer }>("SELECT data FROM chunks WHERE seq = ?", seq).one();
    return new Uint8Array(row.data);
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }

  private idleCheck(): void {
    if (this.done && this.readers === 0 && !this.disposed) {
      this.disposed = true;
      this.sql.exec("DELETE FROM chunks");
      this.onIdle();
    }
  }
}
