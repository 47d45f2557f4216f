import type { RepositoryKey } from "./manifest-store";
import type { StorageFailure } from "./tolerant-manifest-store";

/**
 * Which repositories are known to hold which blobs: a link says the upstream served or confirmed the
 * blob for that repository. The evidence the access module (src/access/blobs.ts) goes by; it alone
 * decides what a link lets through.
 */
export interface BlobLinks {
  has(repository: RepositoryKey, digest: string): Promise<boolean>;
  /** Links a blob the upstream confirmed for the repository. Never rejects. */
  add(repository: RepositoryKey, digest: string): Promise<void>;
  /** Forgets every link of a repository (links made afterwards count again). */
  purge(repository: RepositoryKey): Promise<void>;
}

/** The links of one digest, kept by that digest's fill object (`BlobFill`). */
export interface DigestLinks {
  /** When the repository (`upstream/name`) was last linked, in ms; null if never. */
  linkedAt(repository: string): Promise<number | null>;
  link(repository: string): Promise<void>;
}

/** How long a link found is trusted by an isolate without asking again: a purge reaches every isolate within it. */
export const LINK_CACHE_MS = 60_000;
/** Bounds the isolate's memory of links found. */
const MAX_CACHED = 10_000;
/** `upstream/name@digest` → until when the link is trusted without asking. */
const cached = new Map<string, number>();

/**
 * Links live in the per-digest fill object's SQLite table (repositories it downloaded the blob for or
 * that the upstream confirmed), so a cold pull writes no KV per blob: the fill object records the link
 * beside the download it already runs. `has` is one call to that object (plus one KV read of the
 * repository's purge mark), cached per isolate for LINK_CACHE_MS when true.
 *
 * A purge writes one KV record, `linkpurge/<upstream>/<name>` → the time of the purge: links older than
 * it no longer count. That is one write however many blobs the repository has, where deleting each link
 * would mean one call per digest object and a list of them we do not keep.
 */
export class DurableBlobLinks implements BlobLinks {
  constructor(
    private readonly linksOf: (digest: string) => DigestLinks,
    private readonly kv: KVNamespace,
    private readonly failed: StorageFailure = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  async has(repository: RepositoryKey, digest: string): Promise<boolean> {
    const key = cacheKey(repository, digest);
    const until = cached.get(key);
    if (until !== undefined && until > this.now()) return true;
    const [linkedAt, purgedAt] = await Promise.all([
      this.linkedAt(repository, digest),
      this.purgedAt(repository),
    ]);
    if (linkedAt === null || linkedAt <= purgedAt) {
      cached.delete(key);
      return false;
    }
    if (cached.size >= MAX_CACHED) cached.clear();
    cached.set(key, this.now() + LINK_CACHE_MS);
    return true;
  }

  async add(repository: RepositoryKey, digest: string): Promise<void> {
    try {
      await this.linksOf(digest).link(repositoryName(repository));
    } catch (error) {
      // A lost link costs one upstream confirmation later, never a wrong answer.
      this.failed("link", error);
    }
  }

  async purge(repository: RepositoryKey): Promise<void> {
    await this.kv.put(purgeKey(repository), String(this.now()));
    const prefix = `${repositoryName(repository)}@`;
    for (const key of cached.keys()) if (key.startsWith(prefix)) cached.delete(key);
  }

  /** A failed read is no link: the upstream is asked instead, never a 500. */
  private async linkedAt(repository: RepositoryKey, digest: string): Promise<number | null> {
    try {
      return await this.linksOf(digest).linkedAt(repositoryName(repository));
    } catch (error) {
      this.failed("link_read", error);
      return null;
    }
  }

  /** When the repository's links were last purged (0: never). A failed read counts as "just now". */
  private async purgedAt(repository: RepositoryKey): Promise<number> {
    try {
      const value = await this.kv.get(purgeKey(repository));
      return value === null ? 0 : Number(value) || 0;
    } catch (error) {
      // Unknown: trust no link (the upstream is asked instead) rather than one that may be purged.
      this.failed("link_purge", error);
      return Number.POSITIVE_INFINITY;
    }
  }
}

/** `upstream/name`, the form links are kept in. */
export function repositoryName(repository: RepositoryKey): string {
  return `${repository.upstream}/${repository.name}`;
}

function cacheKey(repository: RepositoryKey, digest: string): string {
  return `${repositoryName(repository)}@${digest}`;
}

function purgeKey(repository: RepositoryKey): string {
  return `linkpurge/${repository.upstream}/${repository.name}`;
}
