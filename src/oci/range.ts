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
const OTHER_UNIT = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)=/;

/**
 * Parses a single-range `Range` header. A unit other than bytes is ignored (RFC 9110 §14.2: the whole
 * blob is served). Multiple byte ranges and malformed values are refused with 416: a registry client
 * never sends them, so they are mistakes worth reporting rather than ignoring.
 */
export function parseRange(header: string | null): RangeSpec | null {
  if (header === null) return null;
  const unit = OTHER_UNIT.exec(header.trim())?.[1];
  if (unit && unit.toLowerCase() !== "bytes") return null;
  const match = RANGE.exec(header.trim());
  if (!match) throw rangeInvalid(`unsupported Range "${header.slice(0, 60)}"`);
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") throw rangeInvalid("empty Range");
  if (first === "") return { kind: "suffix", length: Number(last) };
  const start = Number(first);
  if (last === "") return { kind: "from", start };
  const end = Number(last);
  if (end < start) throw rangeInvalid(`Range end ${end} is before its start ${start}`);
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

function rangeInvalid(message: string): RegistryError {
  return new RegistryError(416, "RANGE_INVALID", message);
}

function unsatisfiable(size: number): RegistryError {
  return new RegistryError(416, "RANGE_INVALID", "requested range is not satisfiable", {
    "Content-Range": `bytes */${size}`,
  });
}
