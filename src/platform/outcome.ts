import { RegistryError } from "../oci/errors";

/**
 * What a Durable Object answers over RPC: its result, or the registry error the Worker throws again.
 * Thrown errors would cross the boundary as plain Errors (status and code lost), so both fill objects
 * answer this way and nothing else.
 */
export type Outcome<T> =
  | { readonly ok: true; readonly result: T }
  | { readonly ok: false; readonly error: Pick<RegistryError, "status" | "code" | "message" | "headers"> };

/** Runs `work` into an outcome; a failure that is no registry error becomes a 502 with `fallback`. */
export async function outcomeOf<T>(work: () => Promise<T>, fallback: string): Promise<Outcome<T>> {
  try {
    return { ok: true, result: await work() };
  } catch (error) {
    const registryError =
      error instanceof RegistryError ? error : new RegistryError(502, "UNAVAILABLE", fallback);
    const { status, code, message, headers } = registryError;
    return { ok: false, error: { status, code, message, headers } };
  }
}

/** The result, or the registry error thrown again on this side. */
export function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.result;
  const { status, code, message, headers } = outcome.error;
  throw new RegistryError(status, code, message, headers);
}

/**
 * An object's outcome with the statuses of the upstream answers it got for this call: the Worker's audit
 * line reports them (`upstreamStatus`), as it does for the answers the Worker got itself.
 */
export type HeardOutcome<T> = Outcome<T> & { readonly upstreamStatuses?: readonly number[] };

/** `outcome` with a copy of `statuses` (the array goes on filling; the copy crosses the RPC boundary). */
export function heard<T>(outcome: Outcome<T>, statuses: readonly number[]): HeardOutcome<T> {
  return statuses.length > 0 ? { ...outcome, upstreamStatuses: [...statuses] } : outcome;
}
