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
   * `quotaReserve`): it is to go on at `resumeAt`, when quota is likely back.
   */
  readonly deferred?: { readonly resumeAt: string };
}

/** When nothing says when quota comes back, a deferred warm-up tries again after this long. */
const DEFAULT_RESUME_MS = 3600_000;

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
export async function warmImage(services: WarmServices, target: WarmImage): Promise<WarmReport> {
  const upstream = services.config.upstreams.get(target.prefix);
  if (!upstream) throw new Error(`unknown upstream prefix "${target.prefix}"`);
  const client = services.registry(upstream);
  const name = upstream.library && !target.name.includes("/") ? `library/${target.name}` : target.name;
  const accept = parseAccept(null);
  /** A manifest, unless only the quota reserve could pay for it (null: stop here). */
  const get = async (reference: Reference): Promise<ManifestResult | null> => {
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
  const deferred = (manifests: number, digest: string): WarmReport => {
    const resumeAt = client.quotaRecoveryAt() ?? Date.now() + DEFAULT_RESUME_MS;
    const report = {
      image: target.image,
      digest,
      manifests,
      blobs: 0,
      fetched: 0,
      pending: 0,
      deferred: { resumeAt: new Date(resumeAt).toISOString() },
    };
    services.log({
      event: "warm.deferred",
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
