import type { Digest } from "../oci/digest";
import type { ByteRange } from "../oci/range";
import { givingWayToClients, uploadMayStart } from "../util/foreground";
import { metered } from "../util/held-bytes";
import { type BlobStore, partPlan } from "./blob-store";
import type {
  DownloadEnd,
  Fill,
  ResumableUpload,
  StoreOutcome,
  StoreSteps,
  UploadLimits,
  UploadStep,
} from "./fill";
import { type PendingUpload, PendingUploads } from "./pending-upload";
import { Spool } from "./spool";
import { spoolVerified } from "./spool-copy";

const MIB = 1024 * 1024;
/**
 * Spools above this go in parts whatever the multipart threshold: one put of several GiB could not be
 * resumed, and might outlast an alarm's 15 minutes. Up to it, one put: one R2 operation instead of one
 * per 5 MiB part, checked against the digest by R2 itself, and at worst re-sent whole by the next alarm
 * (within its 15 minutes, at any rate above 2.3 MB/s). Reading a multipart object back is also
 * ~10× the CPU of a plain one under `wrangler dev` (a 128 MiB blob's warm GET: 3.3 s against 0.2 s).
 */
const RESUMABLE_ABOVE = 2048 * MIB;

/**
 * A download spooled in the fill object's SQLite storage (see Spool): readers join it from the first
 * byte at their own pace; once verified it is recorded as a pending upload, and the object's alarm
 * uploads it in steps that each fit one invocation, recording every part that reached the store, so a
 * step cut off (by its own limits, or by the platform) is resumed by the next alarm at the next part.
 */
export class SqliteFill implements Fill, ResumableUpload {
  readonly way = "sqlite";
  readonly quick = false;
  readonly rowsInStorage = true;
  /**
   * The put that streams the spool to the store while it fills (true once stored); null when there
   * is none (too large for one put, or taken up after a restart): the alarm uploads it then.
   */
  private streamed: Promise<boolean> | null = null;

  private constructor(
    private readonly spool: Spool,
    private readonly pending: PendingUploads,
    readonly downloaded: Promise<DownloadEnd>,
    /** What its pending record says (it is recorded once the download is verified). */
    private readonly record: Omit<PendingUpload, "attempts" | "uploadId" | "spool">,
  ) {}

  /**
   * Spools the download; throws when storage refuses even an empty spool. With `streamTo`, a blob that
   * fits one put streams to the store as it spools: R2 checks the length and the digest itself and
   * keeps nothing else, the spool's last row waits for the verdict all the same, and the blob is in
   * the store about when its download ends, with no rows read back from SQLite for it.
   */
  static start(
    sql: SqlStorage,
    body: ReadableStream<Uint8Array>,
    digest: Digest,
    size: number,
    restricted: boolean,
    /** The repository it was downloaded for (`upstream` prefix and name), for its pending record. */
    owner: { readonly upstream: string; readonly name: string },
    readerWaitMs: number,
    streamTo: { readonly store: BlobStore; readonly multipartThreshold: number } | null = null,
  ): SqliteFill {
    const spool = Spool.create(sql, size, restricted, () => {});
    const fill = new SqliteFill(
      spool,
      new PendingUploads(sql),
      spoolVerified(body, spool, digest, readerWaitMs, true),
      { digest: digest.value, size, restricted, ...owner },
    );
    if (streamTo && size <= Math.min(streamTo.multipartThreshold, RESUMABLE_ABOVE)) {
      // The put sets the download's pace too (within the wait per chunk): behind the rows kept in
      // memory, it would read every row back from SQLite.
      const rows = metered(spool.reader({ background: true, paces: true }), MIB, size);
      fill.streamed = streamTo.store
        .put(digest, rows, size, { restricted })
        .catch(() => false)
        .then(async (stored) => {
          // A store that gave up without reading to the end must not keep the spool's reader.
          await rows.cancel().catch(() => {});
          return stored;
        });
    }
    return fill;
  }

  /**
   * The verified spool an earlier instance of the object left with its upload pending; null (the
   * record and rows dropped, an upload begun aborted by the caller) when its rows are not the whole blob.
   */
  static resume(sql: SqlStorage, pending: PendingUpload): SqliteFill | null {
    const spool = Spool.resume(sql, pending.spool, pending.size, pending.restricted, () => {});
    if (!spool) return null;
    return new SqliteFill(spool, new PendingUploads(sql), Promise.resolve({ verified: true }), pending);
  }

  get size(): number {
    return this.spool.size;
  }

  get restricted(): boolean {
    return this.spool.restricted;
  }

  get gone(): boolean {
    return this.spool.disposed;
  }

