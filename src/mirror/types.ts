import { RegistryError } from "../oci/errors";

/** How a response was served, reported to clients as `X-Mirror-Cache`. */
export type CacheStatus = "HIT" | "MISS" | "REVALIDATED" | "STALE";

/** One structured log line. Callers never pass secrets. */
export type Log = (
  fields: Record<string, string | number | boolean | undefined | Readonly<Record<string, string>>>,
) => void;

/** Failures that say nothing about the content: worth serving a stale copy over. */
export function isUpstreamTrouble(error: unknown): boolean {
  return error instanceof RegistryError && (error.status === 429 || error.status >= 500);
}
