import { RegistryError } from "./errors";

/** A satisfiable byte range, inclusive offsets. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** A `bytes=` range as sent, before the size of the blob is known. */
export type RangeSpec =
  | { readonly kind: "from"; readonly start: number; readonly end?: number }
  | { readonly kind: "suffix"; readonly length: number };

const RANGE = /^bytes=(\d{0,15})-(\d{0,15})$/i;

/**
 * Parses a single-range `Range` header; null means "serve the whole blob". RFC 9110 §14.2 lets a server
 * ignore a Range it does not support or cannot parse: another unit, several ranges (registry clients
 * never ask for them, and a multipart answer would only be a way to make the mirror work), and a
 * malformed value are all answered 200 with the whole blob. Only a well-formed range that lies outside
 * the blob is refused (416, see `resolveRange`).
 */
export function parseRange(header: string | null): RangeSpec | null {
  if (header === null) return null;
  const match = RANGE.exec(header.trim());
  if (!match) return null;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return null;
  if (first === "") return { kind: "suffix", length: Number(last) };
  const start = Number(first);
  if (last === "") return { kind: "from", start };
  const end = Number(last);
  // An end before its start makes the range invalid, hence ignored (RFC 9110 §14.1.1).
  if (end < start) return null;
  return { kind: "from", start, end };
}

/** The `Range` header that asks for `spec` again (of an upstream, or of a fill object). */
export function rangeHeader(spec: RangeSpec): string {
  return spec.kind === "suffix" ? `bytes=-${spec.length}` : `bytes=${spec.start}-${spec.end ?? ""}`;
}

/** Resolves a range against the blob size; throws 416 when nothing of it lies inside the blob. */
export function resolveRange(spec: RangeSpec, size: number): ByteRange {
  if (spec.kind === "suffix") {
    if (spec.length === 0 || size === 0) throw unsatisfiable(size);
    return { start: Math.max(0, size - spec.length), end: size - 1 };
  }
  if (spec.start >= size) throw unsatisfiable(size);
  return { start: spec.start, end: Math.min(spec.end ?? size - 1, size - 1) };
}

function unsatisfiable(size: number): RegistryError {
  return new RegistryError(416, "RANGE_INVALID", "requested range is not satisfiable", {
    "Content-Range": `bytes */${size}`,
  });
}