  /** Null once storage refused a row: the rows it lost are nowhere to read from the start. */
  read(range: ByteRange | null): ReadableStream<Uint8Array> | null {
    if (this.spool.storageFailed) return null;
    return this.spool.reader(range ? { range } : {});
  }

  release(): void {
    this.spool.release();
  }

  /**
   * Recorded as pending first (an instance that dies before the store has the blob leaves it to the
   * next alarm); then the put that streamed with the download, if any, ends with the last row, which
   * the verdict released. What it did not store is left to the object's alarm.
   */
  async store(steps: StoreSteps): Promise<StoreOutcome> {
    steps.verified({ size: this.size, way: this.way });
    let unkept: { readonly error: unknown } | null = null;
    try {
      this.pending.record({ ...this.record, spool: this.spool.table });
    } catch (error) {
      unkept = { error };
    }
    if (this.streamed) {
      steps.uploading({ way: this.way, streamed: true });
      if (await this.streamed) {
        this.forget();
        return { kind: "stored", details: { streamed: true } };
      }
      steps.verified({ cause: "store_refused", streamed: true });
    }
    // Storage refused the record: nothing is stored, the readers still got every byte.
    if (unkept !== null) {
      this.forget();
      return { kind: "failed", error: unkept.error };
    }
    return { kind: "pending", upload: this };
  }

  /**
   * One step of the upload. The attempt is counted in storage before anything is tried; past
   * `limits.attempts` failed steps in a row it ends "exhausted". Up to the multipart threshold the blob
   * goes in one put; above it part after part from where the last step stopped, each part recorded
   * once the store has it.
   */
  async uploadStep(store: BlobStore, digest: Digest, limits: UploadLimits): Promise<UploadStep> {
    const attempts = this.pending.countAttempt();
    if (attempts > limits.attempts) return { kind: "exhausted", attempts: attempts - 1 };
    const started = Date.now();
    const upload = this.pending.get();
    // The first step waits a moment for a pull's next request; a later one is no gap between requests.
    if (!upload?.uploadId && attempts === 1) await uploadMayStart(this.size);
    if (this.size <= Math.min(limits.multipartThreshold, RESUMABLE_ABOVE)) {
      const body = this.body(0, this.size);
      const stored = await store
        .put(digest, body, this.size, { restricted: this.restricted })
        .catch(() => false);
      // A store that gave up without reading to the end must not keep the spool's reader.
      await body.cancel().catch(() => {});
      return stored ? { kind: "stored", parts: 1, resumedAt: 1 } : { kind: "refused", error: "put refused" };
    }
    try {
      let uploadId = upload?.uploadId ?? null;
      if (!uploadId) {
        uploadId = await store.beginParts(digest, { restricted: this.restricted });
        this.pending.begun(uploadId);
      }
      const done = new Set(this.pending.parts().map((part) => part.partNumber));
      const { partSize, parts } = partPlan(this.size);
      let put = 0;
      let resumedAt = 0;
      for (let number = 1; number <= parts; number++) {
        if (done.has(number)) continue;
        if (put >= limits.partsPerStep || Date.now() - started >= limits.msPerStep) {
          return { kind: "more", parts: put, resumedAt };
        }
        if (!resumedAt) resumedAt = number;
        const offset = (number - 1) * partSize;
        const length = Math.min(partSize, this.size - offset);
        const body = this.body(offset, length);
        try {
          this.pending.partDone(await store.putPart(digest, uploadId, number, body, length));
        } finally {
          await body.cancel().catch(() => {});
        }
        put++;
      }
      await store.completeParts(digest, uploadId, this.pending.parts());
      return { kind: "stored", parts: put, resumedAt: resumedAt || parts };
    } catch (error) {
      return { kind: "refused", error: error instanceof Error ? error.message : "upload failed" };
    }
  }

  /** Gives the upload up: a multipart upload begun is aborted, and the record goes. */
  async abandon(store: BlobStore, digest: Digest): Promise<void> {
    const uploadId = this.pending.get()?.uploadId;
    if (uploadId) await store.abortParts(digest, uploadId).catch(() => {});
    this.pending.clear();
  }

  /** Stored: the record goes (the rows go with the spool, once its last reader is done). */
  forget(): void {
    this.pending.clear();
  }

  /** Bytes `offset`…`offset + length - 1` for the store: from SQLite, within the budget, yielding to clients. */
  private body(offset: number, length: number): ReadableStream<Uint8Array> {
    const rows = this.spool.reader({ range: { start: offset, end: offset + length - 1 }, background: true });
    return metered(givingWayToClients(rows), MIB, length);
  }
}
