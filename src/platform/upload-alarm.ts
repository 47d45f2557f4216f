import type { Config, UpstreamConfig } from "../config";
import type { Log } from "../mirror/types";
import { type Digest, parseDigest } from "../oci/digest";
import type { BlobStore } from "../storage/blob-store";
import type { ResumableUpload, UploadLimits } from "../storage/fill";
import { PendingUploads } from "../storage/pending-upload";
import { Spool } from "../storage/spool";
import { SqliteFill } from "../storage/sqlite-fill";
import type { FillMachine, TransitionDetails } from "./fill-machine";

/** Wait before the step after one the store refused. */
export const RETRY_MS = 5_000;

/**
 * While a download spools into SQLite (or stores through with a multipart upload open), the object's
 * alarm looks this often whether it (or, once it is over, a reader of its rows) still runs: an
 * instance evicted meanwhile leaves rows (or an open upload) nothing else would delete (or abort),
 * and the next alarm (in a fresh instance) does.
 */
export const SWEEP_MS = 2 * 60_000;

/**
 * Upload steps (alarm invocations): an alarm may run 15 minutes and make ~1,000 operations; a step
 * starts no part after 5 minutes (a part takes seconds) and puts at most 500 (plus begin and complete).
 * Three steps in a row that fail (or are killed) give the upload up.
 */
export const UPLOAD_LIMITS: Omit<UploadLimits, "multipartThreshold"> = {
  partsPerStep: 500,
  msPerStep: 5 * 60_000,
  attempts: 3,
};

/** The object's alarm rings within `ms`: set so, unless it is set to ring sooner already. */
export async function alarmWithin(storage: DurableObjectStorage, ms: number): Promise<void> {
  const at = await storage.getAlarm();
  if (at === null || at > Date.now() + ms) await storage.setAlarm(Date.now() + ms);
}

/** A verified spool an earlier instance of the object left with its upload pending. */
export interface TakenUp {
  readonly upstream: UpstreamConfig;
  readonly name: string;
  readonly digest: Digest;
  readonly upload: SqliteFill;
}

/** How an alarm's step left the fill: over (the engine ends it), or waiting for the next alarm. */
export type StepEnd = { readonly state: "stored" | "abandoned"; readonly details: TransitionDetails } | null;

/**
 * What a fill object's alarm does for a verified spool whose upload was left to it (see Fill.store): it
 * takes the spool up from storage in a fresh instance, and uploads it one step per alarm, each step a
 * pair of transitions of the fill's machine. Rows no download or upload owns any more are swept here too.
 */
export class UploadAlarm {
  private readonly pending: PendingUploads;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly limits: Omit<UploadLimits, "multipartThreshold"> = UPLOAD_LIMITS,
  ) {
    this.pending = new PendingUploads(ctx.storage.sql);
  }

  /** A verified spool waits in storage for its upload. */
  get waiting(): boolean {
    return this.pending.get() !== null;
  }

  /**
   * The spool an earlier instance left, to be uploaded by this one. Null: none, or one this instance
   * cannot upload (its upstream is no longer configured, or its rows are gone): dropped, with its
   * multipart upload aborted, and logged.
   */
  takeUp(upstreams: Config["upstreams"], store: BlobStore, log: Log): TakenUp | null {
    const pending = this.pending.get();
    if (!pending) return null;
    const digest = parseDigest(pending.digest);
    const upstream = upstreams.get(pending.upstream);
    const upload = upstream ? SqliteFill.resume(this.ctx.storage.sql, pending) : null;
    if (!upstream || !upload) {
      log({ event: "blob.pending_dropped", digest: pending.digest, upstream: pending.upstream });
      const uploadId = pending.uploadId;
      if (uploadId) this.ctx.waitUntil(store.abortParts(digest, uploadId).catch(() => {}));
      this.pending.clear();
      Spool.clear(this.ctx.storage.sql);
      return null;
    }
    // The old instance's alarm normally still stands; set one only if it was lost.
    const storage = this.ctx.storage;
    this.ctx.waitUntil(
      storage
        .getAlarm()
        .then((at) => (at === null ? storage.setAlarm(Date.now()) : undefined))
        .catch(() => {}),
    );
    return { upstream, name: pending.name, digest, upload };
  }

  /**
   * One step of `upload`: verified → uploading, then stored or abandoned (returned: the engine ends the
   * fill), or back to verified with the next alarm set (more parts to put, or a refusal to retry).
   */
  async step(
    machine: FillMachine,
    upload: ResumableUpload,
    store: BlobStore,
    digest: Digest,
    multipartThreshold: number,
  ): Promise<StepEnd> {
    // Uploading already (a second alarm would store the blob twice), or over.
    if (!machine.is("verified")) return null;
    machine.to("uploading", { way: upload.way });
    let step: Awaited<ReturnType<ResumableUpload["uploadStep"]>>;
    try {
      step = await upload.uploadStep(store, digest, { ...this.limits, multipartThreshold });
    } catch (error) {
      // Its storage failed: the platform retries the alarm (the attempt was counted, or nothing done).
      machine.to("verified", { cause: "upload_threw" });
      throw error;
    }
    const size = upload.size;
    switch (step.kind) {
      case "stored":
        upload.forget();
        return {
          state: "stored",
          details: { size, way: upload.way, parts: step.parts, resumedAt: step.resumedAt },
        };
      case "more":
        machine.to("verified", { parts: step.parts, resumedAt: step.resumedAt });
        await this.ctx.storage.setAlarm(Date.now());
        return null;
      case "refused":
        machine.to("verified", { cause: "store_refused", error: step.error });
        await this.ctx.storage.setAlarm(Date.now() + RETRY_MS);
        return null;
      case "exhausted":
        await upload.abandon(store, digest);
        return { state: "abandoned", details: { size, attempts: step.attempts } };
    }
  }

  /**
   * No download and no upload: rows an evicted download left go, their tables with them. A spool a
   * slow reader still reads keeps its rows (they go with its last reader), and is looked at again:
   * an instance evicted meanwhile leaves them to the next sweep.
   */
  async sweep(): Promise<void> {
    if (Spool.clear(this.ctx.storage.sql) > 0) await alarmWithin(this.ctx.storage, SWEEP_MS);
  }
}
