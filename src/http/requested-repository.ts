import type { Config, UpstreamConfig } from "../config";
import { nameUnknown } from "../oci/errors";
import { assertValidName } from "../oci/names";

/** The repository a registry request names, as the upstream knows it. */
export interface RequestedRepository {
  readonly upstream: UpstreamConfig;
  /** The repository name as the upstream knows it (with `library/` where the upstream wants it). */
  readonly name: string;
  /** The path the client used up to and including the repository name, for links back to it. */
  readonly clientBase: string;
}

export interface RepositoryPath {
  /** The first path segment of `/<prefix>/v2/…`, when the client used that form. */
  readonly pathPrefix?: string;
  /** Everything between `/v2/` and the endpoint, e.g. `quay/coreos/etcd`. */
  readonly name: string;
  /** containerd's `?ns=<registry host>`. */
  readonly ns?: string | null;
}

/**
 * Picks the upstream and the upstream's repository name for a request. Only configured upstreams are
 * ever chosen: an unknown prefix or `ns` host is an error, never a fetch of some other host.
 *
 * - `/<prefix>/v2/<name>/…` (Docker ≥ 25 mirror URL with a path, containerd's default): the prefix.
 * - `/v2/<name>/…?ns=<host>` (containerd): the upstream whose `hosts` has that host; a leading
 *   `<prefix>/` of that same upstream is dropped (containerd with `override_path`).
 * - `/v2/<prefix>/<name>/…` (podman, skopeo, BuildKit prefix mirrors): the prefix.
 * - `/v2/<name>/…` (Docker's `registry-mirrors`): the default upstream.
 */
export function repositoryOf(config: Config, path: RepositoryPath): RequestedRepository {
  const nsUpstream = path.ns ? config.byHost.get(path.ns.toLowerCase()) : undefined;
  if (path.ns && !nsUpstream)
    throw nameUnknown(`registry host "${path.ns.slice(0, 100)}" is not mirrored here`);

  if (path.pathPrefix !== undefined) {
    const upstream = config.upstreams.get(path.pathPrefix);
    if (!upstream) throw nameUnknown(`unknown upstream prefix "${path.pathPrefix.slice(0, 64)}"`);
    return requested(upstream, path.name, `/${path.pathPrefix}/v2/${path.name}`);
  }

  const slash = path.name.indexOf("/");
  const first = slash > 0 ? path.name.slice(0, slash) : "";
  const rest = slash > 0 ? path.name.slice(slash + 1) : "";
  const prefixed = first ? config.upstreams.get(first) : undefined;

  if (nsUpstream) {
    const name = prefixed === nsUpstream ? rest : path.name;
    return requested(nsUpstream, name, `/v2/${path.name}`);
  }
  if (prefixed) return requested(prefixed, rest, `/v2/${path.name}`);
  if (config.defaultUpstream) return requested(config.defaultUpstream, path.name, `/v2/${path.name}`);
  throw nameUnknown(
    `no upstream prefix in "${path.name.slice(0, 100)}" and no default upstream is configured`,
  );
}

function requested(upstream: UpstreamConfig, clientName: string, clientBase: string): RequestedRepository {
  assertValidName(clientName);
  const name = upstream.library && !clientName.includes("/") ? `library/${clientName}` : clientName;
  assertValidName(name);
  return { upstream, name, clientBase };
}
