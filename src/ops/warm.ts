import type { Config, UpstreamConfig } from "../config";
import type { WarmImage } from "../config/warm-images";
import type { BlobMirror } from "../mirror/blobs";
import type { ManifestMirror, ManifestResult, ManifestSource } from "../mirror/manifests";
import type { Log } from "../mirror/types";
import { type Digest, parseDigest } from "../oci/digest";
import { imageBlobDigests, indexEntries } from "../oci/manifest";
import { MediaType, parseAccept } from "../oci/media-types";
import { digestReference, parseReference, type Reference } from "../oci/reference";
import type { BlobStore } from "../storage/blob-store";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { OpBudget } from "../util/op-budget";

/** What a warm-up uses of the mirror's services (the platform's composition root provides them). */
export interface WarmServices {
  readonly config: Pick<Config, "upstreams" | "signaturePolicy">;
  registry(upstream: UpstreamConfig): RemoteRegistry;
  readonly manifests: ManifestSource;
  readonly manifestMirror: Pick<ManifestMirror, "cached">;
  readonly blobs: Pick<BlobMirror, "get" | "settled">;
  readonly blobStore: Pick<BlobStore, "head">;
  readonly stats: {
    spent(client: string, counted: number): void;
    holds(repository: string): void;
  };
  readonly log: Log;
}

export interface WarmReport {
  readonly image: string;
  readonly digest: string;
  readonly manifests: number;
  readonly blobs: number;
  /** Blobs that were not cached yet and were fetched now. */
  readonly fetched: number;
  /** Of those, the ones not yet in the store when the warm-up gave up waiting (uploads still running). */
  readonly pending: number;
  /**
   * Set when the warm-up stopped rather than spend the upstream's quota reserve (every account below
   * `quotaReserve`): it is to go on at `resumeAt`, when quota is likely back. Also set when it used up
   * the operations it was given (`outOfOperations`): it goes on in another invocation a minute later.
   */
  readonly deferred?: { readonly resumeAt: string; readonly outOfOperations?: true };
}

/** When nothing says when quota comes back, a deferred warm-up tries again after this long. */
const DEFAULT_RESUME_MS = 3600_000;
/** A warm-up that used up its operations goes on this soon (in another invocation: the stats object's alarm). */
const OUT_OF_OPERATIONS_RESUME_MS = 60_000;
/**
 * Platform operations (subrequests) a manifest may cost the invocation: the tag's and the body's KV
 * reads, the shared quota readings, the manifest's fill object.
 */
export const MANIFEST_OPERATIONS = 4;
/**
 * A blob: the store's head; for one not stored, a read of the store, its fill object, and the wait for
 * its upload (the object's answer, then the store's head).
 */
export const BLOB_OPERATIONS = 5;

/** Who warm-ups' upstream requests are counted for in the top clients. */
export const WARM_UP_CLIENT = "warm-up";

/** Blobs fetched at once while warming: enough to overlap, few enough for a Worker's connection limit. */
const CONCURRENCY = 4;
/**
 * How long a warm-up waits for the blobs it fetched to be stored (the fill objects upload them after
 * the bytes are verified): once it answers, the image is in R2, not only on its way there.
 */
const STORE_WAIT_MS = 30_000;

/**
 * Pulls an image through the cache the way a client would: the tag's manifest, every (selected)
 * platform's manifest, and every blob not cached yet, so the next real pull is a hit. Blob bodies are
 * drained, never held; the fills run in the blobs' Durable Objects.
 */
