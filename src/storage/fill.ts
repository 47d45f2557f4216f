import type { ByteRange } from "../oci/range";

/**
 * The three ways a blob fill object keeps a download for its readers: a spool in its SQLite storage
 * (`sqlite-fill.ts`), a spool in memory for small blobs (`memory-fill.ts`), or none at all for blobs too
 * large to spool, stored as they stream to their first client (`through-fill.ts`); on the Workers Free
 * plan a fourth, piped into the store with no reader (`piped-fill.ts`). The fill engine
 * (platform/fill-engine.ts) drives each through the same states; how the bytes reach the store is each
 * way's own (`FillWay`).
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

export interface Fill {
  readonly way: FillWay;
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
}
