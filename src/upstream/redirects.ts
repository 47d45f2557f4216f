import { RegistryError } from "../oci/errors";

export type Fetcher = (request: Request) => Promise<Response>;

export interface RedirectingRequest {
  readonly method: "GET" | "HEAD";
  readonly headers: Headers;
  /** Sent only to `authorizedOrigin`, never to a host a redirect leads to (a CDN, a signed URL). */
  readonly authorization: string | null;
  readonly authorizedOrigin: string;
}

/** Registries redirect blobs (and sometimes manifests) to CDNs; more hops than this is a loop. */
export const MAX_REDIRECTS = 5;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Fetches with `redirect: "manual"` and follows the hops itself, so the upstream's `Authorization`
 * is attached per hop and only where the origin is the upstream's own. A 401 is returned only from
 * that origin: a 401 from anywhere else throws, so no caller can mistake it for the upstream's challenge.
 */
export async function fetchFollowingRedirects(
  fetcher: Fetcher,
  url: URL,
  request: RedirectingRequest,
): Promise<Response> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers = new Headers(request.headers);
    if (request.authorization && current.origin === request.authorizedOrigin) {
      headers.set("Authorization", request.authorization);
    }
    const response = await fetcher(
      new Request(current, { method: request.method, headers, redirect: "manual" }),
    );
    if (response.status === 401 && current.origin !== request.authorizedOrigin) {
      // A redirect target (a CDN, a signed URL) that asks for credentials names a realm the mirror must
      // never log in to: it is a failed fetch, not a challenge.
      await response.body?.cancel();
      throw new RegistryError(
        502,
        "UNAVAILABLE",
        `upstream's redirect target ${current.host} refused the request (401)`,
      );
    }
    const location = response.headers.get("Location");
    if (!REDIRECT_STATUSES.has(response.status) || !location) return response;
    await response.body?.cancel();
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new RegistryError(502, "UNAVAILABLE", "upstream redirected to an invalid URL");
    }
    if (next.protocol !== "https:" && next.protocol !== "http:") {
      throw new RegistryError(502, "UNAVAILABLE", "upstream redirected to a URL that is not http(s)");
    }
    current = next;
  }
  throw new RegistryError(502, "UNAVAILABLE", `upstream redirected more than ${MAX_REDIRECTS} times`);
}
