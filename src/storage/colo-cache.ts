import type { Digest } from "../oci/digest";
import { withLength } from "../util/streams";
import type { RepositoryKey } from "./manifest-store";
import type { StorageFailure } from "./tolerant-manifest-store";

/**
 * The data centre's own cache (the Workers Cache API) in front of R2 and KV: a runner far from the R2
 * bucket's region reads a cached layer from the colo it talks to. Entries are whole `200` responses
 * under synthetic keys (below); the cache itself answers `Range` from them.
 *
 * Never fails a pull: a cache error is a miss, a failed put is dropped. On `*.workers.dev` the Cache API
 * does nothing (every match misses), so the mirror works there exactly as without it.
 */
export interface ColoCache {
  /** Largest object put (the Cache API refuses objects over 512 MB on most plans). */
  readonly maxBytes: number;
  /** Seconds an entry lives (`max-age`): the only way entries in other data centres go. */
  readonly ttlSeconds: number;
  /**
   * Whether the cache keeps anything for this request's host (a probe, once per isolate and host):
   * false on `*.workers.dev`, where callers then skip it, and the checks that guard it, altogether.
   */
  active(): Promise<boolean>;
  /** The cached response, or null. With `range` (a `Range` header value) the cache answers 206 itself. */
  match(key: string, range?: string): Promise<Response | null>;
  /**
   * Puts a whole object in the background, streamed from `open` (called only if the put goes ahead);
   * false when it does not: too large, or the same key is being put by this isolate already.
   */
  put(
    key: string,
    size: number,
    headers: Record<string, string>,
    open: () => Promise<BodyInit | null>,
  ): boolean;
  /** Removes an entry from this data centre's cache; false when it was not there or the call failed. */
  delete(key: string): Promise<boolean>;
}

/**
 * Keys are URLs on the mirror's own host (as the Cache API advises), under `/_colo/`, which no route
 * serves: nothing reaches an entry except the code below, after the request's access check. A blob's
 * key says whether it is restricted (fetched with upstream credentials): restricted entries are looked
 * up only after the repository's link to the blob is confirmed, and a public lookup never names them.
 */
export const coloKeys = {
  blob(origin: string, digest: Digest | string, restricted: boolean): string {
    const value = typeof digest === "string" ? digest : digest.value;
    return `${origin}/_colo/v1/${restricted ? "restricted-blob" : "blob"}/${value}`;
  },
  /** Manifests are cached per repository, as in KV: a digest grants nothing across repositories. */
  manifest(origin: string, repository: RepositoryKey, digest: string): string {
    return `${origin}/_colo/v1/manifest/${repository.upstream}/${repository.name}@${digest}`;
  },
  probe(origin: string): string {
    return `${origin}/_colo/v1/probe`;
  },
};

/** Keys being put by this isolate: concurrent misses of one blob put it once. Bounded. */
const putting = new Set<string>();
const MAX_PUTTING = 1_000;
/**
 * Keys whose put failed here lately, and when: each later hit would read the blob a second time for
 * a put the cache refuses again (a size over the plan's limit, say). Tried again after a while.
 */
const refused = new Map<string, number>();
const MAX_REFUSED = 1_000;
const REFUSED_RETRY_MS = 10 * 60_000;

/** Probes per host the requests came to: whether the cache keeps anything there, and since when known. */
const probes = new Map<string, { works: Promise<boolean>; at: number }>();
/** A failed probe is tried again after this long (a transient failure must not switch the cache off for good). */
const REPROBE_MS = 10 * 60_000;

export interface ColoCacheOptions {
  readonly maxBytes: number;
  readonly ttlSeconds: number;
  /** The origin the request came to: the Cache API works on custom domains, not on `*.workers.dev`. */
  readonly requestOrigin: string;
  /** The origin the keys name (the request's, or the configured host). */
  readonly keyOrigin: string;
  /** Keeps the put running after the response (ExecutionContext.waitUntil). */
  readonly waitUntil: (promise: Promise<unknown>) => void;
  /** Told of calls that failed (and were passed over). */
  readonly failed?: StorageFailure;
}

/** The Cache API implementation (`caches.default`). */
export class WorkersColoCache implements ColoCache {
  readonly maxBytes: number;
  readonly ttlSeconds: number;

  constructor(
    private readonly cache: Cache,
    private readonly options: ColoCacheOptions,
  ) {
    this.maxBytes = options.maxBytes;
    this.ttlSeconds = options.ttlSeconds;
  }

  active(): Promise<boolean> {
    const known = probes.get(this.options.requestOrigin);
    if (known && (Date.now() - known.at < REPROBE_MS || known.works === WORKS)) return known.works;
    const works = coloCacheWorks(this.cache, this.options.keyOrigin).then((ok) => {
      // Kept as the shared resolved promise so later requests see "works" without a timer.
      if (ok) probes.set(this.options.requestOrigin, { works: WORKS, at: Date.now() });
      return ok;
    });
    if (probes.size >= 100) probes.clear();
    probes.set(this.options.requestOrigin, { works, at: Date.now() });
    return works;
  }

  async match(key: string, range?: string): Promise<Response | null> {
    if (!(await this.active())) return null;
    try {
      const request = new Request(key, range ? { headers: { Range: range } } : undefined);
      return (await this.cache.match(request)) ?? null;
    } catch (error) {
      this.options.failed?.("match", error);
      return null;
    }
  }

  put(
    key: string,
    size: number,
    headers: Record<string, string>,
    open: () => Promise<BodyInit | null>,
  ): boolean {
    if (size > this.maxBytes || putting.has(key) || putting.size >= MAX_PUTTING) return false;
    const refusedAt = refused.get(key);
    if (refusedAt !== undefined && Date.now() - refusedAt < REFUSED_RETRY_MS) return false;
    putting.add(key);
    const run = async () => {
      try {
        if (!(await this.active())) return;
        const body = await open();
        if (body === null) return;
        // A declared length: the cache answers ranges only for entries that have one.
        const sized = body instanceof ReadableStream ? withLength(body, size) : body;
        await this.cache.put(
          key,
          new Response(sized, {
            headers: {
              ...headers,
              // The entry's own lifetime, never the client's Cache-Control: the cache keeps nothing
              // marked private, and entries are reached only through the access checks.
              "Cache-Control": `public, max-age=${this.ttlSeconds}`,
            },
          }),
        );
        refused.delete(key);
      } catch (error) {
        this.options.failed?.("put", error);
        if (refused.size >= MAX_REFUSED) refused.clear();
        refused.set(key, Date.now());
      } finally {
        putting.delete(key);
      }
    };
    this.options.waitUntil(run());
    return true;
  }

  async delete(key: string): Promise<boolean> {
    // No probe: deleting from a cache that keeps nothing costs one call and does no harm.
    try {
      return await this.cache.delete(key);
    } catch (error) {
      this.options.failed?.("delete", error);
      return false;
    }
  }
}

const WORKS = Promise.resolve(true);

/**
 * Whether the Cache API keeps anything here: puts a tiny entry and reads it back (two calls). On
 * `*.workers.dev` the put is dropped and the read misses.
 */
export async function coloCacheWorks(cache: Cache, origin: string): Promise<boolean> {
  try {
    const key = coloKeys.probe(origin);
    await cache.put(key, new Response("ok", { headers: { "Cache-Control": "public, max-age=60" } }));
    const hit = await cache.match(key);
    await hit?.body?.cancel();
    return hit !== undefined;
  } catch {
    return false;
  }
}
