/**
 * A URL the mirror may fetch keys from or post secrets to: `https:` anywhere, plain `http:` only to a
 * loopback host (a local issuer or receiver while testing), never with credentials or a fragment in it.
 * Anything fetched in the clear over a network could be swapped or read by anyone on the path.
 */
export function isHttpsOrLoopback(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password || url.hash) return false;
  if (url.protocol === "https:") return true;
  // URL lower-cases the host name: "LOCALHOST" arrives as "localhost".
  return url.protocol === "http:" && isLoopback(url.hostname);
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}