export async function warmImage(
  services: WarmServices,
  target: WarmImage,
  /** The operations this warm-up may spend (the cron's share); unbounded without. */
  budget: OpBudget | null = null,
): Promise<WarmReport> {
  const upstream = services.config.upstreams.get(target.prefix);
  if (!upstream) throw new Error(`unknown upstream prefix "${target.prefix}"`);
  const client = services.registry(upstream);
  const name = upstream.library && !target.name.includes("/") ? `library/${target.name}` : target.name;
  const accept = parseAccept(null);
  let outOfOperations = false;
  /** A manifest, unless only the quota reserve could pay for it or the operations are spent (null: stop here). */
  const get = async (reference: Reference): Promise<ManifestResult | null> => {
    if (budget && !budget.take(MANIFEST_OPERATIONS)) {
      outOfOperations = true;
      return null;
    }
    const request = { client, name, reference, accept, method: "GET" } as const;
    const hit = await services.manifestMirror.cached(request);
    // Under a signature policy a cached manifest is checked like a pulled one: a warm-up never stores
    // the blobs of an image the policy refuses (stored blobs are served through enforcing prefixes).
    if (hit && !services.config.signaturePolicy) return hit;
    if (hit) return services.manifests.get(request);
    if (await client.sparingQuota()) return null;
    const result = await services.manifests.get(request);
    services.stats.spent(WARM_UP_CLIENT, result.counted ?? 0);
    return result;
  };
  const deferred = (manifests: number, digest: string, blobs = 0, fetched = 0): WarmReport => {
    const resumeAt = outOfOperations
      ? Date.now() + OUT_OF_OPERATIONS_RESUME_MS
      : (client.quotaRecoveryAt() ?? Date.now() + DEFAULT_RESUME_MS);
    const report = {
      image: target.image,
      digest,
      manifests,
      blobs,
      fetched,
      pending: 0,
      deferred: {
        resumeAt: new Date(resumeAt).toISOString(),
        ...(outOfOperations ? { outOfOperations: true as const } : {}),
      },
    };
    services.log({
      event: "warm.deferred",
      reason: outOfOperations ? "operations" : "quota reserve",
      image: target.image,
      upstream: target.prefix,
      resumeAt: report.deferred.resumeAt,
    });
    return report;
  };

  const top = await get(parseReference(target.reference));
  if (!top) return deferred(0, "");
  const images = [];
  const children = indexChildren(top.body, top.mediaType, target.platforms);
  if (children) {
    for (const child of children) {
      const image = await get(digestReference(parseDigest(child)));
      if (!image) return deferred(1 + images.length, top.digest);
      images.push(image);
    }
  } else {
    images.push(top);
  }
  const blobs = [...new Set(images.flatMap((image) => (image.body ? imageBlobDigests(image.body) : [])))];

  const fetchedNow: Digest[] = [];
  const queue = [...blobs];
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
      for (let digest = queue.shift(); digest; digest = queue.shift()) {
        if (budget && !budget.take(BLOB_OPERATIONS)) {
          outOfOperations = true;
          return;
        }
        const parsed = parseDigest(digest);
        if (await services.blobStore.head(parsed)) continue;
        const result = await services.blobs.get(client, name, parsed, null);
        await result.body?.pipeTo(new WritableStream());
        fetchedNow.push(parsed);
      }
    }),
  );
  // One call per fetched blob to its fill object, which waits on its own storage.
  const stored = await Promise.all(fetchedNow.map((digest) => services.blobs.settled(digest, STORE_WAIT_MS)));
  // The next run finds what was fetched stored and goes on with the rest.
  if (outOfOperations)
    return deferred(1 + (children?.length ?? 0), top.digest, blobs.length, fetchedNow.length);
  const report = {
    image: target.image,
    digest: top.digest,
    manifests: 1 + (children?.length ?? 0),
    blobs: blobs.length,
    fetched: fetchedNow.length,
    pending: stored.filter((done) => !done).length,
  };
  services.stats.holds(`${target.prefix}/${name}`);
  services.log({ event: "warm", ...report });
  return report;
}

/** Operations kept back from a share of warm-ups for handing on what did not fit (one call). */
const DEFER_OPERATIONS = 1;

/**
 * Warms `targets` in order within `budget` (one invocation's share of operations). A warm-up that
 * stops (quota reserve, operations used up) and every one there were no operations left to start are
 * handed to `defer`, to go on in another invocation where they stopped: what was fetched is stored.
 */
export async function warmWithin(
  services: WarmServices,
  targets: readonly WarmImage[],
  budget: OpBudget,
  defer: (targets: readonly WarmImage[], resumeAt: number) => Promise<unknown>,
): Promise<void> {
  for (const [index, target] of targets.entries()) {
    if (budget.left < MANIFEST_OPERATIONS + DEFER_OPERATIONS) {
      const rest = targets.slice(index);
      services.log({ event: "warm.deferred", reason: "operations", images: rest.length });
      await defer(rest, Date.now() + OUT_OF_OPERATIONS_RESUME_MS);
      return;
    }
    try {
      // What is left, less the call that hands it on if it stops.
      const own = new OpBudget(budget.left - DEFER_OPERATIONS);
      const report = await warmImage(services, target, own);
      budget.take(own.limit - own.left);
      if (report.deferred) {
        budget.take(DEFER_OPERATIONS);
        await defer([target], Date.parse(report.deferred.resumeAt));
      }
    } catch (error) {
      services.log({
        event: "warm.failed",
        image: target.image,
        error: error instanceof Error ? error.message : "failed",
      });
    }
  }
}

/** The child manifests of an index, for the wanted platforms; null when it is not an index. */
function indexChildren(
  body: ArrayBuffer | null,
  mediaType: string,
  platforms: readonly string[] | null,
): string[] | null {
  if (!body || (mediaType !== MediaType.OCI_INDEX && mediaType !== MediaType.DOCKER_LIST)) return null;
  return indexEntries(body)
    .filter((entry) => {
      if (!platforms) return true;
      const { os = "", architecture = "", variant } = entry.platform ?? {};
      return platforms.some(
        (wanted) => wanted === `${os}/${architecture}` || wanted === `${os}/${architecture}/${variant}`,
      );
    })
    .map((entry) => entry.digest);
}
