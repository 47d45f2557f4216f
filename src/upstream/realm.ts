/**
 * Which token realms the mirror may send an upstream's credentials to. A realm is named by a 401 from
 * the upstream, so an upstream (or anything that answers in its place) could otherwise send the mirror's
 * Basic credentials to any host. The rule: `https` (plain `http` only when the upstream itself is
 * plain `http`, e.g. a loopback registry), and a host in the upstream's registrable domain or in its
 * configured `authHosts`.
 */

/** What the policy needs to know of an upstream. */
export interface RealmPolicy {
  /** The upstream's URL, e.g. `https://registry-1.docker.io`. */
  readonly url: string;
  /** Extra realm host names the operator trusts for this upstream (lower case, no port). */
  readonly authHosts: readonly string[];
}

/**
 * Second-level labels under a two-letter country code that act as public suffixes (`co.uk`, `com.au`,
 * `ac.jp`…): a small approximation of the Public Suffix List, without a dependency. Its limit: under an
 * unlisted multi-label suffix (`github.io`, `herokuapp.com`) the domain comes out one label too wide, so
 * every site under that suffix would count as the upstream's; the well-known registries are unaffected.
 */
const SECOND_LEVEL = new Set([
  "ac",
  "co",
  "com",
  "edu",
  "gen",
  "go",
  "gob",
  "gov",
  "ltd",
  "ne",
  "net",
  "or",
  "org",
]);

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** Host name without a trailing dot, lower case. */
function normalHost(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, "");
}

/**
 * The registrable domain of a host name: its last two labels, or three when the second-to-last is a
 * public-suffix-like label under a country code (`registry.example.co.uk` → `example.co.uk`).
 * Null for IP addresses and single-label names (`localhost`): those only match themselves.
 */
export function registrableDomain(hostname: string): string | null {
  const host = normalHost(hostname);
  if (IPV4.test(host) || host.startsWith("[") || !host.includes(".")) return null;
  const labels = host.split(".");
  const last = labels.at(-1) ?? "";
  const second = labels.at(-2) ?? "";
  const count = /^[a-z]{2}$/.test(last) && SECOND_LEVEL.has(second) && labels.length >= 3 ? 3 : 2;
  return labels.slice(-count).join(".");
}

/** Why a realm is refused, for the operator's error message; null when the realm may be asked. */
export function realmRefusal(realm: URL, policy: RealmPolicy): string | null {
  const upstream = new URL(policy.url);
  const httpAllowed = upstream.protocol === "http:";
  if (realm.protocol !== "https:" && !(httpAllowed && realm.protocol === "http:")) {
    return httpAllowed ? "its scheme is not http(s)" : "it is not https";
  }
  if (realm.username || realm.password) return "it carries credentials";
  const host = normalHost(realm.hostname);
  if (policy.authHosts.includes(host)) return null;
  const upstreamHost = normalHost(upstream.hostname);
  if (host === upstreamHost) return null;
  const domain = registrableDomain(upstreamHost);
  if (domain && (host === domain || host.endsWith(`.${domain}`))) return null;
  return "its host is neither in the upstream's domain nor in its authHosts";
}
