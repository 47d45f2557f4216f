import type { UpstreamConfig } from "../config";
import { RegistryError } from "../oci/errors";
import { matchesAny } from "../util/glob";
import type { Identity } from "./auth";

/**
 * May this client pull this repository? The upstream's deny and allow lists (upstream names, e.g.
 * `library/*`), then the user's own patterns (`<prefix>/<name>`). A refusal is DENIED, before any
 * upstream request.
 */
export function checkAccess(identity: Identity, upstream: UpstreamConfig, name: string): void {
  if (matchesAny(upstream.deny, name) || (upstream.allow.length > 0 && !matchesAny(upstream.allow, name))) {
    throw denied(`repository "${name}" is not mirrored from upstream "${upstream.prefix}"`);
  }
  const allow = identity.user?.allow;
  if (allow && !matchesAny(allow, `${upstream.prefix}/${name}`)) {
    throw denied(`user "${identity.user?.name}" may not pull "${upstream.prefix}/${name}"`);
  }
}

function denied(message: string): RegistryError {
  return new RegistryError(403, "DENIED", message);
}
