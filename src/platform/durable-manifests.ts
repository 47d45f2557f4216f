import type { ManifestMirror, ManifestRequest, ManifestResult, ManifestSource } from "../mirror/manifests";
import { referenceString } from "../oci/reference";
import type { ManifestMisses } from "./manifest-misses";
import { unwrap } from "./outcome";

/**
 * Serves fresh cache hits in the Worker itself; everything that needs the upstream goes through the
 * manifest's Durable Object, so concurrent misses make one upstream request.
 */
export class DurableManifests implements ManifestSource {
  constructor(
    private readonly mirror: ManifestMirror,
    private readonly misses: DurableObjectNamespace<ManifestMisses>,
  ) {}

  async get(request: ManifestRequest): Promise<ManifestResult> {
    const hit = await this.mirror.cached(request);
    if (hit) return hit;
    const reference = referenceString(request.reference);
    const upstream = request.client.upstream.prefix;
    const stub = this.misses.get(this.misses.idFromName(`${upstream}/${request.name}:${reference}`));
    const outcome = await stub.resolve({
      upstream,
      name: request.name,
      reference,
      accept: request.accept.header,
      method: request.method,
      ...(request.via ? { via: request.via } : {}),
    });
    return unwrap(outcome);
  }
}
