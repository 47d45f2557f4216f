/** Docker Hub's quota headers (`ratelimit-limit`, `ratelimit-remaining`) and `Retry-After`, read. */

/** One reading of the `ratelimit-*` headers. */
export interface QuotaReading {
  readonly limit: number;
  readonly remaining: number;
  /** Seconds; 0 when the upstream did not say. */
  readonly window: number;
}

/** `100;w=21600` → 100 and 21600; null when it is not such a value. */
export function parseQuotaHeader(value: string | null): { count: number; window: number } | null {
  const match = /^\s*(\d{1,9})\s*(?:;\s*w\s*=\s*(\d{1,9}))?/.exec(value ?? "");
  if (!match?.[1]) return null;
  return { count: Number(match[1]), window: match[2] ? Number(match[2]) : 0 };
}

/** The reading of an answer's `ratelimit-limit` and `ratelimit-remaining`, or null when it has none. */
export function readQuota(headers: Headers): QuotaReading | null {
  const limit = parseQuotaHeader(headers.get("ratelimit-limit"));
  const remaining = parseQuotaHeader(headers.get("ratelimit-remaining"));
  if (!limit || !remaining) return null;
  return { limit: limit.count, remaining: remaining.count, window: remaining.window || limit.window };
}

/** Seconds of a numeric `Retry-After`, or of one given as an HTTP date; null otherwise. */
export function retryAfterSeconds(value: string | null, now: number): number | null {
  if (!value) return null;
  if (/^\s*\d{1,7}\s*$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}
