import type { Digest } from "../oci/digest";
import type { ByteRange } from "../oci/range";
import type { BlobStore } from "./blob-store";

/**
 * The three ways a blob fill object keeps a download for its readers: a spool in its SQLite storage
 * (`sqlite-fill.ts`), a spool in memory for small blobs (`memory-fill.ts`), or none at all for blobs too
 * large to spool, stored as they stream to their first client (`through-fill.ts`); on the Workers Free
 * plan a fourth, piped into the store with no reader (`piped-fill.ts`). The fill engine
 * (platform/fill-engine.ts) drives each through the same states; how the bytes reach the store is each
 * way's own (`Fill.store`).
 */
export type FillWay = "sqlite" | "memory" | "through" | "piped";

/** How a download ended: the blob's bytes, or why not. */
export type DownloadEnd =
  | { readonly verified: true }
  | {
      readonly verified: false;
      /** rejected: wrong bytes; fill_failed: the upstream failed; spool_failed: storage refused the spool. */
      readonly cause: "rejected" | "fill_failed" | "spool_failed";
      readonly error?: string;
    };

/** Details a step reports for the log (never credentials). */
export type StepDetails = Readonly<Record<string, string | number | boolean | undefined>>;

/** The steps of a fill's store, as it takes them: the engine makes each a state of the fill. */
export interface StoreSteps {
  /** The verified bytes are held for their upload (again, after an upload that was refused). */
  verified(details?: StepDetails): void;
  /** The bytes go to the store. */
  uploading(details?: StepDetails): void;
}

/** Where a fill's verified bytes ended up. */
export type StoreOutcome =
  | { readonly kind: "stored"; readonly details?: StepDetails }
  /** `error`: what the store or storage threw, if anything (the engine describes it for the log). */
  | { readonly kind: "failed"; readonly error?: unknown }
  /** Recorded in the object's storage for its alarm, which uploads them in steps. */
  | { readonly kind: "pending"; readonly upload: ResumableUpload };

export interface Fill {
  readonly way: FillWay;
  /**
   * Small enough to be over soon (a spool in memory): its start is logged with its end, on one line.
   * Any other download takes a while, and its start is logged when the upstream answers.
   */
  readonly quick: boolean;
  /** Keeps rows in the object's storage while it downloads: rows an evicted instance leaves need a sweep. */
  readonly rowsInStorage: boolean;
  /** Length of the whole blob. */
  readonly size: number;
  /** Downloaded with upstream credentials: readers from other repositories need confirmation. */
  readonly restricted: boolean;
  /** Settles (never rejects) once the download is over, with its verdict. */
  readonly downloaded: Promise<DownloadEnd>;
  /**
   * A client's body: the whole blob, or a range (checked against the size); null when this fill cannot
   * give it (the client then goes to the upstream). The last bytes come only once verified.
   */
  read(range: ByteRange | null): ReadableStream<Uint8Array> | null;
  /** Its bytes are gone (or were never readable from the start): the Worker looks in the store. */
  readonly gone: boolean;
  /** The fill no longer needs its bytes: they go once its last reader is done. */
  release(): void;
  /**
   * After a verified download: the bytes go to the store this fill's way, each step told to `steps`.
   * Never rejects.
   */
  store(steps: StoreSteps): Promise<StoreOutcome>;
}

/** What one upload step (one alarm invocation) may do. */
export interface UploadLimits {
  /** Blobs above this (or above 2 GiB) go in parts (R2 multipart); up to it, in one put R2 checks itself. */
  readonly multipartThreshold: number;
  /**
   * Parts one invocation puts at most: with the begin and the complete, its R2 calls stay within the
   * ~1,000 operations an invocation may make.
   */
  readonly partsPerStep: number;
  /** Wall time one invocation starts new parts within (an alarm may run 15 minutes: keep well under). */
  readonly msPerStep: number;
  /** Steps in a row that may fail (or be killed) before the upload is given up. */
  readonly attempts: number;
}

/** How an upload step ended. */
export type UploadStep =
  | { readonly kind: "stored"; readonly parts: number; readonly resumedAt: number }
  /** Parts went up, more remain: the next step goes on. */
  | { readonly kind: "more"; readonly parts: number; readonly resumedAt: number }
  | { readonly kind: "refused"; readonly error: string }
  /** Too many steps failed: nothing more is tried (see abandon). */
  | { readonly kind: "exhausted"; readonly attempts: number };

/**
 * Verified bytes recorded in the object's storage, uploaded by its alarms a step at a time; it outlives
 * a restart of the object (see SqliteFill.resume).
 */
export interface ResumableUpload {
  readonly way: FillWay;
  readonly size: number;
  /** One step, within `limits`; each attempt is counted before anything is tried. */
  uploadStep(store: BlobStore, digest: Digest, limits: UploadLimits): Promise<UploadStep>;
  /** Gives the upload up: a multipart upload begun is aborted, and the record goes. */
  abandon(store: BlobStore, digest: Digest): Promise<void>;
  /** Stored, or not to be uploaded after all: the record goes (the bytes go with their readers). */
  forget(): void;
}
