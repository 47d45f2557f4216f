import type { MirrorUser } from "../auth/users";
import type { UpstreamConfig } from "../config";
import { RegistryError } from "../oci/errors";
import { matchesAny } from "../util/glob";

/** What the answer depends on: the upstream's lists, and the user's patterns. */
type Lists = Pick<UpstreamConfig, "prefix" | "allow" | "deny">;
type Puller = Pick<MirrorUser, "name" | "allow"> | null;

/**
 * May this client pull this repository? The upstream's deny and allow lists (upstream names, e.g.
 * `library/*`), then the user's own patterns (`<prefix>/<name>`). A refusal is DENIED, before any
 * upstream request. `user`: null when client authentication is off.
 */
export function checkPull(user: Puller, upstream: Lists, name: string): void {
  if (matchesAny(upstream.deny, name) || (upstream.allow.length > 0 && !matchesAny(upstream.allow, name))) {
    throw denied(`repository "${name}" is not mirrored from upstream "${upstream.prefix}"`);
  }
  if (user?.allow && !matchesAny(user.allow, `${upstream.prefix}/${name}`)) {
    throw denied(`user "${user.name}" may not pull "${upstream.prefix}/${name}"`);
  }
}

/** The same answer as a yes or no (the catalog lists only what the client may pull). */
export function mayPull(user: Puller, upstream: Lists, name: string): boolean {
  try {
    checkPull(user, upstream, name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether nothing the mirror holds is hidden from this client by a list: no patterns of its own, no
 * upstream allow or deny list. (Rows of an upstream no longer configured are hidden from everyone.)
 */
export function seesEveryRepository(user: Puller, upstreams: readonly Lists[]): boolean {
  return (
    !user?.allow && upstreams.every((upstream) => upstream.allow.length === 0 && upstream.deny.length === 0)
  );
}

function denied(message: string): RegistryError {
  return new RegistryError(403, "DENIED", message);
}
