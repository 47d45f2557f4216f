import type { OpBudget } from "../util/op-budget";
import type {
  ForgetManifest,
  ManifestStore,
  PurgeResult,
  RepositoryKey,
  StoredManifest,
  TagEntry,
  TagPage,
} from "./manifest-store";

/** Told of a storage call that failed and was passed over. */
export type StorageFailure = (operation: string, error: unknown) => void;

/**
 * A manifest store whose failures never fail a pull: a read that fails is a miss (the upstream answers),
 * a write that fails is dropped (the next pull tries again). KV answers 429 to more than one write per
 * second to a key, and has bad minutes like any service; the upstream or the cache can still serve.
 * The operators' calls (`listTags`, `purge`) still fail loudly.
 */
export class TolerantManifestStore implements ManifestStore {
  constructor(
    private readonly inner: ManifestStore,
    private readonly failed: StorageFailure,
  ) {}

  getManifest(repository: RepositoryKey, digest: string): Promise<StoredManifest | null> {
    return this.passOver("getManifest", () => this.inner.getManifest(repository, digest), null);
  }

  putManifest(repository: RepositoryKey, manifest: StoredManifest): Promise<void> {
    return this.passOver("putManifest", () => this.inner.putManifest(repository, manifest), undefined);
  }

  getTag(repository: RepositoryKey, tag: string, variant: number): Promise<TagEntry | null> {
    return this.passOver("getTag", () => this.inner.getTag(repository, tag, variant), null);
  }

  getTagVariants(repository: RepositoryKey, tag: string): Promise<TagEntry[]> {
    return this.passOver("getTagVariants", () => this.inner.getTagVariants(repository, tag), []);
  }

  putTag(
    repository: RepositoryKey,
    tag: string,
    variant: number,
    entry: TagEntry,
    retainSeconds: number,
  ): Promise<void> {
    return this.passOver(
      "putTag",
      () => this.inner.putTag(repository, tag, variant, entry, retainSeconds),
      undefined,
    );
  }

  listTags(upstream: string | null, cursor?: string): Promise<TagPage> {
    return this.inner.listTags(upstream, cursor);
  }

  purge(
    repository: RepositoryKey,
    tag: string | null,
    budget: OpBudget,
    forgetManifest?: ForgetManifest,
  ): Promise<PurgeResult> {
    return this.inner.purge(repository, tag, budget, forgetManifest);
  }

  private async passOver<T>(operation: string, call: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.failed(operation, error);
      return fallback;
    }
  }
}
