import type { ManifestMirror, ManifestRequest, ManifestResolver, ManifestResult } from "../mirror/manifests";
import { referenceString } from "../oci/reference";
import type { ManifestFill } from "./manifest-fill";
import { unwrap } from "./outcome";

/**
 * Serves fresh cache hits in the Worker itself; everything that needs the upstream goes through the
 * manifest's Durable Object, so concurrent misses make one upstream request.
 */
export class CoalescingManifests implements ManifestResolver {
  constructor(
    private readonly mirror: ManifestMirror,
    private readonly fills: DurableObjectNamespace<ManifestFill>,
  ) {}

  async get(request: ManifestRequest): Promise<ManifestResult> {
    const hit = await this.mirror.cached(request);
    if (hit) return hit;
    const reference = referenceString(request.reference);
    const upstream = request.client.upstream.prefix;
    const stub = this.fills.get(this.fills.idFromName(`${upstream}/${request.name}:${reference}`));
    const outcome = await stub.resolve({
      upstream,
      name: request.name,
      reference,
      accept: request.accept.header,
      method: request.method,
    });
    return unwrap(outcome);
  }
}
