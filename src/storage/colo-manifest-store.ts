import type { OpBudget } from "../util/op-budget";
import { type ColoCache, coloKeys } from "./colo-cache";
import type {
  ForgetManifest,
  ManifestStore,
  PurgeResult,
  RepositoryKey,
  StoredManifest,
  TagEntry,
  TagPage,
} from "./manifest-store";

/**
 * Manifests by digest from the colo cache first, else from the store (then copied into the colo cache).
 * Tags are not cached here: they keep their TTL in the store. Entries are per repository, like the
 * store's, so one repository's manifest is never served through another; the route's access check has
 * run before any of this.
 */
export class ColoManifestStore implements ManifestStore {
  constructor(
    private readonly inner: ManifestStore,
    private readonly colo: ColoCache,
    /** The mirror's origin, for the keys. */
    private readonly origin: string,
  ) {}

  async getManifest(repository: RepositoryKey, digest: string): Promise<StoredManifest | null> {
    const hit = await this.colo.match(this.key(repository, digest));
    const mediaType = hit?.headers.get("Content-Type");
    if (hit?.status === 200 && mediaType) {
      try {
        return { body: await hit.arrayBuffer(), mediaType, digest };
      } catch {
        // A read that broke off is a miss: the store answers.
      }
    } else await hit?.body?.cancel();
    const stored = await this.inner.getManifest(repository, digest);
    if (stored) this.remember(repository, stored);
    return stored;
  }

  async putManifest(repository: RepositoryKey, manifest: StoredManifest): Promise<void> {
    await this.inner.putManifest(repository, manifest);
    this.remember(repository, manifest);
  }

  getTag(repository: RepositoryKey, tag: string, variant: number): Promise<TagEntry | null> {
    return this.inner.getTag(repository, tag, variant);
  }

  getTagVariants(repository: RepositoryKey, tag: string): Promise<TagEntry[]> {
    return this.inner.getTagVariants(repository, tag);
  }

  putTag(
    repository: RepositoryKey,
    tag: string,
    variant: number,
    entry: TagEntry,
    retainSeconds: number,
  ): Promise<void> {
    return this.inner.putTag(repository, tag, variant, entry, retainSeconds);
  }

  listTags(upstream: string | null, cursor?: string): Promise<TagPage> {
    return this.inner.listTags(upstream, cursor);
  }

  /** Also removes the purged manifests from this data centre's cache (one budgeted call each). */
  purge(
    repository: RepositoryKey,
    tag: string | null,
    budget: OpBudget,
    forgetManifest?: ForgetManifest,
  ): Promise<PurgeResult> {
    return this.inner.purge(repository, tag, budget, async (digest) => {
      await this.colo.delete(this.key(repository, digest));
      await forgetManifest?.(digest);
    });
  }

  private remember(repository: RepositoryKey, manifest: StoredManifest): void {
    this.colo.put(
      this.key(repository, manifest.digest),
      manifest.body.byteLength,
      { "Content-Type": manifest.mediaType, ETag: `"${manifest.digest}"` },
      // A copy: the original is also the body of the response being served.
      async () => manifest.body.slice(0),
    );
  }

  private key(repository: RepositoryKey, digest: string): string {
    return coloKeys.manifest(this.origin, repository, digest);
  }
}
