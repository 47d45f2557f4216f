/**
 * Which token realms the mirror may send an upstream's credentials to. A realm is named by a 401 from
 * the upstream, so an upstream (or anything that answers in its place) could otherwise send the mirror's
 * Basic credentials to any host. The rule: `https` (plain `http` only when the upstream itself is
 * plain `http`, e.g. a loopback registry), and a host in the upstream's registrable domain or in its
 * configured `authHosts`.
 */
import { getDomain } from "tldts";

/** What the policy needs to know of an upstream. */
export interface RealmPolicy {
  /** The upstream's URL, e.g. `https://registry-1.docker.io`. */
  readonly url: string;
  /** Extra realm host names the operator trusts for this upstream (lower case, no port). */
  readonly authHosts: readonly string[];
}

/** Host name without a trailing dot, lower case. */
function normalHost(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, "");
}

/**
 * The registrable domain of a host name by the Public Suffix List, its private section included:
 * `registry.example.co.uk` → `example.co.uk`, `me.github.io` → `me.github.io` (each site under a
 * shared suffix is its own domain, not `github.io`). Null for IP addresses and names under no listed
 * suffix with a single label (`localhost`): those only match themselves.
 */
export function registrableDomain(hostname: string): string | null {
  const host = normalHost(hostname);
  if (host.startsWith("[") || !host.includes(".")) return null;
  return getDomain(host, { allowPrivateDomains: true });
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
