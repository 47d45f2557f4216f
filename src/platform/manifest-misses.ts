import { DurableObject } from "cloudflare:workers";
import type { Config, UpstreamConfig } from "../config";
import type { ManifestMirror, ManifestResult } from "../mirror/manifests";
import { nameUnknown } from "../oci/errors";
import { parseAccept } from "../oci/media-types";
import { parseReference } from "../oci/reference";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { type HeardOutcome, heard, outcomeOf } from "./outcome";

/** What a manifest miss needs, handed over by the composition root (see platform/objects.ts). */
export interface ManifestMissServices {
  readonly config: Pick<Config, "upstreams" | "coloCache">;
  registry(upstream: UpstreamConfig): RemoteRegistry;
  readonly manifestMirror: ManifestMirror;
  readonly stats: { flushIfDue(): Promise<void> };
  /** Statuses of the upstream answers this call caused, for the Worker's audit line. */
  readonly upstreamStatuses: readonly number[];
}

/** A manifest request as the Worker hands it over: plain data, so it crosses the RPC boundary. */
export interface ManifestJob {
  readonly upstream: string;
  readonly name: string;
  /** A tag or a digest. */
  readonly reference: string;
  /** The `Accept` value to ask the upstream with. */
  readonly accept: string;
  readonly method: "GET" | "HEAD";
  /** The host the client reached the mirror at. */
  readonly via?: string;
}

export type ManifestOutcome = HeardOutcome<ManifestResult>;

/**
 * One instance per repository reference (`idFromName("<prefix>/<name>:<reference>")`): concurrent
 * cache misses of one manifest, from any isolate, wait for a single upstream request.
 */
export class ManifestMisses extends DurableObject<unknown> {
  private readonly inflight = new Map<string, Promise<ManifestOutcome>>();

  constructor(
    ctx: DurableObjectState,
    env: unknown,
    private readonly services: () => ManifestMissServices,
  ) {
    super(ctx, env);
  }

  async resolve(job: ManifestJob): Promise<ManifestOutcome> {
    // Clients that accept the same manifest types get the same answer, so they share the request.
    const key = JSON.stringify([job.reference, job.method, parseAccept(job.accept).variant]);
    const joined = this.inflight.get(key);
    if (joined) {
      // The upstream requests are counted for the client that caused them, not for those who joined.
      const { upstreamStatuses: _theirs, ...outcome } = await joined;
      return outcome.ok ? { ok: true, result: { ...outcome.result, counted: 0 } } : outcome;
    }
    const pending = this.run(job).finally(() => this.inflight.delete(key));
    this.inflight.set(key, pending);
    return pending;
  }

  private async run(job: ManifestJob): Promise<ManifestOutcome> {
    let statuses: readonly number[] = [];
    const outcome = await outcomeOf(async () => {
      const services = this.services();
      statuses = services.upstreamStatuses;
      const upstream = services.config.upstreams.get(job.upstream);
      if (!upstream) throw nameUnknown(`unknown upstream prefix "${job.upstream.slice(0, 64)}"`);
      const reference = parseReference(job.reference);
      const client = services.registry(upstream);
      try {
        const result = await services.manifestMirror.get({
          client,
          name: job.name,
          reference,
          accept: parseAccept(job.accept),
          method: job.method,
          // The cron's warm-up has no request: the configured custom domain, when there is one.
          ...viaOf(job.via ?? services.config.coloCache?.host),
        });
        return { ...result, counted: client.counted };
      } finally {
        // This isolate's upstream counts and quota readings reach the stats without waiting for a
        // client request to flush them.
        this.ctx.waitUntil(services.stats.flushIfDue().catch(() => {}));
      }
    }, "the manifest could not be fetched");
    // What the upstream answered goes to the audit line of the client that caused it.
    return heard(outcome, statuses);
  }
}

function viaOf(host: string | null | undefined): { via?: string } {
  return host ? { via: host } : {};
}
