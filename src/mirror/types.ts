/** How a response was served, reported to clients as `X-Mirror-Cache`. */
export type CacheStatus = "HIT" | "MISS" | "REVALIDATED";

/** Keeps work (a cache fill) going after the response is sent: `ctx.waitUntil` in the Worker. */
export type Background = (work: Promise<unknown>) => void;

/** One structured log line. Callers never pass secrets. */
export type Log = (fields: Record<string, string | number | boolean | undefined>) => void;
