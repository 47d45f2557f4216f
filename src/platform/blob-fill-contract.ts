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

/** The object's answer: the download's bytes (or size), or "elsewhere": stored meanwhile, or none in progress. */
export type OpenedBlob =
  | { readonly kind: "elsewhere" }
  | {
      readonly kind: "spool";
      readonly size: number;
      /** Null for HEAD. */
      readonly body: ReadableStream<Uint8Array> | null;
      readonly range?: ByteRange;
    };
