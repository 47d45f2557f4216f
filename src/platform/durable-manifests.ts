import type { ManifestMirror, ManifestRequest, ManifestResult, ManifestSource } from "../mirror/manifests";
import { referenceString } from "../oci/reference";
import type { ManifestMisses, ManifestOutcome } from "./manifest-misses";
import { unwrap } from "./outcome";

/**
 * Serves fresh cache hits in the Worker itself; everything that needs the upstream goes through the
 * manifest's Durable Object, so concurrent misses make one upstream request. An object that cannot be
 * reached (overloaded, reset by a deploy) fails no pull: the Worker serves the stale copy it holds, or
 * the upstream's answer without storing it (see ManifestMirror.withoutCoordination).
 */
export class DurableManifests implements ManifestSource {
  constructor(
    private readonly mirror: ManifestMirror,
    private readonly misses: DurableObjectNamespace<ManifestMisses>,
    /** Told when the reference's object could not be reached. */
    private readonly unreachable: (error: unknown) => void = () => {},
    /** Told the statuses of the upstream answers the object got for a call (for the audit line). */
    private readonly heard: (statuses: readonly number[]) => void = () => {},
  ) {}

  async get(request: ManifestRequest): Promise<ManifestResult> {
    const hit = await this.mirror.cached(request);
    if (hit) return hit;
    request.beforeUpstream?.();
    const reference = referenceString(request.reference);
    const upstream = request.client.upstream.prefix;
    let outcome: ManifestOutcome;
    try {
      const stub = this.misses.get(this.misses.idFromName(`${upstream}/${request.name}:${reference}`));
      outcome = await stub.resolve({
        upstream,
        name: request.name,
        reference,
        accept: request.accept.header,
        method: request.method,
        ...(request.via ? { via: request.via } : {}),
      });
    } catch (error) {
      // The object itself failed; its answers (registry errors included) come as outcomes, not here.
      this.unreachable(error);
      return this.mirror.withoutCoordination(request);
    }
    this.heard(outcome.upstreamStatuses ?? []);
    return unwrap(outcome);
  }
}
