import type { ByteRange, RangeSpec } from "../oci/range";

/** What the Worker asks of a digest's object (plain data: it crosses the RPC boundary). */
export interface BlobJob {
  readonly upstream: string;
  readonly name: string;
  readonly digest: string;
  /** HEAD: the size only. */
  readonly method: "GET" | "HEAD";
  /** A part of the blob; with a range (or HEAD) the object only joins a download in progress. */
  readonly range: RangeSpec | null;
}

/**
 * The object's answer: the download's bytes (or size); "elsewhere": stored meanwhile, or none in
 * progress; "upstream": a download this client cannot share is in progress (too large to spool: only
 * the client that started it gets its bytes; or its spool lost to storage): fetch them from the upstream.
 */
export type OpenedBlob =
  | { readonly kind: "elsewhere" }
  | { readonly kind: "upstream" }
  | {
      readonly kind: "download";
      readonly size: number;
      /** Null for HEAD. */
      readonly body: ReadableStream<Uint8Array> | null;
      readonly range?: ByteRange;
    };
