import type { Log } from "../mirror/types";
import { type Digest, parseDigest } from "../oci/digest";
import type { BlobStore, MultipartWatch } from "../storage/blob-store";
import { OpenMultiparts } from "../storage/open-multipart";
import { describe } from "./log";

/** Alarms that try to abort a multipart upload an earlier instance left, before it is left to the bucket's rule. */
const ABORT_ATTEMPTS = 3;

/** When the fill object's alarm looks again: while downloads of ours run, and after an abort failed. */
export interface LeftoverTimes {
  readonly sweepMs: number;
  readonly retryMs: number;
}

/**
 * The multipart uploads a fill object's store-through downloads open in the store: each is recorded
 * in the object's SQLite while it is open (and the alarm set), so that one an evicted instance left is
 * aborted by the object's own alarm, not left to the bucket's lifecycle rule.
 */
export class MultipartLeftovers {
  private readonly open: OpenMultiparts;
  /** Uploads this instance's downloads have open: the alarm leaves them alone. */
  private readonly own = new Set<string>();

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly times: LeftoverTimes,
  ) {
    this.open = new OpenMultiparts(ctx.storage.sql);
  }

  /** What a store-through download of `digest` tells when it opens and ends a multipart upload. */
  watch(log: Log, digest: Digest): MultipartWatch {
    return {
      begun: (uploadId, key) => {
        this.own.add(uploadId);
        try {
          this.open.begun({ uploadId, digest: digest.value, key });
        } catch (error) {
          // Storage refused the record: the store goes on; only an eviction now would leave the upload.
          log({ event: "blob.multipart_unrecorded", digest: digest.value, error: describe(error) });
          return;
        }
        const storage = this.ctx.storage;
        this.ctx.waitUntil(
          storage
            .getAlarm()
            .then((at) => (at === null ? storage.setAlarm(Date.now() + this.times.sweepMs) : undefined))
            .catch(() => {}),
        );
      },
      ended: (uploadId, open) => {
        this.own.delete(uploadId);
        // Still open (its abort failed): the record stays, and the alarm aborts it.
        if (open) return;
        try {
          this.open.ended(uploadId);
        } catch {
          // The record stays: the alarm's abort of an upload already over is harmless.
        }
      },
    };
  }

  /**
   * Aborts the recorded uploads no download of this instance runs (an earlier instance died mid-way),
   * and forgets them; sets the alarm to look again later while ours run or an abort failed.
   */
  async abortLeft(store: BlobStore, log: Log): Promise<void> {
    let again: number | null = this.own.size > 0 ? this.times.sweepMs : null;
    for (const upload of this.open.list()) {
      if (this.own.has(upload.uploadId)) continue;
      const details = { digest: upload.digest, key: upload.key };
      try {
        await store.abortParts(parseDigest(upload.digest), upload.uploadId);
        this.open.ended(upload.uploadId);
        log({ event: "blob.multipart_aborted", ...details });
      } catch (error) {
        if (upload.aborts + 1 >= ABORT_ATTEMPTS) {
          this.open.ended(upload.uploadId);
          log({ event: "blob.multipart_abort_failed", ...details, error: describe(error) });
        } else {
          this.open.abortFailed(upload.uploadId);
          again = this.times.retryMs;
        }
      }
    }
    if (again !== null) await this.ctx.storage.setAlarm(Date.now() + again);
  }
}
