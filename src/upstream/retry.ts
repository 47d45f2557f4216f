import type { Fetcher } from "./redirects";

/**
 * A fetcher that tries a GET or HEAD once more when it got no answer at all (a connection refused or
 * reset before the response headers): such a request changed nothing upstream and costs no quota.
 *
 * Deliberately not retried: an answer, whatever its status (a 5xx or 429 is the upstream speaking: the
 * caching policy serves a stale copy and the client retries on its own schedule), and a request whose
 * signal was aborted (its time is up: the upstream's timeout covers both tries).
 */
export function retryingOnce(fetcher: Fetcher): Fetcher {
  return async (request) => {
    try {
      return await fetcher(request);
    } catch (error) {
      if (request.signal.aborted || (request.method !== "GET" && request.method !== "HEAD")) throw error;
      return fetcher(request);
    }
  };
}
